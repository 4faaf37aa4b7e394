package auth_test

import (
	"testing"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
)

func benchParams(alg string) auth.Params {
	return auth.Params{
		Algorithm: alg,
		Username:  "alice",
		Realm:     "example.com",
		Password:  "wonderland",
		Nonce:     "ea9c8e88df84f1cec4341ae6cbe5a359",
		CNonce:    "0a4f113b0a4f113b0a4f113b0a4f113b",
		NC:        1,
		QOP:       "auth",
		Method:    "INVITE",
		URI:       "sip:bob@biloxi.example.com",
	}
}

func BenchmarkResponse(b *testing.B) {
	for _, alg := range []string{auth.MD5, auth.SHA256, auth.SHA512_256} {
		b.Run(alg, func(b *testing.B) {
			p := benchParams(alg)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := auth.Response(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

const benchChallenge = `Digest realm="example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", qop="auth", algorithm=MD5`

// BenchmarkAuthorize answers a 401 with one MD5 challenge, replacing the
// Authorization field of the previous iteration.
func BenchmarkAuthorize(b *testing.B) {
	req := newReq(b, "INVITE", "sip:bob@biloxi.example.com")
	res := challengeRes(req, 401, benchChallenge)
	var c auth.Client
	cred := auth.Credentials{Username: "alice", Password: "wonderland"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		req.Del("Authorization")
		if err := c.Authorize(req, res, cred); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReauthorize adds preemptive credentials for one remembered realm.
func BenchmarkReauthorize(b *testing.B) {
	req := newReq(b, "INVITE", "sip:bob@biloxi.example.com")
	var c auth.Client
	if err := c.Authorize(req, challengeRes(req, 401, benchChallenge), auth.Credentials{Username: "alice", Password: "wonderland"}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !c.Reauthorize(req) {
			b.Fatal("no credentials")
		}
	}
}

// BenchmarkVerify verifies valid SHA-256 credentials (a fresh nc each time,
// so every verification succeeds and updates the replay table).
func BenchmarkVerify(b *testing.B) {
	clock := newClock()
	s, err := auth.NewServer(auth.ServerConfig{Realm: "example.com", Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	var c auth.Client
	const pool = 1024
	reqs := make([]*sip.Request, pool)
	fill := func() {
		for i := range reqs {
			req := newReq(b, "INVITE", "sip:bob@biloxi.example.com")
			if !c.Reauthorize(req) {
				res := sip.NewResponse(req, 401, "")
				s.Challenge(res, false)
				if err := c.Authorize(req, res, auth.Credentials{Username: "alice", Password: "wonderland"}); err != nil {
					b.Fatal(err)
				}
			}
			reqs[i] = req
		}
	}
	fill()
	lookup := func(string, string) (string, bool) { return "wonderland", true }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%pool == 0 && i > 0 {
			b.StopTimer()
			fill()
			b.StartTimer()
		}
		if r := s.Verify(reqs[i%pool], lookup); !r.OK() {
			b.Fatal(r.Reason)
		}
	}
}

// BenchmarkChallenge adds two challenges (SHA-256, MD5) to a 401.
func BenchmarkChallenge(b *testing.B) {
	s, err := auth.NewServer(auth.ServerConfig{Realm: "example.com"})
	if err != nil {
		b.Fatal(err)
	}
	req := newReq(b, "INVITE", "sip:bob@biloxi.example.com")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		res := sip.NewResponse(req, 401, "")
		s.Challenge(res, false)
	}
}
