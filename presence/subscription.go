package presence

import (
	"context"
	"crypto/rand"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/presence/rlmi"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// Errors of subscriptions. A terminated subscription's cause is a
// *SubscriptionError that wraps one of these, a *ua.StatusError or a
// transaction timeout error.
var (
	// ErrNoNotify: no NOTIFY (nor a 2xx carrying the first state) arrived
	// within Timer N (64·T1) of the 2xx to SUBSCRIBE (RFC 6665 §4.1.2.4),
	// or a resource of a list never appeared in the RLMI within that time.
	ErrNoNotify = errors.New("presence: no NOTIFY within Timer N")
	// ErrUnsubscribed: the subscription was ended by Unsubscribe or Close.
	ErrUnsubscribed = errors.New("presence: unsubscribed")
	// ErrSubscriptionTerminated is returned by methods of a Subscription
	// that has already terminated.
	ErrSubscriptionTerminated = errors.New("presence: subscription terminated")
	// ErrNotifyProtocol: the notifier broke RFC 6665 (a 2xx to SUBSCRIBE
	// without a Contact, an unparsable body, ...).
	ErrNotifyProtocol = errors.New("presence: SUBSCRIBE/NOTIFY protocol violation by the notifier")
)

// SubscriptionState is the state of a [Subscription], and of each
// resource of a resource list subscription.
type SubscriptionState int

// The states of a subscription (RFC 6665 §4.1.3). A subscription starts
// in Subscribing and ends in Terminated, whose cause always says why;
// WaitingToRetry is a pause before a new SUBSCRIBE.
const (
	// Subscribing: a SUBSCRIBE is outstanding, or it was accepted but no
	// NOTIFY has told the state yet (Timer N runs). For a resource of a
	// list: it has not appeared in the RLMI with an instance yet.
	Subscribing SubscriptionState = iota
	// Pending: the notifier has not authorized the subscription yet
	// (Subscription-State: pending).
	Pending
	// Active: the subscription is authorized and notifications flow
	// (Subscription-State: active; "Subscribed" in UCMA).
	Active
	// WaitingToRetry: the subscription ended with a reason that calls for
	// a new subscription (deactivated, timeout: at once; probation,
	// giveup: after retry-after); a new SUBSCRIBE follows.
	WaitingToRetry
	// Terminated: the subscription ended for good.
	Terminated
)

var subStateNames = [...]string{"Subscribing", "Pending", "Active", "WaitingToRetry", "Terminated"}

func (s SubscriptionState) String() string {
	if s >= 0 && int(s) < len(subStateNames) {
		return subStateNames[s]
	}
	return "SubscriptionState(" + strconv.Itoa(int(s)) + ")"
}

// SubscriptionError is why a subscription (or one resource of a list)
// left Active, Pending or Subscribing: the Subscription-State reason of a
// terminating NOTIFY, the RLMI instance's reason, or the final response of
// a failed SUBSCRIBE. errors.As finds the *ua.StatusError of a non-2xx
// response through Err, and errors.Is the sentinel errors.
type SubscriptionError struct {
	// Reason is the reason token: deactivated, probation, rejected,
	// timeout, giveup, noresource, invariant (RFC 6665 §4.1.3), forbidden
	// (Microsoft RLMI), or "timeout" for Timer N; "" for a failed request.
	Reason string
	// StatusCode is the status code of a failed SUBSCRIBE, or the one a
	// server attached to an RLMI instance; 0 otherwise.
	StatusCode int
	// Diagnostics is the ms-diagnostics of the response or RLMI instance.
	Diagnostics *sip.Diagnostics
	// RetryAfter is the retry-after parameter or Retry-After header; 0
	// when absent.
	RetryAfter time.Duration
	// Err is the underlying error: a *ua.StatusError, a timeout error,
	// ErrNoNotify, ErrUnsubscribed, ErrNotifyProtocol; nil for a
	// Subscription-State reason.
	Err error
}

func (e *SubscriptionError) Error() string {
	var b strings.Builder
	b.WriteString("presence: subscription terminated")
	if e.Reason != "" {
		b.WriteString(": reason=" + e.Reason)
	}
	if e.StatusCode != 0 {
		b.WriteString(": status " + strconv.Itoa(e.StatusCode))
	}
	if e.Diagnostics != nil {
		b.WriteString(" (ms-diagnostics " + strconv.Itoa(e.Diagnostics.Code) + ")")
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Err.
func (e *SubscriptionError) Unwrap() error { return e.Err }

// SubscriptionEvent is one of [SubscriptionStateChanged],
// [NotifyReceived] and [ResourceStateChanged].
type SubscriptionEvent interface{ subscriptionEvent() }

// SubscriptionStateChanged reports a transition of the whole subscription.
type SubscriptionStateChanged struct {
	From, To SubscriptionState
	// Cause is set for the moves to WaitingToRetry and Terminated.
	Cause *SubscriptionError
	// RetryAt is when the next SUBSCRIBE goes out (WaitingToRetry only).
	RetryAt time.Time
}

// NotifyReceived reports the state a NOTIFY carried (or the 2xx to
// SUBSCRIBE, Piggybacked, which some servers send with the first state).
type NotifyReceived struct {
	State       sip.SubscriptionState
	ContentType string // the Content-Type with its parameters; "" for a NOTIFY without body
	Body        []byte
	Piggybacked bool
}

// ResourceStateChanged reports a change of one resource of a resource
// list subscription (RFC 4662): its state, or its state document.
type ResourceStateChanged struct {
	From     SubscriptionState
	Resource Resource
}

func (SubscriptionStateChanged) subscriptionEvent() {}
func (NotifyReceived) subscriptionEvent()           {}
func (ResourceStateChanged) subscriptionEvent()     {}

// Resource is the state of one resource of a list subscription.
type Resource struct {
	URI   string
	State SubscriptionState
	// Reason, StatusCode and Diagnostics say why a resource is
	// Terminated or WaitingToRetry (from its RLMI instance or from the
	// whole subscription).
	Reason      string
	StatusCode  int
	Diagnostics *sip.Diagnostics
	// Err is the underlying error of the cause, as in SubscriptionError.
	Err error
	// Attrs are the RLMI instance's extra attributes (RFC 4662 leaves
	// room for them; Microsoft servers put statusCode and diagnostics
	// there).
	Attrs map[string]string
	// ContentType and Body are the resource's latest state document (the
	// part the instance's cid named), e.g. PIDF.
	ContentType string
	Body        []byte
}

// Cause returns the resource's cause as a *SubscriptionError, or nil.
func (r Resource) Cause() *SubscriptionError {
	if r.State != Terminated && r.State != WaitingToRetry {
		return nil
	}
	return &SubscriptionError{Reason: r.Reason, StatusCode: r.StatusCode, Diagnostics: r.Diagnostics, Err: r.Err}
}

// Content types and option tags of list subscriptions.
const (
	// AdHocListContentType is the body type of a Microsoft batch
	// (ad hoc list) SUBSCRIBE ([MS-PRES] §2.2.2.3).
	AdHocListContentType = "application/msrtc-adrl-categorylist+xml"
	// DefaultListAccept is Accept for ad hoc list subscriptions (AT-P5-1).
	DefaultListAccept = "application/rlmi+xml, multipart/related, application/msrtc-event-categories+xml"
	// DefaultEventListAccept is Accept for RFC 4662 list subscriptions.
	DefaultEventListAccept = "application/rlmi+xml, multipart/related, application/pidf+xml"
)

// SubscriptionConfig configures a [Subscription].
type SubscriptionConfig struct {
	// UA provides the scheduler, the clock and T1, and sends the requests
	// unless Sender is set. Nil: Sender's UA() (a ua.Endpoint's).
	UA *ua.UA
	// Sender sends the initial SUBSCRIBE, for example a ua.Endpoint (which
	// also gets Close registered as a drain hook). Nil: UA.Do(ctx, req,
	// Target). Requests inside the dialog follow its route set.
	Sender Sender
	// Target is where UA.Do sends the initial SUBSCRIBE when Sender is
	// nil. Zero: the Request-URI's (or first Route's) address.
	Target ua.Target
	// Resource is the URI subscribed to: the presentity, the list URI of
	// an RFC 4662 resource list, or for an ad hoc list the subscriber's
	// own URI. Required.
	Resource sip.URI
	// From is the subscriber's identity. Zero: Sender's Address(), else
	// Resource.
	From sip.Address
	// Contact is sent in every SUBSCRIBE. Zero: Sender's Contact(), else
	// the UA's UDP listener.
	Contact sip.Address
	// Event is the event package with its parameters, e.g. "presence" or
	// "dialog;id=1". Zero: "presence".
	Event string
	// Accept lists the body types accepted. Zero: application/pidf+xml
	// for presence, DefaultEventListAccept with EventList,
	// DefaultListAccept with Members; none for other packages.
	Accept string
	// EventList makes this an RFC 4662 list subscription
	// (Supported: eventlist): NOTIFY bodies carry RLMI and the state of
	// every resource. Implied by Members.
	EventList bool
	// Members, when set, makes this a Microsoft ad hoc list ("batch")
	// subscription: the SUBSCRIBE carries Require: adhoclist, Supported:
	// eventlist and ms-piggyback-first-notify, and an
	// application/msrtc-adrl-categorylist+xml body listing the members
	// (AT-P5-1). Every member starts in Subscribing.
	Members []sip.URI
	// Categories are the categories the ad hoc list body asks for. Zero:
	// state, note, contactCard, calendarData.
	Categories []string
	// Expires is the subscription duration asked for. Zero: 3600 s.
	Expires time.Duration
	// RefreshAfter returns when to refresh after the notifier granted a
	// duration. Nil: max(0, min(granted−5 s, 0.9·granted)).
	RefreshAfter func(granted time.Duration) time.Duration
	// Retry decides, for a cause that ended the subscription, whether and
	// when a new SUBSCRIBE is sent. Nil: [DefaultRetry].
	Retry func(cause *SubscriptionError) (delay time.Duration, retry bool)
	// Prepare, when set, is called with every SUBSCRIBE before it is sent
	// (to add Route, P-Preferred-Identity, ...). It must not call methods
	// of the Subscription.
	Prepare func(req *sip.Request)
	// OnEvent receives every SubscriptionEvent in order, one at a time, on
	// a goroutine that exists only while events are pending; it never
	// runs on the stack's goroutines. It may call the Subscription's
	// methods.
	OnEvent func(SubscriptionEvent)
}

// DefaultRetry maps a cause to a retry as AT-P5-5 and RFC 6665 §4.1.3
// say: deactivated and timeout → resubscribe at once; probation and
// giveup → after retry-after (30 s without one, at most 3600 s); a 481 to
// a refresh (the notifier lost the subscription) → at once; anything else
// (rejected, noresource, invariant, forbidden, a failed initial
// SUBSCRIBE, no reason) → terminal.
func DefaultRetry(c *SubscriptionError) (time.Duration, bool) {
	switch c.Reason {
	case sip.ReasonDeactivated, sip.ReasonTimeout:
		return 0, true
	case sip.ReasonProbation, sip.ReasonGiveUp:
		d := c.RetryAfter
		if d <= 0 {
			d = 30 * time.Second
		}
		return min(d, time.Hour), true
	case "":
		if c.StatusCode == 481 && c.Err != nil {
			return 0, true
		}
	}
	return 0, false
}

type subOp uint8

const (
	subOpNone subOp = iota
	subOpInitial
	subOpRefresh
	subOpUnsubscribe
)

// Subscription is a subscriber's subscription (RFC 6665 §4.1) to one
// resource or one resource list (RFC 4662), for any event package. Create
// it with [NewSubscription]; Subscribe starts it.
//
// It holds at most one SUBSCRIBE outstanding. Idle, it holds no goroutine:
// its timers (refresh, expiry, retry, Timer N) run on the UA's scheduler.
// All methods are safe for concurrent use.
type Subscription struct {
	cfg        SubscriptionConfig
	u          *ua.UA
	sender     Sender
	sched      *sched.Scheduler
	timerN     time.Duration
	event      sip.Event
	fromAddr   sip.Address
	contact    string
	expires    int // seconds asked for
	list       bool
	unregister func()
	ctx        context.Context
	cancel     context.CancelFunc

	mu        sync.Mutex
	state     SubscriptionState
	cause     *SubscriptionError
	started   bool
	callID    string
	fromTag   string
	key       string       // routing key of the current attempt
	template  *sip.Request // the current initial SUBSCRIBE, unsent copy
	dlg       *dialog.Dialog
	gotNotify bool // a NOTIFY or piggybacked state arrived in this attempt
	nExpired  bool // Timer N fired in this attempt
	attempt   int  // increments with each initial SUBSCRIBE
	retries   int  // consecutive retries without reaching Active/Pending
	expiresAt time.Time
	timer     *sched.Timer // refresh, expiry or retry
	timerDue  time.Time
	tN        *sched.Timer
	busy      bool
	want      subOp // the next operation (a later, stronger one replaces it)
	unsub     bool  // Unsubscribe was called
	waiters   []chan struct{}
	// resource list state
	version   uint32
	haveVer   bool
	needFull  bool
	resources []*Resource
	byURI     map[string]*Resource
	// events
	queue    []SubscriptionEvent
	draining bool
	done     chan struct{}
}

// NewSubscription returns a subscription in Subscribing; nothing is sent
// until Subscribe.
func NewSubscription(cfg SubscriptionConfig) (*Subscription, error) {
	if cfg.UA == nil {
		if e, ok := cfg.Sender.(interface{ UA() *ua.UA }); ok {
			cfg.UA = e.UA()
		}
	}
	if cfg.UA == nil {
		return nil, errors.New("presence: SubscriptionConfig.UA is nil")
	}
	if cfg.Resource.Scheme == "" {
		return nil, errors.New("presence: SubscriptionConfig.Resource is empty")
	}
	if cfg.Event == "" {
		cfg.Event = "presence"
	}
	ev, err := sip.ParseEvent(cfg.Event)
	if err != nil {
		return nil, errors.New("presence: bad event package " + strconv.Quote(cfg.Event))
	}
	if cfg.From.URI.Scheme == "" {
		if e, ok := cfg.Sender.(interface{ Address() sip.Address }); ok {
			cfg.From = e.Address()
		} else {
			cfg.From = sip.Address{URI: cfg.Resource}
		}
	}
	cfg.From.Params = cfg.From.Params.Without("tag")
	if cfg.Contact.URI.Scheme == "" {
		if e, ok := cfg.Sender.(interface{ Contact() sip.Address }); ok {
			cfg.Contact = e.Contact()
		}
		if cfg.Contact.URI.Scheme == "" || cfg.Contact.URI.Host == "" {
			uri, ok := cfg.UA.ContactURI("")
			if !ok {
				return nil, errors.New("presence: the UA has no listener for Contact")
			}
			uri.User = cfg.From.URI.User
			cfg.Contact = sip.Address{URI: uri}
		}
	}
	list := cfg.EventList || len(cfg.Members) > 0
	if cfg.Accept == "" {
		switch {
		case len(cfg.Members) > 0:
			cfg.Accept = DefaultListAccept
		case list:
			cfg.Accept = DefaultEventListAccept
		case ev.Type == "presence":
			cfg.Accept = "application/pidf+xml"
		}
	}
	if cfg.Expires <= 0 {
		cfg.Expires = time.Hour
	}
	if cfg.RefreshAfter == nil {
		cfg.RefreshAfter = func(g time.Duration) time.Duration { return max(0, min(g-5*time.Second, g/10*9)) }
	}
	if cfg.Retry == nil {
		cfg.Retry = DefaultRetry
	}
	if len(cfg.Categories) == 0 {
		cfg.Categories = []string{"state", "note", "contactCard", "calendarData"}
	}
	s := &Subscription{cfg: cfg, u: cfg.UA, sender: cfg.Sender, sched: cfg.UA.Scheduler(),
		timerN: 64 * cfg.UA.Timers().T1, event: ev, fromAddr: cfg.From, contact: cfg.Contact.String(),
		expires: max(1, int((cfg.Expires+time.Second-1)/time.Second)), list: list,
		done: make(chan struct{})}
	if s.sender == nil {
		s.sender = UASender(cfg.UA, cfg.Target)
	}
	for _, m := range cfg.Members {
		s.addResourceLocked(m.String())
	}
	// RFC 4662 §5.1: a list notifier sends Require: eventlist, which the
	// UA core refuses (420) for tags it does not support.
	cfg.UA.Support("eventlist")
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if t, ok := cfg.Sender.(terminator); ok {
		s.unregister = t.OnTerminate(s.Close)
	}
	return s, nil
}

// Subscribe sends the initial SUBSCRIBE and waits until its outcome is
// known or ctx is done: nil once the notifier accepted it (the state then
// arrives by NOTIFY; watch OnEvent or State), else the cause of the
// termination. A ctx that ends only stops the wait.
func (s *Subscription) Subscribe(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("presence: Subscribe called twice")
	}
	s.started = true
	ch := make(chan struct{}, 1)
	s.waiters = append(s.waiters, ch)
	s.want = subOpInitial
	s.kickLocked()
	s.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == Terminated {
		return s.cause
	}
	return nil
}

// Refresh sends a refreshing SUBSCRIBE now (RFC 6665 §4.1.2.2), which
// also makes the notifier send the full state again. It does not wait.
func (s *Subscription) Refresh() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == Terminated {
		return ErrSubscriptionTerminated
	}
	if s.want == subOpNone && s.dlg != nil {
		s.want = subOpRefresh
		s.kickLocked()
	}
	return nil
}

// Unsubscribe ends the subscription (RFC 6665 §4.1.2.3: SUBSCRIBE with
// Expires: 0 in the dialog) and waits for the final NOTIFY, at most
// Timer N, or until ctx is done. The subscription is then Terminated with
// ErrUnsubscribed.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	s.mu.Lock()
	if s.state == Terminated {
		s.mu.Unlock()
		return nil
	}
	s.unsub = true
	if !s.started {
		s.started = true
		s.terminateLocked(&SubscriptionError{Err: ErrUnsubscribed})
		s.mu.Unlock()
		return nil
	}
	s.want = subOpUnsubscribe
	s.kickLocked()
	s.mu.Unlock()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close unsubscribes within ctx and stops everything; the subscription
// ends Terminated whatever the notifier answers.
func (s *Subscription) Close(ctx context.Context) error {
	err := s.Unsubscribe(ctx)
	s.mu.Lock()
	s.terminateLocked(&SubscriptionError{Err: ErrUnsubscribed})
	s.mu.Unlock()
	s.cancel()
	if s.unregister != nil {
		s.unregister()
	}
	return err
}

// Done is closed when the subscription is Terminated.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// State returns the current state.
func (s *Subscription) State() SubscriptionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Err returns the cause of the last move to WaitingToRetry or Terminated,
// or nil.
func (s *Subscription) Err() *SubscriptionError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cause
}

