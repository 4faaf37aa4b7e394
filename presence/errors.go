package presence

import (
	"errors"

	"github.com/sipua-go/sipua/sip"
)

var (
	// ErrPublishProtocol is wrapped by every *ProtocolError: the event state
	// compositor answered in a way RFC 3903 does not allow, such as a 2xx
	// without SIP-ETag or Expires (§6 step 6) or a 423 without Min-Expires
	// (RFC 3261 §21.4.17).
	ErrPublishProtocol = errors.New("presence: PUBLISH protocol violation by the server")

	// ErrClosed is returned by the methods of a Publication after Close.
	ErrClosed = errors.New("presence: publication closed")

	// ErrNoBody is returned by Publish when the body is empty: RFC 3903
	// §4.2 and §4.4 require one for an initial or modifying PUBLISH.
	ErrNoBody = errors.New("presence: PUBLISH body is empty")
)

// ProtocolError describes a response that broke RFC 3903. It wraps
// [ErrPublishProtocol] and, when the response was a final non-2xx, the
// *ua.StatusError for it, so errors.Is and errors.As find both.
type ProtocolError struct {
	// Msg says what was wrong, e.g. "2xx without SIP-ETag".
	Msg string
	// Response is the offending response.
	Response *sip.Response
	// Err is the *ua.StatusError of a non-2xx response, or nil.
	Err error
}

func (e *ProtocolError) Error() string {
	s := ErrPublishProtocol.Error() + ": " + e.Msg
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

// Unwrap returns ErrPublishProtocol and the status error, if any.
func (e *ProtocolError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrPublishProtocol}
	}
	return []error{ErrPublishProtocol, e.Err}
}
