package sdpneg

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error returned by a [Negotiator] method either is one
// of these, wraps one of these, or is a [*ParseError] (which matches
// [ErrMalformed]). [StatusCode] maps them to the SIP response the dialog
// layer should send.
var (
	// ErrOfferPending: we have sent an offer and its answer has not arrived.
	// A remote offer that crosses it is glare: answer 491 (RFC 3261 §14.1,
	// RFC 3311 §5.2). Creating another local offer is a misuse.
	ErrOfferPending = errors.New("sdpneg: a local offer is pending")
	// ErrAnswerPending: a remote offer is waiting for our answer. A second
	// remote offer gets 500 with Retry-After (RFC 3261 §14.2, RFC 3311 §5.2);
	// a local offer must wait until the answer is committed or rejected.
	ErrAnswerPending = errors.New("sdpneg: a remote offer is waiting for an answer")
	// ErrNoOffer: an answer was given to ReceiveAnswer, CommitAnswer or
	// RejectOffer while no offer was outstanding in that direction.
	ErrNoOffer = errors.New("sdpneg: no offer is outstanding")
	// ErrNoCommonMedia: no offered stream could be accepted (RFC 3264 §6:
	// "the entire offered session is rejected"); answer 488.
	ErrNoCommonMedia = errors.New("sdpneg: no media in common with the offer")
	// ErrInvalidOffer: the offer is well formed SDP but breaks RFC 3264, for
	// example a re-offer with fewer m= lines than the active session (§8).
	ErrInvalidOffer = errors.New("sdpneg: offer violates RFC 3264")
	// ErrInvalidAnswer: the answer does not fit our offer (RFC 3264 §6: a
	// different number of m= lines or a different media type on a line).
	ErrInvalidAnswer = errors.New("sdpneg: answer does not match the offer")
	// ErrMalformed is matched (errors.Is) by every [*ParseError].
	ErrMalformed = errors.New("sdpneg: malformed SDP")
	// ErrInvalidCapabilities: [New] or [Negotiator.SetCapabilities] got a
	// [Capabilities] value that cannot produce valid SDP.
	ErrInvalidCapabilities = errors.New("sdpneg: invalid capabilities")
)

// ParseError reports SDP that could not be parsed. Err is the underlying
// error from github.com/pion/sdp/v3 (or from this package's pre-checks).
type ParseError struct {
	Err error
}

func (e *ParseError) Error() string {
	if e.Err == nil {
		return ErrMalformed.Error()
	}
	return ErrMalformed.Error() + ": " + e.Err.Error()
}

// Unwrap returns the underlying parser error.
func (e *ParseError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrMalformed) true for every *ParseError.
func (e *ParseError) Is(target error) bool { return target == ErrMalformed }

// LineError wraps ErrInvalidOffer or ErrInvalidAnswer with the index of the
// m= line at fault (-1 for the session as a whole).
type LineError struct {
	Err    error // ErrInvalidOffer or ErrInvalidAnswer
	Index  int   // m= line index, 0-based, or -1
	Reason string
}

func (e *LineError) Error() string {
	s := e.Err.Error()
	if e.Index >= 0 {
		s += ": m= line " + strconv.Itoa(e.Index)
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap returns ErrInvalidOffer or ErrInvalidAnswer.
func (e *LineError) Unwrap() error { return e.Err }

// StatusCode returns the SIP status code a UAS should send when err was
// returned while processing a received offer: 491 for glare
// ([ErrOfferPending]), 500 for an offer while we owe an answer
// ([ErrAnswerPending], send it with Retry-After), 488 for SDP that cannot be
// answered ([ErrNoCommonMedia], [ErrInvalidOffer], [ErrMalformed]) and 0 for
// nil or any other error.
func StatusCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrOfferPending):
		return 491
	case errors.Is(err, ErrAnswerPending):
		return 500
	case errors.Is(err, ErrNoCommonMedia), errors.Is(err, ErrInvalidOffer), errors.Is(err, ErrMalformed):
		return 488
	default:
		return 0
	}
}