// ExpiresAt returns when the subscription expires unless refreshed.
func (s *Subscription) ExpiresAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiresAt
}

// DialogID returns the ID of the subscription's dialog, if it has one.
func (s *Subscription) DialogID() (dialog.ID, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dlg == nil {
		return dialog.ID{}, false
	}
	return s.dlg.ID(), true
}

// Resources returns the resources of a list subscription, members first
// in the order given, then those the RLMI named, in order of appearance.
func (s *Subscription) Resources() []Resource {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Resource, len(s.resources))
	for i, r := range s.resources {
		out[i] = *r
	}
	return out
}

// Resource returns the state of one resource of a list subscription.
func (s *Subscription) Resource(uri string) (Resource, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byURI[uri]
	if !ok {
		return Resource{}, false
	}
	return *r, true
}

// ---- events ----------------------------------------------------------

func (s *Subscription) emitLocked(ev SubscriptionEvent) {
	if s.cfg.OnEvent == nil {
		return
	}
	s.queue = append(s.queue, ev)
	if s.draining {
		return
	}
	s.draining = true
	go s.drain()
}

func (s *Subscription) drain() {
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.draining = false
			s.queue = nil
			s.mu.Unlock()
			return
		}
		ev := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.mu.Unlock()
		s.cfg.OnEvent(ev)
	}
}

