// Command tour is the API tour of the README, as a program that runs: a
// registrar, two user endpoints that register with digest, a call with
// session timers, an instant message in the call, a hang-up. The README
// shows the code between the "tour" markers, and a test keeps the two
// the same.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/dialog/sdpneg"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
	"github.com/sipua-go/sipua/timer"
)

func main() {
	if err := tour(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func tour(ctx context.Context) error {
	// A registrar to register with (in production: your PBX or Kamailio).
	server, _ := ua.New(ua.Config{})
	defer server.Close(ctx)
	digest, _ := auth.NewServer(auth.ServerConfig{Realm: "example.test"})
	reg := ua.NewRegistrar(server, ua.RegistrarConfig{Auth: digest,
		Password: func(user, realm string) (string, bool) { return "secret", true }})
	server.Handle(sip.MethodRegister, reg)
	server.Handle(sip.MethodInvite, reg.Redirect())
	registrar := server.Addrs()[0].AddrPort.String()

	// --- tour ---
	// A user endpoint: one UA core (transports, transactions, timers),
	// an address of record that registers with digest and refreshes.
	newPhone := func(user string) (*ua.UserEndpoint, error) {
		u, err := ua.New(ua.Config{Listen: []string{"udp:127.0.0.1:0"}})
		if err != nil {
			return nil, err
		}
		ep, err := ua.NewUserEndpoint(u, ua.UserEndpointConfig{
			AOR:         "sip:" + user + "@example.test",
			Credentials: auth.Credentials{Username: user, Password: "secret"},
			Registrars:  []string{registrar}, // alternates follow: failover and fallback
		})
		if err != nil {
			return nil, err
		}
		return ep, ep.Establish(ctx) // REGISTER, 401, REGISTER with digest, 200
	}
	alice, err := newPhone("alice")
	if err != nil {
		return err
	}
	defer alice.Terminate(ctx) // unREGISTER (and drain everything made from it)
	bob, err := newPhone("bob")
	if err != nil {
		return err
	}
	defer bob.Terminate(ctx)

	// Bob answers every call; the layer negotiates the SDP.
	bobMedia := sdpneg.AudioOnly("127.0.0.1", 40002)
	_, err = dialog.New(bob, dialog.Config{
		Media: &bobMedia,
		OnInvite: func(s *dialog.Session) {
			s.OnEvent(func(s *dialog.Session, ev dialog.Event) {
				if m, ok := ev.(dialog.MessageReceived); ok {
					fmt.Printf("bob got %q\n", m.Request.Body())
				}
			})
			go s.Accept(context.Background(), nil)
		},
	})
	if err != nil {
		return err
	}

	// Alice calls with a session timer of 30 minutes (RFC 4028): every
	// 2xx to a refresh carries Session-Expires and Require: timer.
	aliceMedia := sdpneg.AudioOnly("127.0.0.1", 40000)
	calls, err := dialog.New(alice, dialog.Config{
		Media:        &aliceMedia,
		SessionTimer: timer.Config{Interval: 30 * time.Minute},
	})
	if err != nil {
		return err
	}
	call, err := calls.Invite(ctx, bob.Address().URI, dialog.InviteOptions{})
	if err != nil {
		return err // a *dialog.TerminatedError: cause, status, the response
	}
	fmt.Println("call:", call.State(), "- session timer", call.SessionTimer().Interval())
	_, err = call.Message(ctx, sip.MethodMessage, "text/plain", []byte("hello"))
	if err != nil {
		return err
	}
	return call.Hangup(ctx)
	// --- tour ---
}
