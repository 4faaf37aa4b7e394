package ua

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
)

// RegistrarConfig configures a Registrar. The zero value accepts every
// REGISTER without authentication, for any domain.
type RegistrarConfig struct {
	// Auth challenges REGISTERs and verifies their credentials (RFC 3261
	// §10.3 step 3). Nil: no authentication.
	Auth *auth.Server
	// Password returns the password of a user for Auth. A user may
	// register only the address of record whose user part is its name.
	Password func(username, realm string) (password string, ok bool)
	// Domains lists the hosts whose addresses of record this registrar
	// serves (§10.3 step 1; others get 404). Empty: every host.
	Domains []string
	// MinExpires, MaxExpires and DefaultExpires bound the registrations.
	// Zero: 60 s, 3600 s and 3600 s.
	MinExpires, MaxExpires, DefaultExpires time.Duration
	// OnChange is called after the bindings of an address of record
	// changed (added, refreshed with another contact, removed, expired).
	OnChange func(aor string)
}

// Binding is one registered contact of an address of record.
type Binding struct {
	Contact sip.Address
	Expires time.Time
	CallID  string
	CSeq    uint32
	timer   *sched.Timer
}

// Registrar is a registrar (RFC 3261 §10.3): a ua.Handler for REGISTER
// that keeps the bindings of each address of record, with expiry on the
// UA's scheduler, and answers lookups. With Redirect it is also a
// redirect server (§8.3) for the addresses it knows, enough to connect
// user endpoints with each other on a test bench or in a demo.
type Registrar struct {
	u   *UA
	cfg RegistrarConfig

	mu       sync.Mutex
	bindings map[string][]*Binding // by AOR key
}

// NewRegistrar returns a registrar running on u's scheduler. Install it
// with u.Handle(sip.MethodRegister, r).
func NewRegistrar(u *UA, cfg RegistrarConfig) *Registrar {
	if cfg.MinExpires == 0 {
		cfg.MinExpires = 60 * time.Second
	}
	if cfg.MaxExpires == 0 {
		cfg.MaxExpires = 3600 * time.Second
	}
	if cfg.DefaultExpires == 0 {
		cfg.DefaultExpires = cfg.MaxExpires
	}
	return &Registrar{u: u, cfg: cfg, bindings: make(map[string][]*Binding)}
}

// AOR returns the key a registrar files an address of record under:
// "sip:user@host" with the host in lower case, no port or parameters.
func AOR(uri sip.URI) string {
	scheme := uri.Scheme
	if scheme == "sips" {
		scheme = "sip"
	}
	return scheme + ":" + uri.User + "@" + strings.ToLower(uri.Host)
}

// ServeSIP answers a REGISTER (RFC 3261 §10.3).
func (r *Registrar) ServeSIP(w ResponseWriter, req *Request) {
	aorURI := req.To().URI
	if !aorURI.IsSIP() || aorURI.User == "" {
		_ = w.Respond(w.NewResponse(sip.StatusNotFound, "Not an Address of Record"))
		return
	}
	if len(r.cfg.Domains) > 0 && !containsFold(r.cfg.Domains, aorURI.Host) {
		_ = w.Respond(w.NewResponse(sip.StatusNotFound, "Domain Not Served"))
		return
	}
	if r.cfg.Auth != nil {
		res := r.cfg.Auth.Verify(req.Request, r.cfg.Password)
		switch {
		case res.Reason == auth.ReasonStale:
			ch := w.NewResponse(sip.StatusUnauthorized, "")
			r.cfg.Auth.Challenge(ch, true)
			_ = w.Respond(ch)
			return
		case !res.OK():
			ch := w.NewResponse(sip.StatusUnauthorized, "")
			r.cfg.Auth.Challenge(ch, false)
			_ = w.Respond(ch)
			return
		case res.Username != aorURI.User:
			_ = w.Respond(w.NewResponse(sip.StatusForbidden, "Not Your Address of Record"))
			return
		}
	}
	key := AOR(aorURI)
	contacts := req.Contact()
	var def time.Duration = r.cfg.DefaultExpires
	if e, err := req.Expires(); err == nil && e >= 0 {
		def = time.Duration(e) * time.Second
	}
	// §10.3 step 6: "*" only alone and with Expires: 0.
	for _, c := range contacts {
		if c.URI.Scheme == "*" || c.String() == "*" {
			if len(contacts) != 1 || def != 0 {
				_ = w.Respond(w.NewResponse(sip.StatusBadRequest, "Invalid Wildcard"))
				return
			}
			r.removeAll(key)
			_ = w.Respond(w.NewResponse(sip.StatusOK, ""))
			r.changed(key)
			return
		}
	}
	// Step 7: check every contact first, then apply them all.
	for _, c := range contacts {
		exp := contactExpires(c, def)
		if exp > 0 && exp < r.cfg.MinExpires {
			res := w.NewResponse(sip.StatusIntervalTooBrief, "")
			res.Set("Min-Expires", strconv.Itoa(int(r.cfg.MinExpires/time.Second)))
			_ = w.Respond(res)
			return
		}
	}
	now := r.u.Clock().Now()
	r.mu.Lock()
	for _, c := range contacts {
		exp := min(contactExpires(c, def), r.cfg.MaxExpires)
		i := r.find(key, c.URI)
		if i >= 0 {
			b := r.bindings[key][i]
			if b.CallID == req.CallID() && req.CSeq().Seq <= b.CSeq {
				r.mu.Unlock()
				_ = w.Respond(w.NewResponse(sip.StatusServerInternalError, "Out of Order REGISTER"))
				return
			}
			if exp == 0 {
				r.removeLocked(key, i)
				continue
			}
			b.Contact, b.CallID, b.CSeq, b.Expires = c, req.CallID(), req.CSeq().Seq, now.Add(exp)
			b.timer.Reset(exp)
			continue
		}
		if exp == 0 {
			continue
		}
		b := &Binding{Contact: c, CallID: req.CallID(), CSeq: req.CSeq().Seq, Expires: now.Add(exp)}
		b.Contact.Params = b.Contact.Params.Without("expires")
		b.timer = r.u.Scheduler().AfterFunc(exp, func() { r.expire(key, b) })
		r.bindings[key] = append(r.bindings[key], b)
	}
	res := w.NewResponse(sip.StatusOK, "")
	for _, b := range r.bindings[key] {
		left := int(b.Expires.Sub(now).Round(time.Second) / time.Second)
		c := b.Contact
		c.Params = c.Params.Without("expires").With("expires", strconv.Itoa(left))
		res.Add("Contact", c.String())
	}
	r.mu.Unlock()
	res.Set("Date", now.UTC().Format(time.RFC1123))
	_ = w.Respond(res)
	if len(contacts) > 0 {
		r.changed(key)
	}
}

