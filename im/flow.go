package im

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pion/sdp/v3"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/dialog/sdpneg"
	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// FlowConfig configures a [Flow].
type FlowConfig struct {
	// UA is the UA the session's dialog layer runs on: its scheduler and
	// clock drive the is-composing timers, its address goes in the SDP.
	// Required.
	UA *ua.UA
	// AcceptTypes are the content types announced in a=accept-types.
	// Zero: text/plain and application/im-iscomposing+xml.
	AcceptTypes []string
	// MaxSize bounds the bodies Send sends. Zero: DefaultMaxSize.
	MaxSize int
	// Buffer bounds the events waiting for Flow.OnEvent; events beyond it
	// are counted in Dropped. Zero: DefaultBuffer.
	Buffer int
	// ComposingIdle and ComposingRefresh are RFC 3994's idle timeout and
	// refresh interval for Typing. Zero: 15 s and 90 s.
	ComposingIdle, ComposingRefresh time.Duration
	// OnEvent is the flow's event handler, set before the INVITE goes out
	// (Dial) or the session is adopted. Nil: events wait for Flow.OnEvent.
	OnEvent func(FlowEvent)
	// OnSessionEvent receives the session events the flow does not
	// consume (all but MESSAGE requests), in order. Nil: not delivered.
	OnSessionEvent func(*dialog.Session, dialog.Event)
	// Prepare may add headers to the INVITE of Dial.
	Prepare func(req *sip.Request)
	// Target is where Dial's INVITE goes. Zero: the layer's endpoint's
	// proxy, or the Request-URI.
	Target ua.Target
}

// FlowEvent is something that happened to a Flow: a MessageReceived,
// ComposingChanged or FlowTerminated.
type FlowEvent interface{ flowEvent() }

// MessageReceived reports a message from the peer (already answered 200).
type MessageReceived struct{ Message *Message }

// ComposingChanged reports that the peer started or stopped composing
// (RFC 3994 §3.3). LastActive and ContentType are as the peer sent them.
type ComposingChanged struct {
	State       ComposingState
	ContentType string
	LastActive  time.Time
	// From is who is composing: the CPIM sender in a conference, else the
	// peer.
	From sip.Address
}

// FlowTerminated reports that the session is over; Err says why.
type FlowTerminated struct{ Err *dialog.TerminatedError }

func (MessageReceived) flowEvent()  {}
func (ComposingChanged) flowEvent() {}
func (FlowTerminated) flowEvent()   {}

// Flow is an IM session: an INVITE session with an m=message stream whose
// messages travel as in-dialog MESSAGE requests, as UCMA's
// InstantMessagingFlow. Safe for concurrent use.
type Flow struct {
	cfg   FlowConfig
	sched *sched.Scheduler
	ev    queue[FlowEvent]
	done  chan struct{}
	// sendMu keeps one MESSAGE of ours in flight at a time: concurrent
	// in-dialog requests may arrive out of CSeq order over UDP, and the
	// peer refuses a lower CSeq with 500 (RFC 3261 §12.2.2).
	sendMu sync.Mutex

	mu       sync.Mutex
	s        *dialog.Session
	err      *dialog.TerminatedError
	ended    bool
	dropped  int
	local    ComposingState
	lastType time.Time
	idleT    *sched.Timer
	refreshT *sched.Timer
	remote   ComposingState
	remoteT  *sched.Timer
}

