package sip

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func hdr(kv ...string) *Header {
	h := &Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestDeltaSecondsHeaders(t *testing.T) {
	tests := []struct {
		name, header, value string
		get                 func(*Header) (int, error)
		want                int
		bad                 bool
	}{
		{"expires", "Expires", "600", (*Header).Expires, 600, false},
		{"expires zero", "Expires", "0", (*Header).Expires, 0, false},
		{"expires huge clamps", "Expires", "99999999999", (*Header).Expires, 1<<31 - 1, false},
		{"expires letters", "Expires", "soon", (*Header).Expires, 0, true},
		{"expires negative", "Expires", "-1", (*Header).Expires, 0, true},
		{"min-expires", "Min-Expires", "900", (*Header).MinExpires, 900, false},
		{"min-se", "Min-SE", "90", (*Header).MinSE, 90, false},
		{"min-se with param", "Min-SE", "90;foo=bar", (*Header).MinSE, 90, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.get(hdr(tt.header, tt.value))
			if tt.bad {
				var pe *ParseError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, tt.header, pe.Header)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := hdr().Expires()
	assert.ErrorIs(t, err, ErrNoHeader)
}

func TestSessionExpires(t *testing.T) {
	tests := []struct {
		in      string
		delta   int
		refr    string
		bad     bool
		wireOut string
	}{
		{"1800", 1800, "", false, "1800"},
		{"1800;refresher=uac", 1800, "uac", false, "1800;refresher=uac"},
		{"7200 ; refresher=UAS", 7200, "uas", false, "7200;refresher=uas"},
		{"90;refresher=proxy", 0, "", true, ""},
		{"abc", 0, "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			// compact form x must be understood
			se, err := hdr("x", tt.in).SessionExpires()
			if tt.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.delta, se.Delta)
			assert.Equal(t, tt.refr, se.Refresher)
			assert.Equal(t, tt.wireOut, SessionExpires{Delta: se.Delta, Refresher: se.Refresher}.String())
		})
	}
}

func TestEventAndSubscriptionState(t *testing.T) {
	e, err := hdr("o", "presence;id=42").Event()
	require.NoError(t, err)
	assert.Equal(t, "presence", e.Type)
	assert.Equal(t, "42", e.ID())
	assert.Equal(t, "presence;id=42", e.String())
	_, err = hdr("Event", "pres ence").Event()
	assert.Error(t, err)

	tests := []struct {
		in                  string
		state, reason       string
		expires, retryAfter int
		bad                 bool
	}{
		{"active;expires=3599", "active", "", 3599, -1, false},
		{"pending", "pending", "", -1, -1, false},
		{"terminated;reason=rejected", "terminated", "rejected", -1, -1, false},
		{"Terminated;Reason=Probation;retry-after=30", "terminated", "probation", -1, 30, false},
		{"terminated;reason=timeout;expires=x", "", "", 0, 0, true},
		{";reason=x", "", "", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := hdr("Subscription-State", tt.in).SubscriptionState()
			if tt.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.state, s.State)
			assert.Equal(t, tt.reason, s.Reason)
			assert.Equal(t, tt.expires, s.Expires)
			assert.Equal(t, tt.retryAfter, s.RetryAfter)
		})
	}
	s := SubscriptionState{State: "terminated", Reason: "noresource", Expires: -1, RetryAfter: 60}
	assert.Equal(t, "terminated;reason=noresource;retry-after=60", s.String())
}

