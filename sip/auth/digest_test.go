package auth_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip/auth"
)

func TestResponseVectors(t *testing.T) {
	rfc7616 := auth.Params{
		Username: "Mufasa",
		Realm:    "http-auth@example.org",
		Password: "Circle of Life",
		Nonce:    "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
		CNonce:   "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
		NC:       1,
		QOP:      "auth",
		Method:   "GET",
		URI:      "/dir/index.html",
	}
	withAlg := func(p auth.Params, alg string) auth.Params { p.Algorithm = alg; return p }
	tests := []struct {
		name string
		p    auth.Params
		want string
	}{
		{
			name: "RFC 2617 §3.5",
			p: auth.Params{
				Username: "Mufasa",
				Realm:    "testrealm@host.com",
				Password: "Circle Of Life",
				Nonce:    "dcd98b7102dd2f0e8b11d0f600bfb0c093",
				CNonce:   "0a4f113b",
				NC:       1,
				QOP:      "auth",
				Method:   "GET",
				URI:      "/dir/index.html",
			},
			want: "6629fae49393a05397450978507c4ef1",
		},
		{"RFC 7616 §3.9.1 MD5 (absent algorithm)", rfc7616, "8ca523f5e9506fed4657c9700eebdbec"},
		{"RFC 7616 §3.9.1 MD5", withAlg(rfc7616, "MD5"), "8ca523f5e9506fed4657c9700eebdbec"},
		{"RFC 7616 §3.9.1 md5 lower case", withAlg(rfc7616, "md5"), "8ca523f5e9506fed4657c9700eebdbec"},
		{"RFC 7616 §3.9.1 SHA-256", withAlg(rfc7616, "SHA-256"), "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
		{"RFC 7616 §3.9.1 sha-256 lower case", withAlg(rfc7616, "sha-256"), "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
		{
			// RFC 7616 §3.9.2 as corrected by erratum 4897: the published
			// values were computed with a draft SHA-512/256. The response
			// uses the username itself, not its hash.
			name: "RFC 7616 §3.9.2 SHA-512-256 (erratum 4897)",
			p: auth.Params{
				Algorithm: "SHA-512-256",
				Username:  "J\u00e4s\u00f8n Doe",
				Realm:     "api@example.org",
				Password:  "Secret, or not?",
				Nonce:     "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK",
				CNonce:    "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
				NC:        1,
				QOP:       "auth",
				Method:    "GET",
				URI:       "/doe.json",
			},
			want: "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5",
		},
		{
			// RFC 2069 §2.4 (no qop), with the value as corrected by its
			// erratum (the published e966c9... is wrong).
			name: "RFC 2069 no qop",
			p: auth.Params{
				Username: "Mufasa",
				Realm:    "testrealm@host.com",
				Password: "CircleOfLife",
				Nonce:    "dcd98b7102dd2f0e8b11d0f600bfb0c093",
				Method:   "GET",
				URI:      "/dir/index.html",
			},
			want: "1949323746fe6a43ef61f9606e7febea",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.Response(tt.p)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestUserhashVector(t *testing.T) {
	// RFC 7616 §3.9.2 with erratum 4897.
	got, err := auth.Userhash("SHA-512-256", "J\u00e4s\u00f8n Doe", "api@example.org")
	require.NoError(t, err)
	assert.Equal(t, "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b", got)

	// The property of §3.4.4 for every algorithm: H(username ":" realm).
	for _, alg := range allAlgorithms {
		got, err := auth.Userhash(alg, "alice", "example.com")
		require.NoError(t, err)
		assert.Equal(t, refHash(alg)("alice:example.com"), got, alg)
	}
	_, err = auth.Userhash("SHA-1", "a", "b")
	assert.ErrorIs(t, err, auth.ErrUnsupportedAlgorithm)
}

func TestResponseMatchesReference(t *testing.T) {
	body := []byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n")
	for _, alg := range allAlgorithms {
		for _, qop := range []string{"", "auth", "auth-int"} {
			for _, b := range [][]byte{nil, body} {
				if qop == "" && strings.HasSuffix(alg, "-sess") {
					continue
				}
				p := auth.Params{
					Algorithm: alg, Username: "alice", Realm: "example.com", Password: "s3cret",
					Nonce: "n0nce", CNonce: "cn0nce", NC: 0x1a2b, QOP: qop,
					Method: "INVITE", URI: "sip:bob@example.com", Body: b,
				}
				got, err := auth.Response(p)
				require.NoError(t, err)
				assert.Equal(t, refResponse(p), got, "%s qop=%q body=%d", alg, qop, len(b))
			}
		}
	}
}

func TestResponseProperties(t *testing.T) {
	base := auth.Params{
		Algorithm: "SHA-256", Username: "alice", Realm: "example.com", Password: "pw",
		Nonce: "n", CNonce: "c", NC: 1, QOP: "auth-int", Method: "MESSAGE", URI: "sip:bob@example.com",
		Body: []byte("hello"),
	}
	r0, err := auth.Response(base)
	require.NoError(t, err)
	changed := []func(p *auth.Params){
		func(p *auth.Params) { p.Body = []byte("hellO") },
		func(p *auth.Params) { p.NC = 2 },
		func(p *auth.Params) { p.CNonce = "d" },
		func(p *auth.Params) { p.Method = "INVITE" },
		func(p *auth.Params) { p.URI = "sip:carol@example.com" },
		func(p *auth.Params) { p.Password = "pW" },
		func(p *auth.Params) { p.QOP = "auth" },
	}
	for i, f := range changed {
		p := base
		f(&p)
		r, err := auth.Response(p)
		require.NoError(t, err)
		assert.NotEqual(t, r0, r, "change %d", i)
	}
	// With qop auth the body does not count.
	p1, p2 := base, base
	p1.QOP, p2.QOP = "auth", "auth"
	p2.Body = []byte("other")
	r1, _ := auth.Response(p1)
	r2, _ := auth.Response(p2)
	assert.Equal(t, r1, r2)
	// Long inputs (beyond the internal buffers) work too.
	long := base
	long.Username = strings.Repeat("u", 5000)
	long.URI = "sip:" + strings.Repeat("x", 5000) + "@example.com"
	got, err := auth.Response(long)
	require.NoError(t, err)
	assert.Equal(t, refResponse(long), got)
}

func TestResponseErrors(t *testing.T) {
	_, err := auth.Response(auth.Params{Algorithm: "SHA-1"})
	assert.ErrorIs(t, err, auth.ErrUnsupportedAlgorithm)
	_, err = auth.Response(auth.Params{Algorithm: "-sess"})
	assert.ErrorIs(t, err, auth.ErrUnsupportedAlgorithm)
	_, err = auth.Response(auth.Params{QOP: "auth-conf"})
	assert.ErrorIs(t, err, auth.ErrUnsupportedQOP)
}

func TestCanonicalAlgorithm(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "MD5", true},
		{"md5", "MD5", true},
		{"md5-SESS", "MD5-sess", true},
		{"Sha-256", "SHA-256", true},
		{"sha-256-sess", "SHA-256-sess", true},
		{"SHA-512-256", "SHA-512-256", true},
		{"sha-512-256-Sess", "SHA-512-256-sess", true},
		{"SHA-512", "", false},
		{"SHA-256-sess-sess", "", false},
		{"-sess", "", false},
		{"MD5 ", "", false},
	}
	for _, tt := range tests {
		got, ok := auth.CanonicalAlgorithm(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}
