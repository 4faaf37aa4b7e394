package transaction

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transport"
)

// Accepted and Confirmed are the INVITE-only states: Accepted is RFC 6026's
// state after a 2xx (the dialog, not the transaction, handles ACK and 2xx
// retransmissions), Confirmed is a server transaction that got the ACK of
// its failure response.
const (
	Accepted State = iota + Terminated + 1
	Confirmed
	Calling // an INVITE client transaction before any response
)

var stateNames = map[State]string{
	Trying: "Trying", Proceeding: "Proceeding", Completed: "Completed", Terminated: "Terminated",
	Accepted: "Accepted", Confirmed: "Confirmed", Calling: "Calling",
}

// InviteClient is an INVITE client transaction (RFC 3261 §17.1.1 with the
// Accepted state of RFC 6026 §7.2).
type InviteClient struct {
	clientCore
	timerA *sched.Timer
	timerB *sched.Timer
	timerD *sched.Timer // also Timer M in Accepted
	ack    *sip.Request
}

// Invite starts an INVITE client transaction. Responses arrive on
// Responses, 2xx retransmissions included (RFC 6026: the dialog ACKs each
// 2xx); the transaction ACKs failure responses itself (§17.1.1.3).
func (l *Layer) Invite(ctx context.Context, req *sip.Request, to transport.Addr) (*InviteClient, error) {
	if req.Method != sip.MethodInvite {
		return nil, errors.New("transaction: Invite needs an INVITE")
	}
	v, ok := req.TopVia()
	if !ok || !strings.HasPrefix(v.Branch(), magicCookie) {
		return nil, ErrNoBranch
	}
	c := &InviteClient{clientCore: newClientCore(l, req, to, clientKey(v.Branch(), sip.MethodInvite), Calling)}
	l.mu.Lock()
	if _, dup := l.invClients[c.key]; dup {
		l.mu.Unlock()
		return nil, errors.New("transaction: a client transaction with this branch exists")
	}
	l.invClients[c.key] = c
	l.mu.Unlock()
	c.mu.Lock()
	c.timerB = l.sched.AfterFunc(64*l.cfg.T1, func() { c.timeout("B") })
	if !c.reliable {
		c.timerA = l.sched.AfterFunc(c.interval, c.retransmit)
	}
	c.mu.Unlock()
	if err := l.send.Send(ctx, to, req); err != nil {
		c.terminate(err)
		return nil, err
	}
	return c, nil
}

// retransmit is Timer A: resend, doubling the interval (no cap), while Calling.
func (c *InviteClient) retransmit() {
	c.mu.Lock()
	if c.state != Calling {
		c.mu.Unlock()
		return
	}
	c.interval *= 2
	c.timerA.Reset(c.interval) // the same Timer re-armed: no allocation
	c.mu.Unlock()
	if err := c.l.send.Send(context.Background(), c.to, c.req); err != nil {
		c.terminate(err)
	}
}

func (c *InviteClient) timeout(timer string) {
	c.mu.Lock()
	live := c.state == Calling || c.state == Proceeding
	c.mu.Unlock()
	if live {
		c.terminate(&TimeoutError{Timer: timer})
	}
}

func (c *InviteClient) receive(res *sip.Response) {
	c.mu.Lock()
	switch {
	case res.StatusCode < 200:
		if c.state != Calling && c.state != Proceeding {
			c.mu.Unlock()
			return
		}
		c.state = Proceeding
		stop(c.timerA)
	case res.StatusCode < 300:
		switch c.state {
		case Calling, Proceeding:
			// RFC 6026 §8.4: Accepted; Timer M keeps the transaction to
			// pass 2xx retransmissions (and forked 2xx) to the dialog.
			c.state = Accepted
			stop(c.timerA)
			stop(c.timerB)
			c.timerD = c.l.sched.AfterFunc(64*c.l.cfg.T1, func() { c.terminate(nil) })
		case Accepted:
		default:
			c.mu.Unlock()
			return
		}
	default:
		switch c.state {
		case Calling, Proceeding:
			c.state = Completed
			stop(c.timerA)
			stop(c.timerB)
			c.ack = ackFor(c.req, res)
			d := 32 * time.Second // Timer D: at least 32 s over UDP
			if c.reliable {
				d = 0
			}
			c.timerD = c.l.sched.AfterFunc(d, func() { c.terminate(nil) })
		case Completed:
			ack := c.ack
			c.mu.Unlock()
			_ = c.l.send.Send(context.Background(), c.to, ack) // retransmitted final: ACK again, absorb
			return
		default:
			c.mu.Unlock()
			return
		}
		ack := c.ack
		c.mu.Unlock()
		if err := c.l.send.Send(context.Background(), c.to, ack); err != nil {
			c.deliver(res)
			c.terminate(err)
			return
		}
		c.deliver(res)
		return
	}
	c.mu.Unlock()
	c.deliver(res)
}