func contactExpires(c sip.Address, def time.Duration) time.Duration {
	if v := c.Params.Value("expires"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
	}
	return def
}

// find returns the index of the binding of key with contact uri, or -1.
func (r *Registrar) find(key string, uri sip.URI) int {
	for i, b := range r.bindings[key] {
		if b.Contact.URI.Equal(uri) {
			return i
		}
	}
	return -1
}

func (r *Registrar) removeLocked(key string, i int) {
	bs := r.bindings[key]
	bs[i].timer.Stop()
	bs = append(bs[:i], bs[i+1:]...)
	if len(bs) == 0 {
		delete(r.bindings, key)
	} else {
		r.bindings[key] = bs
	}
}

func (r *Registrar) removeAll(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bindings[key] {
		b.timer.Stop()
	}
	delete(r.bindings, key)
}

func (r *Registrar) expire(key string, b *Binding) {
	r.mu.Lock()
	for i, x := range r.bindings[key] {
		if x == b {
			r.removeLocked(key, i)
			break
		}
	}
	r.mu.Unlock()
	r.changed(key)
}

func (r *Registrar) changed(key string) {
	if r.cfg.OnChange != nil {
		r.cfg.OnChange(key)
	}
}

// Lookup returns the current bindings of an address of record.
func (r *Registrar) Lookup(aor sip.URI) []Binding {
	r.mu.Lock()
	defer r.mu.Unlock()
	bs := r.bindings[AOR(aor)]
	out := make([]Binding, len(bs))
	for i, b := range bs {
		out[i] = *b
		out[i].timer = nil
	}
	return out
}

// Len returns the number of addresses of record with bindings.
func (r *Registrar) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bindings)
}

// Redirect returns a handler that answers a request for a registered
// address of record with 302 Moved Temporarily and its contacts (RFC 3261
// §8.3, §21.3.3), 480 when it has none and 404 for a domain not served.
// Install it for INVITE, MESSAGE, SUBSCRIBE or any other method.
func (r *Registrar) Redirect() Handler {
	return HandlerFunc(func(w ResponseWriter, req *Request) {
		if len(r.cfg.Domains) > 0 && !containsFold(r.cfg.Domains, req.URI.Host) {
			_ = w.Respond(w.NewResponse(sip.StatusNotFound, ""))
			return
		}
		bs := r.Lookup(req.URI)
		if len(bs) == 0 {
			_ = w.Respond(w.NewResponse(sip.StatusTemporarilyUnavailable, ""))
			return
		}
		res := w.NewResponse(sip.StatusMovedTemporarily, "")
		for _, b := range bs {
			res.Add("Contact", "<"+b.Contact.URI.String()+">")
		}
		_ = w.Respond(res)
	})
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
