package dialog

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"time"

	"github.com/sipua-go/sipua/dialog/sdpneg"
	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// This file is RFC 3262, reliable provisional responses: as UAS, 18x
// sent with Require: 100rel and RSeq, retransmitted until their PRACK;
// as UAC, PRACK for every new reliable 18x, and offer/answer in both.

const tag100rel = "100rel"

// relUAS is the UAS side of RFC 3262 for the session's INVITE.
type relUAS struct {
	on       bool          // this INVITE's provisional responses go reliably
	required bool          // the INVITE had Require: 100rel
	seq      uint32        // RSeq of the last reliable provisional sent (0: none yet)
	res      *sip.Response // the unacknowledged one; nil when none
	acked    chan struct{} // closed when res is PRACKed or abandoned
	offered  bool          // res carries our offer: the answer comes in the PRACK
	timer    *sched.Timer
	wait     time.Duration
	since    time.Time
}

// relFork is the UAC side for one early dialog (one To tag): the RSeq of
// the last in-order reliable provisional it sent (§4).
type relFork struct {
	d    *Dialog
	rseq uint32
}

// initialRSeq picks the first RSeq of a transaction: RFC 3262 §3 wants
// it uniform in 1..2**31-1.
func initialRSeq() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])%(1<<31-1) + 1
}

// reliableFor decides how an incoming INVITE's provisional responses go
// under the layer's policy: it returns the refusal to send when the
// INVITE and the policy do not fit (420 or 421, RFC 3262 §3 and RFC 3261
// §21.4.16), else nil.
func (l *Layer) reliableFor(w ua.ResponseWriter, req *sip.Request) (rel relUAS, refusal *sip.Response) {
	required := req.HasToken("Require", tag100rel)
	supported := required || req.HasToken("Supported", tag100rel)
	switch l.cfg.Reliable {
	case ReliableNever:
		if required {
			res := w.NewResponse(sip.StatusBadExtension, "")
			res.Set("Unsupported", tag100rel)
			return rel, res
		}
		return rel, nil
	case ReliableRequired:
		if !supported {
			res := w.NewResponse(sip.StatusExtensionRequired, "")
			res.Set("Require", tag100rel)
			return rel, res
		}
	}
	return relUAS{on: supported, required: required}, nil
}

// progressReliable sends a provisional response reliably (RFC 3262 §3).
// It waits while an earlier one is unacknowledged; sent reports false
// when the response must go unreliably after all (an INVITE without an
// offer, no SDP to offer, and a peer that only supports 100rel).
func (s *Session) progressReliable(ctx context.Context, code int, sdp []byte) (sent bool, err error) {
	s.mu.Lock()
	if err := s.waitPrackLocked(ctx); err != nil {
		s.mu.Unlock()
		return true, err
	}
	body, offered, ok := s.earlySDPLocked(sdp)
	if !ok {
		s.mu.Unlock()
		if s.rel.required {
			return true, ErrNeedOffer
		}
		return false, nil
	}
	s.setStateLocked(Ringing)
	if s.rel.seq == 0 {
		s.rel.seq = initialRSeq()
	} else {
		s.rel.seq++
	}
	res := s.w.NewResponse(code, "")
	s.decorate(res, body)
	res.AddToken("Require", tag100rel)
	res.Set("RSeq", strconv.FormatUint(uint64(s.rel.seq), 10))
	t1 := s.t1()
	s.rel.res, s.rel.offered = res, offered
	s.rel.acked = make(chan struct{})
	s.rel.wait, s.rel.since = t1, s.u.Clock().Now()
	if s.rel.timer == nil {
		s.rel.timer = s.u.Scheduler().AfterFunc(t1, s.retransmitReliable)
	} else {
		s.rel.timer.Reset(t1)
	}
	s.mu.Unlock()
	return true, s.w.Respond(res)
}

