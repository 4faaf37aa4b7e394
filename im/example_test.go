package im_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/im"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// Pager-mode messaging (RFC 3428) between two UAs on loopback.
func ExamplePager() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bobUA, _ := ua.New(ua.Config{})
	defer bobUA.Close(ctx)
	got := make(chan *im.Message, 1)
	_, _ = im.NewPager(im.PagerConfig{UA: bobUA, OnMessage: func(m *im.Message) { got <- m }})

	aliceUA, _ := ua.New(ua.Config{})
	defer aliceUA.Close(ctx)
	alice, _ := im.NewPager(im.PagerConfig{UA: aliceUA,
		From: sip.Address{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.test"}}})

	bob := sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: int(bobUA.Addrs()[0].AddrPort.Port())}
	res, err := alice.SendText(ctx, bob, "lunch?")
	if err != nil {
		fmt.Println(err)
		return
	}
	select {
	case m := <-got:
		fmt.Println(res.StatusCode, m.From.URI.String(), m.ContentType, m.Text())
	case <-ctx.Done():
		fmt.Println("not delivered")
	}
	// Output: 200 sip:alice@example.test text/plain lunch?
}

// An IM session: Dial sends an INVITE with an m=message offer; the peer
// answers with Accept; messages travel as in-dialog MESSAGE.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bobUA, _ := ua.New(ua.Config{})
	defer bobUA.Close(ctx)
	got := make(chan string, 1)
	_, _ = dialog.New(dialog.Static{Agent: bobUA}, dialog.Config{OnInvite: func(s *dialog.Session) {
		go func() {
			f, err := im.Accept(ctx, s, im.FlowConfig{UA: bobUA})
			if err != nil {
				return
			}
			f.OnEvent(func(ev im.FlowEvent) {
				if m, ok := ev.(im.MessageReceived); ok {
					got <- m.Message.Text()
				}
			})
		}()
	}})

	aliceUA, _ := ua.New(ua.Config{})
	defer aliceUA.Close(ctx)
	layer, _ := dialog.New(dialog.Static{Agent: aliceUA,
		Identity: sip.Address{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.test"}}}, dialog.Config{})
	bob := sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: int(bobUA.Addrs()[0].AddrPort.Port())}
	flow, err := im.Dial(ctx, layer, bob, im.FlowConfig{UA: aliceUA})
	if err != nil {
		fmt.Println(err)
		return
	}
	flow.Typing() // bob sees ComposingChanged{Active}
	if err := flow.SendText(ctx, "hello over the session"); err != nil {
		fmt.Println(err)
		return
	}
	select {
	case text := <-got:
		fmt.Println(text)
	case <-ctx.Done():
		fmt.Println("not delivered")
	}
	_ = flow.Close(ctx)
	// Output: hello over the session
}
