package sip

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// ptNoLimits is used to parse a serialization again: writing a message may
// make it a little longer than the input (CRLF for bare LF, a space after
// each colon, an added Content-Length), which can cross a limit the input
// was just under. The limits are tested elsewhere.
var ptNoLimits = Limits{MaxMessageSize: -1, MaxHeaders: -1, MaxHeaderLength: -1, MaxURILength: -1, MaxBodySize: -1}

// ptCheckReserialize checks the round-trip property of an accepted message:
// its serialization parses again to the same message, and serializing that
// gives the same bytes.
func ptCheckReserialize(t *testing.T, m Message) {
	t.Helper()
	wire := m.String()
	// No control character gets through but HT and the CRLF line ends.
	head := wire[:strings.Index(wire, "\r\n\r\n")+2]
	for i := 0; i < len(head); i++ {
		c := head[i]
		if c == '\r' && i+1 < len(head) && head[i+1] == '\n' {
			i++
			continue
		}
		if c < ' ' && c != '\t' || c == 0x7f {
			t.Fatalf("accepted control character %#x at %d: %q", c, i, head)
		}
	}
	m2, err := ParseMessageLimits([]byte(wire), ptNoLimits)
	if err != nil {
		t.Fatalf("serialization does not parse: %v\n%q", err, wire)
	}
	if d := ptSameMessage(m, m2); d != "" {
		t.Fatalf("round trip changed the message: %s\n%q", d, wire)
	}
	if wire2 := m2.String(); wire2 != wire {
		t.Fatalf("String is not stable:\n%q\n%q", wire, wire2)
	}
	if cl, ok := m2.Headers().ContentLength(); !ok || cl != len(m2.Body()) {
		t.Fatalf("serialized Content-Length %d (%v) for a body of %d", cl, ok, len(m2.Body()))
	}
}

func ptFuzzSeeds() []string {
	var seeds []string
	for _, m := range ptValidMessages {
		seeds = append(seeds, m.data)
	}
	for _, m := range ptMalformedCases {
		if len(m.data) <= 4096 {
			seeds = append(seeds, m.data)
		}
	}
	return append(seeds,
		ptStreamA+ptStreamB+"\r\n\r\n"+ptStreamC,
		"OPTIONS sip:a SIP/2.0\nContent-Length: 0\n\n"+ptStreamB,
		"\r\n\r"+ptStreamB,
		ptNewResponseRequest,
		"\r\n"+ptStreamA+"\r\n\r\r\n",
	)
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range ptFuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMessage(data)
		if err != nil {
			if m != nil {
				t.Fatalf("message and error: %v", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ParseError: %T %v", err, err)
			}
			if pe.Partial != nil {
				if req, ok := pe.Partial.(*Request); ok {
					_ = NewResponse(req, 400, "").String()
				}
			}
			return
		}
		ptCheckReserialize(t, m)

		// A stream parser frames the serialization the same way.
		p := NewParser(strings.NewReader(m.String()))
		sm, err := p.ReadMessage()
		if err != nil {
			if errors.Is(err, ErrMessageTooLarge) || errors.Is(err, ErrHeaderTooLong) || errors.Is(err, ErrBodyTooLarge) || errors.Is(err, ErrTooManyHeaders) || errors.Is(err, ErrURITooLong) {
				return // the serialization grew over a default limit
			}
			t.Fatalf("stream parser refuses the serialization: %v\n%q", err, m.String())
		}
		if d := ptSameMessage(m, sm); d != "" {
			t.Fatalf("stream parser reads another message: %s", d)
		}
		if _, err := p.ReadMessage(); err != io.EOF {
			t.Fatalf("after the only message: %v", err)
		}
	})
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"sip:alice@atlanta.com",
		"sips:alice:secretword@atlanta.com;transport=tcp",
		"sip:+1-212-555-1212:1234@gateway.com;user=phone",
		"sip:[2001:db8::10]:5070;maddr=[2001:db8::1];lr",
		"sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
		"SIP:%61lice%20x@X:05060",
		"sip:alice;day=tuesday@atlanta.com",
		"sip:x;a=1;A=2",
		"tel:+1-201-555-0123;phone-context=example.com",
		"TEL:7042",
		"urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
		"mailto:alice@example.com",
		"sip:%G1@x", "sip:[::1", "sip:[1.2.3.4]", "sip:x:0", "sip:x;", "sip:x?", "sip:x;maddr=[\x01]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ParseError: %T %v", err, err)
			}
			if u != (URI{}) {
				t.Fatalf("error with a non-zero URI %#v", u)
			}
			return
		}
		if !u.Equal(u) {
			t.Fatalf("not equal to itself: %#v", u)
		}
		out := u.String()
		for i := 0; i < len(out); i++ {
			if c := out[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' {
				t.Fatalf("String %q has %#x at %d", out, c, i)
			}
		}
		u2, err := ParseURI(out)
		if err != nil {
			t.Fatalf("String %q does not parse: %v", out, err)
		}
		if !u.Equal(u2) || !u2.Equal(u) {
			t.Fatalf("round trip not Equal: %#v vs %#v", u, u2)
		}
		if u2 != u {
			t.Fatalf("round trip changed the fields: %#v vs %#v", u, u2)
		}
		if out2 := u2.String(); out2 != out {
			t.Fatalf("String not stable: %q vs %q", out, out2)
		}
		// The URI works inside an address too.
		a, err := ParseAddress("<" + out + ">;tag=1")
		if err != nil {
			t.Fatalf("address with %q: %v", out, err)
		}
		if !a.URI.Equal(u) || a.Tag() != "1" {
			t.Fatalf("address changed the URI: %#v", a)
		}
	})
}

