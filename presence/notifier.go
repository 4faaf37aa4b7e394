package presence

import (
	"bytes"
	"context"
	"crypto/rand"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/internal/sched"
	pidfdoc "github.com/sipua-go/sipua/presence/pidf"
	"github.com/sipua-go/sipua/presence/rlmi"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// Authorization is a notifier's decision on a subscription to a resource
// (RFC 6665 §4.2.1.1, RFC 3856 §5.1).
type Authorization int

// Authorization decisions.
const (
	// AuthorizeAllow accepts: the subscription is active.
	AuthorizeAllow Authorization = iota
	// AuthorizePending accepts, but withholds the state
	// (Subscription-State: pending, no body) until Reauthorize allows it.
	AuthorizePending
	// AuthorizeReject refuses with 403 (for a list member: an instance
	// state="terminated" reason="rejected").
	AuthorizeReject
	// AuthorizeRejectNotify accepts the SUBSCRIBE and at once sends a
	// NOTIFY with Subscription-State: terminated;reason=rejected ("polite
	// blocking": the watcher cannot tell a refusal from a decision made
	// later).
	AuthorizeRejectNotify
)

// StateProvider gives a notifier the current state document of a
// resource for an event package; ok is false when there is none (the
// notifier then sends the package's neutral state: for presence a closed
// PIDF document, else no body).
type StateProvider interface {
	EventState(resource, event string) (contentType string, body []byte, ok bool)
}

// StateFunc adapts a function to StateProvider.
type StateFunc func(resource, event string) (contentType string, body []byte, ok bool)

// EventState calls f.
func (f StateFunc) EventState(resource, event string) (string, []byte, bool) {
	return f(resource, event)
}

// CompositorState returns a StateProvider reading c: the body of the most
// recently modified live publication of the resource. (Merging the
// tuples of several publications, RFC 3903 §6 "composition policy", is
// left to a custom StateProvider.)
func CompositorState(c *Compositor) StateProvider {
	return StateFunc(func(resource, event string) (string, []byte, bool) {
		es := c.State(resource, event)
		if len(es) == 0 {
			return "", nil, false
		}
		best := es[0]
		for _, e := range es[1:] {
			if !e.Modified.Before(best.Modified) {
				best = e
			}
		}
		return best.ContentType, best.Body, true
	})
}

// NotifierConfig configures a [Notifier]. The zero value of every field
// is documented.
type NotifierConfig struct {
	// Event is the event package served. Zero: "presence".
	Event string
	// State provides the state documents. Zero: CompositorState(Compositor)
	// when Compositor is set; else no state (neutral state only).
	State StateProvider
	// Compositor, when set, provides the state (unless State is set) and
	// its OnChange makes the notifier send a NOTIFY on every change.
	Compositor *Compositor
	// Resource maps a Request-URI to the resource it names; false: 404.
	// Nil: every URI, keyed by [ResourceKey].
	Resource func(uri sip.URI) (resource string, ok bool)
	// Lists makes the notifier a resource list server (RFC 4662): for a
	// resource that is a list it returns the member URIs. Subscriptions
	// to a list need Supported: eventlist (else 421) and get RLMI in
	// multipart/related NOTIFYs: full state first and after every refresh,
	// then the members that changed, with version + 1 each time. An ad hoc
	// list SUBSCRIBE (Require: adhoclist with an
	// application/msrtc-adrl-categorylist+xml body) is served as a list
	// of the members in its body whether or not Lists is set.
	Lists func(resource string) (members []string, ok bool)
	// Authenticate, when set, runs first for every SUBSCRIBE (initial and
	// in the dialog). To refuse, it answers through w (for example 401
	// with a digest challenge) and returns false.
	Authenticate func(w ua.ResponseWriter, r *ua.Request) bool
	// Authorize decides on a subscription to a resource (a list's members
	// each get asked). Nil: AuthorizeAllow.
	Authorize func(r *ua.Request, resource string) Authorization
	// MinExpires: a SUBSCRIBE asking for less (but not 0) gets 423.
	// Zero: 60 s.
	MinExpires time.Duration
	// MaxExpires caps the duration granted. Zero: 3600 s.
	MaxExpires time.Duration
	// DefaultExpires is granted to a SUBSCRIBE without Expires. Zero:
	// 3600 s (RFC 3856 §6.4 suggests 3600 for presence), at most
	// MaxExpires.
	DefaultExpires time.Duration
	// Contact is sent in 2xx responses and NOTIFYs. Zero: the UA's UDP
	// listener.
	Contact sip.Address
}

// Notifier is the notifier side of RFC 6665 for one event package, and
// optionally a resource list server (RFC 4662). It is a ua.Handler for
// out-of-dialog SUBSCRIBE (install it with u.Handle(sip.MethodSubscribe,
// n)) and a ua.Router for SUBSCRIBEs inside its subscriptions' dialogs
// (NewNotifier adds it). NOTIFYs are sent one at a time per subscription,
// on a goroutine that exists only while one is due; expiry timers run on
// the UA's scheduler.
type Notifier struct {
	u       *ua.UA
	cfg     NotifierConfig
	event   string
	sched   *sched.Scheduler
	contact string
	minExp  int
	maxExp  int
	defExp  int
	ctx     context.Context
	cancel  context.CancelFunc
	unroute func()
	unhook  func()

	mu      sync.Mutex
	subs    map[string]*nsub              // by dialog key
	byRes   map[string]map[*nsub]struct{} // resource (and list member) → subscriptions
	closing bool
}

// nsub is one subscription a Notifier serves.
type nsub struct {
	n        *Notifier
	dlg      *dialog.Dialog
	key      string
	uri      string // the Request-URI: the presentity or the list URI
	resource string
	event    sip.Event
	req      *ua.Request // the initial SUBSCRIBE, for Reauthorize
	list     bool
	members  []*nmember
	gone     chan struct{}

	mu      sync.Mutex
	auth    Authorization
	expires time.Time
	timer   *sched.Timer
	want    bool
	full    bool
	final   *sip.SubscriptionState
	sending bool
	done    bool
	version uint32
}

type nmember struct {
	uri, key, id string
	auth         Authorization
	sent         bool
	last         memberState
}

type memberState struct {
	state, reason string
	ctype         string
	body          []byte
}

func (a memberState) equal(b memberState) bool {
	return a.state == b.state && a.reason == b.reason && a.ctype == b.ctype && bytes.Equal(a.body, b.body)
}

// NewNotifier returns a notifier on u and adds it as a router for
// in-dialog SUBSCRIBEs; install it as the SUBSCRIBE handler with
// u.Handle(sip.MethodSubscribe, n).
func NewNotifier(u *ua.UA, cfg NotifierConfig) *Notifier {
	if cfg.Event == "" {
		cfg.Event = "presence"
	}
	if cfg.State == nil && cfg.Compositor != nil {
		cfg.State = CompositorState(cfg.Compositor)
	}
	if cfg.Resource == nil {
		cfg.Resource = func(uri sip.URI) (string, bool) { return ResourceKey(uri), true }
	}
	if cfg.Contact.URI.Scheme == "" {
		uri, _ := u.ContactURI("")
		cfg.Contact = sip.Address{URI: uri}
	}
	secs := func(d, def time.Duration) int {
		if d <= 0 {
			d = def
		}
		return int((d + time.Second - 1) / time.Second)
	}
	n := &Notifier{u: u, cfg: cfg, event: cfg.Event, sched: u.Scheduler(), contact: cfg.Contact.String(),
		subs: make(map[string]*nsub), byRes: make(map[string]map[*nsub]struct{})}
	n.minExp = secs(cfg.MinExpires, time.Minute)
	n.maxExp = max(n.minExp, secs(cfg.MaxExpires, time.Hour))
	n.defExp = min(n.maxExp, secs(cfg.DefaultExpires, time.Hour))
	n.ctx, n.cancel = context.WithCancel(context.Background())
	u.Support("eventlist", "adhoclist")
	n.unroute = u.AddRouter(n)
	if cfg.Compositor != nil {
		n.unhook = cfg.Compositor.OnChange(func(resource, event string) {
			if event == n.event {
				n.Changed(resource)
			}
		})
	}
	return n
}

// Len returns the number of subscriptions served.
func (n *Notifier) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.subs)
}

