package auth_test

import (
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
)

// The acceptance scenario: a NOTIFY challenged with MD5/auth.
func TestAuthorizeNOTIFY(t *testing.T) {
	var c auth.Client
	cred := auth.Credentials{Username: "alice", Password: "wonderland"}
	req := newReq(t, "NOTIFY", "sip:bob@192.0.2.4:5060;transport=udp")
	res := challengeRes(req, 401, `Digest realm="example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", qop="auth", algorithm=MD5`)

	require.NoError(t, c.Authorize(req, res, cred))
	raw := req.Values("Authorization")
	require.Len(t, raw, 1)
	assert.Contains(t, raw[0], "algorithm=MD5")
	assert.Contains(t, raw[0], "qop=auth,")
	assert.Contains(t, raw[0], "nc=00000001")
	assert.True(t, strings.HasPrefix(raw[0], `Digest username="alice", realm="example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", uri="sip:bob@192.0.2.4:5060;transport=udp", response="`), raw[0])

	cr := oneCred(t, req, "Authorization")
	assert.Equal(t, "Digest", cr.Scheme)
	assert.Equal(t, "alice", cr.Get("username"))
	assert.Equal(t, "example.com", cr.Get("realm"))
	assert.Equal(t, "ea9c8e88df84f1cec4341ae6cbe5a359", cr.Get("nonce"))
	assert.Equal(t, req.URI.String(), cr.Get("uri"))
	assert.Equal(t, "MD5", cr.Get("algorithm"))
	assert.Equal(t, "auth", cr.Get("qop"))
	assert.Equal(t, "00000001", cr.Get("nc"))
	cnonce := cr.Get("cnonce")
	assert.Len(t, cnonce, 32)
	assert.Empty(t, cr.Get("opaque"))
	assert.Empty(t, cr.Get("userhash"))

	// response = MD5(MD5(user:realm:pass):nonce:nc:cnonce:qop:MD5(METHOD:uri))
	H := refHash("MD5")
	want := H(H("alice:example.com:wonderland") + ":ea9c8e88df84f1cec4341ae6cbe5a359:00000001:" +
		cnonce + ":auth:" + H("NOTIFY:"+req.URI.String()))
	assert.Equal(t, want, cr.Get("response"))

	// The next request reusing the nonce says nc=00000002 (new cnonce).
	req2 := newReq(t, "NOTIFY", "sip:bob@192.0.2.4:5060;transport=udp")
	require.True(t, c.Reauthorize(req2))
	cr2 := oneCred(t, req2, "Authorization")
	assert.Equal(t, "00000002", cr2.Get("nc"))
	assert.Equal(t, "ea9c8e88df84f1cec4341ae6cbe5a359", cr2.Get("nonce"))
	assert.NotEqual(t, cnonce, cr2.Get("cnonce"))
	assert.Equal(t, refResponse(paramsFrom(t, req2, cr2, "alice", "wonderland")), cr2.Get("response"))

	// And the one after that nc=00000003.
	req3 := newReq(t, "NOTIFY", "sip:bob@192.0.2.4:5060;transport=udp")
	require.True(t, c.Reauthorize(req3))
	assert.Equal(t, "00000003", oneCred(t, req3, "Authorization").Get("nc"))

	// The cnonces are random: another Client draws another one.
	var c2 auth.Client
	req4 := newReq(t, "NOTIFY", "sip:bob@192.0.2.4:5060;transport=udp")
	require.NoError(t, c2.Authorize(req4, challengeRes(req4, 401, res.Values("WWW-Authenticate")...), cred))
	assert.NotEqual(t, cnonce, oneCred(t, req4, "Authorization").Get("cnonce"))
}