func newFlow(cfg FlowConfig) (*Flow, error) {
	if cfg.UA == nil {
		return nil, errors.New("im: FlowConfig.UA is nil")
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.ComposingIdle <= 0 {
		cfg.ComposingIdle = DefaultComposingIdle
	}
	if cfg.ComposingRefresh <= 0 {
		cfg.ComposingRefresh = DefaultComposingRefresh
	}
	if len(cfg.AcceptTypes) == 0 {
		cfg.AcceptTypes = []string{TextPlain, ComposingType}
	}
	f := &Flow{cfg: cfg, sched: cfg.UA.Scheduler(), done: make(chan struct{})}
	f.ev.limit = cfg.Buffer
	f.ev.f = cfg.OnEvent
	return f, nil
}

// NewFlow makes s, an INVITE session with an m=message stream, a Flow: it
// becomes the session's event handler (events that happened before are
// processed first). Use it for a session answered or placed by other
// means; Dial and Accept do it for you.
func NewFlow(s *dialog.Session, cfg FlowConfig) (*Flow, error) {
	f, err := newFlow(cfg)
	if err != nil {
		return nil, err
	}
	f.s = s
	s.OnEvent(f.HandleSessionEvent)
	return f, nil
}

// Media returns the m=message stream of an IM session as enterprise UC
// servers offer it ("m=message <port> sip null" with a=accept-types; the
// messages themselves go as SIP MESSAGE in the dialog). Add it to a
// dialog.Layer's Config.Media to let the layer answer IM offers.
func Media(port int, acceptTypes ...string) sdpneg.Media {
	if len(acceptTypes) == 0 {
		acceptTypes = []string{TextPlain, ComposingType}
	}
	at := ""
	for i, t := range acceptTypes {
		if i > 0 {
			at += " "
		}
		at += t
	}
	return sdpneg.Media{Type: "message", Port: port, Proto: "sip", Formats: []string{"null"},
		Attributes: []sdp.Attribute{{Key: "accept-types", Value: at}}}
}

func (f *Flow) negotiator() (*sdpneg.Negotiator, error) {
	addrs := f.cfg.UA.Addrs()
	if len(addrs) == 0 {
		return nil, errors.New("im: the UA has no listener")
	}
	a := addrs[0].AddrPort
	return sdpneg.New(sdpneg.Capabilities{Address: a.Addr().String(),
		Media: []sdpneg.Media{Media(int(a.Port()), f.cfg.AcceptTypes...)}})
}

// Dial calls to for an IM session (an INVITE whose SDP offers one
// m=message stream) through l, and returns the Flow once the session is
// established. The flow handles the session's events from before the
// INVITE goes out, so nothing the peer sends is missed. A failure is the
// session's *dialog.TerminatedError (wrapping a *ua.StatusError for a
// rejection).
func Dial(ctx context.Context, l *dialog.Layer, to sip.URI, cfg FlowConfig) (*Flow, error) {
	f, err := newFlow(cfg)
	if err != nil {
		return nil, err
	}
	n, err := f.negotiator()
	if err != nil {
		return nil, err
	}
	offer, err := n.CreateOffer()
	if err != nil {
		return nil, err
	}
	s, err := l.Invite(ctx, to, dialog.InviteOptions{SDP: offer, OnEvent: f.HandleSessionEvent,
		Prepare: cfg.Prepare, Target: cfg.Target})
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.s = s
	f.mu.Unlock()
	return f, nil
}

// Accept answers an incoming IM session (from dialog.Config.OnInvite) with
// 200 OK and an m=message answer and returns its Flow once the ACK came.
// It is for a dialog.Layer without Config.Media; with Media (including
// [Media]), call NewFlow(s, cfg) and then s.Accept(ctx, nil).
func Accept(ctx context.Context, s *dialog.Session, cfg FlowConfig) (*Flow, error) {
	f, err := NewFlow(s, cfg)
	if err != nil {
		return nil, err
	}
	n, err := f.negotiator()
	if err != nil {
		return nil, err
	}
	var answer []byte
	if offer := s.RemoteSDP(); len(offer) > 0 {
		if answer, err = n.ReceiveOffer(offer); err != nil {
			_ = s.Reject(ctx, sdpneg.StatusCode(err), "")
			return nil, err
		}
	} else if answer, err = n.CreateOffer(); err != nil {
		return nil, err
	}
	if err := s.Accept(ctx, answer); err != nil {
		return nil, err
	}
	return f, nil
}

// Session returns the flow's INVITE session (nil while Dial is calling).
func (f *Flow) Session() *dialog.Session {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s
}

// OnEvent sets the event handler; events that happened before are
// delivered to it first, in order, one at a time on a goroutine of the
// flow's own.
func (f *Flow) OnEvent(h func(FlowEvent)) { f.ev.set(h) }

// Dropped returns how many events were dropped because Buffer was full.
func (f *Flow) Dropped() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropped
}

// Done is closed when the session is over.
func (f *Flow) Done() <-chan struct{} { return f.done }

// Err returns why the session ended (nil while it lasts).
func (f *Flow) Err() *dialog.TerminatedError {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// RemoteComposing returns the peer's composing state.
func (f *Flow) RemoteComposing() ComposingState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.remote
}

// Close hangs the session up (BYE) within ctx.
func (f *Flow) Close(ctx context.Context) error {
	s := f.Session()
	f.stopComposer()
	if s == nil {
		return nil
	}
	if err := s.Hangup(ctx); err != nil && !errors.Is(err, dialog.ErrTerminated) {
		return err
	}
	return nil
}

// SendText sends a text/plain message; see Send.
func (f *Flow) SendText(ctx context.Context, text string) error {
	return f.Send(ctx, TextPlain, []byte(text))
}

// Send sends one message as an in-dialog MESSAGE and waits for its final
// response. Our composing state becomes idle without a status message
// (RFC 3994 §3.2: the message itself tells the peer). Errors: a *SizeError,
// ErrNoSession, or a *DeliveryError.
func (f *Flow) Send(ctx context.Context, contentType string, body []byte) error {
	if len(body) > f.cfg.MaxSize {
		return &SizeError{Size: len(body), Limit: f.cfg.MaxSize}
	}
	if contentType == "" {
		contentType = TextPlain
	}
	s := f.Session()
	if s == nil {
		return ErrNoSession
	}
	f.stopComposer()
	res, err := f.message(ctx, s, contentType, body)
	if err != nil {
		return deliveryError(s.Request().URI, res, err)
	}
	return nil
}

