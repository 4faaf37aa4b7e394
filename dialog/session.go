package dialog

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/sipua-go/sipua/dialog/sdpneg"
	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transaction"
	"github.com/sipua-go/sipua/sip/ua"
	"github.com/sipua-go/sipua/timer"
)

// Role says which side of the dialog-creating INVITE a session is on.
type Role int

// The two roles.
const (
	UAC Role = iota + 1 // we sent the INVITE
	UAS                 // we received it
)

// maxQueued bounds the events a session keeps while no handler is attached.
const maxQueued = 256

// Session is an INVITE session (RFC 3261 §13–15): the call's dialog, its
// offer/answer state and its session timer. Its methods are safe for
// concurrent use; its events are delivered in order (OnEvent).
type Session struct {
	l    *Layer
	u    *ua.UA
	role Role

	mu     sync.Mutex
	state  SessionState
	dlg    *Dialog
	invite *sip.Request // the dialog-creating INVITE, sent or received
	err    *TerminatedError
	done   chan struct{}

	// offer/answer
	localSDP, remoteSDP []byte
	offering            bool               // an offer of ours is in flight (re-INVITE/UPDATE)
	neg                 *sdpneg.Negotiator // with Config.Media; used under mu
	answer              []byte             // UAS: the answer to the INVITE's offer, not yet sent

	// UAS: the initial INVITE's writer, and 2xx retransmission (§13.3.1.4)
	w        ua.ResponseWriter
	answered chan struct{} // closed when a final response went out
	okRes    *sip.Response // the 2xx being retransmitted until ACK
	okWriter ua.ResponseWriter
	okSeq    uint32
	okTimer  *sched.Timer
	okWait   time.Duration
	okSince  time.Time
	acked    chan struct{} // closed at the ACK of the initial 2xx

	// RFC 3515: the progress of a REFER we sent
	refer chan TransferProgress

	// RFC 3262: reliable provisional responses (UAS: ours; UAC: the
	// peer's, per early dialog) and an offer/answer exchange of the INVITE
	// completed in them and their PRACK
	rel     relUAS
	forks   map[string]*relFork
	earlyOA bool

	// RFC 3891
	replaces   *Session                // UAS: the session this INVITE replaces
	cancelCall context.CancelCauseFunc // UAC: ends Invite's context (the call was replaced while early)

	// RFC 4028
	tmr        *timer.Session
	peerUpdate bool // the peer's Allow lists UPDATE

	// UAC
	ack       *sip.Request // the last ACK sent, sent again on 2xx retransmissions
	ackTarget ua.Target
	lateOffer bool                               // the INVITE carried no offer
	prackDone chan struct{}                      // closed when the last PRACK sent has its response
	answerFn  func(offer []byte) ([]byte, error) // InviteOptions.Answer

	// events
	handler  func(*Session, Event)
	queue    []Event
	draining bool
}

func newSession(l *Layer, role Role, state SessionState) *Session {
	return &Session{l: l, u: l.u, role: role, state: state, done: make(chan struct{}),
		answered: make(chan struct{}), acked: make(chan struct{})}
}

// Role returns whether we sent (UAC) or received (UAS) the INVITE.
func (s *Session) Role() Role { return s.role }

// State returns the session's state.
func (s *Session) State() SessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Dialog returns the session's dialog, nil before one exists.
func (s *Session) Dialog() *Dialog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dlg
}

// Request returns the INVITE that created the session.
func (s *Session) Request() *sip.Request { return s.invite }

// LocalSDP returns the session description we last sent.
func (s *Session) LocalSDP() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.localSDP
}

// RemoteSDP returns the session description the peer last sent.
func (s *Session) RemoteSDP() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remoteSDP
}

// Done is closed when the session is terminated.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended (nil while it lasts).
func (s *Session) Err() *TerminatedError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// OnEvent sets the session's event handler; events that happened before
// are delivered to it first, in order. The handler runs on a goroutine of
// the session's own (one at a time); it should not block for long.
func (s *Session) OnEvent(f func(*Session, Event)) {
	s.mu.Lock()
	s.handler = f
	start := len(s.queue) > 0 && !s.draining
	if start {
		s.draining = true
	}
	s.mu.Unlock()
	if start {
		go s.drain()
	}
}

// emitLocked queues ev; s.mu is held.
func (s *Session) emitLocked(ev Event) {
	if s.handler == nil && s.l.cfg.OnEvent == nil && len(s.queue) >= maxQueued {
		return // nobody listens and the backlog is full: drop the oldest-first bound
	}
	s.queue = append(s.queue, ev)
	if s.draining || (s.handler == nil && s.l.cfg.OnEvent == nil) {
		return
	}
	s.draining = true
	go s.drain()
}

// drain delivers queued events in order. At most one drain runs per
// session, and only while events are pending: no goroutine per session.
func (s *Session) drain() {
	for {
		s.mu.Lock()
		h := s.handler
		if h == nil {
			h = s.l.cfg.OnEvent
		}
		if len(s.queue) == 0 || h == nil {
			s.draining = false
			s.mu.Unlock()
			return
		}
		ev := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.mu.Unlock()
		h(s, ev)
	}
}

// setStateLocked moves to a new state and reports it.
func (s *Session) setStateLocked(to SessionState) {
	if s.state == to || s.state == Terminated {
		return
	}
	from := s.state
	s.state = to
	s.emitLocked(StateChanged{From: from, To: to})
}

// terminate ends the session once, with its cause.
func (s *Session) terminate(te *TerminatedError) {
	s.mu.Lock()
	if s.state == Terminated {
		s.mu.Unlock()
		return
	}
	from := s.state
	s.state = Terminated
	s.err = te
	if s.okTimer != nil {
		s.okTimer.Stop()
	}
	if s.rel.timer != nil {
		s.rel.timer.Stop() // §3: no retransmission after a final response
	}
	if s.tmr != nil {
		s.tmr.Stop()
	}
	dlg := s.dlg
	s.emitLocked(StateChanged{From: from, To: Terminated, Err: te})
	s.mu.Unlock()
	if dlg != nil {
		dlg.Terminate()
		s.l.untrack(dlg.key(), s)
	}
	close(s.done)
}

// contact returns our Contact header value.
func (s *Session) contact() string {
	c := s.l.ep.Contact()
	return c.String()
}

// ---- UAS ------------------------------------------------------------