func TestAuthorizeRetryPolicy(t *testing.T) {
	const ch1 = `Digest realm="example.com", nonce="n1", qop="auth", algorithm=MD5`
	const ch2 = `Digest realm="example.com", nonce="n2", qop="auth", algorithm=MD5`
	const stale2 = `Digest realm="example.com", nonce="n2", qop="auth", algorithm=MD5, stale=true`
	const stale3 = `Digest realm="example.com", nonce="n3", qop="auth", algorithm=MD5, stale=TRUE`
	const stale1 = `Digest realm="example.com", nonce="n1", qop="auth", algorithm=MD5, stale=true`
	cred := auth.Credentials{Username: "alice", Password: "pw"}

	type step struct {
		challenge string
		wantErr   error  // nil: answered
		wantNonce string // nonce of the answer
		wantNC    string
	}
	tests := []struct {
		name       string
		preemptive bool // the request first gets credentials from Reauthorize
		steps      []step
	}{
		{"two non-stale rejections fail", false, []step{
			{ch1, nil, "n1", "00000001"},
			{ch2, auth.ErrAuthFailed, "", ""},
		}},
		{"same nonce again fails", false, []step{
			{ch1, nil, "n1", "00000001"},
			{ch1, auth.ErrAuthFailed, "", ""},
		}},
		{"stale is answered once more", false, []step{
			{ch1, nil, "n1", "00000001"},
			{stale2, nil, "n2", "00000001"},
		}},
		{"stale then non-stale fails", false, []step{
			{ch1, nil, "n1", "00000001"},
			{stale2, nil, "n2", "00000001"},
			{ch1, auth.ErrAuthFailed, "", ""},
		}},
		{"stale twice in a row fails", false, []step{
			{ch1, nil, "n1", "00000001"},
			{stale2, nil, "n2", "00000001"},
			{stale3, auth.ErrAuthFailed, "", ""},
		}},
		{"stale with the rejected nonce fails", false, []step{
			{ch1, nil, "n1", "00000001"},
			{stale1, auth.ErrAuthFailed, "", ""},
		}},
		{"stale on a first challenge is a first challenge", false, []step{
			{stale2, nil, "n2", "00000001"},
			{ch1, auth.ErrAuthFailed, "", ""},
		}},
		{"preemptive credentials rejected: answered, then fail", true, []step{
			{ch2, nil, "n2", "00000001"},
			{ch1, auth.ErrAuthFailed, "", ""},
		}},
		{"preemptive credentials stale: answered, stale once more, then fail", true, []step{
			{stale2, nil, "n2", "00000001"},
			{stale3, nil, "n3", "00000001"},
			{ch1, auth.ErrAuthFailed, "", ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c auth.Client
			req := newReq(t, "REGISTER", "sip:example.com")
			if tt.preemptive {
				first := newReq(t, "REGISTER", "sip:example.com")
				require.NoError(t, c.Authorize(first, challengeRes(first, 401, ch1), cred))
				require.True(t, c.Reauthorize(req))
				assert.Equal(t, "00000002", oneCred(t, req, "Authorization").Get("nc"))
			}
			for i, s := range tt.steps {
				before := req.Values("Authorization")
				err := c.Authorize(req, challengeRes(req, 401, s.challenge), cred)
				if s.wantErr != nil {
					require.ErrorIs(t, err, s.wantErr, "step %d", i)
					var ae *auth.Error
					require.True(t, errors.As(err, &ae))
					assert.Equal(t, 401, ae.Status)
					assert.Equal(t, "example.com", ae.Realm)
					assert.Equal(t, before, req.Values("Authorization"), "req changed on error")
					continue
				}
				require.NoError(t, err, "step %d", i)
				cr := oneCred(t, req, "Authorization")
				assert.Equal(t, s.wantNonce, cr.Get("nonce"), "step %d", i)
				assert.Equal(t, s.wantNC, cr.Get("nc"), "step %d", i)
				assert.Equal(t, refResponse(paramsFrom(t, req, cr, "alice", "pw")), cr.Get("response"))
			}
		})
	}
}

func TestAuthorizeStaleReusesCredentials(t *testing.T) {
	var c auth.Client
	req := newReq(t, "INVITE", "sip:bob@example.com")
	require.NoError(t, c.Authorize(req, challengeRes(req, 407, `Digest realm="proxy", nonce="a", qop="auth"`),
		auth.Credentials{Username: "alice", Password: "pw"}))
	// No credentials given: those last used for the realm answer.
	err := c.Authorize(req, challengeRes(req, 407, `Digest realm="proxy", nonce="b", qop="auth", stale=true`), auth.Credentials{})
	require.NoError(t, err)
	cr := oneCred(t, req, "Proxy-Authorization")
	assert.Equal(t, "b", cr.Get("nonce"))
	assert.Equal(t, refResponse(paramsFrom(t, req, cr, "alice", "pw")), cr.Get("response"))

	// A realm never answered has no credentials to reuse.
	req2 := newReq(t, "INVITE", "sip:bob@example.com")
	err = c.Authorize(req2, challengeRes(req2, 401, `Digest realm="other", nonce="b", qop="auth"`), auth.Credentials{})
	require.ErrorIs(t, err, auth.ErrNoCredentials)
	var ae *auth.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "other", ae.Realm)
}

