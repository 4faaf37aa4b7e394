package dialog

import (
	"errors"
	"fmt"
	"time"

	"github.com/sipua-go/sipua/sip"
)

// SessionState is the state of an INVITE session.
type SessionState int

// The states of an INVITE session. A session moves forward only; every
// session ends in Terminated with a cause (Session.Err).
const (
	// Calling: our INVITE is out, no response with a tag yet.
	Calling SessionState = iota + 1
	// Incoming: a peer's INVITE waits for the application's answer.
	Incoming
	// Ringing: a provisional response with a To tag went out or came in
	// (an early dialog exists).
	Ringing
	// Accepting: our 2xx went out; the ACK has not come yet.
	Accepting
	// Established: 2xx and ACK exchanged; the call is up.
	Established
	// Terminating: our BYE is out.
	Terminating
	// Terminated: the session is over; Err says why.
	Terminated
)

func (s SessionState) String() string {
	switch s {
	case Calling:
		return "Calling"
	case Incoming:
		return "Incoming"
	case Ringing:
		return "Ringing"
	case Accepting:
		return "Accepting"
	case Established:
		return "Established"
	case Terminating:
		return "Terminating"
	case Terminated:
		return "Terminated"
	}
	return fmt.Sprintf("SessionState(%d)", int(s))
}

// Cause says why a session ended.
type Cause int

// The causes a session ends with.
const (
	// LocalBye: the application hung up.
	LocalBye Cause = iota + 1
	// RemoteBye: the peer sent BYE.
	RemoteBye
	// SessionExpired: the session timer ran out (RFC 4028), or a refresh
	// failed with 408 or 481.
	SessionExpired
	// NoAck: our 2xx was never acknowledged (RFC 3261 §13.3.1.4).
	NoAck
	// TransportFailure: a request could not be sent or timed out.
	TransportFailure
	// Rejected: the INVITE got (or we sent) a final response of 300 or more.
	Rejected
	// Canceled: the caller canceled the INVITE before it was answered.
	Canceled
	// Unanswered: the application did not answer an incoming INVITE in time.
	Unanswered
	// Shutdown: the layer was closed.
	Shutdown
	// NoPrack: a reliable provisional response of ours was never
	// acknowledged (RFC 3262 §3); the INVITE was answered 500.
	NoPrack
	// Replaced: an INVITE with Replaces (RFC 3891) took the session's
	// place; it was ended with BYE (or CANCEL while early).
	Replaced
)

func (c Cause) String() string {
	switch c {
	case LocalBye:
		return "local BYE"
	case RemoteBye:
		return "remote BYE"
	case SessionExpired:
		return "session expired"
	case NoAck:
		return "no ACK"
	case TransportFailure:
		return "transport failure"
	case Rejected:
		return "rejected"
	case Canceled:
		return "canceled"
	case Unanswered:
		return "unanswered"
	case Shutdown:
		return "shutdown"
	case NoPrack:
		return "no PRACK"
	case Replaced:
		return "replaced"
	}
	return fmt.Sprintf("Cause(%d)", int(c))
}

// TerminatedError is the terminal cause of a session: what ended it, the
// SIP status involved (the rejection code, 408 for an expired session
// timer, 0 when none) and the underlying error.
type TerminatedError struct {
	Cause      Cause
	StatusCode int
	Reason     string
	Err        error
}

func (e *TerminatedError) Error() string {
	s := "dialog: session ended: " + e.Cause.String()
	if e.StatusCode != 0 {
		s += fmt.Sprintf(" (%d %s)", e.StatusCode, e.Reason)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error (a *ua.StatusError for a rejected
// INVITE, a timeout error, ...).
func (e *TerminatedError) Unwrap() error { return e.Err }

// Sentinel errors of the dialog layer.
var (
	// ErrOfferPending: an offer of ours is in flight (re-INVITE or UPDATE);
	// a second modification must wait (RFC 3261 §14.1, RFC 3311 §5.1).
	ErrOfferPending = errors.New("dialog: an offer is already pending")
	// ErrTerminated: the session is over.
	ErrTerminated = errors.New("dialog: session terminated")
	// ErrState: the operation does not fit the session's state (accepting
	// an outgoing call, re-INVITE before the call is up, ...).
	ErrState = errors.New("dialog: operation not allowed in this state")
	// ErrNeedOffer: a reliable provisional response to an INVITE without
	// an offer must carry one (RFC 3262 §5), and the peer requires
	// reliability (Require: 100rel), so Progress cannot send it without
	// SDP (give one, or set Config.Media).
	ErrNeedOffer = errors.New("dialog: a reliable provisional response to an INVITE without offer needs SDP")
	errNoContact = errors.New("no Contact")
)

// An Event is something that happened to a session. Events of one session
// are delivered in order, one at a time.
type Event interface{ sessionEvent() }

// StateChanged reports a state transition. Err is set when To is
// Terminated.
type StateChanged struct {
	From, To SessionState
	Err      *TerminatedError
}

// Progress reports a provisional response to our INVITE.
type Progress struct{ Response *sip.Response }

// MediaChanged reports a new offer/answer exchange that changed the
// session description (not a session refresh that repeated it).
type MediaChanged struct{ Local, Remote []byte }

// Refreshed reports a session refresh (RFC 4028) that succeeded, sent or
// received; NextRefresh is zero when the peer is the refresher.
type Refreshed struct {
	Method      string // UPDATE or INVITE
	Interval    time.Duration
	Refresher   string // "uac" or "uas", as the last refresh carried it
	Local       bool   // we are the refresher
	ExpiresAt   time.Time
	NextRefresh time.Time
}

// RefreshFailed reports a session refresh of ours that failed with
// StatusCode (0: no response). The session may still recover (491 and 503
// are retried) or end with SessionExpired.
type RefreshFailed struct {
	StatusCode int
	Err        error
}

// MessageReceived reports an in-dialog MESSAGE or INFO (already answered
// 200).
type MessageReceived struct{ Request *sip.Request }

func (StateChanged) sessionEvent()    {}
func (Progress) sessionEvent()        {}
func (MediaChanged) sessionEvent()    {}
func (Refreshed) sessionEvent()       {}
func (RefreshFailed) sessionEvent()   {}
func (MessageReceived) sessionEvent() {}
