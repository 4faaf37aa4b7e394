package conversation

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/im"
	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/presence"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// Defaults of Config.
const (
	// DefaultTimeout bounds every operation (UCWA's messagingInvitation
	// waits 30 s).
	DefaultTimeout = 30 * time.Second
	// DefaultRetries is how many times a retryable failure is retried.
	DefaultRetries = 3
	// DefaultMaxRetryDelay is the longest Retry-After honoured.
	DefaultMaxRetryDelay = 10 * time.Second
)

// Config configures a Conversation.
type Config struct {
	// Endpoint is our identity: From of our requests and, in a
	// conference, the participant that must appear in the roster. A
	// ua.Endpoint also sends the SUBSCRIBE (through its proxy). Required.
	Endpoint dialog.Endpoint
	// Layer places and holds the conversation's INVITE sessions. Required.
	Layer *dialog.Layer
	// Remote is the peer, or the conference focus URI. Required.
	Remote sip.URI
	// Conference makes Remote a focus: Join joins it (RFC 4575).
	Conference bool
	// Messaging configures the IM flow (UA is filled in from Endpoint).
	Messaging im.FlowConfig
	// Timeout bounds each operation: an add or join not complete by then
	// fails with a *TimeoutError. Zero: DefaultTimeout.
	Timeout time.Duration
	// Retries bounds the retries of 491 (after RFC 3261 §14.1's 2.1–4 s)
	// and of 500/503 with Retry-After (after that delay). Zero:
	// DefaultRetries; negative: none.
	Retries int
	// MaxRetryDelay is the longest Retry-After retried. Zero:
	// DefaultMaxRetryDelay.
	MaxRetryDelay time.Duration
	// FailFast makes a second call of an operation in flight fail at once
	// with a *OperationInProgressError. Zero: it joins the one in flight
	// and returns its result.
	FailFast bool
	// OnEvent is the event handler, set before anything happens. Nil:
	// events wait (up to 1024) for Conversation.OnEvent.
	OnEvent func(Event)
}

// Conversation groups the modalities of one conversation (instant
// messaging; audio and video sessions) with one event stream, as UCMA's
// Conversation does, and joins conferences. Its operations are
// single-flight: a second call while one is in flight never sends a
// second INVITE (AT-P3-3). Safe for concurrent use.
type Conversation struct {
	cfg   Config
	u     *ua.UA
	sched *sched.Scheduler
	ev    events

	mu       sync.Mutex
	state    State
	calls    map[string]*call
	flow     *im.Flow
	sessions map[Modality]*dialog.Session
	modes    map[Modality]ModalityState
	roster   Roster
	sub      *presence.Subscription
	selfSeen chan struct{}
	self     bool
}

type call struct {
	done     chan struct{}
	val      any
	err      error
	deadline time.Time
}

// New returns an Idle conversation; nothing is sent until an operation.
func New(cfg Config) (*Conversation, error) {
	if cfg.Endpoint == nil || cfg.Layer == nil || cfg.Remote.Scheme == "" {
		return nil, errors.New("conversation: Config needs Endpoint, Layer and Remote")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.MaxRetryDelay <= 0 {
		cfg.MaxRetryDelay = DefaultMaxRetryDelay
	}
	u := cfg.Endpoint.UA()
	cfg.Messaging.UA = u
	c := &Conversation{cfg: cfg, u: u, sched: u.Scheduler(), calls: make(map[string]*call),
		sessions: make(map[Modality]*dialog.Session), modes: make(map[Modality]ModalityState),
		selfSeen: make(chan struct{})}
	c.ev.limit = 1024
	c.ev.f = cfg.OnEvent
	return c, nil
}

// OnEvent sets the event handler; events that happened before are
// delivered to it first, in order.
func (c *Conversation) OnEvent(f func(Event)) { c.ev.set(f) }

// State returns the conversation's state.
func (c *Conversation) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Modality returns a modality's state.
func (c *Conversation) Modality(m Modality) ModalityState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.modes[m]
}