func TestAuthorizePicksStrongest(t *testing.T) {
	tests := []struct {
		name       string
		challenges []string
		want       string
	}{
		{"SHA-512-256 over SHA-256 and MD5", []string{
			`Digest realm="r", nonce="n1", algorithm=MD5, qop="auth"`,
			`Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth"`,
			`Digest realm="r", nonce="n3", algorithm=SHA-512-256, qop="auth"`,
		}, "SHA-512-256"},
		{"several in one field", []string{
			`Digest realm="r", nonce="n1", algorithm=MD5, qop="auth", Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth"`,
		}, "SHA-256"},
		{"unknown algorithm skipped", []string{
			`Digest realm="r", nonce="n0", algorithm=SHA-1024, qop="auth"`,
			`Digest realm="r", nonce="n1", algorithm=md5, qop="auth"`,
		}, "MD5"},
		{"absent algorithm is MD5", []string{`Digest realm="r", nonce="n1", qop="auth"`}, "MD5"},
		{"sess variant", []string{`Digest realm="r", nonce="n1", algorithm=sha-256-SESS, qop="auth"`}, "SHA-256-sess"},
		{"other schemes ignored", []string{
			`Basic realm="r"`,
			`Digest realm="r", nonce="n1", algorithm=SHA-256, qop="auth"`,
		}, "SHA-256"},
		{"malformed field skipped", []string{
			`Digest realm="r, nonce=`,
			`Digest realm="r", nonce="n1", algorithm=SHA-256, qop="auth"`,
		}, "SHA-256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c auth.Client
			req := newReq(t, "MESSAGE", "sip:bob@example.com")
			require.NoError(t, c.Authorize(req, challengeRes(req, 401, tt.challenges...), auth.Credentials{Username: "u", Password: "p"}))
			cr := oneCred(t, req, "Authorization")
			assert.Equal(t, tt.want, cr.Get("algorithm"))
			assert.Equal(t, refResponse(paramsFrom(t, req, cr, "u", "p")), cr.Get("response"))
		})
	}
}

func TestAuthorizeQOP(t *testing.T) {
	tests := []struct {
		name, qop string
		body      string
		want      string
	}{
		{"auth-int preferred with a body", `qop="auth,auth-int"`, "hello", "auth-int"},
		{"auth without a body", `qop="auth,auth-int"`, "", "auth"},
		{"auth-int alone without a body", `qop="auth-int"`, "", "auth-int"},
		{"auth alone with a body", `qop="auth"`, "hello", "auth"},
		{"unknown qop values ignored", `qop="auth-conf, AUTH-INT , x"`, "hello", "auth-int"},
		{"unquoted", `qop=auth`, "", "auth"},
		{"no qop: RFC 2069", ``, "hello", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c auth.Client
			req := newReq(t, "MESSAGE", "sip:bob@example.com")
			if tt.body != "" {
				req.SetBody([]byte(tt.body))
			}
			ch := `Digest realm="r", nonce="n1", algorithm=SHA-256`
			if tt.qop != "" {
				ch += ", " + tt.qop
			}
			require.NoError(t, c.Authorize(req, challengeRes(req, 401, ch), auth.Credentials{Username: "u", Password: "p"}))
			cr := oneCred(t, req, "Authorization")
			assert.Equal(t, tt.want, cr.Get("qop"))
			assert.Equal(t, refResponse(paramsFrom(t, req, cr, "u", "p")), cr.Get("response"))
			if tt.want == "" {
				for _, p := range cr.Params {
					assert.NotContains(t, []string{"cnonce", "nc", "qop"}, p.Name)
				}
				// An RFC 2069 nonce is not reused preemptively.
				assert.False(t, c.Reauthorize(newReq(t, "MESSAGE", "sip:bob@example.com")))
			}
		})
	}
}

