package sip

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ptCRLF turns the LF line ends of a test literal into CRLF.
func ptCRLF(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// ptBuild returns head (LF line ends, each line terminated) with CRLF line
// ends, a Content-Length matching body, the blank line and body.
func ptBuild(head, body string) string {
	return ptCRLF(head) + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// ptParse parses s and fails the test on error.
func ptParse(t testing.TB, s string) Message {
	t.Helper()
	m, err := ParseMessage([]byte(s))
	require.NoError(t, err)
	require.NotNil(t, m)
	return m
}

func ptRequest(t testing.TB, s string) *Request {
	t.Helper()
	req, ok := ptParse(t, s).(*Request)
	require.True(t, ok, "not a request")
	return req
}

func ptResponse(t testing.TB, s string) *Response {
	t.Helper()
	res, ok := ptParse(t, s).(*Response)
	require.True(t, ok, "not a response")
	return res
}

// ptFields lists the (name, value) pairs of h except Content-Length, which
// serialization rewrites.
func ptFields(h *Header) [][2]string {
	var out [][2]string
	for _, f := range h.Fields() {
		if CanonicalHeaderName(f.Name) == "Content-Length" {
			continue
		}
		out = append(out, [2]string{f.Name, f.Value})
	}
	return out
}

// ptSameMessage reports how a and b differ in start line, header fields
// (except Content-Length) and body, or "" when they are the same message.
func ptSameMessage(a, b Message) string {
	switch x := a.(type) {
	case *Request:
		y, ok := b.(*Request)
		if !ok {
			return "request vs response"
		}
		if x.Method != y.Method || x.Proto != y.Proto {
			return fmt.Sprintf("request line %q vs %q", x.StartLine(), y.StartLine())
		}
		if !x.URI.Equal(y.URI) || x.URI.String() != y.URI.String() {
			return fmt.Sprintf("Request-URI %q vs %q", x.URI.String(), y.URI.String())
		}
	case *Response:
		y, ok := b.(*Response)
		if !ok {
			return "response vs request"
		}
		if x.Proto != y.Proto || x.StatusCode != y.StatusCode || x.Reason != y.Reason {
			return fmt.Sprintf("status line %q vs %q", x.StartLine(), y.StartLine())
		}
	default:
		return fmt.Sprintf("unexpected message type %T", a)
	}
	fa, fb := ptFields(a.Headers()), ptFields(b.Headers())
	if fmt.Sprint(fa) != fmt.Sprint(fb) {
		return fmt.Sprintf("fields %q vs %q", fa, fb)
	}
	if string(a.Body()) != string(b.Body()) {
		return fmt.Sprintf("body %q vs %q", a.Body(), b.Body())
	}
	return ""
}

// ptCheckContentLength checks that a serialization has exactly one
// Content-Length field and that it matches the body.
func ptCheckContentLength(t testing.TB, wire string) {
	t.Helper()
	end := strings.Index(wire, "\r\n\r\n")
	require.GreaterOrEqual(t, end, 0, "no end of header section")
	body := wire[end+4:]
	n := 0
	for _, line := range strings.Split(wire[:end], "\r\n")[1:] {
		name, value, ok := strings.Cut(line, ":")
		require.True(t, ok, "line without colon: %q", line)
		if CanonicalHeaderName(strings.TrimSpace(name)) == "Content-Length" {
			n++
			assert.Equal(t, strconv.Itoa(len(body)), strings.TrimSpace(value))
		}
	}
	assert.Equal(t, 1, n, "Content-Length fields")
}

var ptInviteBody = ptCRLF(`v=0
o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com
s=-
c=IN IP4 192.0.2.101
t=0 0
m=audio 49172 RTP/AVP 0
a=rtpmap:0 PCMU/8000
`)

var ptInvite = ptBuild(`INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9
Max-Forwards: 70
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 INVITE
Contact: <sip:alice@client.atlanta.example.com;transport=tcp>
Content-Type: application/sdp
`, ptInviteBody)

var ptResponse200 = ptBuild(`SIP/2.0 200 OK
Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1, SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bK2;received=192.0.2.7;rport=5071
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK3;rport;maddr=239.255.255.1;ttl=16
From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: <sip:bob@biloxi.example.com>;tag=8321234356
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:bob@192.0.2.4>;expires=60, "Bob Mobile" <sip:bob@192.0.2.5;transport=tcp>;q=0.5
Contact: sip:bob@192.0.2.6;q=0.1
Max-Forwards: 69
Content-Type: text/plain;charset="utf-8"
`, "hello")

var ptCompact = ptBuild(`INVITE sip:b@x SIP/2.0
v: SIP/2.0/UDP h.example.com;branch=z9hG4bKc1
f: <sip:a@x>;tag=1
t: <sip:b@x>
i: abc@x
m: <sip:a@h>
k: timer
c: application/sdp
e: gzip
s: hello
o: presence
u: presence, dialog
r: <sip:c@x>
b: <sip:d@x>
x: 1800
y: abc
a: *;audio
j: *;video
d: proxy
`, "v=0\r\n")

var ptRegister = ptBuild(`REGISTER sip:registrar.example.com SIP/2.0
Via: SIP/2.0/TCP 192.0.2.2;branch=z9hG4bKnashds7
Max-Forwards: 70
From: Bob <sip:bob@example.com>;tag=456248
To: Bob <sip:bob@example.com>
Call-ID: 843817637684230@998sdasdh09
CSeq: 1826 REGISTER
Supported: path, outbound, gruu
Contact: <sip:line1@192.0.2.2;transport=tcp>;reg-id=1;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"
Expires: 3600
`, "")

// ptValidMessages are well-formed messages of many shapes; the round-trip
// tests and the fuzz seeds use them.
var ptValidMessages = []struct{ name, data string }{
	{"INVITE with SDP", ptInvite},
	{"200 with several Vias and Contacts", ptResponse200},
	{"compact forms", ptCompact},
	{"REGISTER with outbound Contact", ptRegister},
	{"response without reason phrase", ptBuild("SIP/2.0 180\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n", "")},
	{"response with empty reason phrase", ptBuild("SIP/2.0 183 \nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n", "")},
	{"response with long reason phrase", ptBuild("SIP/2.0 404 Not Found Here, Sorry\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n", "")},
	{"response with UTF-8 reason phrase", ptBuild("SIP/2.0 603 Refusé\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n", "")},
	{"extension method", ptBuild("FOO.BAR-1! sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nCSeq: 2 FOO.BAR-1!\n", "")},
	{"SIP/3.0 request", ptBuild("OPTIONS sip:x@y SIP/3.0\nVia: SIP/3.0/UDP h;branch=z9hG4bK1\n", "")},
	{"SIP/3.0 response", ptBuild("SIP/3.0 200 OK\nCSeq: 1 OPTIONS\n", "")},
	{"tel Request-URI", ptBuild("INVITE tel:+1-201-555-0123;phone-context=example.com SIP/2.0\nCall-ID: x\n", "")},
	{"urn Request-URI", ptBuild("INVITE urn:service:sos SIP/2.0\nCall-ID: x\n", "")},
	{"escaped Request-URI", ptBuild("INVITE sip:%61lice%20smith@x;transport=tcp?subject=a%20b SIP/2.0\nCall-ID: x\n", "")},
	{"IPv6 Request-URI", ptBuild("OPTIONS sip:[2001:db8::1]:5060 SIP/2.0\nVia: SIP/2.0/UDP [2001:db8::2];branch=z9hG4bK1\n", "")},
	{"folded header", ptCRLF("MESSAGE sip:x@y SIP/2.0\nSubject: I know you're there,\n   pick up the phone\n\tand talk to me!\nContent-Length: 2\n\nhi")},
	{"no Content-Length", ptCRLF("MESSAGE sip:x@y SIP/2.0\nCall-ID: x\n\nbody to the end")},
	{"bare LF", "MESSAGE sip:x@y SIP/2.0\nCall-ID: x\nContent-Length: 3\n\nabc"},
	{"leading CRLFs", "\r\n\r\n" + ptBuild("OPTIONS sip:x@y SIP/2.0\nCall-ID: x\n", "")},
	{"no header fields", "OPTIONS sip:x@y SIP/2.0\r\n\r\n"},
	{"two Content-Length fields", ptCRLF("MESSAGE sip:x@y SIP/2.0\nContent-Length: 2\nl: 2\n\nhi")},
	{"unknown headers", ptBuild("OPTIONS sip:x@y SIP/2.0\nX-Empty:\nX-Odd :  spaced   value  \nP-Charging-Vector: icid-value=\"AyretyU0dm+6O2IrT5tAFrbHLso=023551024\"\n", "")},
	{"authorization", ptBuild("REGISTER sip:x SIP/2.0\nAuthorization: Digest username=\"bob\", realm=\"atlanta.example.com\", nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\", uri=\"sips:ss2.biloxi.example.com\", response=\"dfe56131d1958046689d83306477ecc\"\n", "")},
}

func TestParseMessageRequest(t *testing.T) {
	req := ptRequest(t, ptInvite)
	assert.Equal(t, "INVITE", req.Method)
	assert.Equal(t, URI{Scheme: "sip", User: "bob", Host: "biloxi.example.com"}, req.URI)
	assert.Equal(t, "SIP/2.0", req.Proto)
	assert.Equal(t, "INVITE sip:bob@biloxi.example.com SIP/2.0", req.StartLine())

	require.Len(t, req.Via(), 1)
	v := req.Via()[0]
	assert.Equal(t, Via{Transport: "TCP", Host: "client.atlanta.example.com", Port: 5060, Params: "branch=z9hG4bK74bf9"}, v)
	top, ok := req.TopVia()
	assert.True(t, ok)
	assert.Equal(t, v, top)

	mf, ok := req.MaxForwards()
	assert.True(t, ok)
	assert.Equal(t, 70, mf)
	assert.Equal(t, "Alice", req.From().Display)
	assert.Equal(t, "9fxced76sl", req.From().Tag())
	assert.Equal(t, "alice", req.From().URI.User)
	assert.Equal(t, "Bob", req.To().Display)
	assert.Equal(t, "", req.To().Tag())
	assert.Equal(t, "3848276298220188511@atlanta.example.com", req.CallID())
	assert.Equal(t, CSeq{Seq: 1, Method: "INVITE"}, req.CSeq())
	require.Len(t, req.Contact(), 1)
	assert.Equal(t, "tcp", req.Contact()[0].URI.Params.Value("transport"))
	assert.True(t, req.ContentType().Is("application/sdp"))
	cl, ok := req.ContentLength()
	assert.True(t, ok)
	assert.Equal(t, len(ptInviteBody), cl)
	assert.Equal(t, ptInviteBody, string(req.Body()))
	assert.Equal(t, 9, req.Len())
	assert.Equal(t, "Via", req.Fields()[0].Name)
	assert.Equal(t, "Content-Length", req.Fields()[8].Name)
	assert.Same(t, &req.Header, req.Headers())
}

func TestParseMessageResponse(t *testing.T) {
	res := ptResponse(t, ptResponse200)
	assert.Equal(t, "SIP/2.0", res.Proto)
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "OK", res.Reason)
	assert.Equal(t, "SIP/2.0 200 OK", res.StartLine())
	assert.True(t, res.IsSuccess())
	assert.False(t, res.IsProvisional())

	vias := res.Via()
	require.Len(t, vias, 3, "two values on the first line, one on the second")
	assert.Equal(t, "UDP", vias[0].Transport)
	assert.Equal(t, "p1.example.com", vias[0].Host)
	assert.Equal(t, 0, vias[0].Port)
	assert.Equal(t, "z9hG4bK1", vias[0].Branch())

	assert.Equal(t, "TCP", vias[1].Transport)
	assert.Equal(t, "2001:db8::1", vias[1].Host)
	assert.Equal(t, 5070, vias[1].Port)
	assert.Equal(t, "z9hG4bK2", vias[1].Branch())
	assert.Equal(t, "192.0.2.7", vias[1].Received())
	port, present := vias[1].RPort()
	assert.True(t, present)
	assert.Equal(t, 5071, port)

	assert.Equal(t, "192.0.2.1", vias[2].Host)
	assert.Equal(t, "z9hG4bK3", vias[2].Branch())
	port, present = vias[2].RPort()
	assert.True(t, present)
	assert.Equal(t, 0, port)
	assert.Equal(t, "239.255.255.1", vias[2].MAddr())
	ttl, ok := vias[2].TTL()
	assert.True(t, ok)
	assert.Equal(t, 16, ttl)
	_, present = vias[0].RPort()
	assert.False(t, present)
	_, ok = vias[0].TTL()
	assert.False(t, ok)

	assert.Equal(t, "9fxced76sl", res.From().Tag())
	assert.Equal(t, "8321234356", res.To().Tag())
	assert.Equal(t, "a84b4c76e66710@pc33.atlanta.example.com", res.CallID())
	assert.Equal(t, CSeq{Seq: 314159, Method: "INVITE"}, res.CSeq())

	contacts := res.Contact()
	require.Len(t, contacts, 3)
	assert.Equal(t, "sip:bob@192.0.2.4", contacts[0].URI.String())
	assert.Equal(t, "60", contacts[0].Params.Value("expires"))
	assert.Equal(t, "Bob Mobile", contacts[1].Display)
	assert.Equal(t, "0.5", contacts[1].Params.Value("q"))
	assert.Equal(t, "sip:bob@192.0.2.6", contacts[2].URI.String(), "addr-spec: q is a header parameter")
	assert.Equal(t, "0.1", contacts[2].Params.Value("q"))

	mf, ok := res.MaxForwards()
	assert.True(t, ok)
	assert.Equal(t, 69, mf)
	ct := res.ContentType()
	assert.Equal(t, "text", ct.Type)
	assert.Equal(t, "plain", ct.Subtype)
	assert.Equal(t, "utf-8", ct.Params.Value("charset"))
	assert.Equal(t, "hello", string(res.Body()))
}

func TestParseMessageCompactForms(t *testing.T) {
	req := ptRequest(t, ptCompact)
	full := map[string]string{
		"Via":                 "SIP/2.0/UDP h.example.com;branch=z9hG4bKc1",
		"From":                "<sip:a@x>;tag=1",
		"To":                  "<sip:b@x>",
		"Call-ID":             "abc@x",
		"Contact":             "<sip:a@h>",
		"Supported":           "timer",
		"Content-Type":        "application/sdp",
		"Content-Encoding":    "gzip",
		"Subject":             "hello",
		"Event":               "presence",
		"Allow-Events":        "presence, dialog",
		"Refer-To":            "<sip:c@x>",
		"Referred-By":         "<sip:d@x>",
		"Session-Expires":     "1800",
		"Identity":            "abc",
		"Accept-Contact":      "*;audio",
		"Reject-Contact":      "*;video",
		"Request-Disposition": "proxy",
		"Content-Length":      "5",
	}
	for name, want := range full {
		assert.Equal(t, want, req.Get(name), name)
		assert.Equal(t, want, req.Get(strings.ToUpper(name)), name)
		assert.True(t, req.Has(strings.ToLower(name)), name)
	}
	// Compact names are kept as written.
	assert.Equal(t, "v", req.Fields()[0].Name)

	require.Len(t, req.Via(), 1)
	assert.Equal(t, "z9hG4bKc1", req.Via()[0].Branch())
	assert.Equal(t, "1", req.From().Tag())
	assert.Equal(t, "sip:b@x", req.To().URI.String())
	assert.Equal(t, "abc@x", req.CallID())
	require.Len(t, req.Contact(), 1)
	assert.True(t, req.ContentType().Is("application/sdp"))
	cl, ok := req.ContentLength()
	assert.True(t, ok)
	assert.Equal(t, 5, cl)
	assert.True(t, req.HasToken("Allow-Events", "dialog"))
	assert.True(t, req.HasToken("u", "presence"))
}

func TestCanonicalHeaderName(t *testing.T) {
	compact := map[string]string{
		"a": "Accept-Contact", "b": "Referred-By", "c": "Content-Type", "d": "Request-Disposition",
		"e": "Content-Encoding", "f": "From", "i": "Call-ID", "j": "Reject-Contact", "k": "Supported",
		"l": "Content-Length", "m": "Contact", "o": "Event", "r": "Refer-To", "s": "Subject",
		"t": "To", "u": "Allow-Events", "v": "Via", "x": "Session-Expires", "y": "Identity",
	}
	for c, want := range compact {
		assert.Equal(t, want, CanonicalHeaderName(c), c)
		assert.Equal(t, want, CanonicalHeaderName(strings.ToUpper(c)), c)
	}
	for _, c := range "ghnpqwz" {
		assert.Equal(t, string(c), CanonicalHeaderName(string(c)), "no compact form %c", c)
	}

	tests := []struct{ in, want string }{
		{"via", "Via"}, {"VIA", "Via"}, {"call-id", "Call-ID"}, {"CALL-ID", "Call-ID"},
		{"cseq", "CSeq"}, {"www-authenticate", "WWW-Authenticate"}, {"max-forwards", "Max-Forwards"},
		{"content-length", "Content-Length"}, {"mime-version", "MIME-Version"},
		{"MS-DIAGNOSTICS", "ms-diagnostics"}, {"sip-etag", "SIP-ETag"}, {"rack", "RAck"},
		{"X-Custom", "X-Custom"}, {"x-custom", "x-custom"}, {"", ""}, {"1", "1"}, {"-", "-"},
		{"Vi", "Vi"}, {"Viaa", "Viaa"}, {"Call_ID", "Call_ID"}, {"Call-I\x00", "Call-I\x00"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, CanonicalHeaderName(tt.in), "%q", tt.in)
	}
	// Every known name maps to itself in any case.
	for id := hid(1); id < numHIDs; id++ {
		name := canonicalNames[id]
		require.NotEmpty(t, name, "hid %d has no name", id)
		assert.Equal(t, name, CanonicalHeaderName(name))
		assert.Equal(t, name, CanonicalHeaderName(strings.ToLower(name)))
		assert.Equal(t, name, CanonicalHeaderName(strings.ToUpper(name)))
		assert.Equal(t, id, lookupHID(name))
	}
}

func TestParseMessageHeaderNames(t *testing.T) {
	req := ptRequest(t, ptBuild(`OPTIONS sip:x@y SIP/2.0
VIA: SIP/2.0/UDP h;branch=z9hG4bK1
cseq: 7 OPTIONS
CALL-id: abc
fRoM: <sip:a@x>;tag=f
Call-ID : ignored-duplicate
Max-Forwards`+"\t"+`: 10
X-Custom  :  value
`, ""))
	require.Len(t, req.Via(), 1)
	assert.Equal(t, CSeq{Seq: 7, Method: "OPTIONS"}, req.CSeq())
	assert.Equal(t, "abc", req.CallID(), "first Call-ID wins")
	assert.Equal(t, "f", req.From().Tag())
	mf, ok := req.MaxForwards()
	assert.True(t, ok)
	assert.Equal(t, 10, mf)
	assert.Equal(t, "abc", req.Get("Call-ID"))
	assert.Equal(t, []string{"abc", "ignored-duplicate"}, req.Values("i"))
	assert.Equal(t, "value", req.Get("x-custom"))
	names := make([]string, 0, req.Len())
	for _, f := range req.Fields() {
		names = append(names, f.Name)
	}
	assert.Equal(t, []string{"VIA", "cseq", "CALL-id", "fRoM", "Call-ID", "Max-Forwards", "X-Custom", "Content-Length"}, names,
		"names are kept as written, without the white space before the colon")
}

func TestParseMessageFolding(t *testing.T) {
	req := ptRequest(t, ptBuild(`INVITE sip:x@y SIP/2.0
Via: SIP/2.0/UDP h1.example.com;branch=z9hG4bK1,
 SIP/2.0/UDP h2.example.com;branch=z9hG4bK2
Subject: I know you're there,
      pick up the phone
`+"\t"+`and talk to me!
From: Alice
  <sip:alice@x>
   ;tag=ft
To:
 <sip:bob@y>
CSeq: 1
 INVITE
X-Folded-Empty: a
`+" \n", ""))
	require.Len(t, req.Via(), 2)
	assert.Equal(t, "h2.example.com", req.Via()[1].Host)
	assert.Equal(t, "SIP/2.0/UDP h1.example.com;branch=z9hG4bK1, SIP/2.0/UDP h2.example.com;branch=z9hG4bK2", req.Get("Via"))
	assert.Equal(t, "I know you're there, pick up the phone and talk to me!", req.Get("Subject"))
	assert.Equal(t, "Alice <sip:alice@x> ;tag=ft", req.Get("From"))
	assert.Equal(t, "Alice", req.From().Display)
	assert.Equal(t, "ft", req.From().Tag())
	assert.Equal(t, "<sip:bob@y>", req.Get("To"))
	assert.Equal(t, "sip:bob@y", req.To().URI.String())
	assert.Equal(t, CSeq{Seq: 1, Method: "INVITE"}, req.CSeq())
	assert.Equal(t, "a", req.Get("X-Folded-Empty"))

	// Folding with bare LF line ends.
	req = ptRequest(t, "OPTIONS sip:x SIP/2.0\nSubject: a\n b\nContent-Length: 0\n\n")
	assert.Equal(t, "a b", req.Get("Subject"))
}

func TestParseMessageDatagramBody(t *testing.T) {
	head := "MESSAGE sip:x@y SIP/2.0\r\nCall-ID: c\r\n"
	tests := []struct {
		name string
		data string
		body string
		err  error
	}{
		{"missing Content-Length: body is the rest", head + "\r\nhello\r\nworld", "hello\r\nworld", nil},
		{"missing Content-Length, no body", head + "\r\n", "", nil},
		{"exact Content-Length", head + "Content-Length: 5\r\n\r\nhello", "hello", nil},
		{"smaller Content-Length truncates", head + "Content-Length: 3\r\n\r\nhello", "hel", nil},
		{"zero Content-Length ignores the rest", head + "Content-Length: 0\r\n\r\ngarbage", "", nil},
		{"compact l", head + "l: 2\r\n\r\nhello", "he", nil},
		{"white space around the value", head + "Content-Length:   4  \r\n\r\nhello", "hell", nil},
		{"first of two Content-Length fields wins", head + "Content-Length: 1\r\nContent-Length: 4\r\n\r\nhello", "h", nil},
		{"larger Content-Length", head + "Content-Length: 6\r\n\r\nhello", "", ErrContentLength},
		{"larger Content-Length, no body", head + "Content-Length: 1\r\n\r\n", "", ErrContentLength},
		{"negative Content-Length", head + "Content-Length: -1\r\n\r\nhello", "", ErrContentLength},
		{"non-numeric Content-Length", head + "Content-Length: five\r\n\r\nhello", "", ErrContentLength},
		{"empty Content-Length", head + "Content-Length:\r\n\r\nhello", "", ErrContentLength},
		{"ten-digit Content-Length", head + "Content-Length: 4294967296\r\n\r\nhello", "", ErrContentLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMessage([]byte(tt.data))
			if tt.err != nil {
				require.Error(t, err)
				assert.Nil(t, m)
				assert.ErrorIs(t, err, tt.err)
				var pe *ParseError
				require.True(t, errors.As(err, &pe))
				assert.Equal(t, "Content-Length", pe.Header)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.body, string(m.Body()))
			if tt.body == "" {
				assert.Nil(t, m.Body())
			}
		})
	}
}

