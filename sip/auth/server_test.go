package auth_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
)

var users = map[string]string{"alice": "wonderland", "J\u00e4s\u00f8n Doe": "Secret, or not?"}

func lookup(username, realm string) (string, bool) {
	if realm != "example.com" {
		return "", false
	}
	pw, ok := users[username]
	return pw, ok
}

func userhashTable(alg string) func(hash, realm string) (string, bool) {
	return func(hash, realm string) (string, bool) {
		for name := range users {
			if h, _ := auth.Userhash(alg, name, realm); h == hash {
				return name, true
			}
		}
		return "", false
	}
}

func newServer(t testing.TB, cfg auth.ServerConfig) *auth.Server {
	t.Helper()
	if cfg.Realm == "" {
		cfg.Realm = "example.com"
	}
	s, err := auth.NewServer(cfg)
	require.NoError(t, err)
	return s
}

// roundTrip sends req unauthenticated, lets the server challenge (with
// code), the client answer, and returns the verdict on the answer.
func roundTrip(t testing.TB, s *auth.Server, c *auth.Client, req *sip.Request, code int, cred auth.Credentials) auth.Result {
	t.Helper()
	r := s.Verify(req, lookup)
	require.Equal(t, auth.ReasonNoCredentials, r.Reason)
	res := sip.NewResponse(req, code, "")
	s.Challenge(res, false)
	require.NoError(t, c.Authorize(req, res, cred))
	return s.Verify(req, lookup)
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range allAlgorithms {
		for _, qop := range []string{"auth", "auth-int", "auth,auth-int"} {
			for _, withBody := range []bool{false, true} {
				for _, uh := range []bool{false, true} {
					for _, code := range []int{401, 407} {
						name := fmt.Sprintf("%s/%s/body=%v/userhash=%v/%d", alg, qop, withBody, uh, code)
						t.Run(name, func(t *testing.T) {
							cfg := auth.ServerConfig{Algorithms: []string{alg}, QOP: qop, Opaque: uh}
							if uh {
								cfg.Userhash = userhashTable(alg)
							}
							s := newServer(t, cfg)
							var c auth.Client
							req := newReq(t, "INVITE", "sip:bob@example.com")
							if withBody {
								req.SetBody([]byte("v=0\r\n"))
							}
							cred := auth.Credentials{Username: "alice", Password: "wonderland"}
							r := roundTrip(t, s, &c, req, code, cred)
							require.Equal(t, auth.ReasonOK, r.Reason, r.Reason.String())
							assert.True(t, r.OK())
							assert.Equal(t, "alice", r.Username)
							assert.Equal(t, alg, r.Algorithm)
							wantQOP := "auth"
							if qop == "auth-int" || qop == "auth,auth-int" && withBody {
								wantQOP = "auth-int"
							}
							assert.Equal(t, wantQOP, r.QOP)
							hdr := "Authorization"
							if code == 407 {
								hdr = "Proxy-Authorization"
							}
							cr := oneCred(t, req, hdr)
							if uh {
								assert.Equal(t, "true", cr.Get("userhash"))
								assert.NotEqual(t, "alice", cr.Get("username"))
							}

							// Replaying the same request is refused.
							assert.Equal(t, auth.ReasonReplayedNC, s.Verify(req, lookup).Reason)

							// The next request reuses the nonce with nc=2.
							req2 := newReq(t, "BYE", "sip:bob@example.com")
							if withBody {
								req2.SetBody([]byte("other body"))
							}
							require.True(t, c.Reauthorize(req2))
							assert.Equal(t, "00000002", oneCred(t, req2, hdr).Get("nc"))
							assert.Equal(t, auth.ReasonOK, s.Verify(req2, lookup).Reason)
						})
					}
				}
			}
		}
	}
}

func TestRoundTripUnicodeUserhash(t *testing.T) {
	s := newServer(t, auth.ServerConfig{Algorithms: []string{auth.SHA512_256}, Userhash: userhashTable(auth.SHA512_256)})
	var c auth.Client
	req := newReq(t, "REGISTER", "sip:example.com")
	r := roundTrip(t, s, &c, req, 401, auth.Credentials{Username: "J\u00e4s\u00f8n Doe", Password: "Secret, or not?"})
	require.Equal(t, auth.ReasonOK, r.Reason, r.Reason.String())
	assert.Equal(t, "J\u00e4s\u00f8n Doe", r.Username)
}