// Changed makes the notifier send a NOTIFY to every subscription to
// resource, or to a list that has it as a member (only that member's
// state then). The Compositor's changes call it by themselves.
func (n *Notifier) Changed(resource string) {
	for _, s := range n.subsOf(resource) {
		s.request(false, nil)
	}
}

// Reauthorize asks Authorize again for every subscription to resource
// (and every list with it as a member) and notifies the ones whose
// decision changed: pending → active sends the state, a rejection
// terminates the subscription with reason rejected (RFC 6665 §4.2.2) or
// the member's instance.
func (n *Notifier) Reauthorize(resource string) {
	if n.cfg.Authorize == nil {
		return
	}
	for _, s := range n.subsOf(resource) {
		s.mu.Lock()
		changed := false
		if !s.list {
			a := n.cfg.Authorize(s.req, s.resource)
			if a != s.auth {
				s.auth, changed = a, true
			}
		}
		for _, m := range s.members {
			if m.key == resource {
				if a := n.cfg.Authorize(s.req, m.key); a != m.auth {
					m.auth, changed = a, true
				}
			}
		}
		s.mu.Unlock()
		if !changed {
			continue
		}
		if !s.list && (s.auth == AuthorizeReject || s.auth == AuthorizeRejectNotify) {
			s.request(false, &sip.SubscriptionState{State: sip.SubStateTerminated, Reason: sip.ReasonRejected, Expires: -1, RetryAfter: -1})
			continue
		}
		s.request(false, nil)
	}
}

