package auth_test

import (
	"strings"
	"testing"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
)

// FuzzAuthorize feeds arbitrary challenge values to Authorize: it must not
// panic, and whatever it writes must parse as credentials that answer the
// challenge correctly.
func FuzzAuthorize(f *testing.F) {
	for _, s := range []string{
		`Digest realm="example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", qop="auth", algorithm=MD5`,
		`Digest realm="r", nonce="n", qop="auth,auth-int", algorithm=SHA-256, opaque="o", stale=true`,
		`Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true`,
		`Digest realm="r", nonce="n", algorithm=MD5-sess, qop=auth-int`,
		`Digest realm="r", nonce="n"`,
		`Digest realm="r", nonce="n", algorithm=SHA-1, Digest realm="r", nonce="m", algorithm=md5`,
		`Digest realm="a\"b", nonce="\\", qop=",,,"`,
		`Basic realm="r"`,
		`Digest nonce=`,
		`Digest realm="r", nonce="` + strings.Repeat("n", 1100) + `"`,
		`Digest realm="r", nonce="n", qop="auth", Digest realm="s", nonce="m", qop="auth-int"`,
		`,`,
		``,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, value string, proxy bool) {
		req := newReq(t, "INVITE", "sip:bob@example.com")
		req.SetBody([]byte("v=0\r\n"))
		code, hdr := 401, "Authorization"
		if proxy {
			code, hdr = 407, "Proxy-Authorization"
		}
		res := challengeRes(req, code, value)
		var c auth.Client
		cred := auth.Credentials{Username: "alice", Password: "pw"}
		if err := c.Authorize(req, res, cred); err != nil {
			if len(req.Values(hdr)) != 0 {
				t.Fatalf("credentials added despite %v", err)
			}
			return
		}
		for _, v := range req.Values(hdr) {
			cr, err := sip.ParseCredentials(v)
			if err != nil {
				t.Fatalf("written credentials do not parse: %v\n%q", err, v)
			}
			if got, want := cr.Get("response"), refResponse(paramsFrom(t, req, cr, "alice", "pw")); got != want &&
				!strings.Contains(v, "userhash=true") {
				t.Fatalf("response %s, want %s\n%q", got, want, v)
			}
		}
		// Answering again and reusing the nonce must not panic either.
		_ = c.Authorize(req, res, auth.Credentials{})
		c.Reauthorize(newReq(t, "BYE", "sip:bob@example.com"))
	})
}

// FuzzVerify feeds arbitrary credentials to Verify: it must not panic and
// must never accept them, since no nonce of its own was ever issued for
// them (forging one means forging an HMAC-SHA256).
func FuzzVerify(f *testing.F) {
	s, err := auth.NewServer(auth.ServerConfig{
		Realm:      "example.com",
		Algorithms: []string{auth.SHA512_256, auth.SHA256, auth.MD5, auth.MD5Sess},
		QOP:        "auth,auth-int",
		Secret:     []byte("fuzz secret"),
		Opaque:     true,
		Userhash:   func(h, realm string) (string, bool) { return "alice", true },
		MaxNonces:  64,
	})
	if err != nil {
		f.Fatal(err)
	}
	// Seeds: valid credentials from a server with another secret.
	other, _ := auth.NewServer(auth.ServerConfig{Realm: "example.com", Algorithms: []string{"SHA-256", "MD5"}, Opaque: true})
	for _, q := range []string{"", "hello"} {
		var c auth.Client
		req := newReq(f, "INVITE", "sip:bob@example.com")
		req.SetBody([]byte(q))
		res := sip.NewResponse(req, 401, "")
		other.Challenge(res, false)
		if err := c.Authorize(req, res, auth.Credentials{Username: "alice", Password: "pw"}); err != nil {
			f.Fatal(err)
		}
		f.Add(req.Get("Authorization"))
	}
	// And credentials with an authentic nonce but a wrong password, so
	// that mutations reach the response comparison and the replay table.
	for _, alg := range []string{"SHA-512-256", "MD5-sess"} {
		c := auth.Client{Rand: &countingReader{}}
		req := newReq(f, "INVITE", "sip:bob@example.com")
		req.SetBody([]byte("hello"))
		res := challengeRes(req, 401, strings.Replace(challengeOf(f, s), "algorithm=SHA-512-256", "algorithm="+alg, 1))
		if err := c.Authorize(req, res, auth.Credentials{Username: "alice", Password: "not pw"}); err != nil {
			f.Fatal(err)
		}
		f.Add(req.Get("Authorization"))
	}
	for _, v := range []string{
		`Digest username="Mufasa", realm="example.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:bob@example.com", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"`,
		`Digest username="alice", realm="example.com", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri="sip:bob@example.com", response="00", algorithm=SHA-256, qop=auth-int, nc=ffffffff, cnonce="x", userhash=true`,
		`Digest realm="example.com"`,
		`Digest username=, realm="example.com"`,
		`Basic YWxhZGRpbg==`,
		`Digest realm="example.com", nonce="` + strings.Repeat("A", 43) + `", uri="` + strings.Repeat("x", 5000) + `"`,
		``,
	} {
		f.Add(v)
	}
	lookup := func(username, realm string) (string, bool) { return "pw", true }
	f.Fuzz(func(t *testing.T, value string) {
		req := newReq(t, "INVITE", "sip:bob@example.com")
		req.SetBody([]byte("hello"))
		req.Add("Authorization", value)
		req.Add("Proxy-Authorization", value)
		if r := s.Verify(req, lookup); r.OK() {
			t.Fatalf("accepted %q", value)
		}
	})
}

// challengeOf returns the first challenge s issues.
func challengeOf(t testing.TB, s *auth.Server) string {
	res := sip.NewResponse(newReq(t, "INVITE", "sip:bob@example.com"), 401, "")
	s.Challenge(res, false)
	return res.Get("WWW-Authenticate")
}