func TestParseMessageLineEnds(t *testing.T) {
	want := ptRequest(t, ptBuild("OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nCall-ID: c\n", "body"))
	tests := []struct{ name, data string }{
		{"bare LF", "OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nCall-ID: c\nContent-Length: 4\n\nbody"},
		{"mixed", "OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nCall-ID: c\r\nContent-Length: 4\n\r\nbody"},
		{"bare LF blank line after CRLF lines", "OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\r\nContent-Length: 4\r\n\nbody"},
		{"leading CRLFs", "\r\n\r\n\r\nOPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\r\nContent-Length: 4\r\n\r\nbody"},
		{"leading bare LFs", "\n\nOPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nCall-ID: c\nContent-Length: 4\n\nbody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ptParse(t, tt.data)
			assert.Empty(t, ptSameMessage(want, m))
		})
	}
}

func TestParseMessageStartLines(t *testing.T) {
	tests := []struct {
		line           string
		method, uri    string // request
		code           int    // response
		reason, proto  string
		provisional    bool
		wantStartLine  string // "" means line
		isResponseLine bool
	}{
		{line: "INVITE sip:bob@biloxi.com SIP/2.0", method: "INVITE", uri: "sip:bob@biloxi.com", proto: "SIP/2.0"},
		{line: "PUBLISH sip:presentity@example.com SIP/2.0", method: "PUBLISH", uri: "sip:presentity@example.com", proto: "SIP/2.0"},
		{line: "NEWMETHOD sip:x SIP/2.0", method: "NEWMETHOD", uri: "sip:x", proto: "SIP/2.0"},
		{line: "x-ext.m!~*%'`+_ sip:x SIP/2.0", method: "x-ext.m!~*%'`+_", uri: "sip:x", proto: "SIP/2.0"},
		{line: "invite sip:x SIP/2.0", method: "invite", uri: "sip:x", proto: "SIP/2.0"},
		{line: "OPTIONS sip:x sip/2.0", method: "OPTIONS", uri: "sip:x", proto: "sip/2.0"},
		{line: "OPTIONS sip:x SIP/3.0", method: "OPTIONS", uri: "sip:x", proto: "SIP/3.0"},
		{line: "OPTIONS sip:x SIP/20.10", method: "OPTIONS", uri: "sip:x", proto: "SIP/20.10"},
		{line: "OPTIONS SIP:X SIP/2.0", method: "OPTIONS", uri: "sip:X", proto: "SIP/2.0", wantStartLine: "OPTIONS sip:X SIP/2.0"},
		{line: "SIP/2.0 200 OK", code: 200, reason: "OK", proto: "SIP/2.0", isResponseLine: true},
		{line: "SIP/2.0 100 Trying", code: 100, reason: "Trying", proto: "SIP/2.0", provisional: true, isResponseLine: true},
		{line: "SIP/2.0 180", code: 180, reason: "", proto: "SIP/2.0", provisional: true, isResponseLine: true, wantStartLine: "SIP/2.0 180 "},
		{line: "SIP/2.0 183 ", code: 183, reason: "", proto: "SIP/2.0", provisional: true, isResponseLine: true},
		{line: "SIP/2.0 486 Busy  Here ", code: 486, reason: "Busy  Here ", proto: "SIP/2.0", isResponseLine: true},
		{line: "SIP/2.0 699 Whatever", code: 699, reason: "Whatever", proto: "SIP/2.0", isResponseLine: true},
		{line: "SIP/2.0 200 \tOK", code: 200, reason: "\tOK", proto: "SIP/2.0", isResponseLine: true},
		{line: "SIP/3.0 200 OK", code: 200, reason: "OK", proto: "SIP/3.0", isResponseLine: true},
		{line: "sip/2.0 200 OK", code: 200, reason: "OK", proto: "sip/2.0", isResponseLine: true},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			m := ptParse(t, tt.line+"\r\nContent-Length: 0\r\n\r\n")
			want := tt.wantStartLine
			if want == "" {
				want = tt.line
			}
			assert.Equal(t, want, m.StartLine())
			if tt.isResponseLine {
				res, ok := m.(*Response)
				require.True(t, ok)
				assert.Equal(t, tt.code, res.StatusCode)
				assert.Equal(t, tt.reason, res.Reason)
				assert.Equal(t, tt.proto, res.Proto)
				assert.Equal(t, tt.provisional, res.IsProvisional())
				return
			}
			req, ok := m.(*Request)
			require.True(t, ok)
			assert.Equal(t, tt.method, req.Method)
			assert.Equal(t, tt.uri, req.URI.String())
			assert.Equal(t, tt.proto, req.Proto)
		})
	}
}

