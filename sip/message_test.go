package sip

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var ptNewResponseRequest = ptBuild(`INVITE sip:+12125551212@example.com;user=phone SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8;received=192.0.2.1, SIP/2.0/TCP p1.example.com;branch=z9hG4bK1
v:  SIP/2.0/UDP   p2.example.com:5070 ;branch=z9hG4bK2;rport
Max-Forwards: 70
To: <sip:+12125551212@example.com;user=phone>
f: "Alice \"A\"" <sip:alice@atlanta.example.com>;tag=1928301774
Route: <sip:p3.example.com;lr>
i: a84b4c76e66710@pc33.atlanta.example.com
CSeq:  314159   INVITE
Timestamp: 54.2 0.3
Contact: <sip:alice@pc33.atlanta.example.com>
Subject: lunch?
Content-Type: application/sdp
`, "v=0\r\n")

func TestNewResponse(t *testing.T) {
	req := ptRequest(t, ptNewResponseRequest)
	copied := [][2]string{
		{"Via", "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8;received=192.0.2.1, SIP/2.0/TCP p1.example.com;branch=z9hG4bK1"},
		{"v", "SIP/2.0/UDP   p2.example.com:5070 ;branch=z9hG4bK2;rport"},
		{"To", "<sip:+12125551212@example.com;user=phone>"},
		{"f", `"Alice \"A\"" <sip:alice@atlanta.example.com>;tag=1928301774`},
		{"i", "a84b4c76e66710@pc33.atlanta.example.com"},
		{"CSeq", "314159   INVITE"},
	}
	tests := []struct {
		code       int
		reason     string
		wantReason string
		timestamp  bool
	}{
		{100, "", "Trying", true},
		{180, "", "Ringing", false},
		{183, "Early Media", "Early Media", false},
		{200, "", "OK", false},
		{486, "", "Busy Here", false},
		{400, "Missing CSeq", "Missing CSeq", false},
		{513, "", "Message Too Large", false},
		{499, "", "Client Error", false},
		{603, "", "Decline", false},
	}
	for _, tt := range tests {
		t.Run(tt.wantReason, func(t *testing.T) {
			res := NewResponse(req, tt.code, tt.reason)
			assert.Equal(t, "SIP/2.0", res.Proto)
			assert.Equal(t, tt.code, res.StatusCode)
			assert.Equal(t, tt.wantReason, res.Reason)
			want := copied
			if tt.timestamp {
				want = [][2]string{copied[0], copied[1], copied[2], copied[3], copied[4], copied[5], {"Timestamp", "54.2 0.3"}}
			}
			assert.Equal(t, want, ptFields(&res.Header), "copied byte for byte, in order")
			assert.Nil(t, res.Body())

			// AT-P1-1: the To of a tel-style SIP URI is mirrored exactly.
			wire := res.String()
			assert.Contains(t, wire, "\r\nTo: <sip:+12125551212@example.com;user=phone>\r\n")
			assert.True(t, strings.HasPrefix(wire, res.StartLine()+"\r\n"))
			ptCheckContentLength(t, wire)
			assert.NotContains(t, wire, "Contact")
			assert.NotContains(t, wire, "Route")
			assert.NotContains(t, wire, "Subject")
			assert.NotContains(t, wire, "Max-Forwards")
			assert.NotContains(t, wire, "application/sdp")

			// Typed values are there without a re-parse.
			assert.Equal(t, []string{"z9hG4bKnashds8", "z9hG4bK1", "z9hG4bK2"}, ptBranches(&res.Header))
			assert.Equal(t, "1928301774", res.From().Tag())
			assert.Equal(t, `Alice "A"`, res.From().Display)
			assert.Equal(t, "phone", res.To().URI.Params.Value("user"))
			assert.Equal(t, "a84b4c76e66710@pc33.atlanta.example.com", res.CallID())
			assert.Equal(t, CSeq{Seq: 314159, Method: "INVITE"}, res.CSeq())
			assert.Nil(t, res.Contact())

			// And the wire form parses back to the same thing.
			back := ptParse(t, wire)
			assert.Empty(t, ptSameMessage(res, back))
		})
	}
}

