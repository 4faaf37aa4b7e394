package conversation_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sipua-go/sipua/conversation"
	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/im"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// A conversation adds messaging with a peer; calls made while the INVITE
// is in flight share it; messages arrive on the conversation's event
// stream.
func ExampleConversation_AddMessaging() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bobUA, _ := ua.New(ua.Config{})
	defer bobUA.Close(ctx)
	_, _ = dialog.New(dialog.Static{Agent: bobUA}, dialog.Config{OnInvite: func(s *dialog.Session) {
		go func() {
			f, err := im.Accept(ctx, s, im.FlowConfig{UA: bobUA})
			if err == nil {
				_ = f.SendText(ctx, "welcome")
			}
		}()
	}})

	aliceUA, _ := ua.New(ua.Config{})
	defer aliceUA.Close(ctx)
	ep := dialog.Static{Agent: aliceUA, Identity: sip.Address{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.test"}}}
	layer, _ := dialog.New(ep, dialog.Config{})
	got := make(chan string, 1)
	c, _ := conversation.New(conversation.Config{Endpoint: ep, Layer: layer,
		Remote: sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: int(bobUA.Addrs()[0].AddrPort.Port())},
		OnEvent: func(ev conversation.Event) {
			if m, ok := ev.(conversation.MessageReceived); ok {
				got <- m.Message.Text()
			}
		}})
	a, b := make(chan *im.Flow), make(chan *im.Flow)
	go func() { f, _ := c.AddMessaging(ctx); a <- f }()
	go func() { f, _ := c.AddMessaging(ctx); b <- f }()
	fa, fb := <-a, <-b
	fmt.Println("same flow:", fa == fb, c.Modality(conversation.Messaging))
	select {
	case text := <-got:
		fmt.Println(text)
	case <-ctx.Done():
		fmt.Println("no message")
	}
	_ = c.Terminate(ctx)
	// Output:
	// same flow: true Connected
	// welcome
}

// Decoding a conference event NOTIFY body and keeping a roster.
func ExampleRoster_Apply() {
	doc := `<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:conf@example.test" state="full" version="1">
  <users>
    <user entity="sip:alice@example.test"><display-text>Alice</display-text>
      <endpoint entity="sip:alice@pc"><status>connected</status></endpoint></user>
  </users>
</conference-info>`
	info, err := conversation.ParseConferenceInfo([]byte(doc))
	if err != nil {
		fmt.Println(err)
		return
	}
	var r conversation.Roster
	change, _ := r.Apply(info)
	p, _ := r.Participant("sip:alice@example.test")
	fmt.Println(len(change.Added), p.DisplayName, p.Connected())
	// Output: 1 Alice true
}
