package presence

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// CompositorConfig configures a [Compositor]. The zero value of every
// field is documented.
type CompositorConfig struct {
	// Events maps each event package the compositor accepts to the media
	// types of the bodies it accepts for it (nil or empty: any). Zero:
	// presence with application/pidf+xml.
	Events map[string][]string
	// MinExpires is the shortest lifetime accepted; a PUBLISH asking for
	// less (but more than 0) gets 423 with Min-Expires (RFC 3903 §6
	// step 4). Zero: 60 s.
	MinExpires time.Duration
	// MaxExpires caps the lifetime granted. Zero: 3600 s.
	MaxExpires time.Duration
	// DefaultExpires is the lifetime of a PUBLISH without Expires. Zero:
	// MaxExpires.
	DefaultExpires time.Duration
	// Resource maps a Request-URI to the resource whose state it
	// addresses; false means the compositor does not serve it (404, §6
	// step 1). Nil: every URI, keyed by [ResourceKey].
	Resource func(uri sip.URI) (resource string, ok bool)
	// Authorize, when set, decides whether r may publish the state of
	// resource for event (RFC 3903 §14.1). To refuse, it answers r through
	// w (for example 403, or 401 with a digest challenge) and returns
	// false. It runs before the request changes anything.
	Authorize func(w ua.ResponseWriter, r *ua.Request, resource, event string) bool
}

// Entry is one publication held by a [Compositor].
type Entry struct {
	// ETag is the entity-tag that currently identifies the publication.
	ETag string
	// ContentType and Body are the published state; Body must not be
	// modified.
	ContentType string
	Body        []byte
	// Expires is when the publication expires unless refreshed.
	Expires time.Time
	// Modified is when the body was last set (initial or modify).
	Modified time.Time
	// Publisher is the From address of the PUBLISH that last set the body.
	Publisher sip.Address
}

type compKey struct{ resource, event string }

type publication struct {
	key      compKey
	etag     string
	ctype    string
	body     []byte
	expires  time.Time
	modified time.Time
	from     sip.Address
	seq      uint64
	timer    *sched.Timer
}

// Compositor is an event state compositor (RFC 3903 §6): a ua.Handler for
// PUBLISH that keeps, per resource and event package, the publications
// and their entity-tags, and expires them on the UA's scheduler. Install
// it with u.Handle(sip.MethodPublish, c). All methods are safe for
// concurrent use; every PUBLISH is applied atomically.
type Compositor struct {
	cfg                CompositorConfig
	sched              *sched.Scheduler
	minExp, maxExp, df int // seconds
	allowEvents        string
	events             map[string]string // interned event package names

	mu        sync.Mutex
	pubs      map[compKey]map[string]*publication
	seq       uint64
	listeners []listener // copy on write
	nextID    uint64
}

type listener struct {
	id uint64
	f  func(resource, event string)
}

// NewCompositor returns a compositor whose publications expire on u's
// scheduler. It does not install itself: call u.Handle(sip.MethodPublish, c).
func NewCompositor(u *ua.UA, cfg CompositorConfig) *Compositor {
	if len(cfg.Events) == 0 {
		cfg.Events = map[string][]string{"presence": {"application/pidf+xml"}}
	}
	secs := func(d, def time.Duration) int {
		if d <= 0 {
			d = def
		}
		return int((d + time.Second - 1) / time.Second)
	}
	c := &Compositor{cfg: cfg, sched: u.Scheduler(), pubs: make(map[compKey]map[string]*publication)}
	c.minExp = secs(cfg.MinExpires, 60*time.Second)
	c.maxExp = max(c.minExp, secs(cfg.MaxExpires, 3600*time.Second))
	c.df = min(c.maxExp, secs(cfg.DefaultExpires, time.Duration(c.maxExp)*time.Second))
	events := make([]string, 0, len(cfg.Events))
	c.events = make(map[string]string, len(cfg.Events))
	for e := range cfg.Events {
		events = append(events, e)
		c.events[e] = e
	}
	slices.Sort(events)
	c.allowEvents = strings.Join(events, ", ")
	return c
}

// ResourceKey returns the resource a URI names, as the compositor keys it
// by default: scheme, user and host (lower case) of a sip or sips URI,
// without port, parameters or headers ("sip:alice@example.com"); the
// number of a tel URI; any other URI as written.
func ResourceKey(u sip.URI) string {
	switch {
	case u.IsSIP():
		if u.User == "" {
			return u.Scheme + ":" + strings.ToLower(u.Host)
		}
		return u.Scheme + ":" + u.User + "@" + strings.ToLower(u.Host)
	case u.Scheme == "tel":
		return "tel:" + u.User
	}
	return u.String()
}

// OnChange registers f to be called after the composed state of a
// resource changed: a publication was created, modified, removed or
// expired (a refresh changes nothing but the entity-tag and is not
// reported). f runs on the goroutine of the PUBLISH handler or on the
// UA's scheduler, after the response was sent; it must not block and
// should read the state with State. Calls for one resource may arrive
// out of order when PUBLISH requests race, so f should treat a call as
// "look again". remove unregisters f.
func (c *Compositor) OnChange(f func(resource, event string)) (remove func()) {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.listeners = append(slices.Clip(c.listeners), listener{id, f})
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.listeners = slices.DeleteFunc(slices.Clone(c.listeners), func(l listener) bool { return l.id == id })
		c.mu.Unlock()
	}
}