func TestRetryAfterReasonRAckRSeq(t *testing.T) {
	r, err := hdr("Retry-After", "18000;duration=3600").RetryAfter()
	require.NoError(t, err)
	assert.Equal(t, RetryAfter{Seconds: 18000, Duration: 3600, Params: "duration=3600"}, r)
	r, err = hdr("Retry-After", "120 (I'm in a meeting)").RetryAfter()
	require.NoError(t, err)
	assert.Equal(t, 120, r.Seconds)
	assert.Equal(t, "I'm in a meeting", r.Comment)
	assert.Equal(t, -1, r.Duration)
	_, err = hdr("Retry-After", "120 (open").RetryAfter()
	assert.Error(t, err)

	rs, err := hdr("Reason", `SIP ;cause=200 ;text="Call completed elsewhere", Q.850;cause=16`).Reasons()
	require.NoError(t, err)
	require.Len(t, rs, 2)
	assert.Equal(t, "SIP", rs[0].Protocol)
	assert.Equal(t, 200, rs[0].Cause)
	assert.Equal(t, "Call completed elsewhere", rs[0].Text)
	assert.Equal(t, 16, rs[1].Cause)
	assert.Equal(t, `SIP;cause=408;text="Session timeout"`, Reason{Protocol: "SIP", Cause: 408, Text: "Session timeout"}.String())
	assert.Equal(t, `SIP;cause=408;text="Busy"`, Reason{Protocol: "SIP", Cause: 408, Text: "Busy"}.String(), "text is always quoted")

	ra, err := hdr("RAck", "776656 1 INVITE").RAck()
	require.NoError(t, err)
	assert.Equal(t, RAck{RSeq: 776656, CSeq: 1, Method: "INVITE"}, ra)
	assert.Equal(t, "776656 1 INVITE", ra.String())
	_, err = hdr("RAck", "1 INVITE").RAck()
	assert.Error(t, err)

	n, err := hdr("RSeq", "988789").RSeq()
	require.NoError(t, err)
	assert.Equal(t, uint32(988789), n)
	_, err = hdr("RSeq", "0").RSeq()
	assert.Error(t, err)
}

func TestAddressHeaders(t *testing.T) {
	h := hdr(
		"Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
		"Route", "<sip:p3.example.com;lr>",
		"Record-Route", "<sip:rr.example.com;lr>",
		"P-Asserted-Identity", `"Cullen Jennings" <sip:fluffy@cisco.com>, <tel:+14085264000>`,
		"r", "<sip:carol@chicago.example.com?Replaces=12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994>",
		"b", "<sip:referrer@referrer.example>;cid=\"20398823.2UWQFN309shb3@referrer.example\"",
	)
	route, err := h.Route()
	require.NoError(t, err)
	require.Len(t, route, 3)
	assert.Equal(t, "p3.example.com", route[2].URI.Host)
	assert.True(t, route[0].URI.Params.Has("lr"))
	rr, err := h.RecordRoute()
	require.NoError(t, err)
	assert.Equal(t, "rr.example.com", rr[0].URI.Host)
	pai, err := h.PAssertedIdentity()
	require.NoError(t, err)
	require.Len(t, pai, 2)
	assert.Equal(t, "Cullen Jennings", pai[0].Display)
	assert.Equal(t, "tel", pai[1].URI.Scheme)
	assert.Equal(t, "+14085264000", pai[1].URI.User)
	rt, err := h.ReferTo()
	require.NoError(t, err)
	assert.Contains(t, rt.URI.Headers, "Replaces=")
	rb, err := h.ReferredBy()
	require.NoError(t, err)
	assert.Equal(t, "20398823.2UWQFN309shb3@referrer.example", rb.Params.Value("cid"))

	_, err = hdr().Route()
	assert.ErrorIs(t, err, ErrNoHeader)
	_, err = hdr("Route", "<sip:a;lr").Route()
	assert.Error(t, err)
}

func TestReplacesWarningsDiagnostics(t *testing.T) {
	r, err := hdr("Replaces", "425928@bobster.example.org;to-tag=7743;from-tag=6472;early-only").Replaces()
	require.NoError(t, err)
	assert.Equal(t, Replaces{CallID: "425928@bobster.example.org", ToTag: "7743", FromTag: "6472", EarlyOnly: true,
		Params: "to-tag=7743;from-tag=6472;early-only"}, r)
	_, err = hdr("Replaces", "425928@bobster.example.org;to-tag=7743").Replaces()
	assert.Error(t, err)

	w, err := hdr("Warning", `307 isi.edu "Session parameter 'foo' not understood", 301 isi.edu "Incompatible network address type 'E.164'"`).Warnings()
	require.NoError(t, err)
	require.Len(t, w, 2)
	assert.Equal(t, Warning{Code: 307, Agent: "isi.edu", Text: "Session parameter 'foo' not understood"}, w[0])
	_, err = hdr("Warning", `30 isi.edu "x"`).Warnings()
	assert.Error(t, err)

	d, err := hdr("ms-diagnostics", `2157;reason="Presence subscription to a user in another tenant is not allowed";source="sip.contoso.com"`).MSDiagnostics()
	require.NoError(t, err)
	assert.Equal(t, 2157, d.Code)
	assert.Equal(t, "Presence subscription to a user in another tenant is not allowed", d.Reason)
	assert.Equal(t, "sip.contoso.com", d.Source)
	d, err = hdr("ms-diagnostics-public", `1033;reason="x"`).MSDiagnostics()
	require.NoError(t, err)
	assert.Equal(t, 1033, d.Code)
	_, err = ParseDiagnostics(`abc;reason="x"`)
	assert.Error(t, err)
}