// serveInvite is the UA's INVITE handler: a new incoming session.
func (l *Layer) serveInvite(w ua.ResponseWriter, r *ua.Request) {
	req := r.Request
	if l.isClosed() {
		_ = w.Respond(w.NewResponse(sip.StatusServiceUnavailable, ""))
		return
	}
	if len(req.Body()) > 0 && !isSDP(req) {
		res := w.NewResponse(sip.StatusUnsupportedMediaType, "")
		res.Set("Accept", "application/sdp")
		_ = w.Respond(res)
		return
	}
	rel, refusal := l.reliableFor(w, req)
	if refusal != nil {
		_ = w.Respond(refusal)
		return
	}
	var replaced *Session
	if req.Get("Replaces") != "" {
		var code int
		if replaced, code = l.matchReplaces(req); code != 0 {
			_ = w.Respond(w.NewResponse(code, ""))
			return
		}
	}
	s := newSession(l, UAS, Incoming)
	s.invite, s.w = req, w
	s.rel, s.replaces = rel, replaced
	s.remoteSDP = req.Body()
	s.peerUpdate = req.HasToken("Allow", sip.MethodUpdate)
	if l.cfg.Media != nil {
		s.neg, _ = sdpneg.New(*l.cfg.Media) // validated by New
		if offer := req.Body(); len(offer) > 0 {
			answer, err := s.neg.ReceiveOffer(offer)
			if err != nil {
				res := w.NewResponse(negStatus(err), "")
				res.Set("Warning", `399 sipua "`+strings.ReplaceAll(err.Error(), `"`, "'")+`"`)
				_ = w.Respond(res)
				return
			}
			s.answer = answer
		}
	}
	s.startTimer(l.cfg.SessionTimer)
	if err := s.tmr.CheckRequest(req); err != nil {
		s.tmr.Stop()
		_ = w.Respond(rejection(w, err))
		return
	}
	tag := w.NewResponse(sip.StatusRinging, "").To().Tag()
	d, err := NewUAS(l.u, req, tag)
	if err != nil {
		_ = w.Respond(w.NewResponse(sip.StatusBadRequest, "Missing Contact"))
		return
	}
	s.dlg = d
	l.track(s, d.key())
	if l.cfg.OnInvite == nil {
		_ = s.Reject(r.Context(), sip.StatusTemporarilyUnavailable, "")
		return
	}
	l.cfg.OnInvite(s)
	expired := make(chan struct{})
	t := l.u.Scheduler().AfterFunc(l.cfg.AnswerTimeout, func() { close(expired) })
	defer t.Stop()
	select {
	case <-s.answered:
	case <-r.Context().Done():
		var ce *ua.CancelError
		if errors.As(context.Cause(r.Context()), &ce) {
			s.finalUAS(sip.StatusRequestTerminated, "", &TerminatedError{Cause: Canceled, StatusCode: sip.StatusRequestTerminated, Reason: "Request Terminated"})
		} else {
			s.finalUAS(sip.StatusServiceUnavailable, "", &TerminatedError{Cause: Shutdown})
		}
	case <-expired:
		s.finalUAS(sip.StatusTemporarilyUnavailable, "", &TerminatedError{Cause: Unanswered, StatusCode: sip.StatusTemporarilyUnavailable, Reason: "Temporarily Unavailable"})
	}
}

func isSDP(m interface{ ContentType() sip.MediaType }) bool {
	ct := m.ContentType()
	return ct.IsZero() || ct.Is("application/sdp")
}

// finalUAS sends a failure response to the initial INVITE and ends the
// session, unless a final response already went out.
func (s *Session) finalUAS(code int, reason string, te *TerminatedError) bool {
	s.mu.Lock()
	if s.state != Incoming && s.state != Ringing {
		s.mu.Unlock()
		return false
	}
	s.mu.Unlock()
	res := s.w.NewResponse(code, reason)
	err := s.w.Respond(res)
	select {
	case <-s.answered:
	default:
		close(s.answered)
	}
	if err != nil && te.Err == nil {
		te.Err = err
	}
	s.terminate(te)
	return true
}

// Progress sends a provisional response (180 Ringing, 183 Session
// Progress...) to an incoming INVITE, with sdp as early media when not nil.
//
// When the INVITE lists 100rel in Supported or Require and Config.Reliable
// allows it, the response goes reliably (RFC 3262): with Require: 100rel
// and an RSeq, retransmitted from T1 doubling until its PRACK arrives;
// without one within 64·T1 the INVITE is answered 500 and the session
// ends with NoPrack. Progress returns once the response is sent; a second
// Progress waits until the first is PRACKed (or ctx ends). The first
// reliable provisional response carries sdp as the answer to the INVITE's
// offer (with Config.Media and no sdp, the layer's answer; with neither,
// none: the answer then goes in the 2xx), or, for an INVITE without an
// offer, sdp (or the layer's offer) as the offer, answered in the PRACK.
// Without an offer to make it is sent unreliably, or fails with
// ErrNeedOffer when the INVITE requires 100rel.
func (s *Session) Progress(ctx context.Context, code int, sdp []byte) error {
	if code <= 100 || code >= 200 {
		return errors.New("dialog: Progress needs a code from 101 to 199")
	}
	s.mu.Lock()
	if s.role != UAS || (s.state != Incoming && s.state != Ringing) {
		s.mu.Unlock()
		return ErrState
	}
	if s.rel.on {
		s.mu.Unlock()
		if sent, err := s.progressReliable(ctx, code, sdp); sent {
			return err
		}
		s.mu.Lock()
		if s.state != Incoming && s.state != Ringing {
			s.mu.Unlock()
			return ErrState
		}
	}
	s.setStateLocked(Ringing)
	if sdp != nil {
		s.localSDP = sdp
	}
	s.mu.Unlock()
	res := s.w.NewResponse(code, "")
	s.decorate(res, sdp)
	return s.w.Respond(res)
}

// decorate adds what every dialog-creating or target-refresh response of
// ours carries: Contact, Record-Route (§12.1.1), Allow, Supported, body.
func (s *Session) decorate(res *sip.Response, sdp []byte) {
	res.Set("Contact", s.contact())
	if s.invite != nil && res.CSeq().Method == sip.MethodInvite && res.CSeq().Seq == s.invite.CSeq().Seq {
		for _, rr := range s.invite.Values("Record-Route") {
			res.Add("Record-Route", rr)
		}
	}
	res.Set("Allow", s.l.cfg.Allow)
	if s.l.cfg.Reliable != ReliableNever {
		res.AddToken("Supported", tag100rel)
	}
	res.AddToken("Supported", tagReplaces)
	if sdp != nil {
		res.Set("Content-Type", "application/sdp")
		res.SetBody(sdp)
	}
}

