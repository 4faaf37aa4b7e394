package sip

import (
	"errors"
	"io"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ptGood is the frame the malformed cases break one piece of.
const ptGoodHead = "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\n" +
	"Max-Forwards: 70\n" +
	"To: Bob <sip:bob@biloxi.example.com>\n" +
	"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n" +
	"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n" +
	"CSeq: 314159 INVITE\n" +
	"Contact: <sip:alice@pc33.atlanta.example.com>\n"

const ptGoodStart = "INVITE sip:bob@biloxi.example.com SIP/2.0\n"

// ptWith returns a framed request: the given start line, the good header
// fields with extra inserted before Contact, and an empty body.
func ptWith(start, extra string) string {
	return ptBuild(start+ptGoodHead+extra, "")
}

// ptReplace returns the good request with one header field line replaced.
func ptReplace(name, line string) string {
	lines := strings.SplitAfter(ptGoodHead, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, name+":") {
			lines[i] = line + "\n"
		}
	}
	return ptBuild(ptGoodStart+strings.Join(lines, ""), "")
}

func ptGarbage(seed int64, n int) string {
	rng := rand.New(rand.NewSource(seed))
	b := make([]byte, n)
	rng.Read(b)
	return string(b)
}

type ptMalformed struct {
	name string
	data string
	want error // a sentinel the error must match (ErrMalformed when nil)
}