func TestServerPicksStrongest(t *testing.T) {
	s := newServer(t, auth.ServerConfig{Algorithms: []string{"md5", "SHA-256", "sha-512-256"}})
	var c auth.Client
	req := newReq(t, "INVITE", "sip:bob@example.com")
	res := sip.NewResponse(req, 401, "")
	s.Challenge(res, false)
	chs, err := res.WWWAuthenticate()
	require.NoError(t, err)
	require.Len(t, chs, 3)
	assert.Equal(t, "MD5", chs[0].Get("algorithm"))
	assert.Equal(t, chs[0].Get("nonce"), chs[2].Get("nonce"), "one nonce for all")
	require.NoError(t, c.Authorize(req, res, auth.Credentials{Username: "alice", Password: "wonderland"}))
	r := s.Verify(req, lookup)
	require.True(t, r.OK(), r.Reason.String())
	assert.Equal(t, "SHA-512-256", r.Algorithm)
}

func TestChallengeFields(t *testing.T) {
	s := newServer(t, auth.ServerConfig{Opaque: true, QOP: "auth-int, auth", Userhash: userhashTable("MD5")})
	req := newReq(t, "INVITE", "sip:bob@example.com")

	res := sip.NewResponse(req, 401, "")
	s.Challenge(res, true)
	chs, err := res.WWWAuthenticate()
	require.NoError(t, err)
	require.Len(t, chs, 2)
	assert.Empty(t, res.Values("Proxy-Authenticate"))
	c := chs[0]
	assert.Equal(t, "Digest", c.Scheme)
	assert.Equal(t, "example.com", c.Get("realm"))
	assert.Equal(t, "SHA-256", c.Get("algorithm"))
	assert.Equal(t, "MD5", chs[1].Get("algorithm"))
	assert.Equal(t, "auth,auth-int", c.Get("qop"))
	assert.Equal(t, "true", c.Get("stale"))
	assert.Equal(t, "true", c.Get("userhash"))
	assert.NotEmpty(t, c.Get("opaque"))
	assert.Len(t, c.Get("nonce"), 43)
	assert.Equal(t, "example.com", s.Realm())

	res = sip.NewResponse(req, 407, "")
	s.Challenge(res, false)
	chs, err = res.ProxyAuthenticate()
	require.NoError(t, err)
	require.Len(t, chs, 2)
	assert.Empty(t, chs[0].Get("stale"))
	assert.Empty(t, res.Values("WWW-Authenticate"))

	// Nonces differ from one challenge to the next.
	res2 := sip.NewResponse(req, 407, "")
	s.Challenge(res2, false)
	chs2, _ := res2.ProxyAuthenticate()
	assert.NotEqual(t, chs[0].Get("nonce"), chs2[0].Get("nonce"))

	// Nil receivers and arguments do nothing.
	var nilServer *auth.Server
	nilServer.Challenge(res, false)
	s.Challenge(nil, false)
	assert.Equal(t, auth.ReasonNoCredentials, nilServer.Verify(req, lookup).Reason)
	assert.Equal(t, auth.ReasonNoCredentials, s.Verify(nil, lookup).Reason)
}

func TestNonceExpiry(t *testing.T) {
	clock := newClock()
	s := newServer(t, auth.ServerConfig{Now: clock.Now, NonceLifetime: time.Minute})
	var c auth.Client
	cred := auth.Credentials{Username: "alice", Password: "wonderland"}

	req := newReq(t, "REGISTER", "sip:example.com")
	require.True(t, roundTrip(t, s, &c, req, 401, cred).OK())

	// Within the lifetime the nonce is reused.
	clock.Advance(59 * time.Second)
	req2 := newReq(t, "REGISTER", "sip:example.com")
	require.True(t, c.Reauthorize(req2))
	require.True(t, s.Verify(req2, lookup).OK())

	// After it: stale, the client answers the stale challenge with the new
	// nonce without new credentials, and succeeds.
	clock.Advance(2 * time.Second)
	req3 := newReq(t, "REGISTER", "sip:example.com")
	require.True(t, c.Reauthorize(req3))
	r := s.Verify(req3, lookup)
	require.Equal(t, auth.ReasonStale, r.Reason)
	assert.Equal(t, "alice", r.Username)
	res := sip.NewResponse(req3, 401, "")
	s.Challenge(res, true)
	require.NoError(t, c.Authorize(req3, res, auth.Credentials{}))
	require.True(t, s.Verify(req3, lookup).OK())

	// A wrong password on an expired nonce is wrong, not stale.
	clock.Advance(2 * time.Minute)
	req4 := newReq(t, "REGISTER", "sip:example.com")
	var c2 auth.Client
	res = sip.NewResponse(req4, 401, "")
	s.Challenge(res, false)
	require.NoError(t, c2.Authorize(req4, res, auth.Credentials{Username: "alice", Password: "wrong"}))
	clock.Advance(2 * time.Minute)
	assert.Equal(t, auth.ReasonWrongResponse, s.Verify(req4, lookup).Reason)

	// A nonce from the future (a server sharing the secret with a clock
	// far ahead) is stale too.
	future := newClock()
	future.Advance(time.Hour)
	s2 := newServer(t, auth.ServerConfig{Now: clock.Now, NonceLifetime: time.Minute, Secret: []byte("k")})
	s3 := newServer(t, auth.ServerConfig{Now: future.Now, NonceLifetime: time.Minute, Secret: []byte("k")})
	req5 := newReq(t, "REGISTER", "sip:example.com")
	res = sip.NewResponse(req5, 401, "")
	s3.Challenge(res, false)
	require.NoError(t, c2.Authorize(req5, res, auth.Credentials{Username: "alice", Password: "wonderland"}))
	assert.True(t, s3.Verify(req5, lookup).OK())
	assert.Equal(t, auth.ReasonStale, s2.Verify(req5, lookup).Reason)
}