func (s *Subscription) setStateLocked(to SubscriptionState, cause *SubscriptionError, retryAt time.Time) {
	if s.state == to && to != WaitingToRetry {
		return
	}
	from := s.state
	s.state = to
	if cause != nil {
		s.cause = cause
	}
	if to == Active || to == Pending {
		s.retries = 0
	}
	s.emitLocked(SubscriptionStateChanged{From: from, To: to, Cause: cause, RetryAt: retryAt})
}

func (s *Subscription) wakeLocked() {
	for _, ch := range s.waiters {
		ch <- struct{}{}
	}
	s.waiters = nil
}

// ---- sending -----------------------------------------------------------

func (s *Subscription) kickLocked() {
	if s.busy || s.want == subOpNone || s.state == Terminated {
		return
	}
	s.busy = true
	go s.run()
}

func (s *Subscription) run() {
	for {
		s.mu.Lock()
		op := s.want
		if op == subOpRefresh && s.dlg == nil {
			op = subOpNone
		}
		if op == subOpNone || s.state == Terminated {
			s.want = subOpNone
			s.busy = false
			s.mu.Unlock()
			return
		}
		s.want = subOpNone
		var req *sip.Request
		switch op {
		case subOpInitial:
			req = s.buildInitialLocked()
		case subOpRefresh:
			req = s.buildInDialogLocked(s.expires)
		case subOpUnsubscribe:
			if s.dlg == nil {
				// Nothing was established (or it was lost): nothing to end.
				s.terminateLocked(&SubscriptionError{Err: ErrUnsubscribed})
				s.busy = false
				s.mu.Unlock()
				return
			}
			req = s.buildInDialogLocked(0)
		}
		dlg, attempt := s.dlg, s.attempt
		s.mu.Unlock()
		if s.cfg.Prepare != nil {
			s.cfg.Prepare(req)
		}
		var res *sip.Response
		var err error
		if op == subOpInitial {
			res, err = s.sender.Do(s.ctx, req)
		} else {
			res, err = dlg.Do(s.ctx, req)
		}
		s.mu.Lock()
		if attempt == s.attempt && s.state != Terminated && (op == subOpInitial || s.dlg == dlg) {
			switch op {
			case subOpInitial:
				s.initialDoneLocked(req, res, err)
			case subOpRefresh:
				s.refreshDoneLocked(res, err)
			case subOpUnsubscribe:
				s.unsubDoneLocked(res, err)
			}
		}
		s.mu.Unlock()
	}
}