func (n *Notifier) subsOf(resource string) []*nsub {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*nsub, 0, len(n.byRes[resource]))
	for s := range n.byRes[resource] {
		out = append(out, s)
	}
	return out
}

// Close ends every subscription with a NOTIFY terminated;reason=
// deactivated (RFC 6665 §4.1.3: the subscriber may subscribe again at
// once, elsewhere) and waits for them within ctx; it stops routing.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	n.closing = true
	subs := make([]*nsub, 0, len(n.subs))
	for _, s := range n.subs {
		subs = append(subs, s)
	}
	n.mu.Unlock()
	if n.unhook != nil {
		n.unhook()
	}
	for _, s := range subs {
		s.request(false, &sip.SubscriptionState{State: sip.SubStateTerminated, Reason: sip.ReasonDeactivated, Expires: -1, RetryAfter: -1})
	}
	var err error
	for _, s := range subs {
		select {
		case <-s.gone:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	n.cancel()
	n.unroute()
	return err
}

// ServeSIP answers an out-of-dialog SUBSCRIBE (RFC 6665 §4.2.1).
func (n *Notifier) ServeSIP(w ua.ResponseWriter, r *ua.Request) {
	if r.Method != sip.MethodSubscribe {
		_ = w.Respond(w.NewResponse(405, ""))
		return
	}
	if n.cfg.Authenticate != nil && !n.cfg.Authenticate(w, r) {
		return
	}
	ev, ok := n.checkEvent(w, r)
	if !ok {
		return
	}
	resource, ok := n.cfg.Resource(r.URI)
	if !ok {
		_ = w.Respond(w.NewResponse(404, ""))
		return
	}
	exp, ok := n.expires(w, r)
	if !ok {
		return
	}
	var members []string
	list := false
	if hasToken(r.Require(), "adhoclist") && r.ContentType().Is(AdHocListContentType) {
		ms, err := ParseAdHocList(r.Body())
		if err != nil {
			_ = w.Respond(w.NewResponse(400, "Bad Ad Hoc List"))
			return
		}
		members, list = ms, true
	} else if n.cfg.Lists != nil {
		members, list = n.cfg.Lists(resource)
	}
	if list && !hasToken(r.Supported(), "eventlist") {
		// RFC 4662 §5.1.
		res := w.NewResponse(421, "")
		res.Set("Require", "eventlist")
		_ = w.Respond(res)
		return
	}
	auth := n.authorize(r, resource)
	if auth == AuthorizeReject {
		_ = w.Respond(w.NewResponse(403, ""))
		return
	}
	n.mu.Lock()
	closing := n.closing
	n.mu.Unlock()
	if closing {
		_ = w.Respond(w.NewResponse(503, ""))
		return
	}
	res := w.NewResponse(200, "")
	res.Set("Expires", strconv.Itoa(exp))
	res.Set("Contact", n.contact)
	if list {
		res.Set("Require", "eventlist")
	}
	dlg, err := dialog.NewUAS(n.u, r.Request, res.To().Tag())
	if err != nil {
		_ = w.Respond(w.NewResponse(400, "Missing Contact"))
		return
	}
	dlg.Confirm()
	id := dlg.ID()
	s := &nsub{n: n, dlg: dlg, key: dialogKey(id.CallID, id.LocalTag, id.RemoteTag), uri: r.URI.String(),
		resource: resource, event: ev, list: list, auth: auth, gone: make(chan struct{})}
	if n.cfg.Authorize != nil {
		s.req = r // for Reauthorize
	}
	for _, m := range members {
		key := m
		if u, perr := sip.ParseURI(m); perr == nil {
			if k, ok := n.cfg.Resource(u); ok {
				key = k
			}
		}
		s.members = append(s.members, &nmember{uri: m, key: key, id: rand.Text()[:10], auth: n.authorize(r, key)})
	}
	if exp > 0 {
		n.add(s)
	}
	_ = w.Respond(res)
	switch {
	case exp == 0:
		// A fetch (RFC 6665 §4.4.3): one NOTIFY with the state, terminated.
		s.request(true, &sip.SubscriptionState{State: sip.SubStateTerminated, Reason: sip.ReasonTimeout, Expires: -1, RetryAfter: -1})
	case auth == AuthorizeRejectNotify:
		s.request(true, &sip.SubscriptionState{State: sip.SubStateTerminated, Reason: sip.ReasonRejected, Expires: -1, RetryAfter: -1})
	default:
		s.arm(exp)
		s.request(true, nil)
	}
}

func hasToken(list []string, tag string) bool {
	for _, t := range list {
		if strings.EqualFold(t, tag) {
			return true
		}
	}
	return false
}

func (n *Notifier) authorize(r *ua.Request, resource string) Authorization {
	if n.cfg.Authorize == nil {
		return AuthorizeAllow
	}
	return n.cfg.Authorize(r, resource)
}

func (n *Notifier) checkEvent(w ua.ResponseWriter, r *ua.Request) (sip.Event, bool) {
	ev, err := r.Event()
	if err != nil || !strings.EqualFold(ev.Type, n.event) {
		res := w.NewResponse(489, "")
		res.Set("Allow-Events", n.event)
		_ = w.Respond(res)
		return ev, false
	}
	return ev, true
}

// expires reads Expires (RFC 6665 §4.2.1.1): 423 below MinExpires, capped
// at MaxExpires, DefaultExpires when absent.
func (n *Notifier) expires(w ua.ResponseWriter, r *ua.Request) (int, bool) {
	exp := n.defExp
	if r.Has("Expires") {
		e, err := r.Expires()
		if err != nil {
			_ = w.Respond(w.NewResponse(400, "Bad Expires"))
			return 0, false
		}
		exp = e
	}
	if exp > 0 && exp < n.minExp {
		res := w.NewResponse(423, "")
		res.Set("Min-Expires", strconv.Itoa(n.minExp))
		_ = w.Respond(res)
		return 0, false
	}
	return min(exp, n.maxExp), true
}

func dialogKey(callID, local, remote string) string {
	return callID + "\x00" + local + "\x00" + remote
}

func (n *Notifier) add(s *nsub) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.subs[s.key] = s
	idx := func(k string) {
		m := n.byRes[k]
		if m == nil {
			m = make(map[*nsub]struct{})
			n.byRes[k] = m
		}
		m[s] = struct{}{}
	}
	idx(s.resource)
	for _, m := range s.members {
		idx(m.key)
	}
}