func TestSharedSecret(t *testing.T) {
	a := newServer(t, auth.ServerConfig{Secret: []byte("shared")})
	b := newServer(t, auth.ServerConfig{Secret: []byte("shared")})
	other := newServer(t, auth.ServerConfig{Secret: []byte("other")})
	otherRealm := newServer(t, auth.ServerConfig{Secret: []byte("shared"), Realm: "example.net"})
	var c auth.Client
	req := newReq(t, "REGISTER", "sip:example.com")
	require.True(t, roundTrip(t, a, &c, req, 401, auth.Credentials{Username: "alice", Password: "wonderland"}).OK())
	assert.True(t, b.Verify(req, lookup).OK(), "same secret and realm")
	assert.Equal(t, auth.ReasonBadNonce, other.Verify(req, lookup).Reason)
	// The nonce is bound to its realm.
	req.Set("Authorization", strings.Replace(req.Get("Authorization"), `realm="example.com"`, `realm="example.net"`, 1))
	assert.Equal(t, auth.ReasonBadNonce, otherRealm.Verify(req, lookup).Reason)
}

// Every way a request can fail verification.
func TestVerifyFailures(t *testing.T) {
	alice := auth.Credentials{Username: "alice", Password: "wonderland"}
	// authorized returns a request answered by c for s, with the
	// Authorization field rewritten by edit.
	authorized := func(t *testing.T, s *auth.Server, cred auth.Credentials, edit func(v string) string) *sip.Request {
		var c auth.Client
		req := newReq(t, "INVITE", "sip:bob@example.com")
		res := sip.NewResponse(req, 401, "")
		s.Challenge(res, false)
		require.NoError(t, c.Authorize(req, res, cred))
		if edit != nil {
			req.Set("Authorization", edit(req.Get("Authorization")))
		}
		return req
	}
	param := func(v, name string) string {
		cr, err := sip.ParseCredentials(v)
		require.NoError(t, err)
		return cr.Get(name)
	}
	replace := func(name, with string) func(string) string {
		return func(v string) string {
			old := param(v, name)
			if strings.Contains(v, name+`="`+old+`"`) {
				return strings.Replace(v, name+`="`+old+`"`, name+`=`+with, 1)
			}
			return strings.Replace(v, name+`=`+old, name+`=`+with, 1)
		}
	}
	drop := func(name string) func(string) string {
		return func(v string) string {
			cr, _ := sip.ParseCredentials(v)
			ps := cr.Params[:0]
			for _, p := range cr.Params {
				if p.Name != name {
					ps = append(ps, p)
				}
			}
			cr.Params = ps
			return cr.String()
		}
	}
	def := newServer(t, auth.ServerConfig{})

	tests := []struct {
		name   string
		server *auth.Server
		req    func(t *testing.T) *sip.Request
		want   auth.Reason
	}{
		{"no credentials", def, func(t *testing.T) *sip.Request { return newReq(t, "INVITE", "sip:bob@example.com") }, auth.ReasonNoCredentials},
		{"other realm", newServer(t, auth.ServerConfig{Realm: "example.net"}), func(t *testing.T) *sip.Request {
			return authorized(t, def, alice, nil)
		}, auth.ReasonNoCredentials},
		{"other scheme", def, func(t *testing.T) *sip.Request {
			req := newReq(t, "INVITE", "sip:bob@example.com")
			req.Add("Authorization", `Basic realm="example.com"`)
			return req
		}, auth.ReasonNoCredentials},
		{"unparsable", def, func(t *testing.T) *sip.Request {
			req := newReq(t, "INVITE", "sip:bob@example.com")
			req.Add("Authorization", `Digest realm="example.com`)
			return req
		}, auth.ReasonNoCredentials},
		{"wrong password", def, func(t *testing.T) *sip.Request {
			return authorized(t, def, auth.Credentials{Username: "alice", Password: "nope"}, nil)
		}, auth.ReasonWrongResponse},
		{"unknown user", def, func(t *testing.T) *sip.Request {
			return authorized(t, def, auth.Credentials{Username: "mallory", Password: "x"}, nil)
		}, auth.ReasonUnknownUser},
		{"tampered nonce", def, func(t *testing.T) *sip.Request {
			return authorized(t, def, alice, func(v string) string {
				n := param(v, "nonce")
				b := []byte(n)
				b[3] ^= 1
				return strings.Replace(v, n, string(b), 1)
			})
		}, auth.ReasonBadNonce},
		{"tampered nonce, response recomputed", def, func(t *testing.T) *sip.Request {
			// Even with the right password, a nonce not issued by the server fails.
			req := newReq(t, "INVITE", "sip:bob@example.com")
			var c auth.Client
			require.NoError(t, c.Authorize(req, challengeRes(req, 401,
				`Digest realm="example.com", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", qop="auth", algorithm=SHA-256`), alice))
			return req
		}, auth.ReasonBadNonce},
		{"short nonce", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, replace("nonce", `"abc"`)) }, auth.ReasonBadNonce},
		{"nonce not base64", def, func(t *testing.T) *sip.Request {
			return authorized(t, def, alice, replace("nonce", `"`+strings.Repeat("!", 43)+`"`))
		}, auth.ReasonBadNonce},
		{"tampered response", def, func(t *testing.T) *sip.Request {
			return authorized(t, def, alice, func(v string) string {
				r := param(v, "response")
				return strings.Replace(v, r, strings.Repeat("0", len(r)), 1)
			})
		}, auth.ReasonWrongResponse},
		{"short response", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, replace("response", `"00"`)) }, auth.ReasonWrongResponse},
		{"upper-case response accepted", def, func(t *testing.T) *sip.Request {
			return authorized(t, def, alice, func(v string) string {
				r := param(v, "response")
				return strings.Replace(v, r, strings.ToUpper(r), 1)
			})
		}, auth.ReasonOK},
		{"other method", def, func(t *testing.T) *sip.Request {
			req := authorized(t, def, alice, nil)
			req.Method = "BYE"
			return req
		}, auth.ReasonWrongResponse},
		{"uri mismatch", def, func(t *testing.T) *sip.Request {
			req := authorized(t, def, alice, nil)
			req.URI.User = "carol"
			return req
		}, auth.ReasonURIMismatch},
		{"equivalent uri", def, func(t *testing.T) *sip.Request {
			req := authorized(t, def, alice, nil)
			req.URI.Host = "EXAMPLE.com"
			return req
		}, auth.ReasonOK},
		{"huge uri", def, func(t *testing.T) *sip.Request {
			return authorized(t, def, alice, replace("uri", `"sip:`+strings.Repeat("x", 5000)+`@example.com"`))
		}, auth.ReasonURIMismatch},
		{"unparsable uri", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, replace("uri", `"sip:@@"`)) }, auth.ReasonURIMismatch},
		{"missing username", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, drop("username")) }, auth.ReasonMalformed},
		{"missing uri", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, drop("uri")) }, auth.ReasonMalformed},
		{"missing nonce", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, drop("nonce")) }, auth.ReasonMalformed},
		{"missing response", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, drop("response")) }, auth.ReasonMalformed},
		{"missing cnonce", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, drop("cnonce")) }, auth.ReasonMalformed},
		{"missing nc", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, drop("nc")) }, auth.ReasonMalformed},
		{"bad nc", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, replace("nc", "0000001g")) }, auth.ReasonMalformed},
		{"short nc", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, replace("nc", "1")) }, auth.ReasonMalformed},
		{"zero nc", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, replace("nc", "00000000")) }, auth.ReasonMalformed},
		{"missing qop (RFC 2069)", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, drop("qop")) }, auth.ReasonQOPNotOffered},
		{"qop not offered", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, replace("qop", "auth-int")) }, auth.ReasonQOPNotOffered},
		{"unknown qop", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, replace("qop", "auth-conf")) }, auth.ReasonQOPNotOffered},
		{"algorithm not offered", def, func(t *testing.T) *sip.Request {
			return authorized(t, def, alice, replace("algorithm", "SHA-512-256"))
		}, auth.ReasonAlgorithmNotOffered},
		{"unknown algorithm", def, func(t *testing.T) *sip.Request { return authorized(t, def, alice, replace("algorithm", "SHA-1")) }, auth.ReasonAlgorithmNotOffered},
		{"MD5 by absence, not offered", newServer(t, auth.ServerConfig{Algorithms: []string{"SHA-256"}}), func(t *testing.T) *sip.Request {
			req := newReq(t, "INVITE", "sip:bob@example.com")
			req.Add("Authorization", `Digest username="alice", realm="example.com", nonce="n", uri="sip:bob@example.com", response="r", qop=auth, nc=00000001, cnonce="c"`)
			return req
		}, auth.ReasonAlgorithmNotOffered},
		{"userhash not configured", def, func(t *testing.T) *sip.Request {
			return authorized(t, def, alice, func(v string) string { return v + ", userhash=true" })
		}, auth.ReasonUnknownUser},
	}
	opq := newServer(t, auth.ServerConfig{Opaque: true})
	uh := newServer(t, auth.ServerConfig{Userhash: userhashTable("SHA-256")})
	tests = append(tests, []struct {
		name   string
		server *auth.Server
		req    func(t *testing.T) *sip.Request
		want   auth.Reason
	}{
		{"opaque ok", opq, func(t *testing.T) *sip.Request { return authorized(t, opq, alice, nil) }, auth.ReasonOK},
		{"opaque missing", opq, func(t *testing.T) *sip.Request { return authorized(t, opq, alice, drop("opaque")) }, auth.ReasonBadNonce},
		{"opaque changed", opq, func(t *testing.T) *sip.Request { return authorized(t, opq, alice, replace("opaque", `"x"`)) }, auth.ReasonBadNonce},
		{"userhash ok", uh, func(t *testing.T) *sip.Request { return authorized(t, uh, alice, nil) }, auth.ReasonOK},
		{"userhash unknown", uh, func(t *testing.T) *sip.Request {
			return authorized(t, uh, auth.Credentials{Username: "mallory"}, nil)
		}, auth.ReasonUnknownUser},
		{"userhash ignored by the client", uh, func(t *testing.T) *sip.Request {
			return authorized(t, uh, alice, func(v string) string {
				v = strings.Replace(v, param(v, "username"), "alice", 1)
				return strings.Replace(v, ", userhash=true", "", 1)
			})
		}, auth.ReasonOK},
	}...)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.server.Verify(tt.req(t), lookup)
			assert.Equal(t, tt.want, r.Reason, "got %v", r.Reason)
			assert.Equal(t, tt.want == auth.ReasonOK, r.OK())
		})
	}

	// A nil lookup knows nobody.
	assert.Equal(t, auth.ReasonUnknownUser, def.Verify(authorized(t, def, alice, nil), nil).Reason)
}