// addCommonLocked adds what every SUBSCRIBE of the subscription carries.
func (s *Subscription) addCommonLocked(req *sip.Request, expires int, body bool) {
	req.Set("Event", s.event.String())
	req.Set("Expires", strconv.Itoa(expires))
	req.Set("Contact", s.contact)
	if s.cfg.Accept != "" {
		req.Set("Accept", s.cfg.Accept)
	}
	if s.list {
		req.AddToken("Supported", "eventlist")
	}
	if len(s.cfg.Members) > 0 {
		req.AddToken("Supported", "ms-piggyback-first-notify")
		req.AddToken("Require", "adhoclist")
		if body {
			req.Set("Content-Type", AdHocListContentType)
			req.SetBody(AdHocListBody(s.cfg.Resource, s.cfg.Members, s.cfg.Categories))
		}
	}
}

func (s *Subscription) buildInitialLocked() *sip.Request {
	s.attempt++
	s.dlg, s.gotNotify, s.nExpired = nil, false, false
	s.haveVer, s.needFull = false, false
	s.stopTimerNLocked()
	table(s.u).remove(s.key, s)
	s.callID = rand.Text()
	s.fromTag = rand.Text()[:12]
	s.key = s.callID + "\x00" + s.fromTag
	from := s.fromAddr
	from.Params = from.Params.With("tag", s.fromTag)
	req := sip.NewRequest(sip.MethodSubscribe, s.cfg.Resource)
	req.Set("From", from.String())
	req.Set("To", sip.Address{URI: s.cfg.Resource}.String())
	req.Set("Call-ID", s.callID)
	req.Set("CSeq", sip.CSeq{Seq: 1, Method: sip.MethodSubscribe}.String())
	s.addCommonLocked(req, s.expires, true)
	s.template = req.Clone()
	table(s.u).add(s.key, s)
	if s.state == WaitingToRetry {
		s.setStateLocked(Subscribing, nil, time.Time{})
		s.resetResourcesLocked()
	}
	return req
}