func (n *Notifier) drop(s *nsub) {
	n.mu.Lock()
	if n.subs[s.key] == s {
		delete(n.subs, s.key)
	}
	unidx := func(k string) {
		if m := n.byRes[k]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(n.byRes, k)
			}
		}
	}
	unidx(s.resource)
	for _, m := range s.members {
		unidx(m.key)
	}
	n.mu.Unlock()
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.done = true
	s.mu.Unlock()
	s.dlg.Terminate()
	select {
	case <-s.gone:
	default:
		close(s.gone)
	}
}

// RouteRequest implements ua.Router: SUBSCRIBEs inside the dialog of a
// subscription the notifier serves.
func (n *Notifier) RouteRequest(req *sip.Request) ua.Handler {
	if req.Method != sip.MethodSubscribe {
		return nil
	}
	n.mu.Lock()
	s := n.subs[dialogKey(req.CallID(), req.To().Tag(), req.From().Tag())]
	n.mu.Unlock()
	if s == nil {
		return nil
	}
	return ua.HandlerFunc(s.serveRefresh)
}

// serveRefresh answers a SUBSCRIBE in the dialog: a refresh, or with
// Expires: 0 the end of the subscription (RFC 6665 §4.2.1.2, §4.2.1.4).
func (s *nsub) serveRefresh(w ua.ResponseWriter, r *ua.Request) {
	n := s.n
	if n.cfg.Authenticate != nil && !n.cfg.Authenticate(w, r) {
		return
	}
	if _, ok := n.checkEvent(w, r); !ok {
		return
	}
	if !s.dlg.Receive(r.Request) {
		_ = w.Respond(w.NewResponse(500, "CSeq Out of Order"))
		return
	}
	exp, ok := n.expires(w, r)
	if !ok {
		return
	}
	res := w.NewResponse(200, "")
	res.Set("Expires", strconv.Itoa(exp))
	res.Set("Contact", n.contact)
	if s.list {
		res.Set("Require", "eventlist")
	}
	_ = w.Respond(res)
	if exp == 0 {
		s.request(true, &sip.SubscriptionState{State: sip.SubStateTerminated, Reason: sip.ReasonTimeout, Expires: -1, RetryAfter: -1})
		return
	}
	s.arm(exp)
	s.request(true, nil) // RFC 4662 §5.2 / RFC 6665 §4.2.1.2: full state after a refresh
}

