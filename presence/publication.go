package presence

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// Sender sends one out-of-dialog request and waits for its final
// response: a 2xx, a *ua.StatusError for a final non-2xx, a timeout error
// or ctx's error. It answers digest challenges itself. (*ua.UA).Do with a
// fixed target is one (see [UASender]); a ua.Endpoint's Do is another.
type Sender interface {
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
}

// SenderFunc adapts a function to [Sender].
type SenderFunc func(ctx context.Context, req *sip.Request) (*sip.Response, error)

// Do calls f(ctx, req).
func (f SenderFunc) Do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	return f(ctx, req)
}

// UASender returns a Sender that sends with u.Do to the target to; a zero
// target routes each request by its first Route or its Request-URI.
func UASender(u *ua.UA, to ua.Target) Sender {
	return SenderFunc(func(ctx context.Context, req *sip.Request) (*sip.Response, error) {
		return u.Do(ctx, req, to)
	})
}

// terminator is what a ua.Endpoint offers to tear things down with it.
type terminator interface {
	OnTerminate(f func(ctx context.Context) error) (remove func())
}

// Body is a published event state document.
type Body struct {
	// ContentType is the media type, e.g. "application/pidf+xml". Empty:
	// PublicationConfig.ContentType.
	ContentType string
	// Data is the document. Publish copies it.
	Data []byte
}

// PublicationState is the state of a [Publication].
type PublicationState int

// The states of a Publication. A request is outstanding in Publishing,
// Modifying, Refreshing and Removing only.
const (
	// Unpublished: nothing was published yet.
	Unpublished PublicationState = iota
	// Publishing: an initial PUBLISH (no SIP-If-Match) is outstanding.
	Publishing
	// Published: the server holds the state under ETag until ExpiresAt;
	// a refresh is scheduled.
	Published
	// Modifying: a PUBLISH with SIP-If-Match and a new body is outstanding.
	Modifying
	// Refreshing: a PUBLISH with SIP-If-Match and no body is outstanding.
	Refreshing
	// Removing: a PUBLISH with Expires: 0 is outstanding.
	Removing
	// Removed: the state was removed (or there was none left to remove).
	// Publish publishes again.
	Removed
	// Failed: the last request failed (the cause is in the
	// PublicationStateChanged event); no refresh is scheduled. Publish
	// tries again (a modify while the last entity-tag has not expired, or
	// else an initial PUBLISH).
	Failed
)

var stateNames = [...]string{"Unpublished", "Publishing", "Published", "Modifying", "Refreshing", "Removing", "Removed", "Failed"}

func (s PublicationState) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "PublicationState(" + strconv.Itoa(int(s)) + ")"
}

// PublicationEvent is one of [PublicationStateChanged],
// [PublicationRecovered] and [PublicationRemoved].
type PublicationEvent interface{ publicationEvent() }

// PublicationStateChanged reports a transition.
type PublicationStateChanged struct {
	From, To PublicationState
	// Cause is nil for the transitions of a request being sent or
	// succeeding, the error of a failed request (To is then Failed, or
	// Published when a modify failed but the previous state still holds),
	// or the 412 *ua.StatusError that sent a publication back to
	// Publishing.
	Cause error
}

// PublicationRecovered reports that an initial PUBLISH re-established the
// state after the server answered 412 to a refresh or modify (RFC 3903
// §5): the old entity-tag was discarded and ETag is the new one.
type PublicationRecovered struct {
	ETag  string
	Cause error // the 412 *ua.StatusError
}

// PublicationRemoved reports that the state is gone: the server answered
// the Expires: 0 PUBLISH with a 2xx (Cause nil) or with 412, i.e. there was
// nothing left to remove (Cause is that *ua.StatusError).
type PublicationRemoved struct {
	Cause error
}

func (PublicationStateChanged) publicationEvent() {}
func (PublicationRecovered) publicationEvent()    {}
func (PublicationRemoved) publicationEvent()      {}

