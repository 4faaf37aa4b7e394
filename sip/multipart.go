package sip

import (
	"bytes"
	"strings"
)

// MaxMultipartParts bounds the number of body parts ParseMultipart accepts,
// so a hostile body cannot make it build an unbounded list.
const MaxMultipartParts = 1024

// Part is one body part of a multipart body (RFC 2046 §5.1).
type Part struct {
	Header Header // Content-Type, Content-ID, Content-Transfer-Encoding, ...
	Body   []byte
}

// ContentType returns the part's Content-Type; RFC 2046 §5.1.1 makes the
// default text/plain (charset us-ascii) when it has none.
func (p *Part) ContentType() MediaType {
	if m := p.Header.ContentType(); !m.IsZero() {
		return m
	}
	return MediaType{Type: "text", Subtype: "plain"}
}

// ContentID returns the Content-ID without angle brackets.
func (p *Part) ContentID() string { return p.Header.ContentID() }

// ParseMultipart splits a multipart body (multipart/related,
// multipart/mixed, ...) into its parts, using the boundary parameter of
// the message's Content-Type. The preamble and epilogue are ignored. Part
// bodies share no memory with body.
func ParseMultipart(ct MediaType, body []byte) ([]Part, error) {
	if !strings.EqualFold(ct.Type, "multipart") {
		return nil, syntaxErr("Content-Type", "not a multipart media type")
	}
	boundary, ok := ct.Params.Get("boundary")
	if !ok || boundary == "" || len(boundary) > 70 {
		return nil, syntaxErr("Content-Type", "missing or bad multipart boundary")
	}
	delim := []byte("--" + boundary)

	// The first delimiter may open the body or follow a preamble after CRLF.
	var pos int
	if bytes.HasPrefix(body, delim) {
		pos = len(delim)
	} else {
		i := bytes.Index(body, append([]byte("\n"), delim...))
		if i < 0 {
			return nil, syntaxErr("", "multipart body without a boundary delimiter")
		}
		pos = i + 1 + len(delim)
	}
	var parts []Part
	for {
		// After a delimiter: "--" closes; otherwise LWS then a line break.
		if bytes.HasPrefix(body[pos:], []byte("--")) {
			return parts, nil
		}
		for pos < len(body) && (body[pos] == ' ' || body[pos] == '\t') {
			pos++
		}
		switch {
		case bytes.HasPrefix(body[pos:], []byte("\r\n")):
			pos += 2
		case bytes.HasPrefix(body[pos:], []byte("\n")):
			pos++
		default:
			return nil, syntaxErr("", "bad multipart boundary line")
		}
		// The part runs to the line break before the next delimiter.
		rel := bytes.Index(body[pos:], append([]byte("\n"), delim...))
		if rel < 0 {
			return nil, syntaxErr("", "multipart body without a closing delimiter")
		}
		end := pos + rel
		next := end + 1 + len(delim)
		if end > pos && body[end-1] == '\r' {
			end--
		}
		if len(parts) == MaxMultipartParts {
			return nil, syntaxErr("", "too many multipart parts")
		}
		p, err := parsePart(body[pos:end])
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
		pos = next
	}
}

// parsePart parses the header lines and body of one part. A part may have
// no header at all, in which case it starts with its blank line.
func parsePart(b []byte) (Part, error) {
	var p Part
	pos := 0
	for {
		nl := bytes.IndexByte(b[pos:], '\n')
		var line []byte
		if nl < 0 {
			line = b[pos:]
		} else {
			line = b[pos : pos+nl]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			if nl >= 0 {
				pos += nl + 1
			} else {
				pos = len(b)
			}
			break
		}
		if nl < 0 {
			return Part{}, syntaxErr("", "multipart part without a blank line after its headers")
		}
		pos += nl + 1
		// folded continuation lines
		for pos < len(b) && (b[pos] == ' ' || b[pos] == '\t') {
			n2 := bytes.IndexByte(b[pos:], '\n')
			if n2 < 0 {
				n2 = len(b) - pos - 1
			}
			line = append(append(append([]byte(nil), line...), ' '), bytes.TrimSpace(b[pos:pos+n2+1])...)
			pos += n2 + 1
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return Part{}, syntaxErr("", "bad multipart part header")
		}
		name := strings.TrimRight(string(line[:colon]), " \t")
		if !isToken(name) || badControlByte(line) >= 0 {
			return Part{}, syntaxErr("", "bad multipart part header")
		}
		p.Header.Add(name, string(line[colon+1:]))
		if p.Header.bad != 0 {
			return Part{}, syntaxErr(CanonicalHeaderName(name), "malformed value in multipart part")
		}
	}
	if pos < len(b) {
		p.Body = append([]byte(nil), b[pos:]...)
	}
	return p, nil
}

// NewMultipart builds a multipart body from parts with the given boundary
// and returns it with the matching Content-Type (subtype "related",
// "mixed", ...; extra parameters such as type= may be added to the
// returned MediaType's Params). Each part's header fields are written as
// they are.
func NewMultipart(subtype, boundary string, parts []Part) (MediaType, []byte) {
	var b bytes.Buffer
	for i := range parts {
		b.WriteString("--")
		b.WriteString(boundary)
		b.WriteString("\r\n")
		for name, value := range parts[i].Header.All() {
			b.WriteString(name)
			b.WriteString(": ")
			b.WriteString(value)
			b.WriteString("\r\n")
		}
		b.WriteString("\r\n")
		b.Write(parts[i].Body)
		b.WriteString("\r\n")
	}
	b.WriteString("--")
	b.WriteString(boundary)
	b.WriteString("--\r\n")
	ct := MediaType{Type: "multipart", Subtype: subtype, Params: Params("boundary=" + quoteIfNeeded(boundary))}
	return ct, b.Bytes()
}
