package dialog

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// This file is call transfer with REFER (RFC 3515) and its implicit
// subscription: the transferor sends REFER and follows the transfer
// through NOTIFYs carrying message/sipfrag status lines; the transferee
// accepts with 202, calls the Refer-To target and reports its progress.

// TransferProgress reports a NOTIFY about a transfer we asked for with
// Refer: the status line of the transferee's new call.
type TransferProgress struct {
	StatusCode int
	Reason     string
	Final      bool // the subscription ended: the transfer is over
}

// Transferred reports, on the session that was referred, the new session
// the transfer created (RFC 3515 as transferee).
type Transferred struct{ Session *Session }

func (TransferProgress) sessionEvent() {}
func (Transferred) sessionEvent()      {}

// ErrTransferFailed is returned by Refer when the transferee reports a
// final failure, wrapped in a *TransferError with the status.
var ErrTransferFailed = errors.New("dialog: transfer failed")

// TransferError is a failed transfer: the status the transferee's new
// call ended with (0 when the transferee stopped reporting).
type TransferError struct {
	StatusCode int
	Reason     string
}

func (e *TransferError) Error() string {
	return "dialog: transfer failed: " + strconv.Itoa(e.StatusCode) + " " + e.Reason
}

// Unwrap returns ErrTransferFailed.
func (e *TransferError) Unwrap() error { return ErrTransferFailed }

// Refer asks the peer to call target (blind transfer, RFC 3515) and waits
// until the transfer succeeds (the peer's new call got a 2xx: nil), fails
// (*TransferError), or ctx ends. Progress arrives as TransferProgress
// events. The caller usually hangs up this session after a success.
func (s *Session) Refer(ctx context.Context, target sip.URI) error {
	return s.sendRefer(ctx, target)
}

// sendRefer sends a REFER whose Refer-To is target (URI headers
// included) and follows the transfer until it ends.
func (s *Session) sendRefer(ctx context.Context, target sip.URI) error {
	s.mu.Lock()
	d, st := s.dlg, s.state
	if st != Established || d == nil {
		s.mu.Unlock()
		return ErrState
	}
	if s.refer != nil {
		s.mu.Unlock()
		return ErrOfferPending
	}
	progress := make(chan TransferProgress, 8)
	s.refer = progress
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.refer = nil
		s.mu.Unlock()
	}()
	req := d.NewRequest(sip.MethodRefer)
	req.Set("Refer-To", "<"+target.String()+">")
	req.Set("Referred-By", s.l.ep.Address().String())
	req.Set("Contact", s.contact())
	if _, err := d.Do(ctx, req); err != nil {
		return err
	}
	for {
		select {
		case p := <-progress:
			switch {
			case p.StatusCode >= 200 && p.StatusCode < 300:
				return nil
			case p.StatusCode >= 300 || p.Final:
				return &TransferError{StatusCode: p.StatusCode, Reason: p.Reason}
			}
		case <-s.done:
			return s.Err()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// serveNotify takes a NOTIFY in the session's dialog: the implicit
// subscription of a REFER we sent (Event: refer).
func (s *Session) serveNotify(w ua.ResponseWriter, req *sip.Request) {
	ev := strings.ToLower(strings.TrimSpace(req.Get("Event")))
	if !strings.HasPrefix(ev, "refer") {
		_ = w.Respond(w.NewResponse(sip.StatusBadEvent, ""))
		return
	}
	s.mu.Lock()
	ch := s.refer
	s.mu.Unlock()
	if ch == nil {
		_ = w.Respond(w.NewResponse(sip.StatusCallTransactionDoesNotExist, ""))
		return
	}
	_ = w.Respond(w.NewResponse(sip.StatusOK, ""))
	p := parseSipfrag(req.Body())
	if ss, err := req.SubscriptionState(); err == nil && ss.State == "terminated" {
		p.Final = true
	}
	s.mu.Lock()
	s.emitLocked(p)
	s.mu.Unlock()
	select {
	case ch <- p:
	default:
	}
}

// parseSipfrag reads the status line of a message/sipfrag body
// ("SIP/2.0 180 Ringing").
func parseSipfrag(b []byte) TransferProgress {
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSpace(line)
	f := strings.SplitN(line, " ", 3)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return TransferProgress{}
	}
	code, _ := strconv.Atoi(f[1])
	p := TransferProgress{StatusCode: code}
	if len(f) == 3 {
		p.Reason = f[2]
	}
	return p
}

// serveRefer answers a REFER in the session's dialog: 603 unless
// Config.OnRefer accepts it (it sees the Refer-To URI with its headers,
// a Replaces among them); when accepted, 202, then a new call to the
// Refer-To target whose progress goes back in NOTIFYs.
func (s *Session) serveRefer(w ua.ResponseWriter, r *ua.Request) {
	to, err := r.ReferTo()
	if err != nil || !to.URI.IsSIP() {
		_ = w.Respond(w.NewResponse(sip.StatusBadRequest, "Bad Refer-To"))
		return
	}
	if f := s.l.cfg.OnRefer; f == nil || !f(s, to.URI, r.Request) {
		_ = w.Respond(w.NewResponse(sip.StatusDecline, ""))
		return
	}
	_ = w.Respond(w.NewResponse(sip.StatusAccepted, ""))
	go s.transfer(to.URI, r.Request)
}

// transfer makes the call a REFER asked for and reports it (RFC 3515
// §2.4.4–2.4.5): 100 Trying at once, then the final status. A Replaces
// header in the Refer-To URI (attended transfer, RFC 3891) goes into the
// INVITE with Require: replaces; the URI's other headers are not used.
func (s *Session) transfer(target sip.URI, refer *sip.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s.notifyRefer(ctx, "active;expires=60", "SIP/2.0 100 Trying")
	replaces, _ := uriHeader(target, "Replaces")
	target.Headers = ""
	opts := InviteOptions{Prepare: func(req *sip.Request) {
		if rb := refer.Get("Referred-By"); rb != "" {
			req.Set("Referred-By", rb)
		}
		if replaces != "" {
			req.Set("Replaces", replaces)
			req.AddToken("Require", tagReplaces)
		}
	}}
	ns, err := s.l.Invite(ctx, target, opts)
	line := "SIP/2.0 200 OK"
	if err != nil {
		code, reason := 503, "Service Unavailable"
		var te *TerminatedError
		if errors.As(err, &te) && te.StatusCode >= 300 {
			code, reason = te.StatusCode, te.Reason
		}
		line = "SIP/2.0 " + strconv.Itoa(code) + " " + reason
	}
	s.notifyRefer(ctx, "terminated;reason=noresource", line)
	if ns != nil && err == nil {
		s.mu.Lock()
		s.emitLocked(Transferred{Session: ns})
		s.mu.Unlock()
	}
}

func (s *Session) notifyRefer(ctx context.Context, state, line string) {
	s.mu.Lock()
	d, st := s.dlg, s.state
	s.mu.Unlock()
	if d == nil || st == Terminated {
		return
	}
	n := d.NewRequest(sip.MethodNotify)
	n.Set("Event", "refer")
	n.Set("Subscription-State", state)
	n.Set("Contact", s.contact())
	n.Set("Content-Type", "message/sipfrag;version=2.0")
	n.SetBody([]byte(line + "\r\n"))
	_, _ = d.Do(ctx, n)
}
