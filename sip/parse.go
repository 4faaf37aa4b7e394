package sip

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strings"
	"unsafe"
)

var defaultLimits = Limits{}.resolved()

// ParseMessage parses one complete SIP message, as received in a datagram
// (RFC 3261 §18.3: a missing Content-Length means the body runs to the end of
// the data; a Content-Length larger than the data is an error; a smaller one
// truncates). It applies the default Limits. Any malformed input returns a
// *ParseError; it never panics.
func ParseMessage(data []byte) (Message, error) {
	return parseMessage(data, &defaultLimits, false)
}

// ParseMessageLimits is ParseMessage with explicit limits.
func ParseMessageLimits(data []byte, lim Limits) (Message, error) {
	l := lim.resolved()
	return parseMessage(data, &l, false)
}

// headerEnd finds the end of the header section of data, which begins with
// the start line: hdrEnd is the index just past the last header line's line
// break, bodyStart the index of the body. Bare LF line endings are
// tolerated: the section ends at the first empty line, that is the first
// "\n\r\n" or "\n\n", where parseMessage's line loop ends it too. The
// search starts at from, so that a stream parser does not scan again what
// it has scanned (a pattern may straddle from: pass two bytes of overlap).
// It returns -1, -1 when the header section is not terminated.
func headerEnd(data []byte, from int) (hdrEnd, bodyStart int) {
	for i := from; ; {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return -1, -1
		}
		k := i + j + 1 // just past the line break
		if k < len(data) && data[k] == '\n' {
			return k, k + 1
		}
		if k+1 < len(data) && data[k] == '\r' && data[k+1] == '\n' {
			return k, k + 2
		}
		i = k
	}
}

type headerBlock struct {
	via     [2]Via
	contact [1]Address
	fields  [20]field
}

type requestBlock struct {
	r Request
	headerBlock
}

type responseBlock struct {
	r Response
	headerBlock
}

// lineRef locates one logical header line in the data: [start, end) without
// the final line break; folded marks obsolete line folding inside it.
type lineRef struct {
	start, end int32
	folded     bool
}

func parseMessage(data []byte, lim *Limits, stream bool) (Message, error) {
	msg, body, err := parseHead(data, lim)
	if err != nil {
		return nil, err
	}
	// Body (RFC 3261 §18.3).
	h := msg.Headers()
	var blen int
	if h.seen&(1<<eContentLength) != 0 {
		blen = h.contentLength
		if blen > lim.MaxBodySize {
			return nil, &ParseError{Header: "Content-Length", Offset: len(data) - len(body), Msg: "body exceeds the size limit", Err: ErrBodyTooLarge, Partial: msg}
		}
		if blen > len(body) {
			return nil, &ParseError{Header: "Content-Length", Offset: len(data), Msg: "Content-Length larger than the data", Err: ErrContentLength, Partial: msg}
		}
	} else {
		if stream {
			return nil, &ParseError{Header: "Content-Length", Offset: len(data) - len(body), Msg: "Content-Length missing on a stream transport", Err: ErrContentLength, Partial: msg}
		}
		blen = len(body)
		if blen > lim.MaxBodySize {
			return nil, &ParseError{Offset: len(data) - len(body), Msg: "body exceeds the size limit", Err: ErrBodyTooLarge, Partial: msg}
		}
	}
	if blen > 0 {
		msg.SetBody(body[:blen:blen]) // body is parseHead's own copy
	}
	return msg, nil
}

// parseHead parses the start line and the header section at the start of
// data and returns the message (without a body) and the bytes after the
// header section.
//
// parseHeadFast parses the usual message (no folded lines, no error) in one
// pass; anything else it leaves to parseHeadSlow, the reference: the
// result is the same either way.
func parseHead(data []byte, lim *Limits) (Message, []byte, error) {
	if msg, rest, ok := parseHeadFast(data, lim); ok {
		return msg, rest, nil
	}
	return parseHeadSlow(data, lim)
}