func (s *Subscription) buildInDialogLocked(expires int) *sip.Request {
	req := s.dlg.NewRequest(sip.MethodSubscribe)
	s.addCommonLocked(req, expires, expires > 0)
	return req
}

// failure builds the cause of a failed request.
func failure(res *sip.Response, err error) *SubscriptionError {
	c := &SubscriptionError{Err: err}
	if res != nil {
		c.StatusCode = res.StatusCode
		if d, derr := res.MSDiagnostics(); derr == nil {
			c.Diagnostics = &d
		}
		if ra, rerr := res.RetryAfter(); rerr == nil {
			c.RetryAfter = time.Duration(ra.Seconds) * time.Second
		}
	}
	return c
}

func (s *Subscription) initialDoneLocked(req *sip.Request, res *sip.Response, err error) {
	if err != nil && res != nil && res.StatusCode == 423 && !s.unsub {
		if me, merr := res.MinExpires(); merr == nil && me > s.expires {
			// RFC 6665 §4.1.2.1 / RFC 3261 §21.4.17: ask again with
			// Min-Expires.
			s.expires = me
			s.want = subOpInitial
			return
		}
	}
	defer s.wakeLocked()
	if s.state == WaitingToRetry {
		return // a NOTIFY ended this attempt before its 2xx came
	}
	if err != nil {
		if s.dlg != nil && s.gotNotify {
			// A NOTIFY of another fork established the subscription
			// already (RFC 6665 §4.1.2.4): it stands.
			return
		}
		s.endLocked(failure(res, err))
		return
	}
	tag := res.To().Tag()
	mine := false
	switch {
	case s.dlg == nil:
		d, derr := dialog.NewUAC(s.u, req, res)
		if derr != nil {
			s.endLocked(&SubscriptionError{StatusCode: res.StatusCode, Err: errors.Join(ErrNotifyProtocol, derr)})
			return
		}
		s.dlg, s.template, mine = d, nil, true
	case s.dlg.ID().RemoteTag == tag:
		s.dlg.RefreshTarget(res)
		mine = true
	}
	if s.dlg != nil {
		// A digest retry raised the CSeq of the SUBSCRIBE after a NOTIFY
		// created the dialog with the first one.
		for s.dlg.LocalSeq() < req.CSeq().Seq {
			s.dlg.NewRequest(sip.MethodSubscribe)
		}
	}
	if mine || s.expiresAt.IsZero() {
		granted := s.expires
		if e, eerr := res.Expires(); eerr == nil {
			granted = e
		}
		s.grantLocked(granted)
	}
	s.template = nil // only a NOTIFY before the dialog needed it
	if !s.gotNotify {
		s.armTimerNLocked()
	}
	if len(res.Body()) > 0 && mine {
		// A 2xx carrying the first state (Microsoft's
		// ms-piggyback-first-notify, AT-P5-2) counts as a NOTIFY.
		st := sip.SubscriptionState{State: sip.SubStateActive, Expires: -1, RetryAfter: -1}
		s.processNotifyLocked(st, res.ContentType(), res.Body(), true)
	}
	if s.unsub {
		s.want = subOpUnsubscribe
	}
}

