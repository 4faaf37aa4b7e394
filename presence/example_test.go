package presence_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/sipua-go/sipua/presence"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

const doc = `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.com">
 <tuple id="t1"><status><basic>open</basic></status></tuple>
</presence>`

// A Publication keeps Alice's presence published at a presence server:
// the initial PUBLISH, refreshes before Expires runs out, modifies and the
// final removal.
func ExamplePublication() {
	ctx := context.Background()
	// A presence server on loopback, for the example.
	server, err := ua.New(ua.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close(ctx)
	server.Handle(sip.MethodPublish, presence.NewCompositor(server, presence.CompositorConfig{}))

	u, err := ua.New(ua.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer u.Close(ctx)
	alice, _ := sip.ParseURI("sip:alice@example.com")
	p, err := presence.NewPublication(presence.PublicationConfig{
		UA:       u,
		Target:   server.Addrs()[0], // zero: routed by the Request-URI
		Resource: alice,
		Expires:  600 * time.Second, // refreshed after 540 s
		OnEvent: func(e presence.PublicationEvent) {
			if sc, ok := e.(presence.PublicationStateChanged); ok {
				fmt.Println(sc.From, "->", sc.To)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Publish(ctx, presence.Body{ContentType: "application/pidf+xml", Data: []byte(doc)}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("entity-tag held:", p.ETag() != "")
	if err := p.Remove(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// Unpublished -> Publishing
	// Publishing -> Published
	// entity-tag held: true
	// Published -> Removing
	// Removing -> Removed
}

// A Compositor is the server side: it answers PUBLISH and holds the
// composed state that a notifier sends to watchers.
func ExampleCompositor() {
	ctx := context.Background()
	server, err := ua.New(ua.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close(ctx)
	c := presence.NewCompositor(server, presence.CompositorConfig{
		Events:     map[string][]string{"presence": {"application/pidf+xml"}},
		MinExpires: 60 * time.Second,
		MaxExpires: time.Hour,
	})
	changed := make(chan string, 1)
	c.OnChange(func(resource, event string) { changed <- resource + " " + event })
	server.Handle(sip.MethodPublish, c)

	// Any EPA publishes; here a Publication on another UA.
	u, err := ua.New(ua.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer u.Close(ctx)
	alice, _ := sip.ParseURI("sip:alice@example.com")
	p, err := presence.NewPublication(presence.PublicationConfig{UA: u, Target: server.Addrs()[0], Resource: alice})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Publish(ctx, presence.Body{Data: []byte(doc)}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("changed:", <-changed)
	for _, e := range c.State(presence.ResourceKey(alice), "presence") {
		fmt.Println(e.ContentType, e.ETag == p.ETag(), e.Expires.Sub(time.Now()).Round(time.Minute))
	}
	// Output:
	// changed: sip:alice@example.com presence
	// application/pidf+xml true 10m0s
}