func TestNewResponseDoesNotAliasRequest(t *testing.T) {
	req := ptRequest(t, ptNewResponseRequest)
	before := req.String()
	res := NewResponse(req, 200, "")
	res.Set("To", res.Get("To")+";tag=as83kd")
	res.Insert("Via", "SIP/2.0/UDP extra;branch=z9hG4bKextra")
	res.Add("Via", "SIP/2.0/UDP last;branch=z9hG4bKlast")
	res.Add("Contact", "<sip:bob@192.0.2.4>")
	res.Set("CSeq", "1 BYE")
	res.SetBody([]byte("body"))
	assert.Equal(t, "as83kd", res.To().Tag())
	assert.Equal(t, []string{"z9hG4bKextra", "z9hG4bKnashds8", "z9hG4bK1", "z9hG4bK2", "z9hG4bKlast"}, ptBranches(&res.Header))

	assert.Equal(t, before, req.String())
	assert.Equal(t, "", req.To().Tag())
	assert.Equal(t, []string{"z9hG4bKnashds8", "z9hG4bK1", "z9hG4bK2"}, ptBranches(&req.Header))
	assert.Equal(t, CSeq{Seq: 314159, Method: "INVITE"}, req.CSeq())
	require.Len(t, req.Contact(), 1)

	// Two responses to the same request are independent too.
	a := NewResponse(req, 180, "")
	b := NewResponse(req, 180, "")
	a.Add("Via", "SIP/2.0/UDP a;branch=z9hG4bKa")
	b.Add("Via", "SIP/2.0/UDP b;branch=z9hG4bKb")
	assert.Equal(t, "z9hG4bKa", a.Via()[3].Branch())
	assert.Equal(t, "z9hG4bKb", b.Via()[3].Branch())
}

func TestNewResponseToBuiltRequest(t *testing.T) {
	u, err := ParseURI("sip:bob@biloxi.example.com")
	require.NoError(t, err)
	req := NewRequest(MethodOptions, u)
	assert.Equal(t, "SIP/2.0", req.Proto)
	assert.Equal(t, "OPTIONS sip:bob@biloxi.example.com SIP/2.0", req.StartLine())
	assert.Equal(t, 0, req.Len())
	req.Add("Via", "SIP/2.0/UDP h;branch=z9hG4bK1")
	req.Add("From", "<sip:a@x>;tag=1")
	req.Add("To", "<sip:bob@biloxi.example.com>")
	req.Add("Call-ID", "c1")
	req.Add("CSeq", "1 OPTIONS")
	req.Add("Max-Forwards", "70")
	assert.Equal(t, ptCRLF(`OPTIONS sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP h;branch=z9hG4bK1
From: <sip:a@x>;tag=1
To: <sip:bob@biloxi.example.com>
Call-ID: c1
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0

`), req.String())

	res := NewResponse(req, StatusOK, "")
	assert.Equal(t, ptCRLF(`SIP/2.0 200 OK
Via: SIP/2.0/UDP h;branch=z9hG4bK1
From: <sip:a@x>;tag=1
To: <sip:bob@biloxi.example.com>
Call-ID: c1
CSeq: 1 OPTIONS
Content-Length: 0

`), res.String())

	// An empty Proto is written as SIP/2.0.
	r := &Request{Method: "OPTIONS", URI: u}
	assert.Equal(t, "OPTIONS sip:bob@biloxi.example.com SIP/2.0", r.StartLine())
	s := &Response{StatusCode: 200, Reason: "OK"}
	assert.Equal(t, "SIP/2.0 200 OK", s.StartLine())
}

func TestSerializationContentLength(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		body   []byte
		wantCL string
	}{
		{"added when missing", ptCRLF("MESSAGE sip:x SIP/2.0\nCall-ID: c\n\n"), []byte("hello"), "Content-Length: 5"},
		{"rewritten when wrong", ptBuild("MESSAGE sip:x SIP/2.0\n", "abc"), []byte("hello!"), "Content-Length: 6"},
		{"compact name kept", ptCRLF("MESSAGE sip:x SIP/2.0\nl: 3\n\nabc"), []byte("hello"), "l: 5"},
		{"duplicates dropped", ptCRLF("MESSAGE sip:x SIP/2.0\nContent-Length: 3\nCall-ID: c\nContent-Length: 3\n\nabc"), nil, "Content-Length: 0"},
		{"removed body", ptBuild("MESSAGE sip:x SIP/2.0\n", "abc"), nil, "Content-Length: 0"},
		{"empty body", ptBuild("MESSAGE sip:x SIP/2.0\n", "abc"), []byte{}, "Content-Length: 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ptParse(t, tt.data)
			m.SetBody(tt.body)
			assert.Equal(t, string(tt.body), string(m.Body()))
			wire := m.String()
			ptCheckContentLength(t, wire)
			assert.Contains(t, wire, "\r\n"+tt.wantCL+"\r\n")
			assert.True(t, strings.HasSuffix(wire, "\r\n\r\n"+string(tt.body)))
			back := ptParse(t, wire)
			assert.Equal(t, string(tt.body), string(back.Body()))
		})
	}

	t.Run("Content-Length set by hand is overridden", func(t *testing.T) {
		res := &Response{StatusCode: 200, Reason: "OK"}
		res.Add("Content-Length", "99")
		res.Add("CSeq", "1 OPTIONS")
		res.SetBody([]byte("xy"))
		assert.Equal(t, "SIP/2.0 200 OK\r\nContent-Length: 2\r\nCSeq: 1 OPTIONS\r\n\r\nxy", res.String())
	})
}