// ptMalformedCases are messages that ParseMessage must refuse.
var ptMalformedCases = []ptMalformed{
	// Start lines.
	{"request line without URI and version", ptWith("INVITE\n", ""), nil},
	{"request line without version", ptWith("INVITE sip:bob@biloxi.example.com\n", ""), nil},
	{"request line without URI", ptWith("INVITE  SIP/2.0\n", ""), nil},
	{"request line with leading space", " " + ptWith("INVITE sip:bob@biloxi.example.com SIP/2.0\n", ""), nil},
	{"request line with two spaces before the URI", ptWith("INVITE  sip:bob@biloxi.example.com SIP/2.0\n", ""), nil},
	{"request line with trailing space", ptWith("INVITE sip:bob@biloxi.example.com SIP/2.0 \n", ""), nil},
	{"method with bad character", ptWith("INV@ITE sip:bob@biloxi.example.com SIP/2.0\n", ""), nil},
	{"method with NUL", ptWith("INV\x00ITE sip:bob@biloxi.example.com SIP/2.0\n", ""), nil},
	{"method with UTF-8", ptWith("INVITÉ sip:bob@biloxi.example.com SIP/2.0\n", ""), nil},
	{"version SIP/2", ptWith("INVITE sip:bob@biloxi.example.com SIP/2\n", ""), nil},
	{"version SIP/2.", ptWith("INVITE sip:bob@biloxi.example.com SIP/2.\n", ""), nil},
	{"version SIP/.0", ptWith("INVITE sip:bob@biloxi.example.com SIP/.0\n", ""), nil},
	{"version SIP/2.0x", ptWith("INVITE sip:bob@biloxi.example.com SIP/2.0x\n", ""), nil},
	{"version HTTP/1.1", ptWith("INVITE sip:bob@biloxi.example.com HTTP/1.1\n", ""), nil},
	{"version with huge numbers", ptWith("INVITE sip:bob@biloxi.example.com SIP/12345678901.0\n", ""), nil},
	{"status code with two digits", ptWith("SIP/2.0 20 OK\n", ""), nil},
	{"status code 999", ptWith("SIP/2.0 999 Whatever\n", ""), nil},
	{"status code 099", ptWith("SIP/2.0 099 Whatever\n", ""), nil},
	{"status code with four digits", ptWith("SIP/2.0 2000 OK\n", ""), nil},
	{"status code missing", ptWith("SIP/2.0 OK\n", ""), nil},
	{"status line version only", ptWith("SIP/2.0\n", ""), nil},
	{"status line bad version", ptWith("SIP/2 200 OK\n", ""), nil},
	{"status code glued to reason", ptWith("SIP/2.0 200OK\n", ""), nil},
	{"control character in reason phrase", ptWith("SIP/2.0 200 O\x01K\n", ""), nil},
	{"folded start line", ptWith("INVITE sip:bob@biloxi.example.com\n SIP/2.0\n", ""), nil},
	{"continuation after the start line", ptWith("INVITE sip:bob@biloxi.example.com SIP/2.0\n continued\n", ""), nil},
	{"folded status line", ptWith("SIP/2.0 200\n OK\n", ""), nil},

	// Request-URI.
	{"bad escape in Request-URI", ptWith("INVITE sip:%G1@biloxi.example.com SIP/2.0\n", ""), nil},
	{"trailing escape in Request-URI user", ptWith("INVITE sip:bob%4@biloxi.example.com SIP/2.0\n", ""), nil},
	{"trailing percent in Request-URI", ptWith("INVITE sip:bob@biloxi.example.com;x=% SIP/2.0\n", ""), nil},
	{"unterminated IPv6 Request-URI", ptWith("INVITE sip:bob@[2001:db8::1 SIP/2.0\n", ""), nil},
	{"IPv4 in brackets in Request-URI", ptWith("INVITE sip:bob@[192.0.2.1] SIP/2.0\n", ""), nil},
	{"bad port in Request-URI", ptWith("INVITE sip:bob@biloxi.example.com:65536 SIP/2.0\n", ""), nil},
	{"Request-URI without scheme", ptWith("INVITE bob@biloxi.example.com SIP/2.0\n", ""), nil},
	{"control character in Request-URI", ptWith("INVITE sip:b\x01ob@biloxi.example.com SIP/2.0\n", ""), nil},
	{"tab in Request-URI", ptWith("INVITE sip:bob@biloxi.example.com;\tlr SIP/2.0\n", ""), nil},
	{"Request-URI in angle brackets", ptWith("INVITE <sip:bob@biloxi.example.com> SIP/2.0\n", ""), nil},
	{"Request-URI too long", ptWith("INVITE sip:"+strings.Repeat("b", DefaultMaxURILength)+"@biloxi.example.com SIP/2.0\n", ""), ErrURITooLong},

	// Framing.
	{"empty", "", ErrIncomplete},
	{"only line breaks", "\r\n\r\n\n", ErrIncomplete},
	{"unterminated header section", ptCRLF(ptGoodStart + ptGoodHead), ErrIncomplete},
	{"start line only, unterminated", "INVITE sip:bob@biloxi.example.com SIP/2.0", ErrIncomplete},
	{"header section ends with a lone CR", ptCRLF(ptGoodStart+ptGoodHead) + "\r", ErrIncomplete},
	{"negative Content-Length", ptCRLF(ptGoodStart + ptGoodHead + "Content-Length: -5\n\n"), ErrContentLength},
	{"huge Content-Length", ptCRLF(ptGoodStart + ptGoodHead + "Content-Length: 99999999999999999999\n\n"), ErrContentLength},
	{"Content-Length over the body limit", ptCRLF(ptGoodStart + ptGoodHead + "Content-Length: 999999999\n\n"), ErrBodyTooLarge},
	{"non-numeric Content-Length", ptCRLF(ptGoodStart + ptGoodHead + "Content-Length: 12abc\n\n"), ErrContentLength},
	{"hex Content-Length", ptCRLF(ptGoodStart + ptGoodHead + "Content-Length: 0x10\n\n"), ErrContentLength},
	{"Content-Length with plus sign", ptCRLF(ptGoodStart + ptGoodHead + "Content-Length: +3\n\nabc"), ErrContentLength},
	{"Content-Length larger than the data", ptCRLF(ptGoodStart+ptGoodHead+"Content-Length: 50\n\n") + "v=0\r\n", ErrContentLength},
	{"message over the size limit", ptCRLF(ptGoodStart+ptGoodHead+"\n") + strings.Repeat("x", DefaultMaxMessageSize), ErrMessageTooLarge},

	// Header lines.
	{"header without colon", ptWith(ptGoodStart, "Subject hello\n"), nil},
	{"empty header name", ptWith(ptGoodStart, ": value\n"), nil},
	{"header name with space", ptWith(ptGoodStart, "Call ID: x\n"), nil},
	{"folded junk after Contact", ptWith(ptGoodStart, " i: x\n"+"X: 1\n"), nil},
	{"header name with colon only", ptWith(ptGoodStart, ":\n"), nil},
	{"header name with bad character", ptWith(ptGoodStart, "Sub[ject]: x\n"), nil},
	{"NUL in header name", ptWith(ptGoodStart, "Sub\x00ject: x\n"), nil},
	{"NUL in header value", ptWith(ptGoodStart, "Subject: a\x00b\n"), nil},
	{"NUL in Call-ID", ptReplace("Call-ID", "Call-ID: a\x00b"), nil},
	{"NUL in From", ptReplace("From", "From: Alice <sip:alice@atlanta.example.com>;tag=19\x00"), nil},
	{"DEL in header value", ptWith(ptGoodStart, "Subject: a\x7fb\n"), nil},
	{"DEL in Via", ptReplace("Via", "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK\x7f"), nil},
	{"escape character in header value", ptWith(ptGoodStart, "User-Agent: \x1b[31mred\n"), nil},
	{"bare CR in a value", ptWith(ptGoodStart, "Subject: one\rtwo\n"), nil},
	{"bare CR at the end of a value", ptWith(ptGoodStart, "Subject: one\r\r\n"), nil},
	{"bare CR in CSeq", ptReplace("CSeq", "CSeq: 314159\rINVITE"), nil},
	{"bare CR before a fold in From", ptReplace("From", "From: Alice <sip:alice@atlanta.example.com>\r\n ;tag=1928301774"), nil},
	{"bare CR before a fold in Via", ptReplace("Via", "Via: SIP/2.0/UDP pc33.atlanta.example.com\r\n ;branch=z9hG4bK776asdhds"), nil},
	{"over-long header line", ptWith(ptGoodStart, "Subject: "+strings.Repeat("s", DefaultMaxHeaderLength)+"\n"), ErrHeaderTooLong},
	{"over-long folded header line", ptWith(ptGoodStart, "Subject: "+strings.Repeat("s\n ", DefaultMaxHeaderLength/3+10)+"\n"), ErrHeaderTooLong},
	{"over-long start line", ptWith("INVITE sip:bob@biloxi.example.com;x="+strings.Repeat("p", DefaultMaxHeaderLength)+" SIP/2.0\n", ""), ErrHeaderTooLong},
	{"too many headers", ptWith(ptGoodStart, strings.Repeat("X-H: 1\n", DefaultMaxHeaders)), ErrTooManyHeaders},
	{"binary garbage", ptGarbage(1, 512), ErrIncomplete},
	{"binary garbage with a header end", ptGarbage(2, 300) + "\r\n\r\n" + ptGarbage(3, 40), nil},
	{"binary garbage after a valid start line", ptGoodStart + ptGarbage(4, 512) + "\r\n\r\n", nil},
	{"binary garbage as a header line", ptWith(ptGoodStart, "X-Bin: "+strings.ReplaceAll(ptGarbage(5, 200), "\n", "")+"\n"), nil},

	// Eager header values.
	{"unterminated quoted display name", ptReplace("From", `From: "Alice <sip:alice@atlanta.example.com>;tag=1928301774`), nil},
	{"From without URI", ptReplace("From", "From: Alice"), nil},
	{"From with unbalanced <", ptReplace("From", "From: Alice <sip:alice@atlanta.example.com;tag=1928301774"), nil},
	{"From with unbalanced >", ptReplace("From", "From: sip:alice@atlanta.example.com>;tag=1928301774"), nil},
	{"From empty", ptReplace("From", "From:"), nil},
	{"From with bad tag quoting", ptReplace("From", `From: <sip:alice@atlanta.example.com>;tag="1928301774`), nil},
	{"To wildcard", ptReplace("To", "To: *"), nil},
	{"To with bad escape", ptReplace("To", "To: <sip:b%zzob@biloxi.example.com>"), nil},
	{"To URI too long", ptReplace("To", "To: <sip:"+strings.Repeat("b", DefaultMaxURILength)+"@biloxi.example.com>"), ErrURITooLong},
	{"bad IPv6 in Via", ptReplace("Via", "Via: SIP/2.0/UDP [2001:db8::1;branch=z9hG4bK776asdhds"), nil},
	{"bad IPv6 in Contact", ptReplace("Contact", "Contact: <sip:alice@[zz::1]>"), nil},
	{"IPv4 in brackets in Via", ptReplace("Via", "Via: SIP/2.0/UDP [192.0.2.1]:5060;branch=z9hG4bK776asdhds"), nil},
	{"Via without sent-by", ptReplace("Via", "Via: SIP/2.0/UDP"), nil},
	{"Via without sent-by but with parameters", ptReplace("Via", "Via: SIP/2.0/UDP ;branch=z9hG4bK776asdhds"), nil},
	{"Via not SIP", ptReplace("Via", "Via: HTTP/1.1/TCP pc33.atlanta.example.com"), nil},
	{"Via with two protocol parts", ptReplace("Via", "Via: SIP/UDP pc33.atlanta.example.com"), nil},
	{"Via bad port", ptReplace("Via", "Via: SIP/2.0/UDP pc33.atlanta.example.com:99999;branch=z9hG4bK776asdhds"), nil},
	{"Via port zero", ptReplace("Via", "Via: SIP/2.0/UDP pc33.atlanta.example.com:0"), nil},
	{"Via with empty element", ptReplace("Via", "Via: SIP/2.0/UDP a.example.com, , SIP/2.0/UDP b.example.com"), nil},
	{"Via with bad parameter", ptReplace("Via", "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;"), nil},
	{"Via with control character in a bracketed parameter", ptReplace("Via", "Via: SIP/2.0/UDP pc33.atlanta.example.com;received=[\x01]"), nil},
	{"Via with unterminated quote", ptReplace("Via", `Via: SIP/2.0/UDP pc33.atlanta.example.com;x="abc`), nil},
	{"CSeq without method", ptReplace("CSeq", "CSeq: 314159"), nil},
	{"CSeq without number", ptReplace("CSeq", "CSeq: INVITE"), nil},
	{"CSeq over 2^32-1", ptReplace("CSeq", "CSeq: 4294967296 INVITE"), nil},
	{"CSeq with eleven digits", ptReplace("CSeq", "CSeq: 10000000000 INVITE"), nil},
	{"CSeq letters", ptReplace("CSeq", "CSeq: abc INVITE"), nil},
	{"CSeq negative", ptReplace("CSeq", "CSeq: -1 INVITE"), nil},
	{"CSeq number glued to method", ptReplace("CSeq", "CSeq: 314159INVITE"), nil},
	{"CSeq method with space", ptReplace("CSeq", "CSeq: 1 INVITE extra"), nil},
	{"Max-Forwards 256", ptReplace("Max-Forwards", "Max-Forwards: 256"), nil},
	{"Max-Forwards -1", ptReplace("Max-Forwards", "Max-Forwards: -1"), nil},
	{"Max-Forwards letters", ptReplace("Max-Forwards", "Max-Forwards: seventy"), nil},
	{"Max-Forwards empty", ptReplace("Max-Forwards", "Max-Forwards:"), nil},
	{"Contact with empty element", ptReplace("Contact", "Contact: <sip:a@x>,,<sip:b@y>"), nil},
	{"Contact with text after >", ptReplace("Contact", "Contact: <sip:a@x> garbage"), nil},
	{"Contact with bad URI", ptReplace("Contact", "Contact: <sip:a@x:0>"), nil},
	{"Contact with unterminated quote", ptReplace("Contact", `Contact: "Alice <sip:a@x>`), nil},
	{"Contact with unbalanced <", ptReplace("Contact", "Contact: <sip:a@x, <sip:b@y>"), nil},
	{"Content-Type without slash", ptWith(ptGoodStart, "Content-Type: application\n"), nil},
	{"Content-Type with bad subtype", ptWith(ptGoodStart, "Content-Type: application/s dp\n"), nil},
	{"Content-Type with bad parameter", ptWith(ptGoodStart, "Content-Type: text/plain;;charset=utf-8\n"), nil},
	{"Call-ID with space", ptReplace("Call-ID", "Call-ID: a84b4c76 e66710"), nil},
	{"Call-ID empty", ptReplace("Call-ID", "Call-ID:"), nil},
	{"Call-ID with UTF-8", ptReplace("Call-ID", "Call-ID: é@x"), nil},
}