// arm (re)starts the expiry timer.
func (s *nsub) arm(secs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := time.Duration(secs) * time.Second
	s.expires = s.n.sched.Now().Add(d)
	if s.timer == nil {
		s.timer = s.n.sched.AfterFunc(d, s.expire)
		return
	}
	s.timer.Stop()
	s.timer.Reset(d)
}

func (s *nsub) expire() {
	s.mu.Lock()
	due := !s.n.sched.Now().Before(s.expires)
	s.mu.Unlock()
	if due {
		s.request(false, &sip.SubscriptionState{State: sip.SubStateTerminated, Reason: sip.ReasonTimeout, Expires: -1, RetryAfter: -1})
	}
}

// request asks for a NOTIFY: full state or the changes; final ends the
// subscription with it.
func (s *nsub) request(full bool, final *sip.SubscriptionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done || s.final != nil {
		return
	}
	s.want = true
	s.full = s.full || full
	if final != nil {
		s.final = final
		if s.timer != nil {
			s.timer.Stop()
		}
	}
	if !s.sending {
		s.sending = true
		go s.run()
	}
}

func (s *nsub) run() {
	for {
		s.mu.Lock()
		if !s.want || s.done {
			s.sending = false
			s.mu.Unlock()
			return
		}
		full, final := s.full, s.final
		s.want, s.full = false, false
		req := s.buildLocked(full, final)
		if final != nil {
			s.done = true
		}
		s.mu.Unlock()
		if req == nil {
			continue
		}
		_, err := s.dlg.Do(s.n.ctx, req)
		if err != nil || final != nil {
			// RFC 6665 §4.2.2: a NOTIFY that fails (481, a timeout, any
			// other error) ends the subscription; so does the final one.
			s.n.drop(s)
			s.mu.Lock()
			s.sending = false
			s.mu.Unlock()
			return
		}
	}
}