// PublicationConfig configures a [Publication].
type PublicationConfig struct {
	// UA provides the scheduler and the clock, and sends the requests
	// unless Sender is set. Nil: Sender's UA() when it has that method (as
	// a ua.Endpoint does); required otherwise.
	UA *ua.UA
	// Sender sends the requests, for example a ua.Endpoint. Nil:
	// UA.Do(ctx, req, Target). A Sender with an OnTerminate method (a
	// ua.Endpoint) gets Close registered as a drain hook, so the
	// publication is removed when the endpoint terminates.
	Sender Sender
	// Target is where UA.Do sends when Sender is nil. Zero: the first
	// Route (see Prepare) or else the Request-URI.
	Target ua.Target
	// Resource is the URI whose state is published: the Request-URI and
	// the To address (RFC 3903 §4.1). Required.
	Resource sip.URI
	// From is the publisher's identity (a tag is added). Zero: Sender's
	// Address() when it has that method (a ua.Endpoint), else Resource.
	From sip.Address
	// Event is the event package, sent in Event. Zero: "presence".
	Event string
	// ContentType is the media type of bodies given without one. Zero:
	// "application/pidf+xml" for the presence package.
	ContentType string
	// Expires is the lifetime asked for (whole seconds). Zero: 600 s.
	// A 423's Min-Expires raises it for the rest of the publication.
	Expires time.Duration
	// RefreshAfter returns when to refresh after a 2xx granted the given
	// lifetime. Nil: max(0, min(granted−5 s, 0.9·granted)), which is 540 s
	// for 600 s.
	RefreshAfter func(granted time.Duration) time.Duration
	// Prepare, when set, is called with every PUBLISH before it is sent,
	// to add headers such as Route or P-Preferred-Identity. It must not
	// call methods of the Publication.
	Prepare func(req *sip.Request)
	// OnEvent receives every PublicationEvent, one at a time and in order,
	// on the goroutine that sends the publication's requests, before the
	// Publish or Remove call the event concerns returns. It must not
	// block (the next request waits for it); it may read State, ETag and
	// ExpiresAt, and may start Publish or Remove in a new goroutine.
	OnEvent func(PublicationEvent)
}

// DefaultRefreshAfter is the default PublicationConfig.RefreshAfter:
// max(0, min(granted−5 s, 0.9·granted)).
func DefaultRefreshAfter(granted time.Duration) time.Duration {
	return max(0, min(granted-5*time.Second, granted/10*9))
}

type opKind uint8

const (
	opPublish opKind = iota // initial or modify, decided when sent
	opRefresh
	opRemove
)

// sent is what went on the wire for an op.
type sent uint8

const (
	sentInitial sent = iota
	sentModify
	sentRefresh
	sentRemove
)

type op struct {
	kind      opKind
	body      Body
	waiters   []chan error
	recovered error // the 412 that turned a refresh or modify into an initial PUBLISH
	tries     int   // 423 retries
}

type completion struct {
	waiters []chan error
	err     error
}

// Publication publishes the event state of one resource for one event
// package (RFC 3903 §4). Create it with [NewPublication].
//
// All methods are safe for concurrent use. Publish and Remove block until
// their request has its outcome or ctx is done; a ctx that ends first
// only stops the wait: the operation stays queued or outstanding, so the
// server ends up with the latest state asked for. At most one PUBLISH is
// outstanding at any time.
type Publication struct {
	cfg    PublicationConfig
	sender Sender
	sched  *sched.Scheduler
	ctx    context.Context // the requests' context, canceled by Close
	cancel context.CancelFunc

	from, to, callID, event string
	unregister              func()

	mu         sync.Mutex
	state      PublicationState
	etag       string
	expiresAt  time.Time
	refreshAt  time.Time
	expires    int // seconds asked for
	body       Body
	cseq       uint32
	queue      []*op
	inflight   *op
	running    bool // a goroutine runs the queue
	timer      *sched.Timer
	closing    bool
	closed     bool
	events     []PublicationEvent
	delivering bool
}

// NewPublication returns an Unpublished publication; nothing is sent until
// Publish.
func NewPublication(cfg PublicationConfig) (*Publication, error) {
	if cfg.UA == nil {
		if e, ok := cfg.Sender.(interface{ UA() *ua.UA }); ok {
			cfg.UA = e.UA()
		}
	}
	if cfg.UA == nil {
		return nil, errors.New("presence: PublicationConfig.UA is nil")
	}
	if cfg.From.URI.Scheme == "" {
		if e, ok := cfg.Sender.(interface{ Address() sip.Address }); ok {
			cfg.From = e.Address()
		}
	}
	if cfg.Resource.Scheme == "" {
		return nil, errors.New("presence: PublicationConfig.Resource is empty")
	}
	if cfg.Event == "" {
		cfg.Event = "presence"
	}
	if _, err := sip.ParseEvent(cfg.Event); err != nil {
		return nil, errors.New("presence: bad event package " + strconv.Quote(cfg.Event))
	}
	if cfg.ContentType == "" && cfg.Event == "presence" {
		cfg.ContentType = "application/pidf+xml"
	}
	if cfg.Expires <= 0 {
		cfg.Expires = 600 * time.Second
	}
	if cfg.RefreshAfter == nil {
		cfg.RefreshAfter = DefaultRefreshAfter
	}
	p := &Publication{cfg: cfg, sched: cfg.UA.Scheduler(), sender: cfg.Sender, event: cfg.Event,
		expires: max(1, int((cfg.Expires+time.Second-1)/time.Second))}
	if p.sender == nil {
		p.sender = UASender(cfg.UA, cfg.Target)
	}
	from := cfg.From
	if from.URI.Scheme == "" {
		from = sip.Address{URI: cfg.Resource}
	}
	from.Params = from.Params.With("tag", rand.Text()[:10])
	p.from = from.String()
	p.to = sip.Address{URI: cfg.Resource}.String()
	p.callID = rand.Text()
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if t, ok := p.sender.(terminator); ok {
		p.unregister = t.OnTerminate(p.Close)
	}
	return p, nil
}

