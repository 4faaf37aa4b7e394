package rlmi

import (
	"fmt"
	"testing"

	"github.com/sipua-go/sipua/presence/pidf"
	"github.com/sipua-go/sipua/sip"
)

// benchNotify builds a NOTIFY body for n resources, each active with a
// PIDF part.
func benchNotify(b *testing.B, n int) (sip.MediaType, []byte, *List, []sip.Part) {
	l := &List{URI: "sip:buddies@example.test", Version: 3, FullState: true}
	var parts []sip.Part
	for i := range n {
		uri := fmt.Sprintf("sip:user%d@example.test", i)
		cid := fmt.Sprintf("u%d@example.test", i)
		doc, err := pidf.New(uri).Open().Activity(pidf.OnThePhone).Note("in a call").Marshal()
		if err != nil {
			b.Fatal(err)
		}
		l.Resources = append(l.Resources, Resource{URI: uri, Instances: []Instance{{ID: "i", State: Active, CID: cid}}})
		parts = append(parts, NewPart(cid, pidf.ContentType, doc))
	}
	ct, body, err := Encode(l, parts, EncodeOptions{Boundary: "bench-boundary", RootCID: "root@example.test"})
	if err != nil {
		b.Fatal(err)
	}
	return ct, body, l, parts
}

func BenchmarkDecodeNotify(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("resources=%d", n), func(b *testing.B) {
			ct, body, _, _ := benchNotify(b, n)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := Decode(ct, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeNotify(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("resources=%d", n), func(b *testing.B) {
			_, _, l, parts := benchNotify(b, n)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Encode(l, parts, EncodeOptions{Boundary: "bench-boundary", RootCID: "root@example.test"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
