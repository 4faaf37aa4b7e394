package sip

import (
	"strconv"
)

// Message is a SIP request or response. It is implemented by *Request and
// *Response only.
type Message interface {
	// StartLine returns the request line or status line without CRLF.
	StartLine() string
	// Headers returns the message's header fields.
	Headers() *Header
	// Body returns the message body (nil when empty).
	Body() []byte
	// SetBody replaces the body. Content-Length is written from the body's
	// length when the message is serialized; Content-Type is the caller's.
	SetBody(b []byte)
	// String returns the wire form.
	String() string
	// AppendTo appends the wire form to b.
	AppendTo(b []byte) []byte

	message()
}

// Request is a SIP request. Header is embedded, so header accessors can be
// called on the request directly: req.CallID(), req.Via(), req.Get("Event").
type Request struct {
	Method string
	URI    URI
	// Proto is the protocol version of the request line, "SIP/2.0" unless
	// the peer sent something else (which a UAS answers with 505).
	Proto string
	Header
	body []byte
}

// Response is a SIP response. Header is embedded as in Request.
type Response struct {
	Proto      string
	StatusCode int
	Reason     string
	Header
	body []byte
}

func (*Request) message()  {}
func (*Response) message() {}

// Headers returns the request's header fields.
func (r *Request) Headers() *Header { return &r.Header }

// Headers returns the response's header fields.
func (r *Response) Headers() *Header { return &r.Header }

// Body returns the request body.
func (r *Request) Body() []byte { return r.body }

// Body returns the response body.
func (r *Response) Body() []byte { return r.body }

// SetBody replaces the request body.
func (r *Request) SetBody(b []byte) { r.body = b }

// SetBody replaces the response body.
func (r *Response) SetBody(b []byte) { r.body = b }

// StartLine returns "METHOD Request-URI SIP/2.0".
func (r *Request) StartLine() string { return string(r.appendStartLine(nil)) }

// StartLine returns "SIP/2.0 code reason".
func (r *Response) StartLine() string { return string(r.appendStartLine(nil)) }

func (r *Request) appendStartLine(b []byte) []byte {
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = r.URI.AppendTo(b)
	b = append(b, ' ')
	return append(b, protoOr(r.Proto)...)
}

func (r *Response) appendStartLine(b []byte) []byte {
	b = append(b, protoOr(r.Proto)...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(r.StatusCode), 10)
	b = append(b, ' ')
	return append(b, r.Reason...)
}

func protoOr(p string) string {
	if p == "" {
		return "SIP/2.0"
	}
	return p
}

// IsProvisional reports a 1xx response.
func (r *Response) IsProvisional() bool { return r.StatusCode < 200 }

// IsSuccess reports a 2xx response.
func (r *Response) IsSuccess() bool { return r.StatusCode >= 200 && r.StatusCode < 300 }

// String returns the wire form of the request.
func (r *Request) String() string { return string(r.AppendTo(nil)) }

// String returns the wire form of the response.
func (r *Response) String() string { return string(r.AppendTo(nil)) }

// AppendTo appends the wire form of the request to b.
func (r *Request) AppendTo(b []byte) []byte {
	if b == nil {
		b = make([]byte, 0, r.Header.wireSize()+len(r.body)+64)
	}
	b = r.appendStartLine(b)
	return r.Header.appendWire(append(b, '\r', '\n'), r.body)
}

// AppendTo appends the wire form of the response to b.
func (r *Response) AppendTo(b []byte) []byte {
	if b == nil {
		b = make([]byte, 0, r.Header.wireSize()+len(r.body)+64)
	}
	b = r.appendStartLine(b)
	return r.Header.appendWire(append(b, '\r', '\n'), r.body)
}

func (h *Header) wireSize() int {
	n := 24 // Content-Length line and final CRLF
	for i := range h.fields {
		f := &h.fields[i]
		if f.ext {
			n += len(h.ext[f.noff].Name) + len(h.ext[f.noff].Value) + 4
		} else {
			n += int(f.nlen+f.vlen) + 4
		}
	}
	return n
}

// appendWire writes the header fields, a Content-Length that matches body
// (replacing the first Content-Length field and dropping any other), the
// blank line and the body.
func (h *Header) appendWire(b, body []byte) []byte {
	wroteCL := false
	for i := range h.fields {
		f := &h.fields[i]
		if f.id == hContentLength {
			if wroteCL {
				continue
			}
			wroteCL = true
			b = append(b, h.fname(f)...)
			b = append(b, ':', ' ')
			b = strconv.AppendInt(b, int64(len(body)), 10)
		} else {
			b = append(b, h.fname(f)...)
			b = append(b, ':', ' ')
			b = append(b, h.fvalue(f)...)
		}
		b = append(b, '\r', '\n')
	}
	if !wroteCL {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, '\r', '\n')
	}
	b = append(b, '\r', '\n')
	return append(b, body...)
}

// NewRequest returns a request with the given method and Request-URI and no
// header fields. The UA core adds Via, From, To, Call-ID, CSeq,
// Max-Forwards and Contact.
func NewRequest(method string, uri URI) *Request {
	return &Request{Method: method, URI: uri, Proto: "SIP/2.0"}
}

// NewResponse builds a response to req as RFC 3261 §8.2.6 describes: the
// Via fields (all of them, in order), From, To, Call-ID and CSeq are copied
// byte for byte, and a 100 Trying also copies Timestamp. An empty reason
// takes the default phrase of the code. The To tag, Contact and anything
// else are the caller's to add.
func NewResponse(req *Request, code int, reason string) *Response {
	if reason == "" {
		reason = StatusText(code)
	}
	res := &Response{Proto: "SIP/2.0", StatusCode: code, Reason: reason}
	h := &req.Header
	n := 0
	for i := range h.fields {
		switch h.fields[i].id {
		case hVia, hFrom, hTo, hCallID, hCSeq:
			n++
		}
	}
	res.raw = h.raw
	res.fields = make([]field, 0, n+4)
	for i := range h.fields {
		f := h.fields[i]
		switch f.id {
		case hVia, hFrom, hTo, hCallID, hCSeq:
		case hTimestamp:
			if code != StatusTrying {
				continue
			}
		default:
			continue
		}
		if f.ext {
			f = res.newField(h.fname(&f), h.fvalue(&f), f.id)
		}
		res.fields = append(res.fields, f)
	}
	// The typed values follow the copied fields exactly; share them rather
	// than parse again (full slice expressions force a copy on append).
	res.via = h.via[:len(h.via):len(h.via)]
	res.from, res.to, res.callID, res.cseq = h.from, h.to, h.callID, h.cseq
	const copied = 1<<eVia | 1<<eFrom | 1<<eTo | 1<<eCallID | 1<<eCSeq
	res.seen, res.dup, res.bad = h.seen&copied, h.dup&copied, h.bad&copied
	return res
}

// Clone returns a deep copy of the request.
func (r *Request) Clone() *Request {
	c := *r
	c.Header = r.Header.Clone()
	c.body = append([]byte(nil), r.body...)
	return &c
}

// Clone returns a deep copy of the response.
func (r *Response) Clone() *Response {
	c := *r
	c.Header = r.Header.Clone()
	c.body = append([]byte(nil), r.body...)
	return &c
}