func (s *Subscription) refreshDoneLocked(res *sip.Response, err error) {
	if err != nil {
		if res != nil && res.StatusCode == 481 {
			s.endLocked(failure(res, err))
			return
		}
		if res != nil && res.StatusCode == 423 {
			if me, merr := res.MinExpires(); merr == nil && me > s.expires {
				s.expires = me
				s.want = subOpRefresh
				return
			}
		}
		// RFC 6665 §4.1.2.2: the subscription stays valid until it
		// expires; then it ends with reason timeout.
		s.armTimerLocked(s.expiresAt)
		return
	}
	s.dlg.RefreshTarget(res)
	granted := s.expires
	if e, eerr := res.Expires(); eerr == nil {
		granted = e
	}
	s.grantLocked(granted)
}

func (s *Subscription) unsubDoneLocked(res *sip.Response, err error) {
	if err != nil || s.gotFinal() {
		s.terminateLocked(&SubscriptionError{Err: ErrUnsubscribed})
		return
	}
	// Wait for the final NOTIFY, at most Timer N.
	s.stopTimerLocked()
	s.tN = s.sched.AfterFunc(s.timerN, func() {
		s.mu.Lock()
		s.terminateLocked(&SubscriptionError{Err: ErrUnsubscribed})
		s.mu.Unlock()
	})
}

func (s *Subscription) gotFinal() bool { return s.state == Terminated }

// grantLocked records a granted duration and schedules the refresh.
func (s *Subscription) grantLocked(secs int) {
	now := s.sched.Now()
	g := time.Duration(secs) * time.Second
	s.expiresAt = now.Add(g)
	if s.unsub {
		return
	}
	// The timer fires for the refresh, or at the latest at expiry.
	s.armTimerLocked(now.Add(min(g, s.cfg.RefreshAfter(g))))
}

// ---- timers ------------------------------------------------------------

func (s *Subscription) armTimerLocked(at time.Time) {
	s.timerDue = at
	if s.timer == nil {
		s.timer = s.sched.At(at, s.onTimer)
		return
	}
	s.timer.Stop()
	s.timer.Reset(at.Sub(s.sched.Now()))
}

func (s *Subscription) stopTimerLocked() {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timerDue = time.Time{}
}

func (s *Subscription) onTimer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.sched.Now()
	if s.timerDue.IsZero() || now.Before(s.timerDue) || s.state == Terminated {
		return
	}
	s.timerDue = time.Time{}
	switch {
	case s.unsub:
		return
	case s.state == WaitingToRetry:
		s.want = subOpInitial
	case !s.expiresAt.IsZero() && !now.Before(s.expiresAt):
		// Expired without a successful refresh.
		s.endLocked(&SubscriptionError{Reason: sip.ReasonTimeout})
		return
	default:
		if s.want == subOpNone {
			s.want = subOpRefresh
		}
	}
	s.kickLocked()
}

func (s *Subscription) armTimerNLocked() {
	s.stopTimerNLocked()
	attempt := s.attempt
	s.tN = s.sched.AfterFunc(s.timerN, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.attempt != attempt || s.state == Terminated {
			return
		}
		s.onTimerNLocked()
	})
}

func (s *Subscription) stopTimerNLocked() {
	if s.tN != nil {
		s.tN.Stop()
		s.tN = nil
	}
}

func (s *Subscription) onTimerNLocked() {
	s.nExpired = true
	if !s.gotNotify {
		// RFC 6665 §4.1.2.4, AT-P5-4: the whole subscription failed. This
		// is terminal: resubscribing would only wait again.
		s.terminateLocked(&SubscriptionError{Reason: sip.ReasonTimeout, Err: ErrNoNotify})
		return
	}
	for _, r := range s.resources {
		if r.State == Subscribing {
			s.setResourceLocked(r, Resource{URI: r.URI, State: Terminated, Reason: sip.ReasonTimeout, Err: ErrNoNotify,
				ContentType: r.ContentType, Body: r.Body})
		}
	}
}

// ---- ending --------------------------------------------------------------

// endLocked ends the current attempt with cause: a retry when the policy
// says so (and the application has not unsubscribed), else Terminated.
// Local expiry counts as reason timeout.
func (s *Subscription) endLocked(cause *SubscriptionError) {
	if s.unsub {
		s.terminateLocked(cause)
		return
	}
	delay, retry := s.cfg.Retry(cause)
	if !retry {
		s.terminateLocked(cause)
		return
	}
	if s.retries > 0 {
		// Consecutive retries that never reach Active or Pending back off
		// (1 s, 2 s, 4 s, ... at most 1 h) so a notifier that keeps
		// terminating cannot make us loop.
		delay = max(delay, min(time.Second<<min(s.retries-1, 12), time.Hour))
	}
	s.retries++
	s.stopTimerNLocked()
	s.dlg = nil
	table(s.u).remove(s.key, s)
	s.expiresAt = time.Time{}
	at := s.sched.Now().Add(delay)
	s.resourcesEndLocked(cause, WaitingToRetry)
	s.setStateLocked(WaitingToRetry, cause, at)
	if delay <= 0 {
		s.stopTimerLocked()
		s.want = subOpInitial
		s.kickLocked()
		return
	}
	s.armTimerLocked(at)
}