// Accept answers an incoming INVITE with 200 OK carrying sdp (the answer
// to the INVITE's offer, or our offer when the INVITE had none) and waits
// for the ACK. The 2xx is retransmitted until the ACK arrives; without one
// within 64·T1 the session ends with NoAck and a BYE (§13.3.1.4).
//
// While a reliable provisional response is unacknowledged, the 2xx waits
// for its PRACK (RFC 3262 §3). When the offer/answer exchange of the
// INVITE was completed in a reliable provisional response and its PRACK,
// the 2xx repeats our session description from it and sdp is ignored.
// Accepting a session that replaces another (Replaces) ends that one.
func (s *Session) Accept(ctx context.Context, sdp []byte) error {
	s.mu.Lock()
	if s.role != UAS {
		s.mu.Unlock()
		return ErrState
	}
	if err := s.waitPrackLocked(ctx); err != nil {
		s.mu.Unlock()
		return err
	}
	if s.earlyOA {
		sdp = s.localSDP
		if s.negotiatorStateLocked() == sdpneg.StateRemoteOffer {
			_, _ = s.neg.CommitAnswer()
		}
	} else if sdp == nil && s.neg != nil {
		if s.answer != nil {
			sdp = s.answer
			_, _ = s.neg.CommitAnswer()
		} else if offer, err := s.neg.CreateOffer(); err == nil {
			sdp = offer // late offer: the answer comes in the ACK
		}
	}
	s.localSDP = sdp
	s.setStateLocked(Accepting)
	s.mu.Unlock()
	res := s.w.NewResponse(sip.StatusOK, "")
	s.decorate(res, sdp)
	s.mu.Lock()
	tmr := s.tmr
	s.mu.Unlock()
	tmr.PrepareResponse(s.invite, res)
	s.dlg.Confirm()
	if err := s.respond2xx(s.w, s.invite, res); err != nil {
		close(s.answered)
		s.terminate(&TerminatedError{Cause: TransportFailure, Err: err})
		return s.Err()
	}
	close(s.answered)
	if old := s.replaces; old != nil {
		go old.endReplaced() // RFC 3891 §3
	}
	select {
	case <-s.acked:
		return nil
	case <-s.done:
		return s.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// respond2xx sends a 2xx to an INVITE (initial or re-INVITE) and
// retransmits it, T1 doubling up to T2, until its ACK (§13.3.1.4).
func (s *Session) respond2xx(w ua.ResponseWriter, req *sip.Request, res *sip.Response) error {
	t1 := s.t1()
	s.mu.Lock()
	s.okRes, s.okWriter, s.okSeq = res, w, req.CSeq().Seq
	s.okWait, s.okSince = t1, s.u.Clock().Now()
	if s.okTimer == nil {
		s.okTimer = s.u.Scheduler().AfterFunc(t1, s.retransmit2xx)
	} else {
		s.okTimer.Reset(t1)
	}
	s.mu.Unlock()
	return w.Respond(res)
}

func (s *Session) t1() time.Duration { return s.u.Timers().T1 }
func (s *Session) t2() time.Duration { return s.u.Timers().T2 }

// retransmit2xx is the 2xx retransmission timer of §13.3.1.4.
func (s *Session) retransmit2xx() {
	s.mu.Lock()
	res, w := s.okRes, s.okWriter
	if res == nil || s.state == Terminated {
		s.mu.Unlock()
		return
	}
	if s.u.Clock().Now().Sub(s.okSince) >= 64*s.t1() {
		s.okRes = nil
		s.mu.Unlock()
		// No ACK: the dialog is confirmed but the session must end (BYE).
		go s.byeAndEnd(&TerminatedError{Cause: NoAck, StatusCode: sip.StatusRequestTimeout, Reason: "No ACK"})
		return
	}
	s.okWait = min(2*s.okWait, s.t2())
	s.okTimer.Reset(s.okWait)
	s.mu.Unlock()
	_ = w.Respond(res)
}

// Reject answers an incoming INVITE with a final failure response
// (486 Busy Here, 603 Decline, ...) and ends the session.
func (s *Session) Reject(ctx context.Context, code int, reason string) error {
	if code < 300 || code > 699 {
		return errors.New("dialog: Reject needs a code from 300 to 699")
	}
	if s.role != UAS {
		return ErrState
	}
	if !s.finalUAS(code, reason, &TerminatedError{Cause: Rejected, StatusCode: code, Reason: reasonOr(code, reason)}) {
		return ErrState
	}
	return nil
}

// Redirect answers an incoming INVITE with 302 Moved Temporarily and the
// given contacts, and ends the session.
func (s *Session) Redirect(ctx context.Context, contacts ...sip.URI) error {
	if s.role != UAS || len(contacts) == 0 {
		return ErrState
	}
	s.mu.Lock()
	if s.state != Incoming && s.state != Ringing {
		s.mu.Unlock()
		return ErrState
	}
	s.mu.Unlock()
	res := s.w.NewResponse(sip.StatusMovedTemporarily, "")
	for _, c := range contacts {
		res.Add("Contact", "<"+c.String()+">")
	}
	err := s.w.Respond(res)
	close(s.answered)
	s.terminate(&TerminatedError{Cause: Rejected, StatusCode: sip.StatusMovedTemporarily, Reason: "Moved Temporarily", Err: err})
	return err
}

func reasonOr(code int, reason string) string {
	if reason != "" {
		return reason
	}
	return sip.StatusText(code)
}

// ---- in-dialog requests ----------------------------------------------

// serveInDialog handles a request inside the session's dialog.
func (s *Session) serveInDialog(w ua.ResponseWriter, r *ua.Request) {
	req := r.Request
	s.mu.Lock()
	d := s.dlg
	s.mu.Unlock()
	if req.Method == sip.MethodAck {
		s.handleAck(req)
		return
	}
	if !d.Receive(req) {
		_ = w.Respond(w.NewResponse(sip.StatusServerInternalError, "CSeq Out of Order"))
		return
	}
	switch req.Method {
	case sip.MethodBye:
		_ = w.Respond(w.NewResponse(sip.StatusOK, ""))
		if s.State() == Incoming || s.State() == Ringing {
			// A BYE in an early dialog (the caller gave up): the INVITE
			// gets 487 (RFC 3261 §15.1.2).
			s.finalUAS(sip.StatusRequestTerminated, "", &TerminatedError{Cause: RemoteBye})
			return
		}
		s.terminate(&TerminatedError{Cause: RemoteBye})
	case sip.MethodInvite, sip.MethodUpdate:
		s.handleModify(w, req)
	case sip.MethodMessage, sip.MethodInfo:
		// Queued before the 200 goes out: a sender that waits for each
		// 200 sees its messages delivered in the order it sent them.
		s.mu.Lock()
		s.emitLocked(MessageReceived{Request: req})
		s.mu.Unlock()
		_ = w.Respond(w.NewResponse(sip.StatusOK, ""))
	case sip.MethodOptions:
		res := w.NewResponse(sip.StatusOK, "")
		res.Set("Allow", s.l.cfg.Allow)
		res.Set("Accept", "application/sdp")
		_ = w.Respond(res)
	case sip.MethodRefer:
		s.serveRefer(w, r)
	case sip.MethodNotify:
		s.serveNotify(w, req)
	case sip.MethodPrack:
		s.handlePrack(w, req)
	default:
		res := w.NewResponse(sip.StatusNotImplemented, "")
		res.Set("Allow", s.l.cfg.Allow)
		_ = w.Respond(res)
	}
}

// handleAck takes the ACK of a 2xx of ours.
func (s *Session) handleAck(req *sip.Request) {
	s.mu.Lock()
	if s.okRes == nil || req.CSeq().Seq != s.okSeq {
		s.mu.Unlock()
		return // a retransmitted or stray ACK
	}
	s.okRes = nil
	if s.okTimer != nil {
		s.okTimer.Stop()
	}
	if b := req.Body(); len(b) > 0 {
		s.remoteSDP = b // the answer to the offer in our 2xx (late offer)
		if s.neg != nil {
			if r, err := s.neg.ReceiveAnswer(b); err == nil && r.Changed && s.state != Accepting {
				s.emitLocked(MediaChanged{Local: s.localSDP, Remote: b})
			}
		}
	}
	s.okWriter = nil
	initial := s.state == Accepting
	if initial {
		s.setStateLocked(Established)
		// The INVITE's server transaction (and the response it holds)
		// is no longer needed by the session: let it go with the
		// transaction table's Timer L instead of living as long as the call.
		s.w = nil
	}
	s.mu.Unlock()
	if initial {
		close(s.acked)
	}
}

// handleModify answers a re-INVITE or UPDATE (RFC 3261 §14.2, RFC 3311
// §5.2): 491 when it crosses an offer of ours, 500 when a previous
// re-INVITE is still unacknowledged; otherwise 200 with Contact, the
// answer (the unchanged SDP when the offer repeats the last one, as a
// session refresh does) and the session timer's headers.
func (s *Session) handleModify(w ua.ResponseWriter, req *sip.Request) {
	offer := req.Body()
	if len(offer) > 0 && !isSDP(req) {
		res := w.NewResponse(sip.StatusUnsupportedMediaType, "")
		res.Set("Accept", "application/sdp")
		_ = w.Respond(res)
		return
	}
	s.mu.Lock()
	if s.state == Terminated || s.state == Terminating {
		s.mu.Unlock()
		_ = w.Respond(w.NewResponse(sip.StatusCallTransactionDoesNotExist, ""))
		return
	}
	if len(offer) > 0 && s.offering {
		s.mu.Unlock()
		_ = w.Respond(w.NewResponse(sip.StatusRequestPending, "")) // 491: glare
		return
	}
	if req.Method == sip.MethodInvite && s.okRes != nil {
		s.mu.Unlock()
		res := w.NewResponse(sip.StatusServerInternalError, "")
		res.Set("Retry-After", "1") // §14.2: a re-INVITE before the ACK of the last
		_ = w.Respond(res)
		return
	}
	local, remote := s.localSDP, s.remoteSDP
	tmr := s.tmr
	s.mu.Unlock()
	if err := tmr.CheckRequest(req); err != nil {
		_ = w.Respond(rejection(w, err))
		return
	}

	var answer []byte
	changed := false
	s.mu.Lock()
	neg := s.neg
	s.mu.Unlock()
	switch {
	case neg != nil && len(offer) > 0:
		s.mu.Lock()
		a, r, err := neg.AnswerOffer(offer)
		s.mu.Unlock()
		if err != nil {
			res := w.NewResponse(negStatus(err), "")
			if res.StatusCode == sip.StatusServerInternalError {
				res.Set("Retry-After", "1")
			}
			_ = w.Respond(res)
			return
		}
		answer, changed = a, r.Changed
	case neg != nil && req.Method == sip.MethodInvite:
		s.mu.Lock()
		o, err := neg.CreateOffer() // the ACK brings the answer
		s.mu.Unlock()
		if err != nil {
			_ = w.Respond(w.NewResponse(negStatus(err), ""))
			return
		}
		answer = o
	case len(offer) == 0 && req.Method == sip.MethodInvite:
		answer = local // a re-INVITE without offer: our 2xx carries one
	case len(offer) == 0:
		// a bodiless UPDATE: a session refresh, no SDP in the answer
	case sameSDP(offer, remote):
		answer = local // the same offer again (a refresh): the same answer, same o= version
	default:
		changed = true
		answer = local
		if s.l.cfg.Answer != nil {
			a, err := s.l.cfg.Answer(s, offer)
			if err != nil {
				_ = w.Respond(w.NewResponse(sip.StatusNotAcceptableHere, ""))
				return
			}
			answer = a
		}
	}
	res := w.NewResponse(sip.StatusOK, "")
	s.decorate(res, answer)
	tmr.PrepareResponse(req, res)
	s.mu.Lock()
	if tmr.Active() {
		s.emitLocked(s.refreshedLocked(req.Method))
	}
	if len(offer) > 0 || answer != nil {
		if len(offer) > 0 {
			s.remoteSDP = offer
		}
		s.localSDP = answer
	}
	if changed {
		s.emitLocked(MediaChanged{Local: answer, Remote: offer})
	}
	s.mu.Unlock()
	if req.Method == sip.MethodInvite {
		_ = s.respond2xx(w, req, res)
		return
	}
	_ = w.Respond(res)
}

// sameSDP reports whether two session descriptions are the same offer:
// byte-equal, or with the same o= line (RFC 3264 §8: an unchanged
// version means an unchanged session).
func sameSDP(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	oa, ob := originLine(a), originLine(b)
	return oa != "" && oa == ob
}

func originLine(sdp []byte) string {
	for _, line := range strings.Split(string(sdp), "\n") {
		if strings.HasPrefix(line, "o=") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// ---- UAC ------------------------------------------------------------

// InviteOptions configures an outgoing call.
type InviteOptions struct {
	// SDP is the offer. Nil: late offer; the 2xx carries the peer's offer
	// and Answer makes the answer the ACK carries.
	SDP []byte
	// Answer makes the answer to a late offer. Nil: the ACK carries none.
	Answer func(offer []byte) ([]byte, error)
	// Prepare may add headers to the INVITE before it is sent.
	Prepare func(req *sip.Request)
	// Target is where the INVITE goes. Zero: the endpoint's current
	// outbound proxy, or the Request-URI.
	Target ua.Target
	// OnEvent is the session's event handler (Session.OnEvent), set
	// before the INVITE goes out so that no event is missed.
	OnEvent func(*Session, Event)
	// SessionTimer overrides the layer's Config.SessionTimer for this call.
	SessionTimer *timer.Config
	// NoRedirect returns a 3xx as a rejection. Zero: up to three
	// redirections are followed to the first Contact of each.
	NoRedirect bool
	// Replaces, when set, is a session of ours with the party being
	// called: the INVITE carries Replaces naming its dialog (RFC 3891,
	// built by ReplacesHeader) and Require: replaces, asking the peer to
	// put the new call in its place.
	Replaces *Session
}

// Invite calls to: it sends an INVITE (RFC 3261 §13.2) and returns when
// the call is established (2xx received and ACKed) or has failed. A
// canceled ctx before the answer sends CANCEL. On failure the session is
// returned too, terminated, and the error is its *TerminatedError (which
// wraps a *ua.StatusError for a rejection).
func (l *Layer) Invite(ctx context.Context, to sip.URI, opts InviteOptions) (*Session, error) {
	if l.isClosed() {
		return nil, errClosed
	}
	s := newSession(l, UAC, Calling)
	s.handler = opts.OnEvent
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.cancelCall = cancel
	req := sip.NewRequest(sip.MethodInvite, to)
	from := l.ep.Address()
	from.Params = from.Params.Without("tag").With("tag", newTag())
	req.Set("From", from.String())
	req.Set("To", (&sip.Address{URI: to}).String())
	req.Set("Contact", s.contact())
	req.Set("Allow", l.cfg.Allow)
	switch l.cfg.Reliable { // RFC 3262 §4
	case ReliableSupported:
		req.AddToken("Supported", tag100rel)
	case ReliableRequired:
		req.AddToken("Supported", tag100rel)
		req.AddToken("Require", tag100rel)
	}
	req.AddToken("Supported", tagReplaces)
	if opts.Replaces != nil {
		v, err := opts.Replaces.ReplacesHeader(false)
		if err != nil {
			return nil, err
		}
		req.Set("Replaces", v)
		req.AddToken("Require", tagReplaces)
	}
	tcfg := l.cfg.SessionTimer
	if opts.SessionTimer != nil {
		if err := opts.SessionTimer.Validate(); err != nil {
			return nil, err
		}
		tcfg = *opts.SessionTimer
	}
	s.startTimer(tcfg)
	s.tmr.PrepareRequest(req)
	if l.cfg.Media != nil {
		s.neg, _ = sdpneg.New(*l.cfg.Media)
		if opts.SDP == nil && opts.Answer == nil {
			offer, err := s.neg.CreateOffer()
			if err != nil {
				return nil, err
			}
			opts.SDP = offer
		}
	}
	if opts.SDP != nil {
		req.Set("Content-Type", "application/sdp")
		req.SetBody(opts.SDP)
		s.localSDP = opts.SDP
	}
	s.lateOffer, s.answerFn = opts.SDP == nil, opts.Answer
	if opts.Prepare != nil {
		opts.Prepare(req)
	}
	s.invite = req
	target := opts.Target
	if target == (ua.Target{}) {
		if t, ok := l.ep.(targeter); ok {
			var err error
			if target, err = t.Target(ctx); err != nil {
				s.terminate(&TerminatedError{Cause: TransportFailure, Err: err})
				return s, s.Err()
			}
		}
	}
	err := s.call(ctx, req, target, opts)
	if err != nil {
		return s, err
	}
	return s, nil
}

func newTag() string {
	const hex = "0123456789abcdef"
	var b [12]byte
	for i := range b {
		b[i] = hex[rand.IntN(16)]
	}
	return string(b[:])
}

// call runs the INVITE client side until the call is up or has failed.
func (s *Session) call(ctx context.Context, req *sip.Request, target ua.Target, opts InviteOptions) error {
	l := s.l
	redirects := 0
	for attempt := 0; attempt < 6; attempt++ {
		c, to, err := s.u.StartInvite(context.WithoutCancel(ctx), req, target)
		if err != nil {
			s.terminate(&TerminatedError{Cause: TransportFailure, Err: err})
			return s.Err()
		}
		target = to
		ck := req.CallID() + "\x00" + req.From().Tag()
		l.mu.Lock()
		l.calling[ck] = s
		l.mu.Unlock()
		res, err := s.await(ctx, c, to)
		if res != nil && res.IsSuccess() {
			// Timer M keeps the transaction: read its 2xx retransmissions
			// and forked 2xx until it ends.
			go s.drainInvite(c, ck)
		} else {
			l.mu.Lock()
			delete(l.calling, ck)
			l.mu.Unlock()
		}
		if err != nil {
			s.terminate(&TerminatedError{Cause: TransportFailure, Err: err})
			return s.Err()
		}
		if res.StatusCode != 401 && res.StatusCode != 407 {
			out := s.tmr.HandleResponse(req, res)
			if out.Action == timer.ActionRetry && res.StatusCode == sip.StatusSessionIntervalTooSmall && attempt < 3 {
				// RFC 4028 §7.3: again at once, with the 422's Min-SE.
				s.u.Renew(req)
				s.tmr.PrepareRequest(req)
				continue
			}
		}
		switch {
		case res.IsSuccess():
			s.mu.Lock()
			s.peerUpdate = res.HasToken("Allow", sip.MethodUpdate)
			s.mu.Unlock()
			if err := s.confirmUAC(context.WithoutCancel(ctx), req, res, opts); err != nil {
				return err
			}
			if ctx.Err() != nil {
				// The 2xx crossed our CANCEL (RFC 3261 §9.1): the call was
				// answered after all; ACK it (done) and end it with BYE.
				s.byeAndEnd(&TerminatedError{Cause: Canceled, Err: ctx.Err()})
				return s.Err()
			}
			return nil
		case res.StatusCode >= 300 && res.StatusCode < 400 && len(res.Contact()) > 0 && !opts.NoRedirect && redirects < 3:
			// RFC 3261 §8.1.3.4: a new request to the first contact, in
			// the same call (same Call-ID, From, To), CSeq + 1.
			redirects++
			uri := res.Contact()[0].URI
			uri.Headers = ""
			req.URI = uri
			s.u.Renew(req)
			target = ua.Target{}
			s.mu.Lock()
			s.emitLocked(Progress{Response: res})
			s.mu.Unlock()
			continue
		case (res.StatusCode == 401 || res.StatusCode == 407) && attempt < 2:
			ok, aerr := s.u.Reauthorize(req, res)
			if ok {
				continue
			}
			s.terminate(&TerminatedError{Cause: Rejected, StatusCode: res.StatusCode, Reason: res.Reason,
				Err: errors.Join(&ua.StatusError{Response: res}, aerr)})
			return s.Err()
		default:
			cause := Rejected
			if res.StatusCode == sip.StatusRequestTerminated && ctx.Err() != nil {
				cause = Canceled
				if errors.Is(context.Cause(ctx), errReplaced) {
					cause = Replaced
				}
			}
			s.terminate(&TerminatedError{Cause: cause, StatusCode: res.StatusCode, Reason: res.Reason,
				Err: &ua.StatusError{Response: res}})
			return s.Err()
		}
	}
	s.terminate(&TerminatedError{Cause: Rejected, Err: errors.New("dialog: too many INVITE attempts")})
	return s.Err()
}

// await reads the INVITE transaction's responses until a final one,
// creating early dialogs from provisional responses with a tag and
// sending CANCEL when ctx ends first.
func (s *Session) await(ctx context.Context, c *transaction.InviteClient, to ua.Target) (*sip.Response, error) {
	provisional := false
	canceling := false
	cancelSent := false
	done := ctx.Done()
	for {
		if canceling && provisional && !cancelSent {
			cancelSent = true
			go func() {
				cctx, stop := context.WithTimeout(context.Background(), 64*s.t1())
				defer stop()
				_ = s.u.Cancel(cctx, c, to)
			}()
		}
		select {
		case res := <-c.Responses():
			if res.StatusCode < 200 {
				provisional = true
				if res.StatusCode > 100 {
					s.earlyUAC(res)
				}
				continue
			}
			return res, nil
		case <-c.Done():
			select {
			case res := <-c.Responses():
				if res.StatusCode >= 200 {
					return res, nil
				}
			default:
			}
			if err := c.Err(); err != nil {
				return nil, err
			}
			return nil, transaction.ErrTerminated
		case <-done:
			done = nil
			canceling = true
		}
	}
}

// earlyUAC handles a provisional response to our INVITE: a reliable one
// (RFC 3262) is PRACKed; one with a tag creates the early dialog.
// Provisional responses to a re-INVITE change nothing.
func (s *Session) earlyUAC(res *sip.Response) {
	s.mu.Lock()
	initial := (s.state == Calling || s.state == Ringing) && res.CSeq().Seq == s.invite.CSeq().Seq
	s.mu.Unlock()
	if !initial || s.reliableUAC(res) {
		return
	}
	s.mu.Lock()
	if res.To().Tag() != "" && s.dlg == nil {
		if d, err := NewUAC(s.u, s.invite, res); err == nil {
			s.dlg = d
			s.l.track(s, d.key())
		}
	}
	if res.To().Tag() != "" {
		s.setStateLocked(Ringing)
	}
	s.emitLocked(Progress{Response: res})
	s.mu.Unlock()
}

// confirmUAC takes the 2xx that answered our INVITE: the dialog is
// confirmed with it, and the ACK goes out (§13.2.2.4).
func (s *Session) confirmUAC(ctx context.Context, req *sip.Request, res *sip.Response, opts InviteOptions) error {
	d, err := NewUAC(s.u, req, res)
	if err != nil {
		s.terminate(&TerminatedError{Cause: TransportFailure, Err: err})
		return s.Err()
	}
	s.mu.Lock()
	old := s.dlg
	s.dlg = d
	earlyOA := s.earlyOA
	s.mu.Unlock()
	if old != nil && old.key() != d.key() {
		s.l.untrack(old.key(), s)
	} else if old != nil {
		d.inherit(old) // requests sent in the early dialog (PRACK, UPDATE)
	}
	s.mu.Lock()
	if f := s.forks[d.ID().RemoteTag]; f != nil && f.d != old {
		d.inherit(f.d) // another fork's early dialog, PRACKed
	}
	s.mu.Unlock()
	s.l.track(s, d.key())
	ack := d.NewAck(req.CSeq().Seq)
	if b := res.Body(); len(b) > 0 && !earlyOA {
		// (After an exchange completed in a reliable provisional response
		// and its PRACK, SDP in the 2xx only repeats it.)
		s.mu.Lock()
		s.remoteSDP = b
		neg := s.neg
		if neg != nil && opts.SDP != nil {
			_, _ = neg.ReceiveAnswer(b)
		}
		s.mu.Unlock()
		if neg != nil && opts.SDP == nil && opts.Answer == nil {
			s.mu.Lock()
			answer, _, err := neg.AnswerOffer(b)
			s.mu.Unlock()
			if err == nil {
				opts.Answer = func([]byte) ([]byte, error) { return answer, nil }
			}
		}
		if opts.SDP == nil && opts.Answer != nil {
			answer, err := opts.Answer(b)
			if err == nil && answer != nil {
				ack.Set("Content-Type", "application/sdp")
				ack.SetBody(answer)
				s.mu.Lock()
				s.localSDP = answer
				s.mu.Unlock()
			}
		}
	}
	if err := s.sendAck(ctx, ack); err != nil {
		s.terminate(&TerminatedError{Cause: TransportFailure, Err: err})
		return s.Err()
	}
	s.mu.Lock()
	s.setStateLocked(Established)
	s.mu.Unlock()
	return nil
}

func (s *Session) sendAck(ctx context.Context, ack *sip.Request) error {
	to, err := s.u.TargetOf(ctx, ack)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ack, s.ackTarget = ack, to
	s.mu.Unlock()
	return s.u.SendAck(context.WithoutCancel(ctx), ack, to)
}

// drainInvite reads what the INVITE transaction delivers after its first
// 2xx (Timer M): retransmissions are ACKed again, other forks' 2xx ACKed
// and ended with BYE.
func (s *Session) drainInvite(c *transaction.InviteClient, ck string) {
	defer func() {
		s.l.mu.Lock()
		if s.l.calling[ck] == s {
			delete(s.l.calling, ck)
		}
		s.l.mu.Unlock()
	}()
	for {
		select {
		case res := <-c.Responses():
			if res.IsSuccess() {
				s.uac2xx(res)
			}
		case <-c.Done():
			return
		}
	}
}

// uac2xx handles a 2xx to our INVITE after the first: the same dialog's is
// ACKed again; another fork's is ACKed and then ended with BYE.
func (s *Session) uac2xx(res *sip.Response) {
	s.mu.Lock()
	d, ack, to := s.dlg, s.ack, s.ackTarget
	s.mu.Unlock()
	if d != nil && res.To().Tag() == d.ID().RemoteTag {
		if ack != nil && res.CSeq().Seq == ack.CSeq().Seq {
			_ = s.u.SendAck(context.Background(), ack.Clone(), to)
		}
		return
	}
	fork, err := NewUAC(s.u, s.invite, res)
	if err != nil {
		return
	}
	go func() {
		ctx, stop := context.WithTimeout(context.Background(), 64*s.t1())
		defer stop()
		a := fork.NewAck(res.CSeq().Seq)
		if t, err := s.u.TargetOf(ctx, a); err == nil {
			_ = s.u.SendAck(ctx, a, t)
		}
		bye := fork.NewRequest(sip.MethodBye)
		_, _ = fork.Do(ctx, bye)
	}()
}

// ---- ending ---------------------------------------------------------

// Hangup ends the session: BYE when it is established (or accepted), 603
// for an incoming call not yet answered, CANCEL-by-context is the caller's
// way for an outgoing one (see Invite). It returns once the session is
// terminated.
func (s *Session) Hangup(ctx context.Context) error { return s.hangup(ctx, LocalBye) }

func (s *Session) hangup(ctx context.Context, cause Cause) error {
	switch s.State() {
	case Terminated:
		return nil
	case Incoming, Ringing:
		if s.role == UAS {
			code := sip.StatusDecline
			if cause == Shutdown {
				code = sip.StatusServiceUnavailable
			}
			s.finalUAS(code, "", &TerminatedError{Cause: cause, StatusCode: code, Reason: sip.StatusText(code)})
			return nil
		}
		return ErrState // an outgoing call is canceled through Invite's context
	case Calling:
		return ErrState
	}
	s.byeAndEnd(&TerminatedError{Cause: cause})
	return nil
}

// byeAndEnd sends BYE with a Reason when the cause has a status, and
// ends the session whatever the BYE's fate.
func (s *Session) byeAndEnd(te *TerminatedError) {
	s.mu.Lock()
	if s.state == Terminated || s.state == Terminating {
		s.mu.Unlock()
		return
	}
	s.setStateLocked(Terminating)
	d := s.dlg
	s.mu.Unlock()
	bye := d.NewRequest(sip.MethodBye)
	if te.StatusCode != 0 && te.Cause != Rejected {
		bye.Set("Reason", "SIP;cause="+itoa(te.StatusCode)+`;text="`+te.Reason+`"`)
	}
	ctx, stop := context.WithTimeout(context.Background(), 64*s.t1())
	defer stop()
	if _, err := d.Do(ctx, bye); err != nil && te.Err == nil {
		var se *ua.StatusError
		if !errors.As(err, &se) {
			te.Err = err
		}
	}
	s.terminate(te)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// ---- sending inside the dialog -------------------------------------

// Message sends an in-dialog MESSAGE (or INFO with method INFO) and waits
// for its final response.
func (s *Session) Message(ctx context.Context, method, contentType string, body []byte) (*sip.Response, error) {
	if method == "" {
		method = sip.MethodMessage
	}
	s.mu.Lock()
	d, st := s.dlg, s.state
	s.mu.Unlock()
	if d == nil || st == Terminated {
		return nil, ErrTerminated
	}
	req := d.NewRequest(method)
	if body != nil {
		req.Set("Content-Type", contentType)
		req.SetBody(body)
	}
	return d.Do(ctx, req)
}

// Reinvite sends a re-INVITE carrying sdp (nil: the last local SDP again,
// a pure refresh) and waits for its outcome (RFC 3261 §14.1). A crossing
// offer from the peer (491) is retried after the §14.1 delay, at most
// twice. 408 and 481 end the session.
func (s *Session) Reinvite(ctx context.Context, sdp []byte) error {
	return s.modify(ctx, sip.MethodInvite, sdp, sdp == nil, false)
}

// Update sends an UPDATE (RFC 3311) carrying sdp as an offer, or no body
// when sdp is nil (a session refresh), and waits for its outcome.
func (s *Session) Update(ctx context.Context, sdp []byte) error {
	return s.modify(ctx, sip.MethodUpdate, sdp, false, false)
}

// modify runs a re-INVITE or UPDATE to its end: the session timer's
// verdict first (retry after 422, end the session after a refresh that
// failed for good), then §14.1's 491 retry for the application's own
// modifications, then 408/481 ending the dialog (§12.2.1.2).
// offerMaker makes an offer with the negotiator (Hold, Resume).
type offerMaker func(n *sdpneg.Negotiator) ([]byte, error)

func (s *Session) modify(ctx context.Context, method string, sdp []byte, reuse, refresh bool) error {
	return s.modifyWith(ctx, method, sdp, reuse, refresh, nil)
}

func (s *Session) modifyWith(ctx context.Context, method string, sdp []byte, reuse, refresh bool, mk offerMaker) error {
	for try := 0; ; try++ {
		res, out, err := s.modifyOnce(ctx, method, sdp, reuse, mk)
		if out.Failed != 0 {
			s.mu.Lock()
			s.emitLocked(RefreshFailed{StatusCode: out.Failed, Err: err})
			s.mu.Unlock()
		}
		switch out.Action {
		case timer.ActionEnd:
			s.byeAndEnd(&TerminatedError{Cause: SessionExpired, StatusCode: out.Reason.Cause, Reason: out.Reason.Text, Err: err})
			return s.Err()
		case timer.ActionRetry:
			if try < 3 {
				continue
			}
		case timer.ActionRetryLater:
			if refresh { // the timer calls Refresh again
				if err == nil {
					err = &ua.StatusError{Response: res}
				}
				return err
			}
		}
		if err != nil {
			return err
		}
		switch {
		case res.IsSuccess():
			return nil
		case res.StatusCode == sip.StatusRequestPending && try < 2 && !refresh:
			// §14.1: the Call-ID's owner waits 2.1–4 s, the other 0–2 s.
			var wait time.Duration
			if s.role == UAC {
				wait = 2100*time.Millisecond + time.Duration(rand.Int64N(int64(1900*time.Millisecond)))
			} else {
				wait = time.Duration(rand.Int64N(int64(2 * time.Second)))
			}
			if err := s.sleep(ctx, wait); err != nil {
				return err
			}
		case res.StatusCode == sip.StatusCallTransactionDoesNotExist || res.StatusCode == sip.StatusRequestTimeout:
			// §12.2.1.2: the dialog is gone.
			s.terminate(&TerminatedError{Cause: RemoteBye, StatusCode: res.StatusCode, Reason: res.Reason,
				Err: &ua.StatusError{Response: res}})
			return s.Err()
		default:
			return &ua.StatusError{Response: res}
		}
	}
}

// sleep waits d on the UA's clock.
func (s *Session) sleep(ctx context.Context, d time.Duration) error {
	ch := make(chan struct{})
	t := s.u.Scheduler().AfterFunc(d, func() { close(ch) })
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return s.Err()
	}
}

// modifyOnce sends one re-INVITE or UPDATE and returns its final response
// and the session timer's verdict on it.
func (s *Session) modifyOnce(ctx context.Context, method string, sdp []byte, reuse bool, mk offerMaker) (*sip.Response, timer.Outcome, error) {
	if err := s.waitPrack(ctx); err != nil {
		return nil, timer.Outcome{}, err
	}
	s.mu.Lock()
	if s.state != Established && !(method == sip.MethodUpdate && (s.state == Ringing || s.state == Accepting)) {
		s.mu.Unlock()
		return nil, timer.Outcome{}, ErrState
	}
	if s.offering {
		s.mu.Unlock()
		return nil, timer.Outcome{}, ErrOfferPending
	}
	neg := s.neg
	switch {
	case neg != nil && sdp != nil:
		s.mu.Unlock()
		return nil, timer.Outcome{}, errors.New("dialog: with Config.Media set, offers come from the negotiator (Hold, Resume, Capabilities)")
	case neg != nil && mk != nil:
		offer, err := mk(neg)
		if err != nil {
			s.mu.Unlock()
			return nil, timer.Outcome{}, err
		}
		sdp = offer
	case neg != nil && reuse:
		offer, err := neg.CreateOffer() // unchanged: the same o= version
		if err != nil {
			s.mu.Unlock()
			return nil, timer.Outcome{}, err
		}
		sdp = offer
	case reuse:
		sdp = s.localSDP
	}
	if sdp != nil {
		s.offering = true
	}
	d, tmr := s.dlg, s.tmr
	s.mu.Unlock()
	offered := sdp != nil && neg != nil
	ok := false
	defer func() {
		s.mu.Lock()
		s.offering = false
		if offered && !ok {
			_ = neg.CancelOffer()
		}
		s.mu.Unlock()
	}()
	req := d.NewRequest(method)
	req.Set("Contact", s.contact())
	req.Set("Allow", s.l.cfg.Allow)
	tmr.PrepareRequest(req)
	if sdp != nil {
		req.Set("Content-Type", "application/sdp")
		req.SetBody(sdp)
	}
	var res *sip.Response
	var err error
	if method == sip.MethodUpdate {
		res, err = d.Do(ctx, req)
		var se *ua.StatusError
		if errors.As(err, &se) {
			res, err = se.Response, nil
		}
	} else {
		res, err = s.reinviteOnce(ctx, d, req)
	}
	if err != nil {
		var out timer.Outcome
		if isTimeout(err) {
			out = tmr.HandleTimeout(req)
		}
		return nil, out, err
	}
	out := tmr.HandleResponse(req, res)
	if res.IsSuccess() {
		d.RefreshTarget(res)
		s.mu.Lock()
		s.peerUpdate = res.HasToken("Allow", sip.MethodUpdate) || s.peerUpdate
		if offered && len(res.Body()) > 0 {
			r, err := neg.ReceiveAnswer(res.Body())
			ok = err == nil
			if ok {
				if r.Changed {
					s.emitLocked(MediaChanged{Local: sdp, Remote: res.Body()})
				}
				s.localSDP, s.remoteSDP = sdp, res.Body()
				sdp = nil // handled
			}
		}
		if sdp != nil {
			changed := !bytes.Equal(sdp, s.localSDP) || !sameSDP(res.Body(), s.remoteSDP)
			s.localSDP = sdp
			if b := res.Body(); len(b) > 0 {
				s.remoteSDP = b
			}
			if changed {
				s.emitLocked(MediaChanged{Local: s.localSDP, Remote: s.remoteSDP})
			}
		}
		if tmr.Active() {
			s.emitLocked(s.refreshedLocked(method))
		}
		s.mu.Unlock()
	}
	return res, out, nil
}

// isTimeout reports whether err is a transaction timeout.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// reinviteOnce runs one re-INVITE transaction, answers a digest challenge
// once, and ACKs a 2xx.
func (s *Session) reinviteOnce(ctx context.Context, d *Dialog, req *sip.Request) (*sip.Response, error) {
	to, err := s.u.TargetOf(ctx, req)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		c, _, err := s.u.StartInvite(context.WithoutCancel(ctx), req, to)
		if err != nil {
			return nil, err
		}
		d.syncSeq(req)
		res, err := s.await(ctx, c, to)
		if err != nil {
			return nil, err
		}
		if (res.StatusCode == 401 || res.StatusCode == 407) && attempt == 0 {
			if ok, _ := s.u.Reauthorize(req, res); ok {
				continue
			}
		}
		if res.IsSuccess() {
			ack := d.NewAck(req.CSeq().Seq)
			if err := s.sendAck(ctx, ack); err != nil {
				return nil, err
			}
			go func() { // re-ACK retransmitted 2xx until Timer M ends the transaction
				for {
					select {
					case r := <-c.Responses():
						if r.IsSuccess() {
							s.uac2xx(r)
						}
					case <-c.Done():
						return
					}
				}
			}()
		}
		return res, nil
	}
}

// ---- RFC 4028 ---------------------------------------------------------

// startTimer gives the session its session timer.
func (s *Session) startTimer(cfg timer.Config) {
	role := timer.UAC
	if s.role == UAS {
		role = timer.UAS
	}
	t := timer.New(cfg, role, s.u.Scheduler(), timer.Hooks{
		Refresh: func() { go s.refresh() },
		Expiring: func() time.Duration {
			if f := s.l.cfg.OnSessionExpiring; f != nil {
				return f(s)
			}
			return 0
		},
		Expired: func(r sip.Reason) {
			go s.byeAndEnd(&TerminatedError{Cause: SessionExpired, StatusCode: r.Cause, Reason: r.Text})
		},
	})
	s.mu.Lock()
	old := s.tmr
	s.tmr = t
	s.mu.Unlock()
	if old != nil {
		old.Stop()
	}
}

// SetSessionTimer replaces the session timer configuration of an incoming
// session before it is answered (OnInvite may call it). The INVITE was
// checked (422, 420) against the layer's configuration.
func (s *Session) SetSessionTimer(cfg timer.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if s.role != UAS || (s.State() != Incoming && s.State() != Ringing) {
		return ErrState
	}
	s.startTimer(cfg)
	return nil
}

// SessionTimer returns the session's RFC 4028 state: the negotiated
// interval, the refresher, the next refresh and the expiry.
func (s *Session) SessionTimer() *timer.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tmr
}

// rejection turns a timer.Rejection into the response that carries it.
func rejection(w ua.ResponseWriter, err error) *sip.Response {
	var rej *timer.Rejection
	if !errors.As(err, &rej) {
		return w.NewResponse(sip.StatusBadRequest, "")
	}
	res := w.NewResponse(rej.Code, "")
	rej.AddHeaders(res)
	return res
}

// refreshedLocked builds the Refreshed event from the timer's state.
func (s *Session) refreshedLocked(method string) Refreshed {
	t := s.tmr
	r := Refreshed{Method: method, Interval: t.Interval(), Local: t.Refresher() == timer.RefresherLocal,
		ExpiresAt: t.ExpiresAt(), NextRefresh: t.NextRefreshAt()}
	switch t.RefresherRole() {
	case timer.RefresherUAC:
		r.Refresher = "uac"
	case timer.RefresherUAS:
		r.Refresher = "uas"
	}
	return r
}

// refresh is the timer's Refresh hook: an UPDATE when the peer allows it,
// else a re-INVITE with the same SDP (same o= version).
func (s *Session) refresh() {
	s.mu.Lock()
	st, tmr, upd := s.state, s.tmr, s.peerUpdate
	s.mu.Unlock()
	if st != Established || tmr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 64*s.t1())
	defer cancel()
	method := tmr.RefreshMethod(upd)
	_ = s.modify(ctx, method, nil, method == sip.MethodInvite, true)
}

// negStatus maps an offer/answer error to its response code: 491 for
// crossing offers, 500 for an offer while an answer is due, 488 else.
func negStatus(err error) int {
	if c := sdpneg.StatusCode(err); c != 0 {
		return c
	}
	return sip.StatusNotAcceptableHere
}

// Hold puts the call on hold (RFC 3264 §8.4: a re-INVITE whose offer
// makes our streams sendonly, or inactive). It needs Config.Media.
func (s *Session) Hold(ctx context.Context) error { return s.hold(ctx, true) }

// Resume takes the call off hold. It needs Config.Media.
func (s *Session) Resume(ctx context.Context) error { return s.hold(ctx, false) }

func (s *Session) hold(ctx context.Context, on bool) error {
	s.mu.Lock()
	neg := s.neg
	s.mu.Unlock()
	if neg == nil {
		return errors.New("dialog: Hold and Resume need Config.Media")
	}
	mk := (*sdpneg.Negotiator).Resume
	if on {
		mk = (*sdpneg.Negotiator).Hold
	}
	return s.modifyWith(ctx, sip.MethodInvite, nil, false, false, mk)
}

// OnHold reports whether we put the call on hold.
func (s *Session) OnHold() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.neg != nil && s.neg.OnHold()
}