func TestParseMessageRoundTrip(t *testing.T) {
	for _, tt := range ptValidMessages {
		t.Run(tt.name, func(t *testing.T) {
			m := ptParse(t, tt.data)
			wire := m.String()
			ptCheckContentLength(t, wire)
			assert.Equal(t, wire, string(m.AppendTo(nil)))
			assert.Equal(t, "prefix"+wire, string(m.AppendTo([]byte("prefix"))))
			assert.True(t, strings.HasPrefix(wire, m.StartLine()+"\r\n"))

			m2 := ptParse(t, wire)
			assert.Empty(t, ptSameMessage(m, m2))
			assert.Equal(t, wire, m2.String(), "String is stable after one round")
			cl, ok := m2.Headers().ContentLength()
			assert.True(t, ok)
			assert.Equal(t, len(m2.Body()), cl)
		})
	}
}

func TestParseMessageRoundTripKeepsValuesVerbatim(t *testing.T) {
	// The raw fields are authoritative: odd but valid spelling survives.
	data := ptBuild(`INVITE sip:bob@biloxi.com SIP/2.0
v:  SIP/2.0/UDP   pc33.atlanta.com ; branch = z9hG4bK776asdhds ;rport
TO: <sip:+12125551212@example.com;user=phone>
f: "Alice \"A\""<sip:alice@atlanta.com> ; tag=1928301774
i: a84b4c76e66710
CSeq:	314159	INVITE
`, "")
	req := ptRequest(t, data)
	wire := req.String()
	assert.Contains(t, wire, "\r\nv: SIP/2.0/UDP   pc33.atlanta.com ; branch = z9hG4bK776asdhds ;rport\r\n")
	assert.Contains(t, wire, "\r\nTO: <sip:+12125551212@example.com;user=phone>\r\n")
	assert.Contains(t, wire, "\r\nf: \"Alice \\\"A\\\"\"<sip:alice@atlanta.com> ; tag=1928301774\r\n")
	assert.Contains(t, wire, "\r\nCSeq: 314159\tINVITE\r\n")
	assert.Equal(t, "z9hG4bK776asdhds", req.Via()[0].Branch())
	assert.Equal(t, `Alice "A"`, req.From().Display)
	assert.Equal(t, CSeq{Seq: 314159, Method: "INVITE"}, req.CSeq())
}