func TestAuthorizeHeaderDetails(t *testing.T) {
	var c auth.Client
	c.Rand = &countingReader{}

	t.Run("opaque echoed, userhash", func(t *testing.T) {
		req := newReq(t, "REGISTER", "sip:example.com")
		res := challengeRes(req, 401, `Digest realm="api@example.org", nonce="n", opaque="HRPCss/KJS", algorithm=SHA-512-256, qop="auth", charset=UTF-8, userhash=true`)
		require.NoError(t, c.Authorize(req, res, auth.Credentials{Username: "J\u00e4s\u00f8n Doe", Password: "Secret, or not?"}))
		cr := oneCred(t, req, "Authorization")
		assert.Equal(t, "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b", cr.Get("username"))
		assert.Equal(t, "true", cr.Get("userhash"))
		assert.Equal(t, "HRPCss/KJS", cr.Get("opaque"))
		assert.Equal(t, "000102030405060708090a0b0c0d0e0f", cr.Get("cnonce"))
		// The response uses the username itself.
		assert.Equal(t, refResponse(paramsFrom(t, req, cr, "J\u00e4s\u00f8n Doe", "Secret, or not?")), cr.Get("response"))
		names := make([]string, len(cr.Params))
		for i, p := range cr.Params {
			names[i] = p.Name
		}
		assert.Equal(t, []string{"username", "realm", "nonce", "uri", "response", "algorithm", "cnonce", "qop", "nc", "opaque", "userhash"}, names)
	})

	t.Run("empty opaque echoed", func(t *testing.T) {
		req := newReq(t, "REGISTER", "sip:example.com")
		require.NoError(t, c.Authorize(req, challengeRes(req, 401, `Digest realm="r", nonce="n", opaque="", qop="auth"`), auth.Credentials{Username: "u"}))
		assert.Contains(t, req.Get("Authorization"), `opaque=""`)
	})

	t.Run("quotes in values are escaped", func(t *testing.T) {
		req := newReq(t, "REGISTER", "sip:example.com")
		require.NoError(t, c.Authorize(req, challengeRes(req, 401, `Digest realm="a\"b", nonce="n\\x", qop="auth"`), auth.Credentials{Username: `u"v`}))
		cr := oneCred(t, req, "Authorization")
		assert.Equal(t, `a"b`, cr.Get("realm"))
		assert.Equal(t, `n\x`, cr.Get("nonce"))
		assert.Equal(t, `u"v`, cr.Get("username"))
		assert.Equal(t, refResponse(paramsFrom(t, req, cr, `u"v`, "")), cr.Get("response"))
	})
}