// parseHeadSlow is parseHead in two passes, the first over the lines, the
// second over the fields; it decides every message parseHeadFast declines.
func parseHeadSlow(data []byte, lim *Limits) (Message, []byte, error) {
	if len(data) > lim.MaxMessageSize {
		return nil, nil, &ParseError{Offset: lim.MaxMessageSize, Msg: "message exceeds the size limit", Err: ErrMessageTooLarge}
	}
	// RFC 3261 §7.5: ignore CRLFs before the start line.
	for len(data) > 0 && (data[0] == '\r' || data[0] == '\n') {
		data = data[1:]
	}
	if len(data) == 0 {
		return nil, nil, &ParseError{Offset: 0, Msg: "empty message", Err: ErrIncomplete}
	}

	// Pass 1, over the bytes: find the lines, check them for control
	// characters and the limits, and find the end of the header section.
	var stack [40]lineRef
	lines := stack[:0]
	hdrEnd, bodyStart := -1, -1
	pos := 0
	for pos < len(data) {
		nl := bytes.IndexByte(data[pos:], '\n')
		if nl < 0 {
			break
		}
		lineEnd := pos + nl
		end := lineEnd
		if end > pos && data[end-1] == '\r' {
			end--
		}
		if end == pos { // blank line
			hdrEnd, bodyStart = pos, lineEnd+1
			break
		}
		if (data[pos] == ' ' || data[pos] == '\t') && len(lines) > 1 {
			l := &lines[len(lines)-1]
			l.end, l.folded = int32(end), true
		} else {
			if len(lines) > lim.MaxHeaders { // the start line is lines[0]
				return nil, nil, &ParseError{Offset: pos, Msg: "more header fields than the limit", Err: ErrTooManyHeaders}
			}
			lines = append(lines, lineRef{start: int32(pos), end: int32(end)})
		}
		if l := lines[len(lines)-1]; int(l.end-l.start) > lim.MaxHeaderLength {
			return nil, nil, &ParseError{Offset: int(l.start), Msg: "header line exceeds the length limit", Err: ErrHeaderTooLong}
		}
		pos = lineEnd + 1
	}
	if hdrEnd < 0 {
		return nil, nil, &ParseError{Offset: len(data), Msg: "header section not terminated by an empty line", Err: ErrIncomplete}
	}
	// One copy of the message: every name, value, URI part and parameter
	// below is a substring of s, a string view of the header section of
	// own, and the body is a slice of own's tail. The view is safe: own is
	// not reachable as bytes except through that body slice, which is
	// capped at the body's end and never covers the header section, so
	// the bytes under s never change (strings.Builder relies on the same
	// rule).
	own := make([]byte, len(data))
	copy(own, data)
	s := unsafe.String(unsafe.SliceData(own), hdrEnd)

	line := s[lines[0].start:lines[0].end]
	if lines[0].folded || line[0] == ' ' || line[0] == '\t' {
		return nil, nil, &ParseError{Offset: 0, Msg: "malformed start line", Err: ErrMalformed}
	}
	var (
		req *Request
		res *Response
		h   *Header
		msg Message
	)
	// One allocation holds the message and room for the usual number of
	// header fields, Vias and Contacts; the slices are capped after parsing
	// so that a later append never writes into it.
	var blk *headerBlock
	if len(line) > 4 && strings.EqualFold(line[:4], "SIP/") {
		b := new(responseBlock)
		res, blk = &b.r, &b.headerBlock
		if m := parseStatusLine(line, res); m != "" {
			return nil, nil, &ParseError{Offset: 0, Msg: m, Err: ErrMalformed}
		}
		h, msg = &res.Header, res
	} else {
		b := new(requestBlock)
		req, blk = &b.r, &b.headerBlock
		if pe := parseRequestLine(line, req, lim); pe != nil {
			return nil, nil, pe
		}
		h, msg = &req.Header, req
	}
	if n := len(lines) - 1; n <= len(blk.fields) {
		h.fields = blk.fields[:0:n]
	} else {
		h.fields = make([]field, 0, n)
	}
	h.raw = s
	h.via, h.contact = blk.via[:0], blk.contact[:0]

	// Pass 2, over the string: one field per logical line.
	var firstErr *ParseError
	for _, l := range lines[1:] {
		start := int(l.start)
		raw := s[start:l.end]
		colon := strings.IndexByte(raw, ':')
		if colon < 0 {
			return nil, nil, &ParseError{Offset: start, Msg: "header line without ':'", Err: ErrMalformed}
		}
		// RFC 3261 §7.3.1 allows white space before the colon.
		n := colon
		for n > 0 && (raw[n-1] == ' ' || raw[n-1] == '\t') {
			n--
		}
		name := raw[:n]
		// A known name matched case-insensitively is a token: only other
		// names need their characters checked.
		id := lookupHID(name)
		if id == hOther && !isToken(name) {
			return nil, nil, &ParseError{Offset: start, Msg: "bad header name", Err: ErrMalformed}
		}
		vs, ve := colon+1, len(raw)
		for vs < ve && (raw[vs] == ' ' || raw[vs] == '\t') {
			vs++
		}
		for ve > vs && (raw[ve-1] == ' ' || raw[ve-1] == '\t') {
			ve--
		}
		value := raw[vs:ve]
		if l.folded {
			value = trimLWS(unfold(value))
		}
		slot := eagerSlot(id)
		if slot < 0 {
			// The eager parsers reject control characters through their
			// character sets; every other value is checked here.
			if i := badControlByte(data[start+colon+1 : l.end]); i >= 0 {
				return nil, nil, &ParseError{Header: name, Offset: start + colon + 1 + i, Msg: "control character in header value", Err: ErrMalformed}
			}
		}
		if l.folded {
			h.fields = append(h.fields, h.newField(name, value, id))
		} else { // name and value are spans of s
			h.fields = append(h.fields, field{noff: uint32(start), nlen: uint32(n), voff: uint32(start + vs), vlen: uint32(ve - vs), id: id})
		}
		if slot >= 0 {
			if m := h.absorb(slot, value, lim.MaxURILength); m != "" {
				h.bad |= 1 << slot
				if firstErr == nil {
					firstErr = &ParseError{Header: canonicalNames[id], Offset: start, Msg: m, Err: ErrMalformed}
					switch {
					case m == "URI too long":
						firstErr.Err = ErrURITooLong
					case slot == eContentLength:
						firstErr.Err = ErrContentLength
					}
				}
			}
		}
	}
	h.capSlices()
	if firstErr != nil {
		firstErr.Partial = msg
		return nil, nil, firstErr
	}

	return msg, own[bodyStart:], nil
}