func TestParseMessageLimits(t *testing.T) {
	small := Limits{MaxMessageSize: 400, MaxHeaders: 4, MaxHeaderLength: 60, MaxURILength: 30, MaxBodySize: 10}
	ok := ptBuild("OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nCall-ID: c\nFrom: <sip:a@x>\n", "0123456789")
	_, err := ParseMessageLimits([]byte(ok), small)
	require.NoError(t, err, "a message within the small limits")

	tests := []struct {
		name    string
		data    string
		lim     Limits
		want    error
		partial bool
	}{
		{"message too large", ok + strings.Repeat("x", 400), Limits{MaxMessageSize: len(ok) + 399, MaxBodySize: -1}, ErrMessageTooLarge, false},
		{"header line too long", ptBuild("OPTIONS sip:x@y SIP/2.0\nSubject: "+strings.Repeat("s", 52)+"\n", ""), small, ErrHeaderTooLong, false},
		{"folded header line too long", ptBuild("OPTIONS sip:x@y SIP/2.0\nSubject: "+strings.Repeat("s", 30)+"\n "+strings.Repeat("t", 30)+"\n", ""), small, ErrHeaderTooLong, false},
		{"start line too long", "OPTIONS sip:x@y SIP/2.0;" + strings.Repeat("p", 60) + "\r\n\r\n", small, ErrHeaderTooLong, false},
		{"too many headers", ptBuild("OPTIONS sip:x@y SIP/2.0\nA: 1\nB: 2\nC: 3\nD: 4\n", ""), small, ErrTooManyHeaders, false},
		{"Request-URI too long", ptBuild("OPTIONS sip:"+strings.Repeat("u", 27)+"@y SIP/2.0\n", ""), small, ErrURITooLong, false},
		{"From URI too long", ptBuild("OPTIONS sip:x@y SIP/2.0\nFrom: <sip:"+strings.Repeat("u", 27)+"@y>\n", ""), small, ErrURITooLong, true},
		{"To URI too long", ptBuild("OPTIONS sip:x@y SIP/2.0\nTo: sip:"+strings.Repeat("u", 27)+"@y\n", ""), small, ErrURITooLong, true},
		{"Contact URI too long", ptBuild("OPTIONS sip:x@y SIP/2.0\nContact: <sip:a@b>, <sip:"+strings.Repeat("u", 27)+"@y>\n", ""), small, ErrURITooLong, true},
		{"body too large", ptBuild("OPTIONS sip:x@y SIP/2.0\n", "01234567890"), small, ErrBodyTooLarge, true},
		{"body too large without Content-Length", ptCRLF("OPTIONS sip:x@y SIP/2.0\n\n01234567890"), small, ErrBodyTooLarge, true},
		{"Content-Length too large without the data", ptCRLF("OPTIONS sip:x@y SIP/2.0\nContent-Length: 11\n\n"), small, ErrBodyTooLarge, true},

		// The defaults.
		{"default message size", ptBuild("MESSAGE sip:x@y SIP/2.0\n", strings.Repeat("b", DefaultMaxMessageSize)), Limits{}, ErrMessageTooLarge, false},
		{"default header length", ptBuild("OPTIONS sip:x@y SIP/2.0\nSubject: "+strings.Repeat("s", DefaultMaxHeaderLength)+"\n", ""), Limits{}, ErrHeaderTooLong, false},
		{"default header count", ptBuild("OPTIONS sip:x@y SIP/2.0\n"+strings.Repeat("X-A: 1\n", DefaultMaxHeaders), ""), Limits{}, ErrTooManyHeaders, false},
		{"default Request-URI length", ptBuild("OPTIONS sip:"+strings.Repeat("u", DefaultMaxURILength)+"@y SIP/2.0\n", ""), Limits{}, ErrURITooLong, false},
		{"default From URI length", ptBuild("OPTIONS sip:x@y SIP/2.0\nFrom: <sip:"+strings.Repeat("u", DefaultMaxURILength)+"@y>;tag=1\n", ""), Limits{}, ErrURITooLong, true},
		{"default body size", ptCRLF("MESSAGE sip:x@y SIP/2.0\nContent-Length: " + strconv.Itoa(DefaultMaxBodySize+1) + "\n\n"), Limits{}, ErrBodyTooLarge, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMessageLimits([]byte(tt.data), tt.lim)
			require.Error(t, err)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, tt.want)
			var pe *ParseError
			require.True(t, errors.As(err, &pe))
			assert.Equal(t, tt.partial, pe.Partial != nil, "Partial")
			if tt.lim == (Limits{}) {
				_, err2 := ParseMessage([]byte(tt.data))
				assert.ErrorIs(t, err2, tt.want, "ParseMessage applies the defaults")
			}
		})
	}
}

