package sdpneg

import (
	"testing"

	"github.com/pion/sdp/v3"
)

// FuzzAnswer feeds arbitrary bytes to the remote-offer path. It must never
// panic; when an answer is produced it must parse again, have one m= line
// per offered line, and a refresh with the same offer must give the same
// answer.
func FuzzAnswer(f *testing.F) {
	f.Add(remoteOffer)
	f.Add([]byte("v=0\r\no=peer 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" + msrpOffer))
	f.Add([]byte("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\nm=image 4000 udptl t38\nm=audio 4000 RTP/AVP 8\na=inactive"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nt=0 0\r\na=recvonly\r\nm=audio 4000/2 RTP/AVP 0 0 xx 200\r\na=rtpmap:0 PCMU/8000/1\r\na=fmtp:0 a\r\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, offer []byte) {
		n, err := New(Capabilities{
			Address:   "198.51.100.1",
			SessionID: 1,
			Media:     []Media{Audio(5004), MSRP(2855, "msrp://198.51.100.1:2855/a;tcp")},
		})
		if err != nil {
			t.Fatal(err)
		}
		answer, err := n.ReceiveOffer(offer)
		if err != nil {
			if StatusCode(err) == 0 {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		o, err := Parse(offer)
		if err != nil {
			t.Fatalf("offer accepted but does not parse: %v", err)
		}
		a, err := Parse(answer)
		if err != nil {
			t.Fatalf("answer does not parse: %v\n%q", err, answer)
		}
		// Where pion accepts the offer as it is, it must accept our answer.
		var po, pa sdp.SessionDescription
		if po.Unmarshal(offer) == nil {
			if err := pa.Unmarshal(answer); err != nil {
				t.Fatalf("pion refuses the answer: %v\n%q", err, answer)
			}
		}
		if len(a.MediaDescriptions) != len(o.MediaDescriptions) {
			t.Fatalf("answer has %d m= lines, offer %d", len(a.MediaDescriptions), len(o.MediaDescriptions))
		}
		res, err := n.CommitAnswer()
		if err != nil || res.Session == nil {
			t.Fatalf("commit: %v", err)
		}
		again, res2, err := n.AnswerOffer(offer)
		if err != nil {
			// Only the m= line count rule may refuse a repeat; it cannot here.
			t.Fatalf("repeat offer refused: %v", err)
		}
		if string(again) != string(answer) || res2.Changed {
			t.Fatalf("refresh changed the answer:\n%q\n%q", answer, again)
		}
		// The answer, used as our peer's answer to an offer shaped like it,
		// must be processable too.
		if _, err := n.CreateOffer(); err != nil {
			t.Fatal(err)
		}
		_ = n.CancelOffer()
	})
}