// waitPrackLocked waits, s.mu held (and released while waiting), until no
// reliable provisional response of ours is unacknowledged: a second one
// must not go out before the first is PRACKed, nor a 2xx before a
// provisional response (§3). It fails when ctx ends or the session is no
// longer waiting for an answer.
func (s *Session) waitPrackLocked(ctx context.Context) error {
	for {
		if s.state != Incoming && s.state != Ringing {
			if s.state == Terminated {
				return s.err
			}
			return ErrState
		}
		if s.rel.res == nil {
			return nil
		}
		acked := s.rel.acked
		s.mu.Unlock()
		var err error
		select {
		case <-acked:
		case <-s.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		s.mu.Lock()
		if err != nil {
			return err
		}
	}
}

// earlySDPLocked chooses the body of a reliable provisional response
// (RFC 3262 §5): the answer to the INVITE's offer (sdp, or the
// negotiator's answer) or none, leaving the answer to the 2xx; for an
// INVITE without offer, the first reliable provisional response must
// carry our offer (sdp, or the negotiator's), else ok is false. After the
// exchange completed in a provisional response, later ones carry no SDP.
func (s *Session) earlySDPLocked(sdp []byte) (body []byte, offered, ok bool) {
	if s.earlyOA {
		return nil, false, true
	}
	if len(s.invite.Body()) > 0 {
		switch {
		case sdp != nil:
			body = sdp
		case s.neg != nil && s.answer != nil:
			body = s.answer
			_, _ = s.neg.CommitAnswer()
		}
		if body != nil {
			s.localSDP, s.earlyOA = body, true
		}
		return body, false, true
	}
	if s.rel.seq != 0 {
		return nil, false, true // the offer went in the first one already
	}
	switch {
	case sdp != nil:
		body = sdp
	case s.neg != nil:
		o, err := s.neg.CreateOffer()
		if err != nil {
			return nil, false, false
		}
		body = o
	default:
		return nil, false, false
	}
	s.localSDP = body
	return body, true, true
}

// retransmitReliable is the retransmission timer of the unacknowledged
// reliable provisional response: T1, doubling, without the T2 cap of
// 2xx retransmissions (§3). At 64·T1 without PRACK the INVITE is answered
// 500 and the session ends with NoPrack.
func (s *Session) retransmitReliable() {
	s.mu.Lock()
	res := s.rel.res
	if res == nil || s.state == Terminated {
		s.mu.Unlock()
		return
	}
	limit := 64 * s.t1()
	elapsed := s.u.Clock().Now().Sub(s.rel.since)
	if elapsed >= limit {
		s.mu.Unlock()
		// The session ends before the response is forgotten, so that an
		// Accept or Progress waiting for the PRACK sends nothing more.
		s.finalUAS(sip.StatusServerInternalError, "No PRACK",
			&TerminatedError{Cause: NoPrack, StatusCode: sip.StatusServerInternalError, Reason: "No PRACK"})
		s.mu.Lock()
		if s.rel.res == res {
			s.rel.res = nil
			close(s.rel.acked)
		}
		s.mu.Unlock()
		return
	}
	s.rel.wait = min(2*s.rel.wait, limit-elapsed)
	s.rel.timer.Reset(s.rel.wait)
	s.mu.Unlock()
	_ = s.w.Respond(res)
}

// handlePrack answers a PRACK (RFC 3262 §3): 481 unless its RAck names
// the unacknowledged reliable provisional response (RSeq, CSeq number
// and method); 200 otherwise, with the answer when the PRACK carries a
// new offer (§5). A PRACK answering the offer in our provisional response
// completes the INVITE's offer/answer exchange.
func (s *Session) handlePrack(w ua.ResponseWriter, req *sip.Request) {
	rack, err := req.RAck()
	s.mu.Lock()
	res := s.rel.res
	if err != nil || res == nil || rack.RSeq != s.rel.seq || rack.CSeq != res.CSeq().Seq || rack.Method != res.CSeq().Method {
		s.mu.Unlock()
		_ = w.Respond(w.NewResponse(sip.StatusCallTransactionDoesNotExist, ""))
		return
	}
	s.rel.res = nil
	s.rel.timer.Stop()
	close(s.rel.acked)
	body := req.Body()
	if len(body) == 0 || !isSDP(req) {
		s.mu.Unlock()
		_ = w.Respond(w.NewResponse(sip.StatusOK, ""))
		return
	}
	if s.rel.offered {
		// The answer to the offer in our provisional response.
		s.rel.offered = false
		s.remoteSDP, s.earlyOA = body, true
		if s.neg != nil {
			_, _ = s.neg.ReceiveAnswer(body)
		}
		s.mu.Unlock()
		_ = w.Respond(w.NewResponse(sip.StatusOK, ""))
		return
	}
	neg, local := s.neg, s.localSDP
	s.mu.Unlock()
	// A new offer in the PRACK: its 2xx carries the answer (§5).
	answer := local
	switch {
	case neg != nil:
		s.mu.Lock()
		a, _, err := neg.AnswerOffer(body)
		s.mu.Unlock()
		if err != nil {
			_ = w.Respond(w.NewResponse(negStatus(err), ""))
			return
		}
		answer = a
	case s.l.cfg.Answer != nil:
		a, err := s.l.cfg.Answer(s, body)
		if err != nil {
			_ = w.Respond(w.NewResponse(sip.StatusNotAcceptableHere, ""))
			return
		}
		answer = a
	}
	s.mu.Lock()
	s.remoteSDP, s.localSDP, s.earlyOA = body, answer, true
	s.mu.Unlock()
	ok := w.NewResponse(sip.StatusOK, "")
	if answer != nil {
		ok.Set("Content-Type", "application/sdp")
		ok.SetBody(answer)
	}
	_ = w.Respond(ok)
}

// ---- UAC --------------------------------------------------------------

// reliableUAC handles a provisional response to our INVITE that is sent
// reliably (Require: 100rel with an RSeq, RFC 3262 §4): the first of each
// early dialog and each next one in order (RSeq one higher) is processed
// and PRACKed; retransmissions and responses out of order are dropped.
// The early dialog the session uses takes the SDP in it as the answer to
// our offer, or as the peer's offer when the INVITE had none, answered in
// the PRACK. It reports false when res is not a reliable provisional
// response, to be handled as any other; s.mu is not held.
func (s *Session) reliableUAC(res *sip.Response) bool {
	tag := res.To().Tag()
	rseq, err := res.RSeq()
	if s.l.cfg.Reliable == ReliableNever || tag == "" || err != nil || !res.HasToken("Require", tag100rel) {
		return false
	}
	s.mu.Lock()
	f := s.forks[tag]
	switch {
	case f != nil && rseq != f.rseq+1:
		s.mu.Unlock()
		return true // a retransmission, or out of order: neither PRACKed nor processed
	case f == nil:
		f = &relFork{}
		switch {
		case s.dlg == nil:
			d, err := NewUAC(s.u, s.invite, res)
			if err != nil {
				s.mu.Unlock()
				return true
			}
			s.dlg = d
			s.l.track(s, d.key())
		case s.dlg.ID().RemoteTag == tag:
		default: // another fork's early dialog: PRACKed, nothing else
			d, err := NewUAC(s.u, s.invite, res)
			if err != nil {
				s.mu.Unlock()
				return true
			}
			f.d = d
		}
		if f.d == nil {
			f.d = s.dlg
		}
		if s.forks == nil {
			s.forks = make(map[string]*relFork)
		}
		s.forks[tag] = f
	}
	f.rseq = rseq
	body := res.Body()
	var offer []byte
	if f.d == s.dlg && len(body) > 0 && isSDP(res) && !s.earlyOA {
		if s.lateOffer {
			offer = body
		} else {
			// The answer to the INVITE's offer (§5).
			s.remoteSDP, s.earlyOA = body, true
			if s.neg != nil {
				_, _ = s.neg.ReceiveAnswer(body)
			}
		}
	}
	neg, answerFn := s.neg, s.answerFn
	s.mu.Unlock()

	var answer []byte
	if offer != nil {
		// The peer's offer: the PRACK carries our answer (§5).
		switch {
		case answerFn != nil:
			answer, _ = answerFn(offer)
		case neg != nil:
			s.mu.Lock()
			answer, _, _ = neg.AnswerOffer(offer)
			s.mu.Unlock()
		}
		s.mu.Lock()
		s.remoteSDP, s.earlyOA = offer, true
		if answer != nil {
			s.localSDP = answer
		}
		s.mu.Unlock()
	}
	// Built here, before the 2xx can confirm the dialog, so that the
	// PRACK's CSeq is counted in the confirmed dialog.
	prack := f.d.NewRequest(sip.MethodPrack)
	prack.Set("RAck", sip.RAck{RSeq: rseq, CSeq: res.CSeq().Seq, Method: res.CSeq().Method}.String())
	if answer != nil {
		prack.Set("Content-Type", "application/sdp")
		prack.SetBody(answer)
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.prackDone = done
	s.setStateLocked(Ringing)
	s.emitLocked(Progress{Response: res})
	s.mu.Unlock()
	go func(d *Dialog) {
		defer close(done)
		ctx, stop := context.WithTimeout(context.Background(), 64*s.t1())
		defer stop()
		_, _ = d.Do(ctx, prack)
	}(f.d)
	return true
}

// waitPrack waits until the last PRACK we sent has its response, so that
// a request sent next in the early dialog (UPDATE) does not overtake it
// and get it refused as out of order (RFC 3261 §12.2.2).
func (s *Session) waitPrack(ctx context.Context) error {
	s.mu.Lock()
	done := s.prackDone
	s.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// negotiatorState reports the negotiator's state, StateIdle without one;
// s.mu is held.
func (s *Session) negotiatorStateLocked() sdpneg.State {
	if s.neg == nil {
		return sdpneg.StateIdle
	}
	return s.neg.State()
}
