package presence_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sipua-go/sipua/presence"
	"github.com/sipua-go/sipua/presence/pidf"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// presenceServer starts a UA with a Notifier that says every resource is
// open, and returns it with the URI of alice on it.
func presenceServer() (*ua.UA, *presence.Notifier, sip.URI) {
	srv, err := ua.New(ua.Config{})
	if err != nil {
		panic(err)
	}
	n := presence.NewNotifier(srv, presence.NotifierConfig{
		State: presence.StateFunc(func(resource, event string) (string, []byte, bool) {
			b, err := pidf.New(resource).Open().Note("at my desk").Marshal()
			return pidf.ContentType, b, err == nil
		}),
	})
	srv.Handle(sip.MethodSubscribe, n)
	a := srv.Addrs()[0].AddrPort
	return srv, n, sip.URI{Scheme: "sip", User: "alice", Host: a.Addr().String(), Port: int(a.Port())}
}

func ExampleSubscription() {
	srv, _, alice := presenceServer()
	defer srv.Close(context.Background())
	cli, _ := ua.New(ua.Config{})
	defer cli.Close(context.Background())

	active, ended := make(chan struct{}), make(chan struct{})
	s, err := presence.NewSubscription(presence.SubscriptionConfig{
		UA:       cli,
		Target:   srv.Addrs()[0],
		Resource: alice,
		From:     sip.Address{URI: sip.URI{Scheme: "sip", User: "bob", Host: "example.test"}},
		OnEvent: func(ev presence.SubscriptionEvent) {
			switch e := ev.(type) {
			case presence.NotifyReceived:
				if doc, err := pidf.Parse(e.Body); err == nil && e.State.State == sip.SubStateActive {
					fmt.Println("alice:", doc.Summary().Basic, "-", doc.Summary().Note)
				}
			case presence.SubscriptionStateChanged:
				fmt.Println(e.From, "->", e.To)
				switch e.To {
				case presence.Active:
					close(active)
				case presence.Terminated:
					close(ended)
				}
			}
		},
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Subscribe(ctx); err != nil {
		fmt.Println(err)
		return
	}
	<-active
	_ = s.Unsubscribe(ctx) // SUBSCRIBE with Expires: 0, then the final NOTIFY
	<-ended
	// Output:
	// alice: open - at my desk
	// Subscribing -> Active
	// Active -> Terminated
}

func ExampleWatcher() {
	srv, _, alice := presenceServer()
	defer srv.Close(context.Background())
	cli, _ := ua.New(ua.Config{})
	defer cli.Close(context.Background())

	seen := make(chan struct{})
	w, err := presence.NewWatcher(presence.WatcherConfig{
		UA:     cli,
		Target: srv.Addrs()[0],
		From:   sip.Address{URI: sip.URI{Scheme: "sip", User: "bob", Host: "example.test"}},
		OnEvent: func(ev presence.ContactEvent) {
			if ev.State == presence.Active && ev.Document != nil {
				fmt.Println(ev.URI[:10], ev.State, ev.Presence.Basic)
				close(seen)
			}
		},
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = w.Add(ctx, alice)
	<-seen
	_ = w.Close(ctx)
	// Output:
	// sip:alice@ Active open
}

func ExampleNotifier() {
	srv, _ := ua.New(ua.Config{})
	defer srv.Close(context.Background())
	// The notifier serves what PUBLISH requests put in the compositor and
	// NOTIFYs the watchers of a resource whenever it changes.
	c := presence.NewCompositor(srv, presence.CompositorConfig{})
	srv.Handle(sip.MethodPublish, c)
	n := presence.NewNotifier(srv, presence.NotifierConfig{
		Compositor: c,
		// A resource list server: sip:buddies@... expands to its members.
		Lists: func(resource string) ([]string, bool) {
			if resource == "sip:buddies@example.test" {
				return []string{"sip:alice@example.test", "sip:carol@example.test"}, true
			}
			return nil, false
		},
		Authorize: func(r *ua.Request, resource string) presence.Authorization {
			if r.From().URI.Host != "example.test" {
				return presence.AuthorizeReject // 403
			}
			return presence.AuthorizeAllow
		},
	})
	srv.Handle(sip.MethodSubscribe, n)
	fmt.Println("subscriptions:", n.Len())
	_ = n.Close(context.Background())
	// Output:
	// subscriptions: 0
}
