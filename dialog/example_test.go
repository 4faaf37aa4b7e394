package dialog_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/dialog/sdpneg"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
	"github.com/sipua-go/sipua/timer"
)

// Two endpoints on loopback: bob answers every call, alice calls him with
// an SDP offer made by the layer and a 600 s session timer, then hangs up.
func ExampleLayer_Invite() {
	bobUA, _ := ua.New(ua.Config{})
	defer bobUA.Close(context.Background())
	aliceUA, _ := ua.New(ua.Config{})
	defer aliceUA.Close(context.Background())

	bobMedia := sdpneg.AudioOnly("127.0.0.1", 40002)
	bobID, _ := sip.ParseAddress("<sip:bob@example.test>")
	ended := make(chan *dialog.TerminatedError, 1)
	_, err := dialog.New(dialog.Static{Agent: bobUA, Identity: bobID}, dialog.Config{
		Media: &bobMedia,
		OnInvite: func(s *dialog.Session) {
			go func() {
				_ = s.Accept(context.Background(), nil) // the layer answers the offer
				<-s.Done()
				ended <- s.Err()
			}()
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	aliceMedia := sdpneg.AudioOnly("127.0.0.1", 40000)
	aliceID, _ := sip.ParseAddress("<sip:alice@example.test>")
	alice, _ := dialog.New(dialog.Static{Agent: aliceUA, Identity: aliceID}, dialog.Config{
		Media:        &aliceMedia,
		SessionTimer: timer.Config{Interval: 600 * time.Second},
	})
	bob, _ := bobUA.ContactURI("")
	bob.User = "bob"
	call, err := alice.Invite(context.Background(), bob, dialog.InviteOptions{})
	if err != nil {
		fmt.Println("call failed:", err)
		return
	}
	fmt.Println("state:", call.State())
	fmt.Println("session timer:", call.SessionTimer().Interval())
	_ = call.Hangup(context.Background())
	fmt.Println("bob's side ended by:", (<-ended).Cause)
	// Output:
	// state: Established
	// session timer: 10m0s
	// bob's side ended by: remote BYE
}

// A session's terminal state says why it ended; a rejected call carries
// the response.
func ExampleTerminatedError() {
	bobUA, _ := ua.New(ua.Config{})
	defer bobUA.Close(context.Background())
	aliceUA, _ := ua.New(ua.Config{})
	defer aliceUA.Close(context.Background())
	bobID, _ := sip.ParseAddress("<sip:bob@example.test>")
	_, _ = dialog.New(dialog.Static{Agent: bobUA, Identity: bobID}, dialog.Config{
		OnInvite: func(s *dialog.Session) { _ = s.Reject(context.Background(), 486, "") },
	})
	aliceID, _ := sip.ParseAddress("<sip:alice@example.test>")
	alice, _ := dialog.New(dialog.Static{Agent: aliceUA, Identity: aliceID}, dialog.Config{})
	bob, _ := bobUA.ContactURI("")
	_, err := alice.Invite(context.Background(), bob, dialog.InviteOptions{SDP: []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")})
	te := err.(*dialog.TerminatedError)
	fmt.Println(te.Cause, te.StatusCode, te.Reason)
	// Output:
	// rejected 486 Busy Here
}