func TestRequestClone(t *testing.T) {
	req := ptRequest(t, ptNewResponseRequest)
	before := req.String()
	c := req.Clone()
	require.Equal(t, before, c.String())
	assert.Empty(t, ptSameMessage(req, c))

	c.Method = "BYE"
	c.URI.User = "changed"
	c.URI.Params = c.URI.Params.With("user", "ip")
	c.Set("To", "<sip:x@y>;tag=1")
	c.Insert("Via", "SIP/2.0/UDP new;branch=z9hG4bKnew")
	c.Add("Via", "SIP/2.0/UDP last;branch=z9hG4bKlast")
	c.RemoveFirst("Route")
	c.Add("Contact", "<sip:second@h>")
	c.Del("Subject")
	c.Body()[0] = 'X'
	c.Add("X-Extra", "mutated") // Fields returns a copy; change the clone through its methods

	assert.Equal(t, before, req.String(), "the original is unchanged")
	assert.Equal(t, "INVITE", req.Method)
	assert.Equal(t, "+12125551212", req.URI.User)
	assert.Equal(t, []string{"z9hG4bKnashds8", "z9hG4bK1", "z9hG4bK2"}, ptBranches(&req.Header))
	assert.Len(t, req.Contact(), 1)
	assert.Equal(t, "", req.To().Tag())
	assert.Equal(t, "v=0\r\n", string(req.Body()))

	assert.Equal(t, "1", c.To().Tag())
	assert.Equal(t, []string{"z9hG4bKnew", "z9hG4bKnashds8", "z9hG4bK1", "z9hG4bK2", "z9hG4bKlast"}, ptBranches(&c.Header))
	assert.Len(t, c.Contact(), 2)
}

func TestResponseClone(t *testing.T) {
	res := ptResponse(t, ptResponse200)
	before := res.String()
	c := res.Clone()
	assert.Equal(t, before, c.String())

	c.StatusCode = 486
	c.Reason = "Busy Here"
	c.RemoveFirst("Via")
	c.Add("Via", "SIP/2.0/UDP x;branch=z9hG4bKx")
	c.Set("Contact", "<sip:only@h>")
	c.Body()[0] = 'J'
	assert.Equal(t, before, res.String())
	assert.Len(t, res.Via(), 3)
	assert.Len(t, res.Contact(), 3)
	assert.Equal(t, "hello", string(res.Body()))
	assert.Len(t, c.Via(), 3)
	assert.Equal(t, "z9hG4bK2", c.Via()[0].Branch())

	empty := (&Response{StatusCode: 200}).Clone()
	assert.Nil(t, empty.Body())
}

func TestStatusText(t *testing.T) {
	tests := []struct {
		code int
		want string
	}{
		{100, "Trying"}, {180, "Ringing"}, {200, "OK"}, {202, "Accepted"}, {302, "Moved Temporarily"},
		{400, "Bad Request"}, {404, "Not Found"}, {414, "Request-URI Too Long"}, {481, "Call/Transaction Does Not Exist"},
		{500, "Server Internal Error"}, {513, "Message Too Large"}, {603, "Decline"},
		{199, "Early Dialog Terminated"}, {150, "Session Progress"}, {299, "OK"}, {399, "Redirection"},
		{477, "Client Error"}, {555, "Server Error"}, {699, "Global Failure"}, {99, "Unknown"}, {700, "Unknown"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, StatusText(tt.code), "%d", tt.code)
	}
}