func TestParseMessageLimitBoundaries(t *testing.T) {
	// Exactly at each limit is accepted; one more is refused.
	msg := func(n int) string {
		return ptBuild("OPTIONS sip:x@y SIP/2.0\n"+strings.Repeat("X-A: 1\n", n), "")
	}
	_, err := ParseMessageLimits([]byte(msg(2)), Limits{MaxHeaders: 3})
	assert.NoError(t, err, "2 fields + Content-Length = 3")
	_, err = ParseMessageLimits([]byte(msg(3)), Limits{MaxHeaders: 3})
	assert.ErrorIs(t, err, ErrTooManyHeaders)

	line := "Subject: " + strings.Repeat("s", 11) // 20 bytes
	_, err = ParseMessageLimits([]byte(ptBuild("OPTIONS sip:x@y SIP/2.0\n"+line+"\n", "")), Limits{MaxHeaderLength: 24})
	assert.NoError(t, err)
	_, err = ParseMessageLimits([]byte(ptBuild("OPTIONS sip:x@y SIP/2.0\n"+line+"s\n", "")), Limits{MaxHeaderLength: 20})
	assert.ErrorIs(t, err, ErrHeaderTooLong)

	data := []byte(ptBuild("MESSAGE sip:x@y SIP/2.0\n", "0123456789"))
	_, err = ParseMessageLimits(data, Limits{MaxMessageSize: len(data), MaxBodySize: 10})
	assert.NoError(t, err)
	_, err = ParseMessageLimits(data, Limits{MaxMessageSize: len(data) - 1})
	assert.ErrorIs(t, err, ErrMessageTooLarge)
	_, err = ParseMessageLimits(data, Limits{MaxBodySize: 9})
	assert.ErrorIs(t, err, ErrBodyTooLarge)

	uri := "sip:" + strings.Repeat("u", 16) + "@y" // 22 bytes
	_, err = ParseMessageLimits([]byte(ptBuild("OPTIONS "+uri+" SIP/2.0\nFrom: <"+uri+">\n", "")), Limits{MaxURILength: 22})
	assert.NoError(t, err)
	_, err = ParseMessageLimits([]byte(ptBuild("OPTIONS "+uri+" SIP/2.0\n", "")), Limits{MaxURILength: 21})
	assert.ErrorIs(t, err, ErrURITooLong)

	// A negative limit means no limit.
	big := []byte(ptBuild("MESSAGE sip:x@y SIP/2.0\nSubject: "+strings.Repeat("s", 10000)+"\n", strings.Repeat("b", 100000)))
	m, err := ParseMessageLimits(big, Limits{MaxMessageSize: -1, MaxHeaderLength: -1, MaxBodySize: -1})
	require.NoError(t, err)
	assert.Len(t, m.Body(), 100000)
}

