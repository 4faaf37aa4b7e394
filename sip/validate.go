package sip

import (
	"strconv"
	"strings"
)

// ValidationError says why a parsed message cannot be processed and, for a
// request, which response a UAS sends (RFC 3261 §8.2): 400 with a reason
// phrase naming the problem, 416 for an unsupported URI scheme, 505 for
// an unsupported version.
type ValidationError struct {
	StatusCode int    // the response to send; 0 for a response message (drop it)
	Reason     string // the reason phrase to send
	Header     string // the header field at fault, "" if none
}

// Error says what is wrong and which response it calls for.
func (e *ValidationError) Error() string {
	s := "sip: invalid message: " + e.Reason
	if e.StatusCode != 0 {
		s += " (" + strconv.Itoa(e.StatusCode) + ")"
	}
	return s
}

// singletons are the header fields that may appear at most once.
var singletons = [...]struct {
	slot int
	name string
}{
	{eFrom, "From"}, {eTo, "To"}, {eCallID, "Call-ID"}, {eCSeq, "CSeq"},
	{eMaxForwards, "Max-Forwards"}, {eContentType, "Content-Type"}, {eContentLength, "Content-Length"},
}

// mandatory are the header fields every request and response must carry
// (RFC 3261 §8.1.1). Max-Forwards is mandatory for a UAC to send, but a UAS
// does not reject a request without it: like most deployed stacks, sipua
// accepts such requests.
var mandatory = [...]struct {
	slot int
	name string
}{
	{eVia, "Via"}, {eFrom, "From"}, {eTo, "To"}, {eCallID, "Call-ID"}, {eCSeq, "CSeq"},
}

// ValidateRequest checks what RFC 3261 §8.2 asks a UAS to check before
// processing a request, in this order: the SIP version (505), the
// Request-URI scheme (416), the mandatory header fields (missing,
// malformed or repeated: 400), the CSeq method (400) and the
// Content-Length (400). It returns nil or a *ValidationError.
func ValidateRequest(req *Request) error {
	if !strings.EqualFold(protoOr(req.Proto), "SIP/2.0") {
		return &ValidationError{StatusCode: StatusVersionNotSupported, Reason: StatusText(StatusVersionNotSupported)}
	}
	switch req.URI.Scheme {
	case "sip", "sips", "tel":
	default:
		return &ValidationError{StatusCode: StatusUnsupportedURIScheme, Reason: StatusText(StatusUnsupportedURIScheme)}
	}
	if req.Method == "" || !isToken(req.Method) {
		return &ValidationError{StatusCode: StatusBadRequest, Reason: "Bad Method"}
	}
	if err := validateHeader(&req.Header, StatusBadRequest, len(req.body)); err != nil {
		return err
	}
	if req.cseq.Method != req.Method {
		return &ValidationError{StatusCode: StatusBadRequest, Reason: "CSeq Method Does Not Match", Header: "CSeq"}
	}
	if req.Method == MethodInvite && len(req.contact) == 0 {
		return &ValidationError{StatusCode: StatusBadRequest, Reason: "Missing Contact header", Header: "Contact"}
	}
	return nil
}

// ValidateResponse checks a received response the same way. A UAC drops
// an invalid response, so the error's StatusCode is 0.
func ValidateResponse(res *Response) error {
	if !strings.EqualFold(protoOr(res.Proto), "SIP/2.0") {
		return &ValidationError{Reason: "Version Not Supported"}
	}
	if res.StatusCode < 100 || res.StatusCode > 699 {
		return &ValidationError{Reason: "Bad Status Code"}
	}
	return validateHeader(&res.Header, 0, len(res.body))
}

func validateHeader(h *Header, code, bodyLen int) error {
	for _, m := range mandatory {
		bit := uint16(1) << m.slot
		if h.bad&bit != 0 {
			return &ValidationError{StatusCode: code, Reason: "Malformed " + m.name + " header", Header: m.name}
		}
		if h.seen&bit == 0 {
			return &ValidationError{StatusCode: code, Reason: "Missing " + m.name + " header", Header: m.name}
		}
	}
	for _, s := range singletons {
		bit := uint16(1) << s.slot
		if h.bad&bit != 0 {
			return &ValidationError{StatusCode: code, Reason: "Malformed " + s.name + " header", Header: s.name}
		}
		if h.dup&bit != 0 {
			return &ValidationError{StatusCode: code, Reason: "Repeated " + s.name + " header", Header: s.name}
		}
	}
	if h.bad&(1<<eContact) != 0 {
		return &ValidationError{StatusCode: code, Reason: "Malformed Contact header", Header: "Contact"}
	}
	if n, ok := h.ContentLength(); ok && n != bodyLen {
		return &ValidationError{StatusCode: code, Reason: "Content-Length Mismatch", Header: "Content-Length"}
	}
	return nil
}
