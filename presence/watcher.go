package presence

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	pidfdoc "github.com/sipua-go/sipua/presence/pidf"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// ContactEvent is a change of one watched contact: its subscription
// state, its presence, or both.
type ContactEvent struct {
	URI   string
	State SubscriptionState
	// Presence summarizes Document; zero when there is none.
	Presence pidfdoc.Summary
	// Document is the contact's latest PIDF document, or nil (no state
	// yet, or a body that is not PIDF: see ContentType and Body).
	Document    *pidfdoc.Document
	ContentType string
	Body        []byte
	// Reason, StatusCode, Diagnostics and Err say why the contact is
	// Terminated or WaitingToRetry (see SubscriptionError).
	Reason      string
	StatusCode  int
	Diagnostics *sip.Diagnostics
	Err         error
}

// WatcherConfig configures a [Watcher].
type WatcherConfig struct {
	// UA, Sender, Target, From, Contact and Expires are as in
	// SubscriptionConfig, for every subscription of the watcher.
	UA      *ua.UA
	Sender  Sender
	Target  ua.Target
	From    sip.Address
	Contact sip.Address
	Expires time.Duration
	// Batch makes each Add one ad hoc list SUBSCRIBE to Self for all the
	// contacts it adds (Microsoft batch subscription, AT-P5-1), instead of
	// one SUBSCRIBE per contact.
	Batch bool
	// Self is the Request-URI of batch subscriptions. Zero: From's URI.
	Self sip.URI
	// Configure, when set, adjusts each subscription's configuration
	// (Accept, Categories, Retry, Prepare, ...) before it is created.
	Configure func(*SubscriptionConfig)
	// OnEvent receives every ContactEvent in order, one at a time, on a
	// goroutine that exists only while events are pending.
	OnEvent func(ContactEvent)
}

// Watcher watches the presence of a set of contacts, as UCMA's
// RemotePresenceView does: contacts are added and removed, and one
// ordered stream of ContactEvent reports their subscription states and
// presence. All methods are safe for concurrent use.
type Watcher struct {
	cfg WatcherConfig

	mu       sync.Mutex
	contacts map[string]*watched
	order    []string
	closed   bool
	queue    []ContactEvent
	draining bool
}

type watched struct {
	sub  *Subscription
	last ContactEvent
}

// NewWatcher returns a watcher with no contacts.
func NewWatcher(cfg WatcherConfig) (*Watcher, error) {
	if cfg.UA == nil {
		if e, ok := cfg.Sender.(interface{ UA() *ua.UA }); ok {
			cfg.UA = e.UA()
		}
	}
	if cfg.UA == nil {
		return nil, errors.New("presence: WatcherConfig.UA is nil")
	}
	if cfg.From.URI.Scheme == "" {
		if e, ok := cfg.Sender.(interface{ Address() sip.Address }); ok {
			cfg.From = e.Address()
		}
	}
	if cfg.Self.Scheme == "" {
		cfg.Self = cfg.From.URI
	}
	if cfg.Batch && cfg.Self.Scheme == "" {
		return nil, errors.New("presence: a batch Watcher needs Self or From")
	}
	return &Watcher{cfg: cfg, contacts: make(map[string]*watched)}, nil
}

func (w *Watcher) subConfig(resource sip.URI) SubscriptionConfig {
	c := SubscriptionConfig{UA: w.cfg.UA, Sender: w.cfg.Sender, Target: w.cfg.Target, Resource: resource,
		From: w.cfg.From, Contact: w.cfg.Contact, Expires: w.cfg.Expires}
	return c
}

// Add starts watching contacts (those already watched are skipped) and
// waits until their SUBSCRIBEs were answered or ctx is done. Failures
// come as events (Terminated with the cause) and are also returned,
// joined.
func (w *Watcher) Add(ctx context.Context, uris ...sip.URI) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrSubscriptionTerminated
	}
	var fresh []sip.URI
	for _, u := range uris {
		k := u.String()
		if _, ok := w.contacts[k]; ok {
			continue
		}
		w.contacts[k] = &watched{last: ContactEvent{URI: k, State: Subscribing}}
		w.order = append(w.order, k)
		fresh = append(fresh, u)
	}
	w.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}
	var subs []*Subscription
	if w.cfg.Batch {
		c := w.subConfig(w.cfg.Self)
		c.Members = fresh
		sub, err := w.newSub(c, nil)
		if err != nil {
			return err
		}
		w.bind(sub, fresh...)
		subs = append(subs, sub)
	} else {
		for _, u := range fresh {
			k := u.String()
			sub, err := w.newSub(w.subConfig(u), &k)
			if err != nil {
				return err
			}
			w.bind(sub, u)
			subs = append(subs, sub)
		}
	}
	errs := make([]error, len(subs))
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Subscribe(ctx); err != nil {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (w *Watcher) bind(sub *Subscription, uris ...sip.URI) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, u := range uris {
		if c := w.contacts[u.String()]; c != nil {
			c.sub = sub
		}
	}
}