// unfold replaces each line break and the white space around it by one space.
func unfold(v string) string {
	var b strings.Builder
	b.Grow(len(v))
	for v != "" {
		i := strings.IndexByte(v, '\n')
		if i < 0 {
			b.WriteString(v)
			break
		}
		// Only the CR of the line break goes: a bare CR before it stays
		// for the value's validation to see.
		part := strings.TrimRight(strings.TrimSuffix(v[:i], "\r"), " \t")
		b.WriteString(part)
		v = strings.TrimLeft(v[i+1:], " \t")
		if v != "" {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// badValueByte returns the index of a byte that may not appear in a header
// value (NUL, CR, LF and other controls except HT, and DEL), or -1.
func badValueByte(v string) int {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return i
		}
	}
	return -1
}

// badControlByte returns the index of the first byte of a header line
// that may not appear there: a control character other than HT (and the
// line breaks of folded lines), or DEL. It checks eight bytes at a time.
func badControlByte(b []byte) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; len(b)-i >= 8; i += 8 {
		x := binary.LittleEndian.Uint64(b[i : i+8])
		// The high bit of a byte is set if it is < 0x20 or >= 0x7f; a
		// borrow or carry may flag a neighbour too. isBadControl decides
		// each flagged byte exactly (UTF-8 bytes >= 0x80 are allowed).
		m := ((x - lo*0x20) | (x + lo)) & hi
		for m != 0 {
			j := i + bits.TrailingZeros64(m)>>3
			if isBadControl(b, j) {
				return j
			}
			m &= m - 1
		}
	}
	for ; i < len(b); i++ {
		if isBadControl(b, i) {
			return i
		}
	}
	return -1
}