// ptFuzzReader hands out data in chunks whose sizes come from a seed:
// small ones, and now and then as much as fits.
type ptFuzzReader struct {
	data []byte
	seed uint64
}

func (r *ptFuzzReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	r.seed = r.seed*6364136223846793005 + 1442695040888963407
	n := int(r.seed>>33)%97 + 1
	if r.seed>>62 == 0 {
		n = len(p) // a quarter of the reads take all they can
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

func FuzzStreamParser(f *testing.F) {
	for i, s := range ptFuzzSeeds() {
		f.Add([]byte(s), uint64(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		r := &ptFuzzReader{data: data, seed: seed}
		p := NewParserLimits(r, Limits{MaxMessageSize: 8192, MaxBodySize: 4096})
		consumed := func() int { return len(data) - len(r.data) - p.Buffered() }
		// Every call consumes bytes or fails for good, so the loop is bounded.
		for i := 0; ; i++ {
			if i > len(data)+2 {
				t.Fatalf("ReadMessage does not stop")
			}
			before := consumed()
			m, err := p.ReadMessage()
			if errors.Is(err, ErrPing) {
				if m != nil {
					t.Fatalf("message with ErrPing")
				}
				continue
			}
			if err != nil {
				if m != nil {
					t.Fatalf("message and error: %v", err)
				}
				var pe *ParseError
				if err != io.EOF && !errors.As(err, &pe) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				if err == io.EOF && consumed() != len(data) {
					t.Fatalf("clean end of stream with %q left", data[consumed():])
				}
				if p.err != nil { // framing error or end: sticky
					if _, err2 := p.ReadMessage(); err2 != err {
						t.Fatalf("sticky error changed: %v then %v", err, err2)
					}
					return
				}
				continue // a malformed message was skipped
			}
			ptCheckReserialize(t, m)

			// The parser consumed the message and nothing more: its header
			// section, as the message parser delimits it, and the body.
			chunk := data[before:consumed()]
			for len(chunk) > 0 && (chunk[0] == '\r' || chunk[0] == '\n') {
				chunk = chunk[1:] // keep-alive pongs and stray line breaks
			}
			_, bodyStart := ptHeaderEndRef(chunk)
			if bodyStart < 0 || string(chunk[bodyStart:]) != string(m.Body()) {
				t.Fatalf("consumed %q for a message with body %q", chunk, m.Body())
			}
		}
	})
}

// FuzzStreamFast checks the stream parser's fast path (headScan framing
// in the buffer) against its general path, read for read: the same
// messages, the same errors, the same bytes consumed.
func FuzzStreamFast(f *testing.F) {
	for i, s := range ptFuzzSeeds() {
		f.Add([]byte(s), uint64(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		lim := Limits{MaxMessageSize: 8192, MaxBodySize: 4096, MaxHeaders: 30}
		rf, rs := &ptFuzzReader{data: data, seed: seed}, &ptFuzzReader{data: data, seed: seed}
		fast, slow := NewParserLimits(rf, lim), NewParserLimits(rs, lim)
		slow.noFast = true
		for i := 0; i <= len(data)+2; i++ {
			mf, ef := fast.ReadMessage()
			ms, es := slow.ReadMessage()
			if fmt.Sprint(ef) != fmt.Sprint(es) {
				t.Fatalf("read %d: fast error %v, general %v", i, ef, es)
			}
			var pf, ps *ParseError
			if errors.As(ef, &pf) && errors.As(es, &ps) && (pf.Offset != ps.Offset || pf.Header != ps.Header || !errors.Is(ef, ps.Err) || (pf.Partial == nil) != (ps.Partial == nil)) {
				t.Fatalf("read %d: fast %+v, general %+v", i, pf, ps)
			}
			if (mf == nil) != (ms == nil) || mf != nil && (mf.String() != ms.String() || !reflect.DeepEqual(mf, ms)) {
				t.Fatalf("read %d: fast %v, general %v", i, mf, ms)
			}
			if len(rf.data)+fast.Buffered() != len(rs.data)+slow.Buffered() {
				t.Fatalf("read %d: fast consumed %d, general %d", i, len(data)-len(rf.data)-fast.Buffered(), len(data)-len(rs.data)-slow.Buffered())
			}
			if ef != nil && fast.Err() != nil {
				return
			}
		}
	})
}