// newSub creates a subscription whose events feed the watcher; single is
// the contact of a one-contact subscription, nil for a batch.
func (w *Watcher) newSub(c SubscriptionConfig, single *string) (*Subscription, error) {
	if w.cfg.Configure != nil {
		w.cfg.Configure(&c)
	}
	c.OnEvent = func(ev SubscriptionEvent) {
		switch e := ev.(type) {
		case SubscriptionStateChanged:
			if single != nil {
				w.update(*single, func(ce *ContactEvent) {
					ce.State = e.To
					ce.Reason, ce.StatusCode, ce.Diagnostics, ce.Err = "", 0, nil, nil
					if e.Cause != nil {
						ce.Reason, ce.StatusCode, ce.Diagnostics, ce.Err = e.Cause.Reason, e.Cause.StatusCode, e.Cause.Diagnostics, e.Cause.Err
					}
				})
			}
		case NotifyReceived:
			if single != nil {
				w.update(*single, func(ce *ContactEvent) {
					switch e.State.State {
					case sip.SubStateActive:
						ce.State = Active
					case sip.SubStatePending:
						ce.State = Pending
					}
					if len(e.Body) > 0 {
						setDocument(ce, e.ContentType, e.Body)
					}
				})
			}
		case ResourceStateChanged:
			r := e.Resource
			w.update(r.URI, func(ce *ContactEvent) {
				ce.State, ce.Reason, ce.StatusCode, ce.Diagnostics, ce.Err = r.State, r.Reason, r.StatusCode, r.Diagnostics, r.Err
				if len(r.Body) > 0 {
					setDocument(ce, r.ContentType, r.Body)
				}
			})
		}
	}
	return NewSubscription(c)
}

func setDocument(ce *ContactEvent, ctype string, body []byte) {
	ce.ContentType, ce.Body = ctype, body
	ce.Document, ce.Presence = nil, pidfdoc.Summary{}
	if mt, err := sip.ParseMediaType(ctype); err == nil && mt.Is(pidfdoc.ContentType) {
		if d, err := pidfdoc.Parse(body); err == nil {
			ce.Document, ce.Presence = d, d.Summary()
		}
	}
}

// update changes a contact's state and reports it.
func (w *Watcher) update(uri string, f func(*ContactEvent)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.contacts[uri]
	if c == nil {
		return // removed, or a resource the server added to a batch
	}
	before := c.last
	f(&c.last)
	if w.cfg.OnEvent == nil || sameContact(before, c.last) {
		return
	}
	w.queue = append(w.queue, c.last)
	if !w.draining {
		w.draining = true
		go w.drain()
	}
}

func sameContact(a, b ContactEvent) bool {
	return a.State == b.State && a.Reason == b.Reason && a.StatusCode == b.StatusCode && a.Err == b.Err &&
		a.ContentType == b.ContentType && bytes.Equal(a.Body, b.Body)
}

func (w *Watcher) drain() {
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			w.draining = false
			w.queue = nil
			w.mu.Unlock()
			return
		}
		ev := w.queue[0]
		w.queue = w.queue[1:]
		w.mu.Unlock()
		w.cfg.OnEvent(ev)
	}
}

// Remove stops watching contacts: a contact's own subscription is ended
// (unSUBSCRIBE, waited for within ctx); a batch subscription ends when
// none of its contacts is watched any more. No events follow for a
// removed contact.
func (w *Watcher) Remove(ctx context.Context, uris ...sip.URI) error {
	w.mu.Lock()
	cands := make(map[*Subscription]bool)
	for _, u := range uris {
		k := u.String()
		c := w.contacts[k]
		if c == nil {
			continue
		}
		delete(w.contacts, k)
		for i, o := range w.order {
			if o == k {
				w.order = append(w.order[:i:i], w.order[i+1:]...)
				break
			}
		}
		if c.sub != nil {
			cands[c.sub] = true
		}
	}
	for _, c := range w.contacts {
		delete(cands, c.sub) // still used by another contact of its batch
	}
	w.mu.Unlock()
	var errs []error
	for s := range cands {
		errs = append(errs, s.Close(ctx))
	}
	return errors.Join(errs...)
}

// Contacts returns the last state of every watched contact, in the order
// added.
func (w *Watcher) Contacts() []ContactEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]ContactEvent, 0, len(w.order))
	for _, k := range w.order {
		out = append(out, w.contacts[k].last)
	}
	return out
}

// Close removes every contact within ctx.
func (w *Watcher) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	uris := make([]sip.URI, 0, len(w.order))
	for _, k := range w.order {
		if u, err := sip.ParseURI(k); err == nil {
			uris = append(uris, u)
		}
	}
	w.mu.Unlock()
	return w.Remove(ctx, uris...)
}
