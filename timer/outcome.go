package timer

import (
	"strconv"
	"time"

	"github.com/sipua-go/sipua/sip"
)

// SessionTimeout is the Reason the dialog puts in the BYE that ends an
// expired session or a session whose refresh failed:
// Reason: SIP;cause=408;text="Session timeout".
var SessionTimeout = sip.Reason{Protocol: "SIP", Cause: 408, Text: "Session timeout"}

// Action is what the dialog must do after [Session.HandleResponse]. The
// zero value is ActionNone.
type Action uint8

const (
	// ActionNone: nothing to do.
	ActionNone Action = iota
	// ActionRetry: send the request again at once, as a new transaction
	// built afresh and passed through [Session.PrepareRequest], which now
	// writes the larger Session-Expires and Min-SE (after a 422), or use
	// re-INVITE instead of UPDATE (after a 405 or 501 to an UPDATE
	// refresh; see [Session.RefreshMethod]). For a 422 to the initial
	// INVITE this is a new INVITE (RFC 4028 erratum 1681: a new From tag).
	ActionRetry
	// ActionRetryLater: nothing to do now; the Session calls
	// [Hooks.Refresh] again after Outcome.After (491 and 503 to a refresh).
	ActionRetryLater
	// ActionEnd: end the dialog now with a BYE carrying Outcome.Reason. The
	// Session is already Expired and calls no hook for it.
	ActionEnd
)

// String returns the name of the action.
func (a Action) String() string {
	switch a {
	case ActionRetry:
		return "retry"
	case ActionRetryLater:
		return "retry-later"
	case ActionEnd:
		return "end"
	}
	return "none"
}

// Outcome is the result of [Session.HandleResponse]. The zero value means
// nothing to do.
type Outcome struct {
	// Action is what the dialog must do.
	Action Action
	// After is the delay before the Session calls Hooks.Refresh again, for
	// ActionRetryLater.
	After time.Duration
	// SessionExpires and MinSE are the values the retried request carries,
	// for ActionRetry after a 422 (PrepareRequest writes them).
	SessionExpires, MinSE time.Duration
	// Reason goes in the BYE, for ActionEnd.
	Reason sip.Reason
	// Failed is the status code of a failed refresh that this UA owed (408
	// for a transaction timeout), or 0: the dialog reports it as
	// SessionRefreshFailed. Every such failure is also counted in
	// [Session.RefreshFailures].
	Failed int
}

// Rejection is the error [Session.CheckRequest] returns when an incoming
// INVITE or UPDATE must be refused: 422 Session Interval Too Small with
// Min-SE (RFC 4028 §9), 420 Bad Extension with Unsupported: timer, or 400
// Bad Request for a malformed Session-Expires.
type Rejection struct {
	// Code is the status code: 400, 420 or 422.
	Code int
	// MinSE is the Min-SE a 422 carries, else zero.
	MinSE time.Duration
	// Unsupported is the option tag a 420 lists ("timer"), else "".
	Unsupported string
}

// Error returns a description of the rejection.
func (r *Rejection) Error() string {
	s := "timer: reject with " + strconv.Itoa(r.Code) + " " + sip.StatusText(r.Code)
	if r.MinSE > 0 {
		s += " (Min-SE " + strconv.Itoa(int(r.MinSE/time.Second)) + ")"
	}
	return s
}

// AddHeaders adds the header fields the rejection needs to res: Min-SE
// for a 422, Unsupported for a 420.
func (r *Rejection) AddHeaders(res *sip.Response) {
	if r.MinSE > 0 {
		res.Set("Min-SE", deltaString(uint32(r.MinSE/time.Second)))
	}
	if r.Unsupported != "" {
		res.AddToken("Unsupported", r.Unsupported)
	}
}

// Response builds the rejecting response to req (sip.NewResponse plus
// AddHeaders). The dialog adds the To tag as for any final response.
func (r *Rejection) Response(req *sip.Request) *sip.Response {
	res := sip.NewResponse(req, r.Code, "")
	r.AddHeaders(res)
	return res
}