func TestSimpleHeaders(t *testing.T) {
	h := hdr(
		"SIP-ETag", "2545777538-1-1",
		"SIP-If-Match", "dx200xyz",
		"Content-ID", "<bUZBsM@pres.example.com>",
		"User-Agent", "Cisco-CP8945/9.4.2",
		"Server", "Kamailio (5.7)",
		"Date", "Sat, 13 Nov 2010 23:29:00 GMT",
		"Timestamp", "54.3 0.02",
		"Accept", "application/rlmi+xml, multipart/related;type=\"application/rlmi+xml\", application/msrtc-event-categories+xml",
		"Allow", "INVITE, ACK, CANCEL, BYE, UPDATE",
		"k", "timer, 100rel",
		"Require", "replaces",
		"Proxy-Require", "foo",
		"Unsupported", "bar",
		"u", "presence, dialog",
		"e", "gzip",
	)
	assert.Equal(t, "2545777538-1-1", h.SIPETag())
	assert.Equal(t, "dx200xyz", h.SIPIfMatch())
	assert.Equal(t, "bUZBsM@pres.example.com", h.ContentID())
	assert.Equal(t, "Cisco-CP8945/9.4.2", h.UserAgent())
	assert.Equal(t, "Kamailio (5.7)", h.Server())
	d, err := h.Date()
	require.NoError(t, err)
	assert.True(t, d.Equal(time.Date(2010, 11, 13, 23, 29, 0, 0, time.UTC)))
	ts, err := h.Timestamp()
	require.NoError(t, err)
	assert.Equal(t, Timestamp{Value: "54.3", Delay: "0.02"}, ts)
	acc, err := h.Accept()
	require.NoError(t, err)
	require.Len(t, acc, 3)
	assert.True(t, acc[1].Is("multipart/related"))
	assert.Equal(t, "application/rlmi+xml", acc[1].Params.Value("type"))
	assert.Equal(t, []string{"INVITE", "ACK", "CANCEL", "BYE", "UPDATE"}, h.Allow())
	assert.Equal(t, []string{"timer", "100rel"}, h.Supported())
	assert.Equal(t, []string{"replaces"}, h.Require())
	assert.Equal(t, []string{"foo"}, h.ProxyRequire())
	assert.Equal(t, []string{"bar"}, h.Unsupported())
	assert.Equal(t, []string{"presence", "dialog"}, h.AllowEvents())
	assert.Equal(t, []string{"gzip"}, h.ContentEncoding())

	_, err = hdr("Date", "yesterday").Date()
	assert.Error(t, err)
	_, err = hdr("Timestamp", "a.b").Timestamp()
	assert.Error(t, err)
}

// AT-P1-4: the final Require holds the application's tag and timer once.
func TestAddTokenMerges(t *testing.T) {
	tests := []struct {
		name   string
		before []string
		add    []string
		want   []string
	}{
		{"new field", nil, []string{"timer"}, []string{"timer"}},
		{"merge into existing", []string{"replaces"}, []string{"timer"}, []string{"replaces, timer"}},
		{"no duplicate", []string{"100rel, timer"}, []string{"timer"}, []string{"100rel, timer"}},
		{"case-insensitive", []string{"Timer"}, []string{"timer"}, []string{"Timer"}},
		{"twice", []string{"100rel"}, []string{"timer", "timer"}, []string{"100rel, timer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Header{}
			for _, v := range tt.before {
				h.Add("Require", v)
			}
			for _, tok := range tt.add {
				h.AddToken("Require", tok)
			}
			assert.Equal(t, tt.want, h.Values("Require"))
			n := 0
			for _, e := range h.Require() {
				if e == "timer" || e == "Timer" {
					n++
				}
			}
			assert.Equal(t, 1, n, "timer exactly once")
		})
	}
}