// Messaging returns the IM flow, nil unless messaging is connected.
func (c *Conversation) Messaging() *im.Flow {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flow
}

// Session returns the INVITE session of an audio or video modality.
func (c *Conversation) Session(m Modality) *dialog.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[m]
}

// Roster returns the conference roster (empty for a two-party
// conversation).
func (c *Conversation) Roster() *Roster { return &c.roster }

func (c *Conversation) setStateLocked(to State, err error) {
	if c.state == to || c.state == Terminated {
		return
	}
	from := c.state
	c.state = to
	c.ev.emit(StateChanged{From: from, To: to, Err: err})
}

func (c *Conversation) setModality(m Modality, to ModalityState, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setModalityLocked(m, to, err)
}

func (c *Conversation) setModalityLocked(m Modality, to ModalityState, err error) {
	from := c.modes[m]
	if from == to {
		return
	}
	c.modes[m] = to
	c.ev.emit(ModalityChanged{Modality: m, From: from, To: to, Err: err})
	if to == Connected && !c.cfg.Conference {
		c.setStateLocked(Established, nil)
	}
}

// do runs fn once for key: callers while it is in flight join it (or fail
// fast); fn gets a context that the UA's scheduler cancels with a
// *TimeoutError after Config.Timeout. A caller's ctx only ends its wait.
func (c *Conversation) do(ctx context.Context, key string, fn func(ctx context.Context) (any, error)) (any, error) {
	c.mu.Lock()
	if c.state == Terminated {
		c.mu.Unlock()
		return nil, ErrTerminated
	}
	cl := c.calls[key]
	if cl != nil && c.cfg.FailFast {
		c.mu.Unlock()
		return nil, &OperationInProgressError{Op: key, RetryAfter: max(time.Second, cl.deadline.Sub(c.sched.Now()))}
	}
	if cl == nil {
		cl = &call{done: make(chan struct{}), deadline: c.sched.Now().Add(c.cfg.Timeout)}
		c.calls[key] = cl
		opCtx, cancel := context.WithCancelCause(context.Background())
		t := c.sched.AfterFunc(c.cfg.Timeout, func() { cancel(&TimeoutError{Op: key, After: c.cfg.Timeout}) })
		go func() {
			v, err := fn(opCtx)
			t.Stop()
			cancel(nil)
			c.mu.Lock()
			delete(c.calls, key)
			cl.val, cl.err = v, err
			c.mu.Unlock()
			close(cl.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.val, cl.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// InFlight reports whether an operation ("messaging", "audio", "video",
// "join") is in flight.
func (c *Conversation) InFlight(op string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op] != nil
}

// attempt runs dial until it succeeds, fails for good, or ctx (the
// operation's bound) ends, retrying 491 and 500/503 with Retry-After. A
// dial still running when ctx ends is left to finish and undo is applied
// to what it returns.
func attempt[T any](c *Conversation, ctx context.Context, op string, dial func(context.Context) (T, error), undo func(T)) (T, error) {
	var zero T
	for n := 1; ; n++ {
		type result struct {
			v   T
			err error
		}
		ch := make(chan result, 1)
		go func() {
			v, err := dial(ctx)
			ch <- result{v, err}
		}()
		var r result
		select {
		case r = <-ch:
		case <-ctx.Done():
			go func() {
				if r := <-ch; r.err == nil {
					undo(r.v)
				}
			}()
			return zero, context.Cause(ctx)
		}
		if r.err == nil {
			return r.v, nil
		}
		if ctx.Err() != nil {
			return zero, context.Cause(ctx)
		}
		delay, ok := c.retryDelay(r.err)
		if !ok || n > c.cfg.Retries {
			return zero, &OperationError{Op: op, Attempts: n, Err: r.err}
		}
		c.ev.emit(RetryScheduled{Op: op, Attempt: n, Delay: delay, Cause: r.err})
		if err := c.sleep(ctx, delay); err != nil {
			return zero, err
		}
	}
}

// retryDelay says whether and when a failed INVITE is tried again: 491
// after 2.1–4 s in 10 ms units (RFC 3261 §14.1; we own the Call-ID);
// 500 or 503 with Retry-After after that delay, when at most
// MaxRetryDelay.
func (c *Conversation) retryDelay(err error) (time.Duration, bool) {
	var se *ua.StatusError
	if !errors.As(err, &se) {
		return 0, false
	}
	switch se.StatusCode() {
	case sip.StatusRequestPending:
		return time.Duration(210+rand.IntN(191)) * 10 * time.Millisecond, true
	case sip.StatusServerInternalError, sip.StatusServiceUnavailable:
		d, ok := se.RetryAfter()
		if !ok || d > c.cfg.MaxRetryDelay {
			return 0, false
		}
		return d, true
	}
	return 0, false
}

// sleep waits d on the UA's scheduler (so a fake clock drives it).
func (c *Conversation) sleep(ctx context.Context, d time.Duration) error {
	ch := make(chan struct{})
	t := c.sched.AfterFunc(d, func() { close(ch) })
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// AddMessaging establishes the IM modality: an INVITE with an m=message
// offer to Remote (for a conference, the focus's IM leg), retried and
// bounded as Config says. It returns the flow at once when messaging is
// connected; a call while one is in flight joins it (or fails fast).
func (c *Conversation) AddMessaging(ctx context.Context) (*im.Flow, error) {
	if f := c.Messaging(); f != nil {
		return f, nil
	}
	v, err := c.do(ctx, "messaging", func(ctx context.Context) (any, error) {
		if f := c.Messaging(); f != nil {
			return f, nil
		}
		c.setModality(Messaging, Connecting, nil)
		c.mu.Lock()
		if c.state == Idle {
			c.setStateLocked(Establishing, nil)
		}
		c.mu.Unlock()
		f, err := attempt(c, ctx, "messaging", func(ctx context.Context) (*im.Flow, error) {
			fc, bind := c.flowConfig()
			f, err := im.Dial(ctx, c.cfg.Layer, c.cfg.Remote, fc)
			if err != nil {
				return nil, err
			}
			bind(f)
			return f, nil
		}, func(f *im.Flow) { go c.closeLater(f.Close) })
		if err != nil {
			c.failed(Messaging, err)
			return nil, err
		}
		c.attachFlow(f)
		return f, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*im.Flow), nil
}

// AcceptMessaging accepts an incoming IM invitation (a session given to
// dialog.Config.OnInvite) as this conversation's messaging modality,
// within Config.Timeout.
func (c *Conversation) AcceptMessaging(ctx context.Context, s *dialog.Session) (*im.Flow, error) {
	v, err := c.do(ctx, "messaging", func(ctx context.Context) (any, error) {
		c.setModality(Messaging, Connecting, nil)
		f, err := attempt(c, ctx, "messaging", func(ctx context.Context) (*im.Flow, error) {
			fc, bind := c.flowConfig()
			f, err := im.Accept(ctx, s, fc)
			if err != nil {
				return nil, err
			}
			bind(f)
			return f, nil
		}, func(f *im.Flow) { go c.closeLater(f.Close) })
		if err != nil {
			c.failed(Messaging, err)
			return nil, err
		}
		c.attachFlow(f)
		return f, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*im.Flow), nil
}

// AddModality establishes an audio or video session with Remote: opts
// carries the SDP (or the layer negotiates it with its Config.Media). It
// is single-flight and bounded as AddMessaging.
func (c *Conversation) AddModality(ctx context.Context, m Modality, opts dialog.InviteOptions) (*dialog.Session, error) {
	if m != Audio && m != Video {
		return nil, errors.New("conversation: AddModality is for Audio and Video; use AddMessaging")
	}
	if s := c.Session(m); s != nil {
		return s, nil
	}
	v, err := c.do(ctx, m.String(), func(ctx context.Context) (any, error) {
		c.setModality(m, Connecting, nil)
		user := opts.OnEvent
		s, err := attempt(c, ctx, m.String(), func(ctx context.Context) (*dialog.Session, error) {
			o := opts
			o.OnEvent = func(s *dialog.Session, ev dialog.Event) {
				if sc, ok := ev.(dialog.StateChanged); ok && sc.To == dialog.Terminated {
					c.sessionEnded(m, s, sc.Err)
				}
				if user != nil {
					user(s, ev)
				}
			}
			s, err := c.cfg.Layer.Invite(ctx, c.cfg.Remote, o)
			if err != nil {
				return nil, err
			}
			return s, nil
		}, func(s *dialog.Session) { go c.closeLater(s.Hangup) })
		if err != nil {
			c.failed(m, err)
			return nil, err
		}
		c.mu.Lock()
		c.sessions[m] = s
		c.setModalityLocked(m, Connected, nil)
		c.mu.Unlock()
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*dialog.Session), nil
}

func (c *Conversation) closeLater(f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
	defer cancel()
	_ = f(ctx)
}

func (c *Conversation) failed(m Modality, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setModalityLocked(m, Disconnected, err)
	if c.state == Establishing && len(c.sessions) == 0 && c.flow == nil {
		c.setStateLocked(Idle, err)
	}
}

func (c *Conversation) sessionEnded(m Modality, s *dialog.Session, te *dialog.TerminatedError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions[m] != s {
		return
	}
	delete(c.sessions, m)
	var err error
	if te != nil {
		err = te
	}
	c.setModalityLocked(m, Disconnected, err)
}

// flowConfig is Config.Messaging with the flow's events turned into the
// conversation's; bind tells it the flow once it exists.
func (c *Conversation) flowConfig() (fc im.FlowConfig, bind func(*im.Flow)) {
	fc = c.cfg.Messaging
	var self *im.Flow
	var mu sync.Mutex
	user := fc.OnEvent
	fc.OnEvent = func(ev im.FlowEvent) {
		if user != nil {
			user(ev)
		}
		switch e := ev.(type) {
		case im.MessageReceived:
			c.ev.emit(MessageReceived{Message: e.Message})
		case im.ComposingChanged:
			c.ev.emit(ComposingChanged{e})
		case im.FlowTerminated:
			mu.Lock()
			f := self
			mu.Unlock()
			c.flowEnded(f, e.Err)
		}
	}
	return fc, func(f *im.Flow) { mu.Lock(); self = f; mu.Unlock() }
}

func (c *Conversation) attachFlow(f *im.Flow) {
	c.mu.Lock()
	c.flow = f
	c.setModalityLocked(Messaging, Connected, nil)
	c.mu.Unlock()
	select {
	case <-f.Done():
		c.flowEnded(f, f.Err())
	default:
	}
}

func (c *Conversation) flowEnded(f *im.Flow, te *dialog.TerminatedError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f == nil || c.flow != f {
		return
	}
	c.flow = nil
	var err error
	if te != nil {
		err = te
	}
	c.setModalityLocked(Messaging, Disconnected, err)
}

// Terminate ends every modality (BYE) and the conference subscription
// within ctx; the conversation is Terminated after.
func (c *Conversation) Terminate(ctx context.Context) error {
	c.mu.Lock()
	if c.state == Terminated {
		c.mu.Unlock()
		return nil
	}
	f, sub := c.flow, c.sub
	var ss []*dialog.Session
	for _, s := range c.sessions {
		ss = append(ss, s)
	}
	c.mu.Unlock()
	var errs []error
	if f != nil {
		errs = append(errs, f.Close(ctx))
	}
	for _, s := range ss {
		if err := s.Hangup(ctx); err != nil && !errors.Is(err, dialog.ErrTerminated) {
			errs = append(errs, err)
		}
	}
	if sub != nil {
		errs = append(errs, sub.Close(ctx))
	}
	err := errors.Join(errs...)
	c.mu.Lock()
	c.setStateLocked(Terminated, err)
	c.mu.Unlock()
	return err
}