func (c *InviteClient) terminate(err error) {
	c.mu.Lock()
	timers := []*sched.Timer{c.timerA, c.timerB, c.timerD}
	c.mu.Unlock()
	if !c.end(err, timers...) {
		return
	}
	c.l.mu.Lock()
	if c.l.invClients[c.key] == c {
		delete(c.l.invClients, c.key)
	}
	c.l.mu.Unlock()
}

// ackFor builds the ACK for a non-2xx final response (RFC 3261 §17.1.1.3):
// the INVITE's Request-URI, Call-ID, From, CSeq number and topmost Via,
// the response's To (with its tag), and the INVITE's Route header fields.
func ackFor(inv *sip.Request, res *sip.Response) *sip.Request {
	ack := sip.NewRequest(sip.MethodAck, inv.URI)
	if v, ok := inv.TopVia(); ok {
		ack.Add("Via", v.String())
	}
	ack.Add("Max-Forwards", "70")
	ack.Add("From", inv.Get("From"))
	ack.Add("To", res.Get("To"))
	ack.Add("Call-ID", inv.CallID())
	ack.Add("CSeq", sip.CSeq{Seq: inv.CSeq().Seq, Method: sip.MethodAck}.String())
	for _, r := range inv.Values("Route") {
		ack.Add("Route", r)
	}
	return ack
}

// InviteServer is an INVITE server transaction (RFC 3261 §17.2.1 with the
// Accepted state of RFC 6026 §7.1). It sends 100 Trying when the TU has
// not answered within Config.TryingDelay (200 ms), or at once to a
// retransmitted INVITE.
type InviteServer struct {
	serverCore
	interval time.Duration
	trying   *sched.Timer // sends 100 Trying unless the TU answers first
	timerG   *sched.Timer
	timerH   *sched.Timer // also Timer L in Accepted
	timerI   *sched.Timer
	// mergeUntil is when the merge entry may go: 64·T1 after the first
	// final response (l.now), 0 before it.
	mergeUntil int64
}

// HandleInvite matches an inbound INVITE to a server transaction. A
// retransmission is absorbed (the last provisional or failure response is
// sent again, or 100 Trying when nothing was; nothing in Accepted, where
// the dialog retransmits the 2xx) and nil is returned; a new INVITE
// returns its transaction, which sends 100 Trying if the TU has not
// answered within Config.TryingDelay.
func (l *Layer) HandleInvite(in *transport.Inbound) (*InviteServer, error) {
	req, ok := in.Msg.(*sip.Request)
	if !ok || req.Method != sip.MethodInvite {
		return nil, errors.New("transaction: HandleInvite needs an INVITE")
	}
	var buf [256]byte
	b, n, ok := appendServerKeys(buf[:0], req, sip.MethodInvite)
	if !ok {
		return nil, ErrNoBranch
	}
	l.mu.Lock()
	if s := l.invServers[string(b[:n])]; s != nil {
		l.mu.Unlock()
		s.mu.Lock()
		if s.last == nil && s.state == Proceeding {
			s.last = sip.NewResponse(s.Request(), sip.StatusTrying, "") // the peer retransmits: tell it we are here
			stop(s.trying)
		}
		last, st := s.last, s.state
		s.mu.Unlock()
		if last != nil && (st == Proceeding || st == Completed) {
			_ = l.send.Respond(s.in, last)
		}
		return nil, nil
	}
	s := &InviteServer{serverCore: newServerCore(l, in, string(b), n, Proceeding), interval: l.cfg.T1}
	l.invServers[s.key] = s
	l.indexMerge(&s.serverCore, s.keys[n:])
	l.mu.Unlock()
	if l.cfg.TryingDelay < 0 {
		trying := sip.NewResponse(req, sip.StatusTrying, "")
		s.mu.Lock()
		s.last = trying
		s.mu.Unlock()
		if err := l.send.Respond(in, trying); err != nil {
			s.terminate(err)
			return nil, err
		}
		return s, nil
	}
	s.mu.Lock()
	s.trying = l.sched.AfterFunc(l.cfg.TryingDelay, s.sendTrying)
	s.mu.Unlock()
	return s, nil
}