func (s *Subscription) terminateLocked(cause *SubscriptionError) {
	if s.state == Terminated {
		return
	}
	s.stopTimerLocked()
	s.stopTimerNLocked()
	table(s.u).remove(s.key, s)
	if s.dlg != nil {
		s.dlg.Terminate()
	}
	s.resourcesEndLocked(cause, Terminated)
	s.setStateLocked(Terminated, cause, time.Time{})
	s.wakeLocked()
	close(s.done)
}

// ---- NOTIFY --------------------------------------------------------------

// serveNotify handles a NOTIFY routed to the subscription.
func (s *Subscription) serveNotify(w ua.ResponseWriter, r *ua.Request) {
	code, extra := s.notify(r.Request)
	res := w.NewResponse(code, "")
	if extra != "" {
		res.Set("Allow-Events", extra)
	}
	_ = w.Respond(res)
}

func (s *Subscription) notify(req *sip.Request) (int, string) {
	ev, err := req.Event()
	if err != nil || !strings.EqualFold(ev.Type, s.event.Type) || ev.ID() != s.event.ID() {
		return 489, s.event.Type
	}
	ss, err := req.SubscriptionState()
	if err != nil {
		return 400, ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == Terminated || s.key != req.CallID()+"\x00"+req.To().Tag() {
		return 481, ""
	}
	if s.dlg == nil {
		if s.nExpired || s.template == nil {
			return 481, "" // RFC 6665 §4.1.2.4
		}
		d, derr := dialogFromNotify(s.u, s.template, req)
		if derr != nil {
			return 400, ""
		}
		s.dlg, s.template = d, nil
		d.Confirm()
	} else if s.dlg.ID().RemoteTag != req.From().Tag() {
		// Another fork: one subscription per SUBSCRIBE (RFC 6665 §5.4.9).
		return 481, ""
	}
	if !s.dlg.Receive(req) {
		return 500, ""
	}
	if ss.Expires >= 0 && ss.State != sip.SubStateTerminated {
		now := s.sched.Now()
		at := now.Add(time.Duration(ss.Expires) * time.Second)
		if s.expiresAt.IsZero() || at.Before(s.expiresAt) {
			s.grantLocked(ss.Expires)
		}
	}
	s.processNotifyLocked(ss, req.ContentType(), req.Body(), false)
	return 200, ""
}

// processNotifyLocked applies the state of a NOTIFY or piggybacked 2xx.
func (s *Subscription) processNotifyLocked(ss sip.SubscriptionState, ct sip.MediaType, body []byte, piggy bool) {
	first := !s.gotNotify
	s.gotNotify = true
	ctype := ""
	if len(body) > 0 {
		ctype = ct.String()
	}
	s.emitLocked(NotifyReceived{State: ss, ContentType: ctype, Body: body, Piggybacked: piggy})
	if len(body) > 0 && (ct.Is(rlmi.ContentType) || ct.Is("multipart/related")) {
		s.list = true
		if n, err := rlmi.Decode(ct, body); err == nil {
			s.processListLocked(n)
		}
	}
	if !s.list || !s.anySubscribingLocked() {
		s.stopTimerNLocked()
	} else if first && s.tN == nil {
		s.armTimerNLocked()
	}
	switch ss.State {
	case sip.SubStateActive:
		s.setStateLocked(Active, nil, time.Time{})
	case sip.SubStatePending:
		s.setStateLocked(Pending, nil, time.Time{})
	case sip.SubStateTerminated:
		cause := &SubscriptionError{Reason: ss.Reason}
		if ss.RetryAfter >= 0 {
			cause.RetryAfter = time.Duration(ss.RetryAfter) * time.Second
		}
		if s.unsub {
			cause.Err = ErrUnsubscribed
			s.terminateLocked(cause)
			return
		}
		if s.dlg != nil {
			s.dlg.Terminate()
		}
		s.endLocked(cause)
	}
}

// dialogFromNotify creates the dialog a NOTIFY establishes before (or
// instead of) the 2xx (RFC 6665 §4.1.2.4): as if the NOTIFY were a 2xx,
// its From tag the remote tag, its Contact the remote target, its
// Record-Route (in order, as a UAS keeps it) the route set.
func dialogFromNotify(u *ua.UA, tmpl, n *sip.Request) (*dialog.Dialog, error) {
	res := sip.NewResponse(tmpl, 200, "")
	res.Set("To", n.Get("From"))
	for _, c := range n.Values("Contact") {
		res.Add("Contact", c)
	}
	rr := n.Values("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		res.Add("Record-Route", rr[i])
	}
	return dialog.NewUAC(u, tmpl, res)
}

// ---- resource lists ------------------------------------------------------

func (s *Subscription) addResourceLocked(uri string) *Resource {
	if r, ok := s.byURI[uri]; ok {
		return r
	}
	if s.byURI == nil {
		s.byURI = make(map[string]*Resource)
	}
	r := &Resource{URI: uri, State: Subscribing}
	s.resources = append(s.resources, r)
	s.byURI[uri] = r
	return r
}

func (s *Subscription) anySubscribingLocked() bool {
	for _, r := range s.resources {
		if r.State == Subscribing {
			return true
		}
	}
	return false
}

// setResourceLocked replaces a resource's state and reports the change.
func (s *Subscription) setResourceLocked(r *Resource, to Resource) {
	from := r.State
	*r = to
	s.emitLocked(ResourceStateChanged{From: from, Resource: to})
}

func (s *Subscription) resetResourcesLocked() {
	for _, r := range s.resources {
		if r.State == WaitingToRetry {
			s.setResourceLocked(r, Resource{URI: r.URI, State: Subscribing, ContentType: r.ContentType, Body: r.Body})
		}
	}
}

// resourcesEndLocked moves every resource still alive to state (AT-P5-5,
// AT-P5-6: a failed SUBSCRIBE or a terminated list ends them all).
func (s *Subscription) resourcesEndLocked(c *SubscriptionError, state SubscriptionState) {
	for _, r := range s.resources {
		if r.State == Terminated || r.State == state {
			continue
		}
		s.setResourceLocked(r, Resource{URI: r.URI, State: state, Reason: c.Reason, StatusCode: c.StatusCode,
			Diagnostics: c.Diagnostics, Err: c.Err, ContentType: r.ContentType, Body: r.Body})
	}
}

// instanceRank orders instances when a resource has several: the most
// alive one describes it.
func instanceRank(st rlmi.State) int {
	switch st {
	case rlmi.Active:
		return 3
	case rlmi.Pending:
		return 2
	case rlmi.Terminated:
		return 1
	}
	return 0
}

// processListLocked applies an RLMI document (RFC 4662 §5.4, AT-P5-6).
func (s *Subscription) processListLocked(n *rlmi.Notify) {
	l := n.List
	switch {
	case s.haveVer && l.Version <= s.version:
		return // a duplicate or an old NOTIFY overtaken by a newer one
	case !l.FullState && (!s.haveVer || s.needFull || l.Version != s.version+1):
		// State was lost: refresh to get the full state again.
		s.needFull = true
		if s.want == subOpNone && s.dlg != nil {
			s.want = subOpRefresh
			s.kickLocked()
		}
		return
	}
	s.version, s.haveVer = l.Version, true
	if l.FullState {
		s.needFull = false
	}
	best := make(map[string]int, len(n.Entries))
	order := make([]string, 0, len(n.Entries))
	for i := range n.Entries {
		e := &n.Entries[i]
		j, ok := best[e.URI]
		if !ok {
			best[e.URI] = i
			order = append(order, e.URI)
			continue
		}
		if instanceRank(e.Instance.State) > instanceRank(n.Entries[j].Instance.State) {
			best[e.URI] = i
		}
	}
	for _, uri := range order {
		e := &n.Entries[best[uri]]
		r := s.addResourceLocked(uri)
		next := *r
		next.Attrs = e.Instance.Attrs
		if e.Part != nil {
			next.ContentType = e.Part.ContentType().String()
			next.Body = e.Part.Body
		}
		in := &e.Instance
		switch in.State {
		case rlmi.Active:
			next.State, next.Reason, next.StatusCode, next.Diagnostics, next.Err = Active, "", 0, nil, nil
		case rlmi.Pending:
			next.State, next.Reason, next.StatusCode, next.Diagnostics, next.Err = Pending, "", 0, nil, nil
		case rlmi.Terminated:
			next.State, next.Reason, next.StatusCode, next.Err = Terminated, in.Reason, in.StatusCode(), nil
			next.Diagnostics = nil
			if d, ok := in.Diagnostics(); ok {
				next.Diagnostics = &d
			}
		default:
			// No instance yet (RFC 4662 §5.2: no subscription to it yet), or
			// an extension state: the resource keeps its state.
		}
		if next.State != r.State || next.Reason != r.Reason || e.Part != nil || next.StatusCode != r.StatusCode {
			s.setResourceLocked(r, next)
		}
	}
}

// ---- routing -------------------------------------------------------------

// subTable routes NOTIFYs to the subscriptions of one UA by Call-ID and
// our From tag: one router per UA however many subscriptions it holds, so
// routing costs one map lookup. It is created with the first subscription
// of a UA and stays (a map and a router) while the UA lives.
type subTable struct {
	u       *ua.UA
	mu      sync.Mutex
	subs    map[string]*Subscription
	unroute func() // kept for symmetry: the router stays while the UA lives
}

// subTableKey is the key of the UA's subscription table (ua.UA.Shared).
type subTableKey struct{}

// table returns the UA's table, creating it and adding its router on first
// use. A table lives as long as its UA.
func table(u *ua.UA) *subTable {
	return u.Shared(subTableKey{}, func() any {
		t := &subTable{u: u, subs: make(map[string]*Subscription)}
		t.unroute = u.AddRouter(t)
		return t
	}).(*subTable)
}

func (t *subTable) add(key string, s *Subscription) {
	t.mu.Lock()
	t.subs[key] = s
	t.mu.Unlock()
}

func (t *subTable) remove(key string, s *Subscription) {
	if key == "" {
		return
	}
	t.mu.Lock()
	if t.subs[key] == s {
		delete(t.subs, key)
	}
	t.mu.Unlock()
}

// RouteRequest implements ua.Router for NOTIFYs.
func (t *subTable) RouteRequest(req *sip.Request) ua.Handler {
	if req.Method != sip.MethodNotify {
		return nil
	}
	t.mu.Lock()
	s := t.subs[req.CallID()+"\x00"+req.To().Tag()]
	t.mu.Unlock()
	if s == nil {
		return nil
	}
	return ua.HandlerFunc(s.serveNotify)
}
