package ua_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
)

// A user endpoint registers with digest, prints its state changes, and
// unregisters on Terminate. The registrar here is a second UA on the same
// machine that accepts every REGISTER.
func ExampleNewUserEndpoint() {
	registrar, _ := ua.New(ua.Config{})
	defer registrar.Close(context.Background())
	registrar.HandleFunc(sip.MethodRegister, func(w ua.ResponseWriter, r *ua.Request) {
		res := w.NewResponse(200, "")
		if c := r.Contact(); len(c) > 0 {
			res.Set("Contact", c[0].String()+";expires=600")
		}
		_ = w.Respond(res)
	})

	u, _ := ua.New(ua.Config{})
	defer u.Close(context.Background())
	events := make(chan ua.Event, 16)
	e, err := ua.NewUserEndpoint(u, ua.UserEndpointConfig{
		AOR:         "sip:alice@example.test",
		Credentials: auth.Credentials{Password: "alice123"},
		Registrars:  []string{registrar.Addrs()[0].AddrPort.String()}, // primary first, then alternates
		Expires:     600 * time.Second,
		Failover:    ua.FailoverConfig{Fallback: ua.FallbackInterval, FallbackInterval: time.Minute},
		OnEvent:     func(ev ua.Event) { events <- ev },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Establish(ctx); err != nil {
		fmt.Println(err)
		return
	}
	_ = e.Terminate(ctx)
	for range 8 {
		switch ev := (<-events).(type) {
		case *ua.StateChanged:
			fmt.Println("endpoint:", ev.To)
		case *ua.RegistrationStateChanged:
			fmt.Println("registration:", ev.State, ev.Expires)
		}
	}
	// Output:
	// endpoint: Establishing
	// registration: Registering 0s
	// registration: Registered 10m0s
	// endpoint: Established
	// endpoint: Terminating
	// registration: Unregistering 0s
	// registration: Unregistered 0s
	// endpoint: Terminated
}