// sendTrying sends 100 Trying when the TU has not answered within
// Config.TryingDelay (RFC 3261 §17.2.1).
func (s *InviteServer) sendTrying() {
	s.mu.Lock()
	if s.state != Proceeding || s.last != nil {
		s.mu.Unlock()
		return
	}
	s.last = sip.NewResponse(s.Request(), sip.StatusTrying, "")
	last := s.last
	s.mu.Unlock()
	_ = s.l.send.Respond(s.in, last)
}

// Respond sends a response. 1xx keeps Proceeding; 2xx moves to Accepted
// (Timer L), where further 2xx (the dialog's retransmissions) are sent as
// they come; 300–699 moves to Completed, retransmitted by Timer G until
// the ACK arrives or Timer H fires.
func (s *InviteServer) Respond(res *sip.Response) error {
	s.mu.Lock()
	if s.state == Accepted && res.StatusCode >= 200 && res.StatusCode < 300 {
		// RFC 6026 §7.1: in Accepted the TU's 2xx retransmissions pass
		// through to the transport.
		s.mu.Unlock()
		return s.l.send.Respond(s.in, res)
	}
	if s.state != Proceeding {
		s.mu.Unlock()
		return ErrBadResponse
	}
	stop(s.trying)
	s.last = res
	if res.StatusCode >= 200 {
		s.mergeUntil = s.l.now() + int64(64*s.l.cfg.T1)
	}
	switch {
	case res.StatusCode < 200:
	case res.StatusCode < 300:
		s.state = Accepted
		s.timerH = s.l.sched.AfterFunc(64*s.l.cfg.T1, func() { s.terminate(nil) }) // Timer L
	default:
		s.state = Completed
		if !s.reliable {
			s.timerG = s.l.sched.AfterFunc(s.interval, s.retransmit)
		}
		s.timerH = s.l.sched.AfterFunc(64*s.l.cfg.T1, func() { s.terminate(&TimeoutError{Timer: "H"}) })
	}
	s.mu.Unlock()
	return s.l.send.Respond(s.in, res)
}

// retransmit is Timer G: resend the failure response, doubling up to T2.
func (s *InviteServer) retransmit() {
	s.mu.Lock()
	if s.state != Completed {
		s.mu.Unlock()
		return
	}
	s.interval = min(2*s.interval, s.l.cfg.T2)
	s.timerG.Reset(s.interval)
	last := s.last
	s.mu.Unlock()
	_ = s.l.send.Respond(s.in, last)
}

// HandleAck matches an ACK to the INVITE server transaction whose failure
// response it acknowledges (same branch, §17.2.3) and reports whether it
// was absorbed. An ACK for a 2xx has its own branch: it is not absorbed
// and belongs to the dialog.
func (l *Layer) HandleAck(req *sip.Request) bool {
	key, ok := requestKey(req, sip.MethodAck)
	if !ok {
		return false
	}
	l.mu.Lock()
	s := l.invServers[key]
	l.mu.Unlock()
	if s == nil {
		return false
	}
	s.mu.Lock()
	switch s.state {
	case Completed:
		s.state = Confirmed
		stop(s.timerG)
		stop(s.timerH)
		d := s.l.cfg.T4 // Timer I
		if s.reliable {
			d = 0
		}
		s.timerI = s.l.sched.AfterFunc(d, func() { s.terminate(nil) })
		s.mu.Unlock()
		return true
	case Confirmed:
		s.mu.Unlock()
		return true
	}
	s.mu.Unlock()
	return false // Accepted: the ACK of a 2xx goes to the dialog
}

// MatchCancel returns the INVITE server transaction a CANCEL targets
// (RFC 3261 §9.2: same branch and sent-by), or nil.
func (l *Layer) MatchCancel(cancel *sip.Request) *InviteServer {
	key, ok := requestKey(cancel, sip.MethodInvite)
	if !ok {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.invServers[key]
}

func (s *InviteServer) terminate(err error) {
	s.mu.Lock()
	timers := []*sched.Timer{s.trying, s.timerG, s.timerH, s.timerI}
	until := s.mergeUntil
	s.mu.Unlock()
	if !s.end(err, timers...) {
		return
	}
	l := s.l
	l.mu.Lock()
	if l.invServers[s.key] == s {
		delete(l.invServers, s.key)
	}
	if s.merge != "" {
		// A merged copy of the INVITE is detected for as long as the
		// transaction lived and at least 64·T1 after its final response
		// (an ACKed failure ends the transaction sooner).
		if left := until - l.now(); until != 0 && left > 0 {
			l.queueExpiry(expiring{when: until, inv: &s.serverCore})
		} else {
			l.dropMerge(&s.serverCore)
		}
	}
	l.mu.Unlock()
}
