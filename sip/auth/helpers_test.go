package auth_test

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
)

// countingReader is a deterministic Rand: byte i of the stream is i+seed.
type countingReader struct {
	mu   sync.Mutex
	next byte
}

func (r *countingReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range p {
		p[i] = r.next
		r.next++
	}
	return len(p), nil
}

// fakeClock is an injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newReq(t testing.TB, method, uri string) *sip.Request {
	t.Helper()
	u, err := sip.ParseURI(uri)
	require.NoError(t, err)
	req := sip.NewRequest(method, u)
	req.Add("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds")
	req.Add("From", "<sip:alice@example.com>;tag=1928301774")
	req.Add("To", "<sip:bob@example.com>")
	req.Add("Call-ID", "a84b4c76e66710@192.0.2.1")
	req.Add("CSeq", "1 "+method)
	return req
}

func challengeRes(req *sip.Request, code int, challenges ...string) *sip.Response {
	res := sip.NewResponse(req, code, "")
	name := "WWW-Authenticate"
	if code == 407 {
		name = "Proxy-Authenticate"
	}
	for _, c := range challenges {
		res.Add(name, c)
	}
	return res
}

// creds returns the parsed credentials of the fields called name.
func creds(t testing.TB, req *sip.Request, name string) []sip.Credentials {
	t.Helper()
	var out []sip.Credentials
	for _, v := range req.Values(name) {
		c, err := sip.ParseCredentials(v)
		require.NoError(t, err, v)
		out = append(out, c)
	}
	return out
}

func oneCred(t testing.TB, req *sip.Request, name string) sip.Credentials {
	t.Helper()
	cs := creds(t, req, name)
	require.Len(t, cs, 1, "%s fields: %q", name, req.Values(name))
	return cs[0]
}

// refHash is an independent implementation of the digest hashes, written
// the long way, to check the package against.
func refHash(alg string) func(string) string {
	var newH func() hash.Hash
	switch strings.TrimSuffix(strings.ToUpper(alg), "-SESS") {
	case "", "MD5":
		newH = md5.New
	case "SHA-256":
		newH = sha256.New
	case "SHA-512-256":
		newH = sha512.New512_256
	default:
		panic("bad algorithm " + alg)
	}
	return func(s string) string {
		h := newH()
		h.Write([]byte(s))
		return hex.EncodeToString(h.Sum(nil))
	}
}

func refResponse(p auth.Params) string {
	H := refHash(p.Algorithm)
	ha1 := H(p.Username + ":" + p.Realm + ":" + p.Password)
	if strings.HasSuffix(strings.ToLower(p.Algorithm), "-sess") {
		ha1 = H(ha1 + ":" + p.Nonce + ":" + p.CNonce)
	}
	a2 := p.Method + ":" + p.URI
	if p.QOP == "auth-int" {
		a2 += ":" + H(string(p.Body))
	}
	ha2 := H(a2)
	if p.QOP == "" {
		return H(ha1 + ":" + p.Nonce + ":" + ha2)
	}
	return H(fmt.Sprintf("%s:%s:%08x:%s:%s:%s", ha1, p.Nonce, p.NC, p.CNonce, p.QOP, ha2))
}

// paramsFrom rebuilds the Params of credentials found on req.
func paramsFrom(t testing.TB, req *sip.Request, c sip.Credentials, username, password string) auth.Params {
	t.Helper()
	p := auth.Params{
		Algorithm: c.Get("algorithm"),
		Username:  username,
		Realm:     c.Get("realm"),
		Password:  password,
		Nonce:     c.Get("nonce"),
		CNonce:    c.Get("cnonce"),
		QOP:       c.Get("qop"),
		Method:    req.Method,
		URI:       c.Get("uri"),
		Body:      req.Body(),
	}
	if nc := c.Get("nc"); nc != "" {
		_, err := fmt.Sscanf(nc, "%08x", &p.NC)
		require.NoError(t, err)
	}
	return p
}

var allAlgorithms = []string{auth.MD5, auth.MD5Sess, auth.SHA256, auth.SHA256Sess, auth.SHA512_256, auth.SHA512_256Sess}
