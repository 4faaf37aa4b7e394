package sdpneg_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sipua-go/sipua/dialog/sdpneg"
)

// A UAS answering the offer of an incoming INVITE, then a re-INVITE session
// refresh that repeats the same SDP.
func ExampleNegotiator_ReceiveOffer() {
	n, err := sdpneg.New(sdpneg.Capabilities{
		Address:   "198.51.100.1",
		SessionID: 7,
		Media:     []sdpneg.Media{sdpneg.Audio(5004)},
	})
	if err != nil {
		panic(err)
	}
	offer := []byte("v=0\r\n" +
		"o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.0.2.10\r\n" +
		"t=0 0\r\n" +
		"m=audio 49170 RTP/AVP 18 8 0 96\r\n" +
		"a=rtpmap:96 telephone-event/8000\r\n" +
		"m=video 51372 RTP/AVP 31\r\n")

	answer, err := n.ReceiveOffer(offer) // ← INVITE
	if err != nil {
		fmt.Println("reject with", sdpneg.StatusCode(err))
		return
	}
	res, _ := n.CommitAnswer() // → 200 OK carrying answer
	fmt.Print(strings.ReplaceAll(string(answer), "\r\n", "\n"))
	fmt.Println("changed:", res.Changed, "codec:", res.Session.Streams[0].Codecs[0].Name)

	_, res, _ = n.AnswerOffer(offer) // ← re-INVITE refresh, → 200 OK
	fmt.Println("refresh changed:", res.Changed)
	// Output:
	// v=0
	// o=- 7 1 IN IP4 198.51.100.1
	// s=-
	// c=IN IP4 198.51.100.1
	// t=0 0
	// m=audio 5004 RTP/AVP 8 0 96
	// a=rtpmap:8 PCMA/8000
	// a=rtpmap:0 PCMU/8000
	// a=rtpmap:96 telephone-event/8000
	// a=fmtp:96 0-16
	// a=sendrecv
	// m=video 0 RTP/AVP 31
	// changed: true codec: PCMA
	// refresh changed: false
}

// A UAC putting the call on hold; the peer's re-INVITE crosses ours (glare).
func ExampleNegotiator_Hold() {
	n, _ := sdpneg.New(sdpneg.AudioOnly("198.51.100.1", 5004))
	offer, _ := n.CreateOffer() // → INVITE
	_, _ = n.ReceiveAnswer([]byte("v=0\r\no=bob 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n" +
		"m=audio 30000 RTP/AVP 0\r\n")) // ← 200 OK
	_ = offer

	hold, _ := n.Hold() // → re-INVITE a=sendonly
	_ = hold
	_, err := n.ReceiveOffer([]byte("v=0\r\no=bob 1 2 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n" +
		"m=audio 30000 RTP/AVP 0\r\n")) // ← their re-INVITE
	fmt.Println(errors.Is(err, sdpneg.ErrOfferPending), sdpneg.StatusCode(err))

	_ = n.CancelOffer() // ← 491 to our re-INVITE: back to the active session
	fmt.Println(n.State(), n.OnHold())
	// Output:
	// true 491
	// Done false
}
