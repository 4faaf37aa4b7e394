package sip

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const validInvite = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n" +
	"Max-Forwards: 70\r\n" +
	"To: Bob <sip:bob@biloxi.example.com>\r\n" +
	"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n" +
	"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n" +
	"CSeq: 314159 INVITE\r\n" +
	"Contact: <sip:alice@pc33.atlanta.example.com>\r\n" +
	"Content-Length: 0\r\n\r\n"

func mustRequest(t *testing.T, s string) *Request {
	t.Helper()
	m, err := ParseMessage([]byte(s))
	require.NoError(t, err)
	req, ok := m.(*Request)
	require.True(t, ok)
	return req
}

func TestValidateRequest(t *testing.T) {
	replace := func(old, new string) string { return strings.Replace(validInvite, old, new, 1) }
	tests := []struct {
		name   string
		msg    string
		mutate func(*Request)
		code   int
		reason string
	}{
		{name: "valid", msg: validInvite},
		{name: "no Max-Forwards is accepted", msg: replace("Max-Forwards: 70\r\n", "")},
		{name: "version", msg: replace("SIP/2.0\r\n", "SIP/3.0\r\n"), code: 505, reason: "Version Not Supported"},
		{name: "scheme", msg: replace("INVITE sip:bob@", "INVITE mailto:bob@"), code: 416, reason: "Unsupported URI Scheme"},
		{name: "tel ok", msg: replace("INVITE sip:bob@biloxi.example.com", "INVITE tel:+12125551212")},
		{name: "missing Via", msg: replace("Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n", ""), code: 400, reason: "Missing Via header"},
		{name: "missing From", msg: replace("From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n", ""), code: 400, reason: "Missing From header"},
		{name: "missing To", msg: replace("To: Bob <sip:bob@biloxi.example.com>\r\n", ""), code: 400, reason: "Missing To header"},
		{name: "missing Call-ID", msg: replace("Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n", ""), code: 400, reason: "Missing Call-ID header"},
		{name: "missing CSeq", msg: replace("CSeq: 314159 INVITE\r\n", ""), code: 400, reason: "Missing CSeq header"},
		{name: "repeated From", msg: replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nFrom: <sip:x@y>;tag=2\r\n"), code: 400, reason: "Repeated From header"},
		{name: "repeated Call-ID compact", msg: replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\ni: other\r\n"), code: 400, reason: "Repeated Call-ID header"},
		{name: "repeated Content-Length", msg: replace("Content-Length: 0\r\n", "Content-Length: 0\r\nl: 0\r\n"), code: 400, reason: "Repeated Content-Length header"},
		{name: "CSeq method mismatch", msg: replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE"), code: 400, reason: "CSeq Method Does Not Match"},
		{name: "INVITE without Contact", msg: replace("Contact: <sip:alice@pc33.atlanta.example.com>\r\n", ""), code: 400, reason: "Missing Contact header"},
		{name: "malformed From after Set", msg: validInvite, mutate: func(r *Request) { r.Set("From", "<sip:broken") }, code: 400, reason: "Malformed From header"},
		{name: "Content-Length mismatch after SetBody", msg: validInvite, mutate: func(r *Request) { r.SetBody([]byte("v=0\r\n")) }, code: 400, reason: "Content-Length Mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := mustRequest(t, tt.msg)
			if tt.mutate != nil {
				tt.mutate(req)
			}
			err := ValidateRequest(req)
			if tt.code == 0 {
				require.NoError(t, err)
				return
			}
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.code, ve.StatusCode)
			assert.Equal(t, tt.reason, ve.Reason)
			// The error is what a UAS answers with.
			res := NewResponse(req, ve.StatusCode, ve.Reason)
			assert.Equal(t, tt.code, res.StatusCode)
		})
	}
}

func TestValidateResponse(t *testing.T) {
	ok := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	m, err := ParseMessage([]byte(ok))
	require.NoError(t, err)
	require.NoError(t, ValidateResponse(m.(*Response)))
	m, err = ParseMessage([]byte(strings.Replace(ok, "Call-ID: x\r\n", "", 1)))
	require.NoError(t, err)
	var ve *ValidationError
	require.ErrorAs(t, ValidateResponse(m.(*Response)), &ve)
	assert.Equal(t, 0, ve.StatusCode, "responses are dropped, not answered")
	assert.Equal(t, "Missing Call-ID header", ve.Reason)
}

// The body shares parseHead's buffer with the header strings: writing to
// it or appending to it must never change a header value.
func TestBodyMutationLeavesHeadersAlone(t *testing.T) {
	raw := strings.Replace(validInvite, "Content-Length: 0\r\n\r\n", "Content-Length: 4\r\n\r\nv=0\n", 1)
	req := mustRequest(t, raw)
	before := req.String()
	body := req.Body()
	require.Equal(t, "v=0\n", string(body))
	assert.Equal(t, 4, cap(body), "capped at the body's end")
	for i := range body {
		body[i] = 'X'
	}
	_ = append(body, "more bytes that must land elsewhere"...)
	assert.Equal(t, strings.Replace(before, "v=0\n", "XXXX", 1), req.String())
	assert.Equal(t, "a84b4c76e66710@pc33.atlanta.example.com", req.CallID())
	// The data the caller passed is not aliased either.
	data := []byte(raw)
	m, err := ParseMessage(data)
	require.NoError(t, err)
	for i := range data {
		data[i] = 0
	}
	assert.Equal(t, before, m.String())
}
