package sip

import (
	"errors"
	"strconv"
)

// Sentinel errors. A *ParseError wraps one of these where it applies, so
// callers can test for a class of failure with errors.Is.
var (
	// ErrMalformed is wrapped by every *ParseError that reports a syntax error.
	ErrMalformed = errors.New("sip: malformed message")
	// ErrMessageTooLarge: the message exceeds Limits.MaxMessageSize.
	ErrMessageTooLarge = errors.New("sip: message too large")
	// ErrHeaderTooLong: a header line (after unfolding) exceeds Limits.MaxHeaderLength.
	ErrHeaderTooLong = errors.New("sip: header line too long")
	// ErrTooManyHeaders: the message has more than Limits.MaxHeaders header fields.
	ErrTooManyHeaders = errors.New("sip: too many header fields")
	// ErrURITooLong: a URI exceeds Limits.MaxURILength.
	ErrURITooLong = errors.New("sip: URI too long")
	// ErrBodyTooLarge: the body exceeds Limits.MaxBodySize.
	ErrBodyTooLarge = errors.New("sip: body too large")
	// ErrContentLength: Content-Length is malformed, larger than the data
	// received (datagram), or missing on a stream transport.
	ErrContentLength = errors.New("sip: bad or missing Content-Length")
	// ErrIncomplete: the data ends before the end of the header section.
	ErrIncomplete = errors.New("sip: incomplete message")
	// ErrNoHeader is returned by typed accessors when the header field is absent.
	ErrNoHeader = errors.New("sip: header field not present")
)

// ParseError describes a message, URI or header value that could not be
// parsed: what was wrong and where.
type ParseError struct {
	// Header is the header field name involved, or "" for the start line,
	// the framing or a standalone value.
	Header string
	// Offset is the byte offset in the message where the problem was found,
	// or -1 when the error concerns a value parsed on its own.
	Offset int
	// Msg says what was wrong.
	Msg string
	// Err is the sentinel this error belongs to (ErrMalformed or a limit error).
	Err error
	// Partial is what could be read of the message before the error, when the
	// start line and the header section were readable (nil otherwise). A UA
	// core uses it to answer 400 or 513 to a request it cannot accept: the
	// raw Via, From, To, Call-ID and CSeq fields are copied by NewResponse
	// even when one of them failed to parse.
	Partial Message
}

// Error says what was wrong, in which header and at which offset.
func (e *ParseError) Error() string {
	b := make([]byte, 0, 64+len(e.Msg))
	b = append(b, "sip: "...)
	b = append(b, e.Msg...)
	if e.Header != "" {
		b = append(b, " in "...)
		b = append(b, e.Header...)
		b = append(b, " header"...)
	}
	if e.Offset >= 0 {
		b = append(b, " at offset "...)
		b = strconv.AppendInt(b, int64(e.Offset), 10)
	}
	return string(b)
}

// Unwrap returns the sentinel the error belongs to.
func (e *ParseError) Unwrap() error { return e.Err }

func syntaxErr(header, msg string) *ParseError {
	return &ParseError{Header: header, Offset: -1, Msg: msg, Err: ErrMalformed}
}

// StatusForError maps a parse error to the response a UAS sends when it can
// answer at all: 513 for size limits, 400 with a reason phrase otherwise.
func StatusForError(err error) (code int, reason string) {
	switch {
	case errors.Is(err, ErrMessageTooLarge), errors.Is(err, ErrBodyTooLarge):
		return StatusMessageTooLarge, StatusText(StatusMessageTooLarge)
	case errors.Is(err, ErrURITooLong):
		return StatusRequestURITooLong, StatusText(StatusRequestURITooLong)
	}
	var pe *ParseError
	if errors.As(err, &pe) && pe.Header != "" {
		return StatusBadRequest, "Malformed " + pe.Header + " header"
	}
	return StatusBadRequest, StatusText(StatusBadRequest)
}