// State returns the current state.
func (p *Publication) State() PublicationState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// ETag returns the newest entity-tag the server assigned, or "" when none
// is held.
func (p *Publication) ETag() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.etag
}

// ExpiresAt returns when the published state expires at the server
// unless refreshed (the zero time when none is held).
func (p *Publication) ExpiresAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.etag == "" {
		return time.Time{}
	}
	return p.expiresAt
}

// Publish publishes body: an initial PUBLISH when no entity-tag is held,
// else a modify (SIP-If-Match and the full body), which also reschedules
// the refresh. Called while a request is outstanding, it is queued; calls
// queued back to back are coalesced into one request carrying the last
// body, and all of them return its outcome. Publish returns nil once the
// server accepted the body, or the request's error (see the package
// documentation), or ctx's error.
func (p *Publication) Publish(ctx context.Context, body Body) error {
	if len(body.Data) == 0 {
		return ErrNoBody
	}
	if body.ContentType == "" {
		body.ContentType = p.cfg.ContentType
	}
	if body.ContentType == "" {
		return errors.New("presence: Publish without a content type")
	}
	body.Data = bytes.Clone(body.Data)
	ch := make(chan error, 1)
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return ErrClosed
	}
	if n := len(p.queue); n > 0 && p.queue[n-1].kind == opPublish {
		q := p.queue[n-1]
		q.body = body
		q.waiters = append(q.waiters, ch)
	} else {
		p.dropQueuedRefresh()
		p.queue = append(p.queue, &op{kind: opPublish, body: body, waiters: []chan error{ch}})
	}
	p.kick()
	p.mu.Unlock()
	return wait(ctx, ch)
}

// Remove removes the published state: a PUBLISH with Expires: 0 and
// SIP-If-Match with the then-newest entity-tag, queued behind an
// outstanding request. It stops refreshing. A 2xx or a 412 (nothing left
// to remove) leave the publication Removed and raise PublicationRemoved.
// With nothing published Remove returns nil at once.
func (p *Publication) Remove(ctx context.Context) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return ErrClosed
	}
	ch := p.enqueueRemove()
	p.mu.Unlock()
	return wait(ctx, ch)
}

func (p *Publication) enqueueRemove() chan error {
	ch := make(chan error, 1)
	if n := len(p.queue); n > 0 && p.queue[n-1].kind == opRemove {
		p.queue[n-1].waiters = append(p.queue[n-1].waiters, ch)
	} else {
		p.dropQueuedRefresh()
		p.queue = append(p.queue, &op{kind: opRemove, waiters: []chan error{ch}})
	}
	p.kick()
	return ch
}

// Close removes the published state as Remove does, then stops the
// publication for good: later calls return ErrClosed. If ctx ends first,
// the outstanding request is abandoned and ctx's error returned.
func (p *Publication) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return nil
	}
	p.closing = true
	ch := p.enqueueRemove()
	p.mu.Unlock()
	err := wait(ctx, ch)
	p.mu.Lock()
	p.closed = true
	p.timer.Stop()
	var done []completion
	for _, o := range p.queue {
		done = append(done, completion{o.waiters, ErrClosed})
	}
	p.queue = nil
	p.mu.Unlock()
	p.cancel()
	p.flush(done)
	if p.unregister != nil {
		p.unregister()
	}
	return err
}