func TestMalformedCorpusSize(t *testing.T) {
	assert.GreaterOrEqual(t, len(ptMalformedCases), 45)
	seen := map[string]bool{}
	for _, c := range ptMalformedCases {
		assert.False(t, seen[c.name], "duplicate name %q", c.name)
		seen[c.name] = true
	}
}

func TestParseMessageMalformed(t *testing.T) {
	for _, tt := range ptMalformedCases {
		t.Run(tt.name, func(t *testing.T) {
			var (
				m   Message
				err error
			)
			require.NotPanics(t, func() { m, err = ParseMessage([]byte(tt.data)) })
			require.Error(t, err)
			assert.Nil(t, m)
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "%T: %v", err, err)
			assert.NotEmpty(t, pe.Msg)
			want := tt.want
			if want == nil {
				want = ErrMalformed
			}
			assert.ErrorIs(t, err, want)
			code, reason := StatusForError(err)
			assert.Contains(t, []int{400, 414, 513}, code)
			assert.NotEmpty(t, reason)
			if pe.Partial != nil {
				if req, ok := pe.Partial.(*Request); ok {
					assert.NotPanics(t, func() { _ = NewResponse(req, code, reason).String() })
				}
			}
		})
	}
}

// ptStreamFrame makes sure a stream parser gets to parse the message: it
// adds a Content-Length matching the rest of the data when the header
// section ends and has none.
func ptStreamFrame(data string) string {
	end := strings.Index(data, "\r\n\r\n")
	if end < 0 || strings.Contains(strings.ToLower(data[:end]), "\ncontent-length") {
		return data
	}
	return data[:end] + "\r\nContent-Length: " + strconv.Itoa(len(data)-end-4) + data[end:]
}

