package im

import (
	"errors"
	"strconv"
	"time"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

var (
	// ErrTooLarge is what every *SizeError matches with errors.Is.
	ErrTooLarge = errors.New("im: message too large")
	// ErrClosed: the Pager or Flow is closed (or its session is over).
	ErrClosed = errors.New("im: closed")
	// ErrNoSession: the Flow has no established session yet.
	ErrNoSession = errors.New("im: no session")
)

// SizeError refuses a message before it is sent: its body is over the
// configured limit, or the request is over 1300 bytes and no
// congestion-controlled transport is available (RFC 3428 §9).
type SizeError struct {
	Size  int // bytes: the body, or the whole request for the 1300-byte rule
	Limit int
	// Congestion is true for the 1300-byte rule: the UA needs a TCP (or
	// TLS) listener to send it.
	Congestion bool
}

func (e *SizeError) Error() string {
	if e.Congestion {
		return "im: a " + strconv.Itoa(e.Size) + "-byte MESSAGE needs a congestion-controlled transport (RFC 3428 §9)"
	}
	return "im: message body of " + strconv.Itoa(e.Size) + " bytes is over the limit of " + strconv.Itoa(e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *SizeError) Is(target error) bool { return target == ErrTooLarge }

// DeliveryError is a MESSAGE that was not delivered: a final non-2xx
// response (StatusCode, Reason and Response set) or no response at all
// (StatusCode 0; Err says why: a timeout, a transport error, the
// context). Unwrap gives the cause, a *ua.StatusError for a response.
type DeliveryError struct {
	To         sip.URI
	StatusCode int
	Reason     string
	Response   *sip.Response
	Err        error
}

func (e *DeliveryError) Error() string {
	s := "im: message to " + e.To.String() + " not delivered"
	if e.StatusCode != 0 {
		s += ": " + strconv.Itoa(e.StatusCode) + " " + e.Reason
	} else if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Timeout reports whether no final response came in time.
func (e *DeliveryError) Timeout() bool {
	var t interface{ Timeout() bool }
	return e.StatusCode == 0 && errors.As(e.Err, &t) && t.Timeout()
}

// Temporary reports a failure worth retrying later (408, 480, 486, 491,
// 409, 500/503 with Retry-After, 513 never).
func (e *DeliveryError) Temporary() bool {
	var se *ua.StatusError
	if errors.As(e.Err, &se) {
		return se.Temporary()
	}
	return e.Timeout()
}

// RetryAfter returns the delay the recipient advised, if any.
func (e *DeliveryError) RetryAfter() (time.Duration, bool) {
	var se *ua.StatusError
	if errors.As(e.Err, &se) {
		return se.RetryAfter()
	}
	return 0, false
}

func deliveryError(to sip.URI, res *sip.Response, err error) error {
	if err == nil {
		return nil
	}
	de := &DeliveryError{To: to, Err: err}
	var se *ua.StatusError
	if errors.As(err, &se) {
		res = se.Response
	}
	if res != nil && res.StatusCode >= 300 {
		de.StatusCode, de.Reason, de.Response = res.StatusCode, res.Reason, res
	}
	return de
}
