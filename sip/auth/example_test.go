package auth_test

import (
	"bytes"
	"fmt"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
)

// A UA core answering a 401 to a REGISTER, then sending the next request
// with credentials before it is challenged.
func ExampleClient_Authorize() {
	c := &auth.Client{
		// Fixed cnonces for the example; leave Rand nil in real code.
		Rand: bytes.NewReader(bytes.Repeat([]byte{0xab}, 64)),
	}
	cred := auth.Credentials{Username: "alice", Password: "wonderland"}

	uri, _ := sip.ParseURI("sip:example.com")
	req := sip.NewRequest("REGISTER", uri)
	req.Add("CSeq", "1 REGISTER")

	// The registrar answers 401.
	res := sip.NewResponse(req, 401, "")
	res.Add("WWW-Authenticate", `Digest realm="example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", qop="auth", algorithm=MD5`)

	// The loop: on 401/407 Authorize, resend with CSeq+1; give up on error.
	if err := c.Authorize(req, res, cred); err != nil {
		fmt.Println("giving up:", err)
		return
	}
	req.Set("CSeq", "2 REGISTER")
	fmt.Println(req.Get("Authorization"))

	// A later request reuses the nonce with the next nonce count.
	next := sip.NewRequest("REGISTER", uri)
	c.Reauthorize(next)
	cr, _ := sip.ParseCredentials(next.Get("Authorization"))
	fmt.Println("nc:", cr.Get("nc"))

	// The registrar rejects the credentials again: the password is wrong.
	res = sip.NewResponse(req, 401, "")
	res.Add("WWW-Authenticate", `Digest realm="example.com", nonce="5b7a3c2f", qop="auth", algorithm=MD5`)
	fmt.Println(c.Authorize(req, res, cred))
	// Output:
	// Digest username="alice", realm="example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", uri="sip:example.com", response="6ec2c5ddf985827dd179df3f3745198d", algorithm=MD5, cnonce="abababababababababababababababab", qop=auth, nc=00000001
	// nc: 00000002
	// auth: status 401, realm "example.com": authentication failed
}

// A registrar checking the credentials of incoming requests.
func ExampleServer_Verify() {
	srv, err := auth.NewServer(auth.ServerConfig{Realm: "example.com"})
	if err != nil {
		panic(err)
	}
	passwords := map[string]string{"alice": "wonderland"}
	lookup := func(username, realm string) (string, bool) {
		pw, ok := passwords[username]
		return pw, ok
	}

	// handle returns the response to send, or nil to go on with the request.
	handle := func(req *sip.Request) *sip.Response {
		r := srv.Verify(req, lookup)
		if r.OK() {
			fmt.Println("authenticated:", r.Username, r.Algorithm)
			return nil
		}
		fmt.Println("challenge:", r.Reason)
		res := sip.NewResponse(req, 401, "")
		srv.Challenge(res, r.Reason == auth.ReasonStale)
		return res
	}

	// A client talking to it.
	var c auth.Client
	uri, _ := sip.ParseURI("sip:example.com")
	req := sip.NewRequest("REGISTER", uri)
	for {
		res := handle(req)
		if res == nil {
			break
		}
		if err := c.Authorize(req, res, auth.Credentials{Username: "alice", Password: "wonderland"}); err != nil {
			fmt.Println(err)
			break
		}
	}
	// Output:
	// challenge: no credentials
	// authenticated: alice SHA-256
}
