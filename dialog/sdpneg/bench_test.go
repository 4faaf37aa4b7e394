package sdpneg

import "testing"

// BenchmarkAnswer answers a typical offer (PCMA, PCMU, G729,
// telephone-event) and commits the answer: the per-call cost at a UAS.
func BenchmarkAnswer(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(remoteOffer)))
	for b.Loop() {
		n, err := New(Capabilities{Address: "198.51.100.1", SessionID: 1, Media: []Media{Audio(5004)}})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := n.AnswerOffer(remoteOffer); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnswerRefresh answers a re-INVITE refresh with unchanged SDP.
func BenchmarkAnswerRefresh(b *testing.B) {
	n := newTest(b)
	if _, _, err := n.AnswerOffer(remoteOffer); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := n.AnswerOffer(remoteOffer); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse is the pion parse with this package's tolerance pass.
func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(remoteOffer)))
	for b.Loop() {
		if _, err := Parse(remoteOffer); err != nil {
			b.Fatal(err)
		}
	}
}