func TestAuthorizeRealms(t *testing.T) {
	t.Run("replaces the realm's credentials, keeps others", func(t *testing.T) {
		var c auth.Client
		req := newReq(t, "REGISTER", "sip:example.com")
		req.Add("Authorization", `Digest username="x", realm="other", nonce="o", uri="sip:example.com", response="0"`)
		req.Add("Authorization", `Digest username="x", realm="r", nonce="old", uri="sip:example.com", response="0"`)
		req.Add("Authorization", `Basic YWxhZGRpbjpvcGVuc2VzYW1l`)
		require.NoError(t, c.Authorize(req, challengeRes(req, 401, `Digest realm="r", nonce="new", qop="auth"`), auth.Credentials{Username: "u", Password: "p"}))
		vals := req.Values("Authorization")
		require.Len(t, vals, 3)
		assert.Contains(t, vals[0], `realm="other"`)
		assert.Equal(t, `Basic YWxhZGRpbjpvcGVuc2VzYW1l`, vals[1])
		assert.Contains(t, vals[2], `nonce="new"`)
	})

	t.Run("two proxies: both answered", func(t *testing.T) {
		var c auth.Client
		req := newReq(t, "INVITE", "sip:bob@example.com")
		res := challengeRes(req, 407,
			`Digest realm="p1", nonce="a", qop="auth"`,
			`Digest realm="p2", nonce="b", qop="auth", algorithm=SHA-256`)
		require.NoError(t, c.Authorize(req, res, auth.Credentials{Username: "u", Password: "p"}))
		cs := creds(t, req, "Proxy-Authorization")
		require.Len(t, cs, 2)
		assert.Equal(t, "p1", cs[0].Get("realm"))
		assert.Equal(t, "p2", cs[1].Get("realm"))
		assert.Empty(t, req.Values("Authorization"))
		// A new request gets both preemptively.
		req2 := newReq(t, "INVITE", "sip:bob@example.com")
		require.True(t, c.Reauthorize(req2))
		assert.Len(t, creds(t, req2, "Proxy-Authorization"), 2)
	})

	t.Run("credentials for one realm", func(t *testing.T) {
		var c auth.Client
		req := newReq(t, "INVITE", "sip:bob@example.com")
		res := challengeRes(req, 407,
			`Digest realm="p1", nonce="a", qop="auth"`,
			`Digest realm="p2", nonce="b", qop="auth"`)
		require.NoError(t, c.Authorize(req, res, auth.Credentials{Username: "u2", Password: "p", Realm: "p2"}))
		require.NoError(t, c.Authorize(req, res, auth.Credentials{Username: "u1", Password: "p", Realm: "p1"}))
		cs := creds(t, req, "Proxy-Authorization")
		require.Len(t, cs, 2)
		assert.Equal(t, "u2", cs[0].Get("username"))
		assert.Equal(t, "u1", cs[1].Get("username"))

		err := c.Authorize(req, res, auth.Credentials{Username: "u", Realm: "p3"})
		require.ErrorIs(t, err, auth.ErrNoCredentials)
		var ae *auth.Error
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, 407, ae.Status)
	})

	t.Run("forget", func(t *testing.T) {
		var c auth.Client
		req := newReq(t, "INVITE", "sip:bob@example.com")
		require.NoError(t, c.Authorize(req, challengeRes(req, 401, `Digest realm="r", nonce="a", qop="auth"`), auth.Credentials{Username: "u"}))
		c.Forget("r")
		assert.False(t, c.Reauthorize(newReq(t, "INVITE", "sip:bob@example.com")))
	})
}

// Hostile and unusable challenges: a typed error, no panic, req unchanged.
func TestAuthorizeUnusable(t *testing.T) {
	huge := strings.Repeat("x", 2000)
	tests := []struct {
		name   string
		code   int
		values []string
		want   error
	}{
		{"not a challenge status", 403, nil, auth.ErrNoChallenge},
		{"200", 200, nil, auth.ErrNoChallenge},
		{"no header", 401, nil, auth.ErrNoChallenge},
		{"basic only", 401, []string{`Basic realm="r"`}, auth.ErrNoChallenge},
		{"missing nonce", 401, []string{`Digest realm="r", qop="auth"`}, auth.ErrNoChallenge},
		{"empty nonce", 401, []string{`Digest realm="r", nonce="", qop="auth"`}, auth.ErrNoChallenge},
		{"huge nonce", 401, []string{`Digest realm="r", nonce="` + huge + `", qop="auth"`}, auth.ErrNoChallenge},
		{"huge realm", 401, []string{`Digest realm="` + huge + `", nonce="n", qop="auth"`}, auth.ErrNoChallenge},
		{"huge opaque", 401, []string{`Digest realm="r", nonce="n", opaque="` + huge + `"`}, auth.ErrNoChallenge},
		{"unparsable", 401, []string{`Digest realm="r`}, auth.ErrNoChallenge},
		{"garbage", 401, []string{`,,,=`}, auth.ErrNoChallenge},
		{"unknown algorithm", 401, []string{`Digest realm="r", nonce="n", algorithm=SHA-1`}, auth.ErrUnsupportedAlgorithm},
		{"empty algorithm", 401, []string{`Digest realm="r", nonce="n", algorithm=""`}, auth.ErrUnsupportedAlgorithm},
		{"weird algorithm", 401, []string{`Digest realm="r", nonce="n", algorithm="MD5\"; x"`}, auth.ErrUnsupportedAlgorithm},
		{"bad qop list", 401, []string{`Digest realm="r", nonce="n", qop="auth-conf,,x"`}, auth.ErrUnsupportedQOP},
		{"empty qop", 401, []string{`Digest realm="r", nonce="n", qop=""`}, auth.ErrUnsupportedQOP},
		{"sess without qop", 401, []string{`Digest realm="r", nonce="n", algorithm=MD5-sess`}, auth.ErrUnsupportedQOP},
		{"wrong header for 407", 407, nil, auth.ErrNoChallenge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c auth.Client
			req := newReq(t, "INVITE", "sip:bob@example.com")
			res := sip.NewResponse(req, tt.code, "")
			for _, v := range tt.values {
				res.Add("WWW-Authenticate", v)
			}
			if tt.name == "wrong header for 407" {
				res.Add("WWW-Authenticate", `Digest realm="r", nonce="n"`)
			}
			err := c.Authorize(req, res, auth.Credentials{Username: "u", Password: "p"})
			require.ErrorIs(t, err, tt.want)
			var ae *auth.Error
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.code, ae.Status)
			assert.NotEmpty(t, err.Error())
			assert.Empty(t, req.Values("Authorization"))
			assert.Empty(t, req.Values("Proxy-Authorization"))
		})
	}

	var c auth.Client
	assert.ErrorIs(t, c.Authorize(nil, nil, auth.Credentials{}), auth.ErrNoChallenge)
	assert.False(t, c.Reauthorize(nil))
}