func TestParseErrorPartial(t *testing.T) {
	data := ptBuild(`INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8
Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK77
Max-Forwards: 70
To: Bob <sip:bob@biloxi.example.com>
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710
CSeq: abc INVITE
Subject: hi
`, "")
	_, err := ParseMessage([]byte(data))
	require.Error(t, err)
	var pe *ParseError
	require.True(t, errors.As(err, &pe))
	assert.ErrorIs(t, err, ErrMalformed)
	assert.Equal(t, "CSeq", pe.Header)
	assert.Equal(t, strings.Index(data, "CSeq:"), pe.Offset)
	assert.Contains(t, err.Error(), "CSeq header")
	require.NotNil(t, pe.Partial)
	req, ok := pe.Partial.(*Request)
	require.True(t, ok)
	assert.Equal(t, "INVITE", req.Method)
	assert.Len(t, req.Via(), 2)
	assert.Equal(t, CSeq{}, req.CSeq())

	code, reason := StatusForError(err)
	assert.Equal(t, 400, code)
	assert.Equal(t, "Malformed CSeq header", reason)

	res := NewResponse(req, code, reason)
	assert.Equal(t, "SIP/2.0 400 Malformed CSeq header", res.StartLine())
	assert.Equal(t, [][2]string{
		{"Via", "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8"},
		{"Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bK77"},
		{"To", "Bob <sip:bob@biloxi.example.com>"},
		{"From", "Alice <sip:alice@atlanta.example.com>;tag=1928301774"},
		{"Call-ID", "a84b4c76e66710"},
		{"CSeq", "abc INVITE"},
	}, ptFields(&res.Header))
	wire := res.String()
	ptCheckContentLength(t, wire)

	// A malformed response also has a Partial.
	_, err = ParseMessage([]byte(ptBuild("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nMax-Forwards: 256\n", "")))
	require.True(t, errors.As(err, &pe))
	assert.Equal(t, "Max-Forwards", pe.Header)
	_, ok = pe.Partial.(*Response)
	assert.True(t, ok)

	// A broken start line or framing has none.
	for _, data := range []string{
		"INVITE sip:%zz SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n",
		"INVITE sip:x SIP/2.0\r\nNo colon here\r\n\r\n",
		"INVITE sip:x SIP/2.0\r\nCSeq: 1 INVITE\r\n",
	} {
		_, err = ParseMessage([]byte(data))
		require.True(t, errors.As(err, &pe), "%q", data)
		assert.Nil(t, pe.Partial, "%q", data)
	}
}