func TestStreamParserMalformed(t *testing.T) {
	for _, tt := range ptMalformedCases {
		t.Run(tt.name, func(t *testing.T) {
			for _, data := range []string{tt.data, ptStreamFrame(tt.data)} {
				for rname, reader := range ptReaders(data) {
					if rname == "one byte" && len(data) > 4096 {
						continue
					}
					p := NewParser(reader())
					var errs []error
					require.NotPanics(t, func() {
						for i := 0; i <= len(data)+1; i++ {
							m, err := p.ReadMessage()
							if errors.Is(err, ErrPing) {
								continue
							}
							if err != nil {
								errs = append(errs, err)
								if len(errs) == 2 || p.err != nil {
									return
								}
								continue
							}
							t.Errorf("%s: a malformed case gave a message: %q", rname, m.StartLine())
							return
						}
						t.Errorf("%s: ReadMessage does not stop", rname)
					}, rname)
					require.NotEmpty(t, errs, rname)
					if errs[0] != io.EOF {
						var pe *ParseError
						assert.True(t, errors.As(errs[0], &pe), "%s: %T %v", rname, errs[0], errs[0])
					}
				}
			}
		})
	}
}

// badControlByte must agree with the plain definition on every input.
func TestBadControlByte(t *testing.T) {
	ref := func(b []byte) int {
		for i, c := range b {
			switch {
			case c == '\t' || c == '\n':
			case c == '\r':
				if i+1 >= len(b) || b[i+1] != '\n' {
					return i
				}
			case c < ' ' || c == 0x7f:
				return i
			}
		}
		return -1
	}
	rng := rand.New(rand.NewSource(11))
	interesting := []byte{0, 1, '\t', '\n', '\r', 0x1f, ' ', '!', 'a', '~', 0x7e, 0x7f, 0x80, 0x9f, 0xa0, 0xc3, 0xfe, 0xff}
	for n := 0; n < 50000; n++ {
		b := make([]byte, rng.Intn(40))
		for i := range b {
			if rng.Intn(4) == 0 {
				b[i] = interesting[rng.Intn(len(interesting))]
			} else {
				b[i] = byte(' ' + rng.Intn(0x5f)) // printable
			}
		}
		require.Equal(t, ref(b), badControlByte(b), "%q", b)
	}
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 17; pos++ {
			b := []byte(strings.Repeat("x", 17))
			b[pos] = byte(c)
			require.Equal(t, ref(b), badControlByte(b), "byte %#x at %d", c, pos)
		}
	}
}

// A second copy of a singleton header (CSeq, From, Call-ID,
// Content-Length) is not parsed, but it is kept and serialized again: a
// control character in it is refused like one in the first copy (found by
// FuzzParseMessage and FuzzStreamParser).
func TestDuplicateSingletonWithControlCharacter(t *testing.T) {
	for _, raw := range []string{
		"SIP/2.0 100 Trying\r\nCSeq: 1 INVITE\r\nCSeq: \x10\r\nContent-Length: 0\r\n\r\n",
		"OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\nFrom: \x00\r\nContent-Length: 0\r\n\r\n",
	} {
		_, err := ParseMessage([]byte(raw))
		assert.Error(t, err, "%q", raw)
	}
	_, err := NewParser(strings.NewReader("OPTIONS sip:a@b SIP/2.0\nf: <sip:a@b>\nf:\x00\nContent-Length:0\n\n")).ReadMessage()
	assert.Error(t, err)
}