func TestAuthHeaders(t *testing.T) {
	h := hdr(
		"WWW-Authenticate", `Digest realm="atlanta.example.com", domain="sip:ss1.carrier.com", qop="auth,auth-int", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5`,
		"WWW-Authenticate", `Digest realm="atlanta.example.com", nonce="abc", algorithm=SHA-256, qop="auth"`,
		"Proxy-Authenticate", `Digest realm="x", nonce="1", algorithm=SHA-512-256, userhash=true, Digest realm="x", nonce="2", algorithm=MD5`,
		"Authorization", `Digest username="bob", realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"`,
		"Authentication-Info", `nextnonce="47364c23432d2e131a5fb210812c", qop=auth, rspauth="6629fae4", cnonce="0a4f113b", nc=00000001`,
	)
	ch, err := h.WWWAuthenticate()
	require.NoError(t, err)
	require.Len(t, ch, 2)
	assert.Equal(t, "Digest", ch[0].Scheme)
	assert.Equal(t, "atlanta.example.com", ch[0].Get("realm"))
	assert.Equal(t, "auth,auth-int", ch[0].Get("QOP"))
	assert.Equal(t, "", ch[0].Get("opaque"))
	assert.Equal(t, "FALSE", ch[0].Get("stale"))
	assert.Equal(t, "SHA-256", ch[1].Get("algorithm"))

	pc, err := h.ProxyAuthenticate()
	require.NoError(t, err)
	require.Len(t, pc, 2, "two challenges on one line")
	assert.Equal(t, "SHA-512-256", pc[0].Get("algorithm"))
	assert.Equal(t, "true", pc[0].Get("userhash"))
	assert.Equal(t, "2", pc[1].Get("nonce"))

	cr, err := h.Authorization()
	require.NoError(t, err)
	require.Len(t, cr, 1)
	assert.Equal(t, "00000001", cr[0].Get("nc"))
	assert.Equal(t, "sip:bob@biloxi.com", cr[0].Get("uri"))
	// round trip through String
	again, err := ParseCredentials(cr[0].String())
	require.NoError(t, err)
	assert.Equal(t, cr[0].Params, again.Params)

	ai, err := h.AuthenticationInfo()
	require.NoError(t, err)
	assert.Equal(t, "6629fae4", authGet(ai, "rspauth"))

	for _, bad := range []string{`Digest realm="x`, `Digest realm`, `Digest realm="x" nonce="y"`, `=x`, "Digest realm=\"a\x00b\""} {
		_, err := ParseChallenges(bad)
		assert.Error(t, err, bad)
	}
	_, err = hdr().ProxyAuthorization()
	assert.True(t, errors.Is(err, ErrNoHeader))
}

func TestHeaderInjectionIsImpossible(t *testing.T) {
	var h Header
	h.Add("Subject", "hi\r\nVia: SIP/2.0/UDP evil;branch=z9hG4bKx")
	h.Set("X-Bad Name:\r\n", "v\x00")
	h.Insert("Route", "<sip:a;lr>\n")
	h.AddToken("Require", "timer\r\nX: y")
	req := &Request{Method: "OPTIONS", URI: URI{Scheme: "sip", Host: "example.com"}, Header: h}
	wire := req.String()
	// Exactly one line per field, plus the request line, Content-Length and the blank line.
	assert.Equal(t, 4+2+1, strings.Count(wire, "\r\n"), wire)
	assert.NotContains(t, wire, "\x00")
	assert.Equal(t, "v", req.Get("X-BadName"))
	assert.Empty(t, req.Via(), "no Via was smuggled in")

	a := Address{Display: "Eve\r\nVia: x", URI: URI{Scheme: "sip", Host: "e.example"}}
	assert.NotContains(t, a.String(), "\r")
}

func TestViaSentByWhiteSpace(t *testing.T) {
	for in, want := range map[string]int{
		"SIP/2.0/UDP host : 5060;branch=z9hG4bK1": 5060,
		"SIP/2.0/UDP host:5060 ;branch=z9hG4bK1":  5060,
		"SIP / 2.0 / TCP [::1] :5061":             5061,
		"SIP/2.0/UDP host":                        0,
	} {
		v, err := ParseVia(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, v.Port, in)
	}
	for _, in := range []string{"SIP/2.0/UDP ho st:5060", "SIP/2.0/UDP [::1 ]", "SIP/2.0/UDP host: 50 60"} {
		_, err := ParseVia(in)
		assert.Error(t, err, in)
	}
}