// State returns the live publications of a resource for an event
// package, oldest first.
func (c *Compositor) State(resource, event string) []Entry {
	now := c.sched.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.pubs[compKey{resource, event}]
	if len(m) == 0 {
		return nil
	}
	ps := make([]*publication, 0, len(m))
	for _, p := range m {
		if now.Before(p.expires) {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b *publication) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]Entry, len(ps))
	for i, p := range ps {
		out[i] = Entry{ETag: p.etag, ContentType: p.ctype, Body: p.body, Expires: p.expires, Modified: p.modified, Publisher: p.from}
	}
	return out
}

// Len returns the number of publications held, for all resources.
func (c *Compositor) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.pubs {
		n += len(m)
	}
	return n
}

// ServeSIP answers a PUBLISH (RFC 3903 §6).
func (c *Compositor) ServeSIP(w ua.ResponseWriter, r *ua.Request) {
	reply := func(code int, reason string, kv ...string) {
		res := w.NewResponse(code, reason)
		for i := 0; i+1 < len(kv); i += 2 {
			res.Set(kv[i], kv[i+1])
		}
		_ = w.Respond(res)
	}
	if r.Method != sip.MethodPublish {
		reply(sip.StatusMethodNotAllowed, "", "Allow", sip.MethodPublish)
		return
	}
	// Step 1: the resource.
	resource, ok := ResourceKey(r.URI), true
	if c.cfg.Resource != nil {
		resource, ok = c.cfg.Resource(r.URI)
	}
	if !ok {
		reply(sip.StatusNotFound, "")
		return
	}
	// Step 2: the event package.
	ev, err := r.Event()
	types, supported := c.cfg.Events[ev.Type]
	if err != nil || !supported {
		reply(sip.StatusBadEvent, "", "Allow-Events", c.allowEvents)
		return
	}
	if c.cfg.Authorize != nil && !c.cfg.Authorize(w, r, resource, ev.Type) {
		return
	}
	// Step 3: the precondition, a single entity-tag.
	etag := ""
	if vals := r.Values("SIP-If-Match"); len(vals) > 0 {
		etag = strings.TrimSpace(vals[0])
		if len(vals) > 1 || etag == "" || strings.ContainsAny(etag, ", \t") {
			reply(sip.StatusBadRequest, "Single SIP-If-Match Entity-Tag Required")
			return
		}
	}
	// Step 4: the lifetime.
	exp, err := r.Expires()
	switch {
	case errors.Is(err, sip.ErrNoHeader):
		exp = c.df
	case err != nil:
		reply(sip.StatusBadRequest, "Bad Expires")
		return
	case exp > 0 && exp < c.minExp:
		reply(sip.StatusIntervalTooBrief, "", "Min-Expires", strconv.Itoa(c.minExp))
		return
	case exp > c.maxExp:
		exp = c.maxExp
	}
	// Step 5: the body.
	body := r.Body()
	if len(body) > 0 && len(types) > 0 {
		ct := r.ContentType()
		if !slices.ContainsFunc(types, ct.Is) {
			reply(sip.StatusUnsupportedMediaType, "", "Accept", strings.Join(types, ", "))
			return
		}
	}
	if etag == "" && len(body) == 0 {
		reply(sip.StatusBadRequest, "Missing Body")
		return
	}
	key := compKey{resource, ev.Type}
	now := c.sched.Now()
	changed := false
	c.mu.Lock()
	m := c.pubs[key]
	var p *publication
	if etag != "" {
		if p = m[etag]; p == nil || !now.Before(p.expires) {
			c.mu.Unlock()
			reply(sip.StatusConditionalRequestFailed, "")
			return
		}
	}
	newTag := ""
	switch {
	case exp == 0 && p != nil: // remove
		c.drop(p)
		newTag, changed = etag, true
	case exp == 0: // an initial publication that expires at once: nothing stored
		newTag = rand.Text()
	default:
		newTag = rand.Text() // §6 step 6, §8.3: a new, unguessable tag every time
		if p == nil {
			c.seq++
			p = &publication{key: compKey{strings.Clone(resource), c.events[ev.Type]}, seq: c.seq}
			if m == nil {
				m = make(map[string]*publication, 1)
				c.pubs[p.key] = m
			}
		} else {
			delete(m, p.etag)
		}
		if len(body) > 0 {
			// Copies: the request's strings share its buffer, which a
			// long-lived publication must not keep alive.
			p.ctype, p.body, p.modified = strings.Clone(r.ContentType().Value()), bytes.Clone(body), now
			p.from, _ = sip.ParseAddress(strings.Clone(r.Get("From")))
			changed = true
		}
		p.etag = newTag
		m[newTag] = p
		d := time.Duration(exp) * time.Second
		p.expires = now.Add(d)
		if p.timer == nil {
			p.timer = c.sched.AfterFunc(d, func() { c.expire(p) })
		} else {
			p.timer.Reset(d)
		}
	}
	ls := c.listeners
	c.mu.Unlock()
	reply(sip.StatusOK, "", "SIP-ETag", newTag, "Expires", strconv.Itoa(exp))
	if changed {
		for _, l := range ls {
			l.f(resource, ev.Type)
		}
	}
}

// drop removes a publication. c.mu is held.
func (c *Compositor) drop(p *publication) {
	p.timer.Stop()
	m := c.pubs[p.key]
	delete(m, p.etag)
	if len(m) == 0 {
		delete(c.pubs, p.key)
	}
}

// expire runs on the scheduler when a publication's lifetime ends.
func (c *Compositor) expire(p *publication) {
	now := c.sched.Now()
	c.mu.Lock()
	if c.pubs[p.key][p.etag] != p || now.Before(p.expires) {
		c.mu.Unlock() // refreshed or removed meanwhile
		return
	}
	c.drop(p)
	ls := c.listeners
	c.mu.Unlock()
	for _, l := range ls {
		l.f(p.key.resource, p.key.event)
	}
}