type failingReader struct{}

var errRand = errors.New("no entropy")

func (failingReader) Read([]byte) (int, error) { return 0, errRand }

func TestAuthorizeRandFailure(t *testing.T) {
	c := auth.Client{Rand: failingReader{}}
	req := newReq(t, "INVITE", "sip:bob@example.com")
	err := c.Authorize(req, challengeRes(req, 401, `Digest realm="r", nonce="n", qop="auth"`), auth.Credentials{Username: "u"})
	require.ErrorIs(t, err, errRand)
	assert.Empty(t, req.Values("Authorization"))
	// Without qop no cnonce is needed.
	require.NoError(t, c.Authorize(req, challengeRes(req, 401, `Digest realm="r", nonce="n"`), auth.Credentials{Username: "u"}))

	c2 := auth.Client{Rand: io.LimitReader(&countingReader{}, 16)}
	req = newReq(t, "INVITE", "sip:bob@example.com")
	require.NoError(t, c2.Authorize(req, challengeRes(req, 401, `Digest realm="r", nonce="n", qop="auth"`), auth.Credentials{Username: "u"}))
	assert.False(t, c2.Reauthorize(newReq(t, "INVITE", "sip:bob@example.com")))
}

func TestErrorString(t *testing.T) {
	assert.Equal(t, `auth: status 401, realm "r": authentication failed`,
		(&auth.Error{Status: 401, Realm: "r", Err: auth.ErrAuthFailed}).Error())
	assert.Equal(t, `auth: no digest challenge`, (&auth.Error{Err: auth.ErrNoChallenge}).Error())
	assert.Equal(t, `auth: status 407: no digest challenge`, (&auth.Error{Status: 407, Err: auth.ErrNoChallenge}).Error())
	assert.Equal(t, `auth: error`, (&auth.Error{}).Error())
}

func TestClientConcurrent(t *testing.T) {
	var c auth.Client
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				req := newReq(t, "MESSAGE", "sip:bob@example.com")
				realm := []string{"a", "b", "c"}[(g+i)%3]
				if !c.Reauthorize(req) || i%7 == 0 {
					err := c.Authorize(req, challengeRes(req, 401, `Digest realm="`+realm+`", nonce="n`+realm+`", qop="auth"`), auth.Credentials{Username: "u", Password: "p"})
					if !assert.NoError(t, err) {
						return
					}
				}
				for _, cr := range creds(t, req, "Authorization") {
					assert.Equal(t, refResponse(paramsFrom(t, req, cr, "u", "p")), cr.Get("response"))
				}
			}
		}(g)
	}
	wg.Wait()
}