// buildLocked builds the NOTIFY, or returns nil when a partial list
// notification has nothing to say.
func (s *nsub) buildLocked(full bool, final *sip.SubscriptionState) *sip.Request {
	n := s.n
	ss := sip.SubscriptionState{State: sip.SubStateActive, Expires: -1, RetryAfter: -1}
	if final != nil {
		ss = *final
	} else {
		if !s.list && s.auth == AuthorizePending {
			ss.State = sip.SubStatePending
		}
		ss.Expires = max(0, int((s.expires.Sub(n.sched.Now())+time.Second-1)/time.Second))
	}
	var ctype string
	var body []byte
	if s.list {
		l, parts := s.rlmiLocked(full, final)
		if l == nil {
			return nil
		}
		ct, b, err := rlmi.Encode(l, parts, rlmi.EncodeOptions{})
		if err != nil {
			return nil
		}
		ctype, body = ct.String(), b
	} else if ss.State == sip.SubStateActive || (final != nil && final.Reason != sip.ReasonRejected && s.auth == AuthorizeAllow) {
		// Pending and rejected subscriptions get no state (RFC 3856 §6.6.2).
		ctype, body = n.state(s.resource, s.uri)
	}
	req := s.dlg.NewRequest(sip.MethodNotify)
	req.Set("Event", s.event.String())
	req.Set("Subscription-State", ss.String())
	req.Set("Contact", n.contact)
	if s.list {
		req.Set("Require", "eventlist")
	}
	if len(body) > 0 {
		req.Set("Content-Type", ctype)
		req.SetBody(body)
	}
	return req
}

// state returns a resource's document, or the neutral state.
func (n *Notifier) state(resource, entity string) (string, []byte) {
	if n.cfg.State != nil {
		if ct, b, ok := n.cfg.State.EventState(resource, n.event); ok {
			return ct, b
		}
	}
	if n.event == "presence" {
		if b, err := pidfdoc.New(entity).Closed().Marshal(); err == nil {
			return pidfdoc.ContentType, b
		}
	}
	return "", nil
}

// rlmiLocked builds the RLMI list of a NOTIFY: every member (full) or
// those whose state changed since the last NOTIFY; nil when none did.
func (s *nsub) rlmiLocked(full bool, final *sip.SubscriptionState) (*rlmi.List, []sip.Part) {
	l := &rlmi.List{URI: s.uri, Version: s.version, FullState: full}
	var parts []sip.Part
	for _, m := range s.members {
		var cur memberState
		switch m.auth {
		case AuthorizeReject, AuthorizeRejectNotify:
			cur.state, cur.reason = string(rlmi.Terminated), sip.ReasonRejected
		case AuthorizePending:
			cur.state = string(rlmi.Pending)
		default:
			cur.state = string(rlmi.Active)
			cur.ctype, cur.body = s.n.state(m.key, m.uri)
		}
		if final != nil && cur.state != string(rlmi.Terminated) {
			cur.state, cur.reason = string(rlmi.Terminated), final.Reason
		}
		if !full && m.sent && cur.equal(m.last) {
			continue
		}
		in := rlmi.Instance{ID: m.id, State: rlmi.State(cur.state), Reason: cur.reason}
		if len(cur.body) > 0 {
			in.CID = m.id + "." + strconv.FormatUint(uint64(s.version), 10) + "@rls.invalid"
			parts = append(parts, rlmi.NewPart(in.CID, cur.ctype, cur.body))
		}
		l.Resources = append(l.Resources, rlmi.Resource{URI: m.uri, Instances: []rlmi.Instance{in}})
		m.last, m.sent = cur, true
	}
	if !full && final == nil && len(l.Resources) == 0 {
		return nil, nil
	}
	s.version++
	return l, slices.Clip(parts)
}
