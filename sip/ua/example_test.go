package ua_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
)

// A UA answers MESSAGE with a handler, net/http style; another sends one
// with Do, which fills in Via, Call-ID, CSeq and the From tag.
func ExampleNew() {
	server, err := ua.New(ua.Config{Listen: []string{"udp:127.0.0.1:0"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer server.Close(context.Background())
	server.HandleFunc(sip.MethodMessage, func(w ua.ResponseWriter, r *ua.Request) {
		fmt.Printf("server got %q\n", r.Body())
		_ = w.Respond(w.NewResponse(sip.StatusOK, ""))
	})

	client, _ := ua.New(ua.Config{})
	defer client.Close(context.Background())
	to, _ := server.ContactURI("")
	req := sip.NewRequest(sip.MethodMessage, to)
	req.Set("From", "<sip:alice@example.test>")
	req.Set("Content-Type", "text/plain")
	req.SetBody([]byte("hello"))
	res, err := client.Do(context.Background(), req, ua.Target{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.StatusCode, res.Reason)
	// Output:
	// server got "hello"
	// 200 OK
}

// Do answers digest challenges with Config.Credentials; a final failure is
// a *ua.StatusError that carries the response.
func ExampleUA_Do() {
	server, _ := ua.New(ua.Config{})
	defer server.Close(context.Background())
	digest, _ := auth.NewServer(auth.ServerConfig{Realm: "example.test"})
	server.HandleFunc(sip.MethodOptions, func(w ua.ResponseWriter, r *ua.Request) {
		if !digest.Verify(r.Request, func(user, realm string) (string, bool) { return "secret", user == "alice" }).OK() {
			res := w.NewResponse(sip.StatusUnauthorized, "")
			digest.Challenge(res, false)
			_ = w.Respond(res)
			return
		}
		_ = w.Respond(w.NewResponse(sip.StatusBusyHere, ""))
	})
	client, _ := ua.New(ua.Config{Credentials: func(realm string) (auth.Credentials, bool) {
		return auth.Credentials{Username: "alice", Password: "secret"}, true
	}})
	defer client.Close(context.Background())
	to, _ := server.ContactURI("")
	_, err := client.Do(context.Background(), sip.NewRequest(sip.MethodOptions, to), ua.Target{})
	var se *ua.StatusError
	if errors.As(err, &se) {
		fmt.Println("after the challenge:", se.StatusCode(), se.Response.Reason, "temporary:", se.Temporary())
	}
	// Output:
	// after the challenge: 486 Busy Here temporary: true
}

// An application endpoint is a service identity: it does not register per
// user, answers what is routed to it and sends through its proxies.
func ExampleNewApplicationEndpoint() {
	proxy, _ := ua.New(ua.Config{})
	defer proxy.Close(context.Background())
	proxy.HandleFunc(sip.MethodMessage, func(w ua.ResponseWriter, r *ua.Request) {
		fmt.Println("proxy got a MESSAGE from", r.From().URI)
		_ = w.Respond(w.NewResponse(sip.StatusAccepted, ""))
	})
	u, _ := ua.New(ua.Config{})
	defer u.Close(context.Background())
	app, err := ua.NewApplicationEndpoint(u, ua.ApplicationEndpointConfig{
		Identity: "sip:presence-bot@example.test",
		Proxies:  []string{proxy.Addrs()[0].AddrPort.String()},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := app.Establish(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer app.Terminate(ctx)
	to, _ := sip.ParseURI("sip:bob@example.test")
	req := sip.NewRequest(sip.MethodMessage, to)
	req.Set("Content-Type", "text/plain")
	req.SetBody([]byte("your build is green"))
	res, err := app.Do(ctx, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.StatusCode)
	// Output:
	// proxy got a MESSAGE from sip:presence-bot@example.test
	// 202
}

// A registrar with digest authentication and a redirect server, as the
// quickstart embeds them.
func ExampleNewRegistrar() {
	server, _ := ua.New(ua.Config{})
	defer server.Close(context.Background())
	digest, _ := auth.NewServer(auth.ServerConfig{Realm: "example.test"})
	reg := ua.NewRegistrar(server, ua.RegistrarConfig{Auth: digest, Domains: []string{"example.test"},
		Password: func(user, realm string) (string, bool) { return user + "-pw", true }})
	server.Handle(sip.MethodRegister, reg)
	server.Handle(sip.MethodInvite, reg.Redirect())

	u, _ := ua.New(ua.Config{})
	defer u.Close(context.Background())
	ep, _ := ua.NewUserEndpoint(u, ua.UserEndpointConfig{AOR: "sip:carol@example.test",
		Credentials: auth.Credentials{Password: "carol-pw"}, Registrars: []string{server.Addrs()[0].AddrPort.String()}})
	if err := ep.Establish(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	aor, _ := sip.ParseURI("sip:carol@example.test")
	fmt.Println("bindings of carol:", len(reg.Lookup(aor)))
	_ = ep.Terminate(context.Background())
	fmt.Println("after Terminate:", len(reg.Lookup(aor)))
	// Output:
	// bindings of carol: 1
	// after Terminate: 0
}