func isBadControl(b []byte, j int) bool {
	switch c := b[j]; {
	case c == '\t' || c == '\n':
		return false
	case c == '\r':
		return j+1 >= len(b) || b[j+1] != '\n'
	default:
		return c < ' ' || c == 0x7f
	}
}

func parseRequestLine(line string, req *Request, lim *Limits) *ParseError {
	sp := strings.IndexByte(line, ' ')
	if sp <= 0 {
		return &ParseError{Offset: 0, Msg: "malformed request line", Err: ErrMalformed}
	}
	req.Method = line[:sp]
	if span(req.Method, 0, cToken) != sp {
		return &ParseError{Offset: 0, Msg: "bad method", Err: ErrMalformed}
	}
	rest := line[sp+1:]
	sp2 := strings.LastIndexByte(rest, ' ')
	if sp2 <= 0 {
		return &ParseError{Offset: sp + 1, Msg: "malformed request line", Err: ErrMalformed}
	}
	uri, proto := rest[:sp2], rest[sp2+1:]
	if len(uri) > lim.MaxURILength {
		return &ParseError{Offset: sp + 1, Msg: "Request-URI exceeds the length limit", Err: ErrURITooLong}
	}
	if !validProto(proto) {
		return &ParseError{Offset: sp + 1 + sp2 + 1, Msg: "bad protocol version", Err: ErrMalformed}
	}
	req.Proto = proto
	// No URI parser accepts white space: look for it only to say so.
	if msg := parseURIInto(&req.URI, uri); msg != "" {
		if strings.IndexByte(uri, ' ') >= 0 || strings.IndexByte(uri, '\t') >= 0 {
			return &ParseError{Offset: sp + 1, Msg: "white space in Request-URI", Err: ErrMalformed}
		}
		return &ParseError{Offset: sp + 1, Msg: "bad Request-URI: " + msg, Err: ErrMalformed}
	}
	return nil
}

// validProto accepts "SIP/" 1*DIGIT "." 1*DIGIT in any case; the version is
// checked by the UA (505), not the parser.
func validProto(p string) bool {
	if p == "SIP/2.0" {
		return true
	}
	if len(p) < 7 || !strings.EqualFold(p[:4], "SIP/") {
		return false
	}
	v := p[4:]
	dot := strings.IndexByte(v, '.')
	if dot <= 0 || dot == len(v)-1 {
		return false
	}
	_, ok1 := atoiDigits(v[:dot])
	_, ok2 := atoiDigits(v[dot+1:])
	return ok1 && ok2
}

func parseStatusLine(line string, res *Response) string {
	sp := strings.IndexByte(line, ' ')
	if sp < 0 {
		return "malformed status line"
	}
	if !validProto(line[:sp]) {
		return "bad protocol version"
	}
	res.Proto = line[:sp]
	rest := line[sp+1:]
	if len(rest) < 3 {
		return "bad status code"
	}
	code, ok := atoiDigits(rest[:3])
	if !ok || code < 100 || code > 699 {
		return "bad status code"
	}
	res.StatusCode = code
	rest = rest[3:]
	if rest != "" {
		if rest[0] != ' ' {
			return "bad status code"
		}
		res.Reason = rest[1:]
		if badValueByte(res.Reason) >= 0 {
			return "control character in reason phrase"
		}
	}
	return ""
}