func TestVerifyProxyAuthorization(t *testing.T) {
	s := newServer(t, auth.ServerConfig{Realm: "proxy.example.com"})
	var c auth.Client
	req := newReq(t, "INVITE", "sip:bob@example.com")
	// Credentials for another realm come first and are skipped.
	req.Add("Authorization", `Digest username="alice", realm="example.com", nonce="n", uri="sip:bob@example.com", response="r"`)
	res := sip.NewResponse(req, 407, "")
	s.Challenge(res, false)
	require.NoError(t, c.Authorize(req, res, auth.Credentials{Username: "alice", Password: "wonderland"}))
	r := s.Verify(req, func(u, realm string) (string, bool) {
		assert.Equal(t, "proxy.example.com", realm)
		return "wonderland", u == "alice"
	})
	assert.True(t, r.OK(), r.Reason.String())
}

func TestWrongPasswordClientGivesUp(t *testing.T) {
	s := newServer(t, auth.ServerConfig{})
	var c auth.Client
	req := newReq(t, "REGISTER", "sip:example.com")
	cred := auth.Credentials{Username: "alice", Password: "wrong"}
	sent := 0
	var err error
	for sent < 10 {
		sent++
		r := s.Verify(req, lookup)
		require.False(t, r.OK())
		res := sip.NewResponse(req, 401, "")
		s.Challenge(res, r.Reason == auth.ReasonStale)
		if err = c.Authorize(req, res, cred); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, auth.ErrAuthFailed)
	assert.Equal(t, 2, sent)
}