// Typing reports that the user is composing a message (a keystroke). The
// first call of a burst sends an "active" status; the status is refreshed
// while typing goes on and turns "idle" after ComposingIdle without a call
// (RFC 3994 §3.2). The status messages are sent in the background.
func (f *Flow) Typing() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended || f.s == nil {
		return
	}
	f.lastType = f.sched.Now()
	if f.idleT == nil {
		f.idleT = f.sched.AfterFunc(f.cfg.ComposingIdle, f.idleTimeout)
	} else {
		f.idleT.Reset(f.cfg.ComposingIdle)
	}
	if f.local == Active {
		return
	}
	f.local = Active
	f.sendStatusLocked(Composing{State: Active, ContentType: TextPlain, Refresh: f.cfg.ComposingRefresh})
	f.armRefreshLocked()
}

// armRefreshLocked schedules the refresh of an active status a little
// before the interval it announced runs out at the receiver.
func (f *Flow) armRefreshLocked() {
	d := f.cfg.ComposingRefresh - min(f.cfg.ComposingRefresh/10, 5*time.Second)
	if f.refreshT == nil {
		f.refreshT = f.sched.AfterFunc(d, f.refreshTimeout)
	} else {
		f.refreshT.Reset(d)
	}
}

func (f *Flow) refreshTimeout() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.local != Active || f.ended {
		return
	}
	f.sendStatusLocked(Composing{State: Active, ContentType: TextPlain, Refresh: f.cfg.ComposingRefresh})
	f.armRefreshLocked()
}

func (f *Flow) idleTimeout() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.local != Active || f.ended {
		return
	}
	f.local = Idle
	if f.refreshT != nil {
		f.refreshT.Stop()
	}
	f.sendStatusLocked(Composing{State: Idle, ContentType: TextPlain, LastActive: f.lastType})
}

// stopComposer makes our composer idle without a status message.
func (f *Flow) stopComposer() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.local = Idle
	if f.idleT != nil {
		f.idleT.Stop()
	}
	if f.refreshT != nil {
		f.refreshT.Stop()
	}
}

// sendStatusLocked sends a status message in the background: timers run
// on the scheduler, which must not wait for the network.
func (f *Flow) sendStatusLocked(c Composing) {
	s := f.s
	body := c.Marshal()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
		defer cancel()
		_, _ = f.message(ctx, s, ComposingType, body)
	}()
}

// message sends one in-dialog MESSAGE, one at a time.
func (f *Flow) message(ctx context.Context, s *dialog.Session, contentType string, body []byte) (*sip.Response, error) {
	f.sendMu.Lock()
	defer f.sendMu.Unlock()
	return s.Message(ctx, sip.MethodMessage, contentType, body)
}

// HandleSessionEvent is the session event handler of the flow: Dial and
// NewFlow install it. It is exported so that it can be given as
// dialog.InviteOptions.OnEvent when the application places the call.
func (f *Flow) HandleSessionEvent(s *dialog.Session, ev dialog.Event) {
	switch e := ev.(type) {
	case dialog.MessageReceived:
		if e.Request.Method == sip.MethodMessage {
			f.received(e.Request)
			return
		}
	case dialog.StateChanged:
		if e.To == dialog.Terminated {
			f.terminated(e.Err)
		}
	}
	if f.cfg.OnSessionEvent != nil {
		f.cfg.OnSessionEvent(s, ev)
	}
}

func (f *Flow) emitLocked(ev FlowEvent) { f.emitKeyLocked(ev, 0) }

func (f *Flow) emitKeyLocked(ev FlowEvent, cseq uint32) {
	if !f.ev.pushKey(ev, cseq) {
		f.dropped++
	}
}

func (f *Flow) received(req *sip.Request) {
	m := newMessage(req, f.sched.Now())
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, _ := sip.ParseMediaType(m.ContentType)
	if ct.Is(ComposingType) {
		c, err := ParseComposing(m.Body)
		if err != nil {
			return
		}
		f.setRemoteLocked(c.State, ComposingChanged{State: c.State, ContentType: c.ContentType, LastActive: c.LastActive, From: m.From})
		if c.State == Active {
			d := c.Refresh
			if d <= 0 {
				d = ComposingReceiverTimeout
			}
			if f.remoteT == nil {
				f.remoteT = f.sched.AfterFunc(d, f.remoteLapsed)
			} else {
				f.remoteT.Reset(d)
			}
		}
		return
	}
	// §3.3: a content message ends the peer's active state.
	f.setRemoteLocked(Idle, ComposingChanged{State: Idle, From: m.From})
	f.emitKeyLocked(MessageReceived{Message: m}, req.CSeq().Seq)
}

func (f *Flow) setRemoteLocked(st ComposingState, ev ComposingChanged) {
	if st == Idle && f.remoteT != nil {
		f.remoteT.Stop()
	}
	if f.remote == st {
		return
	}
	f.remote = st
	f.emitLocked(ev)
}

func (f *Flow) remoteLapsed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setRemoteLocked(Idle, ComposingChanged{State: Idle})
}

func (f *Flow) terminated(te *dialog.TerminatedError) {
	f.mu.Lock()
	if f.ended {
		f.mu.Unlock()
		return
	}
	f.ended, f.err = true, te
	for _, t := range []*sched.Timer{f.idleT, f.refreshT, f.remoteT} {
		if t != nil {
			t.Stop()
		}
	}
	f.emitLocked(FlowTerminated{Err: te})
	f.mu.Unlock()
	close(f.done)
}