func wait(ctx context.Context, ch chan error) error {
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dropQueuedRefresh removes a refresh not yet sent: the publish or remove
// queued after it supersedes it. p.mu is held.
func (p *Publication) dropQueuedRefresh() {
	q := p.queue[:0]
	for _, o := range p.queue {
		if o.kind != opRefresh {
			q = append(q, o)
		}
	}
	clear(p.queue[len(q):])
	p.queue = q
}

// kick starts the goroutine that runs the queue, unless it runs. p.mu is
// held.
func (p *Publication) kick() {
	if p.running || p.closed || len(p.queue) == 0 {
		return
	}
	p.running = true
	go p.run()
}

// run sends the queued operations one at a time until the queue is empty.
func (p *Publication) run() {
	for {
		var done []completion
		p.mu.Lock()
		o, req, s := p.startNext(&done)
		if o == nil {
			p.running = false
		}
		p.mu.Unlock()
		p.flush(done)
		if o == nil {
			return
		}
		res, err := p.sender.Do(p.ctx, req)
		done = nil
		p.mu.Lock()
		p.finish(o, s, req, res, err, &done)
		p.mu.Unlock()
		p.flush(done)
	}
}

// startNext pops the next operation that needs a request and builds the
// request; operations that need none complete into done. p.mu is held.
func (p *Publication) startNext(done *[]completion) (*op, *sip.Request, sent) {
	for len(p.queue) > 0 && !p.closed {
		o := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		if p.etag != "" && !p.sched.Now().Before(p.expiresAt) {
			p.etag = "" // expired at the server: RFC 3903 §4.2, publish anew
		}
		var s sent
		switch o.kind {
		case opPublish:
			s = sentInitial
			if p.etag != "" {
				s = sentModify
			}
		case opRefresh:
			if p.etag == "" {
				continue // nothing left to refresh
			}
			s = sentRefresh
		case opRemove:
			p.timer.Stop()
			if p.etag == "" {
				if p.state != Unpublished && p.state != Removed {
					p.setState(Removed, nil)
					p.emit(PublicationRemoved{})
				}
				*done = append(*done, completion{o.waiters, nil})
				continue
			}
			s = sentRemove
		}
		p.inflight = o
		p.setState([...]PublicationState{Publishing, Modifying, Refreshing, Removing}[s], o.recovered)
		return o, p.build(o, s), s
	}
	return nil, nil, 0
}

// build returns the PUBLISH for an operation. p.mu is held.
func (p *Publication) build(o *op, s sent) *sip.Request {
	req := sip.NewRequest(sip.MethodPublish, p.cfg.Resource)
	req.Set("From", p.from)
	req.Set("To", p.to)
	req.Set("Call-ID", p.callID)
	p.cseq++
	req.Set("CSeq", sip.CSeq{Seq: p.cseq, Method: sip.MethodPublish}.String())
	req.Set("Event", p.event)
	exp := p.expires
	if s == sentRemove {
		exp = 0
	}
	req.Set("Expires", strconv.Itoa(exp))
	if s != sentInitial {
		req.Set("SIP-If-Match", p.etag)
	}
	if s == sentInitial || s == sentModify {
		req.Set("Content-Type", o.body.ContentType)
		req.SetBody(o.body.Data)
	}
	if p.cfg.Prepare != nil {
		p.cfg.Prepare(req)
	}
	return req
}

// finish applies the outcome of a request (RFC 3903 §5). p.mu is held.
func (p *Publication) finish(o *op, s sent, req *sip.Request, res *sip.Response, err error, done *[]completion) {
	p.inflight = nil
	if seq := req.CSeq().Seq; seq > p.cseq {
		p.cseq = seq // digest retries used CSeq + 1
	}
	now := p.sched.Now()
	if err == nil && res != nil {
		if s == sentRemove {
			p.removed(nil)
			*done = append(*done, completion{o.waiters, nil})
			return
		}
		etag := res.SIPETag()
		exp, eerr := res.Expires()
		var msg string
		switch {
		case etag == "":
			msg = "2xx without SIP-ETag"
		case eerr != nil:
			msg = "2xx without a valid Expires"
		case exp == 0:
			msg = "2xx with Expires: 0 to a publication"
		}
		if msg != "" {
			// The newest entity-tag is kept (a Remove can still use it);
			// without one, the one sent is no longer valid either.
			p.etag = etag
			if eerr != nil {
				p.expiresAt = now.Add(time.Duration(p.expires) * time.Second)
			} else {
				p.expiresAt = now.Add(time.Duration(exp) * time.Second)
			}
			p.timer.Stop()
			perr := &ProtocolError{Msg: msg, Response: res}
			p.setState(Failed, perr)
			*done = append(*done, completion{o.waiters, perr})
			return
		}
		p.etag = etag
		granted := time.Duration(exp) * time.Second
		p.expiresAt = now.Add(granted)
		if o.kind == opPublish {
			p.body = o.body
		}
		p.armRefresh(now.Add(p.cfg.RefreshAfter(granted)))
		p.setState(Published, nil)
		if o.recovered != nil {
			p.emit(PublicationRecovered{ETag: etag, Cause: o.recovered})
		}
		*done = append(*done, completion{o.waiters, nil})
		return
	}
	if err == nil {
		err = errors.New("presence: no response")
	}
	var se *ua.StatusError
	if errors.As(err, &se) && !p.closed {
		switch se.StatusCode() {
		case sip.StatusConditionalRequestFailed:
			switch s {
			case sentRemove:
				p.etag = ""
				p.removed(err)
				*done = append(*done, completion{o.waiters, nil})
				return
			case sentModify, sentRefresh:
				// §5: never retry with the same entity-tag; discard it and
				// publish the last full body anew, at once.
				p.etag = ""
				if o.kind == opRefresh {
					o.kind, o.body = opPublish, p.body
				}
				o.recovered, o.tries = err, 0
				p.pushFront(o)
				return
			}
		case sip.StatusIntervalTooBrief:
			m, merr := se.Response.MinExpires()
			switch {
			case merr != nil || m <= 0:
				err = &ProtocolError{Msg: "423 without a valid Min-Expires", Response: se.Response, Err: err}
			case m > p.expires && o.tries < 3 && s != sentRemove:
				p.expires = m
				o.tries++
				p.pushFront(o)
				return
			}
		}
	}
	var retry time.Duration
	hasRetry := errors.As(err, &se) && se.StatusCode() >= 500
	if hasRetry {
		retry, hasRetry = se.RetryAfter()
	}
	switch {
	case s == sentModify && p.etag != "" && now.Before(p.expiresAt):
		// The state published before still holds: keep refreshing it.
		p.setState(Published, err)
		p.armRefresh(p.refreshAt)
	case s == sentRefresh && hasRetry && now.Add(retry).Before(p.expiresAt) && !p.closing:
		// §9: a server pushing back with 503 and Retry-After; the
		// state holds until it expires, so refresh again then.
		p.setState(Published, err)
		p.armRefresh(now.Add(retry))
	default:
		p.timer.Stop()
		p.setState(Failed, err)
	}
	*done = append(*done, completion{o.waiters, err})
}

func (p *Publication) removed(cause error) {
	p.etag = ""
	p.expiresAt = time.Time{}
	p.timer.Stop()
	p.setState(Removed, nil)
	p.emit(PublicationRemoved{Cause: cause})
}

// pushFront puts an operation back at the head of the queue, to be sent
// again at once by the running goroutine. p.mu is held.
func (p *Publication) pushFront(o *op) {
	p.queue = append(p.queue, nil)
	copy(p.queue[1:], p.queue)
	p.queue[0] = o
}

// armRefresh schedules the refresh at t (at once if t has passed). p.mu
// is held.
func (p *Publication) armRefresh(t time.Time) {
	p.refreshAt = t
	d := t.Sub(p.sched.Now())
	if p.timer == nil {
		p.timer = p.sched.AfterFunc(d, p.refreshDue)
		return
	}
	p.timer.Reset(d)
}

// refreshDue runs on the scheduler when a refresh is due.
func (p *Publication) refreshDue() {
	p.mu.Lock()
	if p.closing || p.state != Published || p.inflight != nil || len(p.queue) > 0 {
		// Whatever is outstanding or queued refreshes or ends the state
		// and reschedules the refresh itself.
		p.mu.Unlock()
		return
	}
	p.queue = append(p.queue, &op{kind: opRefresh})
	p.kick()
	p.mu.Unlock()
}

// setState moves to s and queues the event. p.mu is held.
func (p *Publication) setState(s PublicationState, cause error) {
	if p.state == s {
		return
	}
	prev := p.state
	p.state = s
	p.emit(PublicationStateChanged{From: prev, To: s, Cause: cause})
}

func (p *Publication) emit(e PublicationEvent) {
	if p.cfg.OnEvent != nil {
		p.events = append(p.events, e)
	}
}

// flush delivers the queued events, in order and one at a time, then
// completes the waiters in done.
func (p *Publication) flush(done []completion) {
	p.mu.Lock()
	if !p.delivering {
		p.delivering = true
		for len(p.events) > 0 {
			evs := p.events
			p.events = nil
			p.mu.Unlock()
			for _, e := range evs {
				p.cfg.OnEvent(e)
			}
			p.mu.Lock()
		}
		p.delivering = false
	}
	p.mu.Unlock()
	for _, c := range done {
		for _, ch := range c.waiters {
			ch <- c.err
		}
	}
}