func TestStatusForError(t *testing.T) {
	parse := func(data string, lim Limits) error {
		_, err := ParseMessageLimits([]byte(data), lim)
		require.Error(t, err)
		return err
	}
	tests := []struct {
		name   string
		err    error
		code   int
		reason string
	}{
		{"message too large", parse(ptBuild("MESSAGE sip:x SIP/2.0\n", "0123456789"), Limits{MaxMessageSize: 20}), 513, "Message Too Large"},
		{"body too large", parse(ptBuild("MESSAGE sip:x SIP/2.0\n", "0123456789"), Limits{MaxBodySize: 5}), 513, "Message Too Large"},
		{"Request-URI too long", parse(ptBuild("MESSAGE sip:0123456789 SIP/2.0\n", ""), Limits{MaxURILength: 5}), 414, "Request-URI Too Long"},
		{"From URI too long", parse(ptBuild("MESSAGE sip:x SIP/2.0\nFrom: <sip:0123456789>\n", ""), Limits{MaxURILength: 5}), 414, "Request-URI Too Long"},
		{"header too long", parse(ptBuild("MESSAGE sip:x SIP/2.0\nSubject: 0123456789\n", ""), Limits{MaxHeaderLength: 5}), 400, "Bad Request"},
		{"too many headers", parse(ptBuild("MESSAGE sip:x SIP/2.0\nA: 1\nB: 2\n", ""), Limits{MaxHeaders: 1}), 400, "Bad Request"},
		{"bad Via", parse(ptBuild("MESSAGE sip:x SIP/2.0\nv: SIP/2.0/UDP\n", ""), Limits{}), 400, "Malformed Via header"},
		{"bad Call-ID", parse(ptBuild("MESSAGE sip:x SIP/2.0\nCall-ID: a b\n", ""), Limits{}), 400, "Malformed Call-ID header"},
		{"bad Content-Length", parse(ptCRLF("MESSAGE sip:x SIP/2.0\nContent-Length: x\n\n"), Limits{}), 400, "Malformed Content-Length header"},
		{"control character in an extension header", parse(ptBuild("MESSAGE sip:x SIP/2.0\nX-Foo: a\x00b\n", ""), Limits{}), 400, "Malformed X-Foo header"},
		{"bad start line", parse("MESSAGE sip:x\r\n\r\n", Limits{}), 400, "Bad Request"},
		{"wrapped", fmt.Errorf("reading: %w", parse(ptBuild("MESSAGE sip:x SIP/2.0\nCSeq: 1\n", ""), Limits{})), 400, "Malformed CSeq header"},
		{"wrapped limit", fmt.Errorf("reading: %w", parse(ptBuild("MESSAGE sip:x SIP/2.0\n", "0123456789"), Limits{MaxBodySize: 5})), 513, "Message Too Large"},
		{"bare sentinel", ErrURITooLong, 414, "Request-URI Too Long"},
		{"other error", errors.New("boom"), 400, "Bad Request"},
		{"nil", nil, 400, "Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason := StatusForError(tt.err)
			assert.Equal(t, tt.code, code)
			assert.Equal(t, tt.reason, reason)
		})
	}
}