func TestReplayTableBounded(t *testing.T) {
	clock := newClock()
	s := newServer(t, auth.ServerConfig{Now: clock.Now, MaxNonces: 2})
	cred := auth.Credentials{Username: "alice", Password: "wonderland"}
	var reqs []*sip.Request
	for i := 0; i < 3; i++ {
		var c auth.Client
		req := newReq(t, "INVITE", "sip:bob@example.com")
		reqs = append(reqs, req)
		res := sip.NewResponse(req, 401, "")
		s.Challenge(res, false)
		require.NoError(t, c.Authorize(req, res, cred))
		clock.Advance(time.Millisecond)
	}
	require.True(t, s.Verify(reqs[0], lookup).OK())
	require.True(t, s.Verify(reqs[1], lookup).OK())
	require.True(t, s.Verify(reqs[2], lookup).OK()) // forgets reqs[0]'s nonce
	// reqs[0]'s nonce is no longer remembered: replaying it is stale, not OK.
	assert.Equal(t, auth.ReasonStale, s.Verify(reqs[0], lookup).Reason)
	assert.Equal(t, auth.ReasonReplayedNC, s.Verify(reqs[1], lookup).Reason)
	assert.Equal(t, auth.ReasonReplayedNC, s.Verify(reqs[2], lookup).Reason)

	// Nonces issued later are fine.
	var c auth.Client
	req := newReq(t, "INVITE", "sip:bob@example.com")
	r := roundTrip(t, s, &c, req, 401, cred)
	assert.True(t, r.OK(), r.Reason.String())
}

func TestNewServerErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  auth.ServerConfig
		want error
	}{
		{"no realm", auth.ServerConfig{}, auth.ErrInvalidConfig},
		{"bad algorithm", auth.ServerConfig{Realm: "r", Algorithms: []string{"SHA-1"}}, auth.ErrUnsupportedAlgorithm},
		{"empty algorithm", auth.ServerConfig{Realm: "r", Algorithms: []string{""}}, auth.ErrUnsupportedAlgorithm},
		{"bad qop", auth.ServerConfig{Realm: "r", QOP: "auth,foo"}, auth.ErrUnsupportedQOP},
		{"negative lifetime", auth.ServerConfig{Realm: "r", NonceLifetime: -1}, auth.ErrInvalidConfig},
		{"negative max", auth.ServerConfig{Realm: "r", MaxNonces: -1}, auth.ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := auth.NewServer(tt.cfg)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, tt.want)
		})
	}
	// Duplicates collapse.
	s := newServer(t, auth.ServerConfig{Algorithms: []string{"MD5", "md5"}})
	res := sip.NewResponse(newReq(t, "INVITE", "sip:bob@example.com"), 401, "")
	s.Challenge(res, false)
	assert.Len(t, res.Values("WWW-Authenticate"), 1)
}

func TestReasonString(t *testing.T) {
	for r := auth.ReasonOK; r <= auth.ReasonReplayedNC; r++ {
		assert.NotContains(t, r.String(), "Reason(")
	}
	assert.Equal(t, "Reason(99)", auth.Reason(99).String())
	assert.Equal(t, "Reason(-1)", auth.Reason(-1).String())
}

func TestServerConcurrent(t *testing.T) {
	s := newServer(t, auth.ServerConfig{MaxNonces: 16})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c auth.Client
			cred := auth.Credentials{Username: "alice", Password: "wonderland"}
			for i := 0; i < 40; i++ {
				req := newReq(t, "MESSAGE", "sip:bob@example.com")
				if !c.Reauthorize(req) {
					res := sip.NewResponse(req, 401, "")
					s.Challenge(res, false)
					if !assert.NoError(t, c.Authorize(req, res, cred)) {
						return
					}
				}
				r := s.Verify(req, lookup)
				if r.Reason == auth.ReasonStale {
					// This Client's nonce was pushed out of the table by
					// the other goroutines: the stale retry recovers.
					res := sip.NewResponse(req, 401, "")
					s.Challenge(res, true)
					if !assert.NoError(t, c.Authorize(req, res, auth.Credentials{})) {
						return
					}
					r = s.Verify(req, lookup)
				}
				assert.True(t, r.OK(), r.Reason.String())
			}
		}()
	}
	wg.Wait()
}