func TestParseErrorString(t *testing.T) {
	tests := []struct {
		err  *ParseError
		want string
	}{
		{&ParseError{Header: "CSeq", Offset: 42, Msg: "bad CSeq number"}, "sip: bad CSeq number in CSeq header at offset 42"},
		{&ParseError{Offset: 0, Msg: "malformed start line"}, "sip: malformed start line at offset 0"},
		{&ParseError{Header: "Via", Offset: -1, Msg: "missing sent-by"}, "sip: missing sent-by in Via header"},
		{&ParseError{Offset: -1, Msg: "URI without scheme"}, "sip: URI without scheme"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.err.Error())
	}
	pe := &ParseError{Offset: -1, Msg: "x", Err: ErrBodyTooLarge}
	assert.Same(t, ErrBodyTooLarge, pe.Unwrap())
	assert.ErrorIs(t, pe, ErrBodyTooLarge)
	assert.NotErrorIs(t, pe, ErrMalformed)
}

func TestParseMessageEagerValues(t *testing.T) {
	base := "OPTIONS sip:x@y SIP/2.0\n"
	tests := []struct {
		name  string
		field string
		check func(t *testing.T, r *Request)
	}{
		{"Via with IPv6 sent-by and received", "Via: SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bK9;received=[2001:db8::10]", func(t *testing.T, r *Request) {
			v := r.Via()[0]
			assert.Equal(t, "TLS", v.Transport)
			assert.Equal(t, "2001:db8::9", v.Host)
			assert.Equal(t, 5061, v.Port)
			assert.Equal(t, "[2001:db8::10]", v.Received())
		}},
		{"Via with LWS in sent-protocol", "Via: SIP / 2.0 / WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf", func(t *testing.T, r *Request) {
			assert.Equal(t, "WSS", r.Via()[0].Transport)
			assert.Equal(t, "df7jal23ls0d.invalid", r.Via()[0].Host)
		}},
		{"Via with quoted parameter", `Via: SIP/2.0/UDP h;branch=z9hG4bK1;x="a, b"`, func(t *testing.T, r *Request) {
			require.Len(t, r.Via(), 1)
			assert.Equal(t, "a, b", r.Via()[0].Params.Value("x"))
		}},
		{"CSeq maximum", "CSeq: 4294967295 OPTIONS", func(t *testing.T, r *Request) {
			assert.Equal(t, CSeq{Seq: 1<<32 - 1, Method: "OPTIONS"}, r.CSeq())
		}},
		{"CSeq zero", "CSeq: 0 ACK", func(t *testing.T, r *Request) {
			assert.Equal(t, CSeq{Seq: 0, Method: "ACK"}, r.CSeq())
		}},
		{"Max-Forwards 0", "Max-Forwards: 0", func(t *testing.T, r *Request) {
			n, ok := r.MaxForwards()
			assert.True(t, ok)
			assert.Equal(t, 0, n)
		}},
		{"Max-Forwards 255", "Max-Forwards: 255", func(t *testing.T, r *Request) {
			n, ok := r.MaxForwards()
			assert.True(t, ok)
			assert.Equal(t, 255, n)
		}},
		{"Call-ID with punctuation", "i: f81d4fae-7dec-11d0-a765-00a0c91e6bf6@[2001:db8::1]:{x}", func(t *testing.T, r *Request) {
			assert.Equal(t, "f81d4fae-7dec-11d0-a765-00a0c91e6bf6@[2001:db8::1]:{x}", r.CallID())
		}},
		{"Content-Type with parameters", `c: multipart/related;type="application/rlmi+xml";boundary=50UBfW7LSCVLtggUPe5z`, func(t *testing.T, r *Request) {
			ct := r.ContentType()
			assert.True(t, ct.Is("multipart/related"))
			assert.True(t, ct.Is("MULTIPART/*"))
			assert.Equal(t, "application/rlmi+xml", ct.Params.Value("type"))
			assert.Equal(t, "50UBfW7LSCVLtggUPe5z", ct.Params.Value("boundary"))
		}},
		{"Contact wildcard", "Contact: *", func(t *testing.T, r *Request) {
			require.Len(t, r.Contact(), 1)
			assert.True(t, r.Contact()[0].Wildcard)
		}},
		{"To with tel URI", "To: <tel:+1-201-555-0123>;tag=t", func(t *testing.T, r *Request) {
			assert.Equal(t, "tel", r.To().URI.Scheme)
			assert.Equal(t, "t", r.To().Tag())
		}},
		{"absent values", "Subject: only", func(t *testing.T, r *Request) {
			assert.Nil(t, r.Via())
			_, ok := r.TopVia()
			assert.False(t, ok)
			assert.Equal(t, Address{}, r.From())
			assert.Equal(t, "", r.CallID())
			assert.Equal(t, CSeq{}, r.CSeq())
			assert.Nil(t, r.Contact())
			_, ok = r.MaxForwards()
			assert.False(t, ok)
			assert.True(t, r.ContentType().IsZero())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, ptRequest(t, ptBuild(base+tt.field+"\n", "")))
		})
	}
}
