package peerbench

import (
	"bytes"
	"testing"

	sipgo "github.com/emiago/sipgo/sip"
	"github.com/sipua-go/sipua/sip"
)

var corpus = []struct {
	name string
	data []byte
}{
	{"INVITE", Invite},
	{"200OK", OK},
	{"NOTIFY", Notify},
}

// TestCorpusParses checks that both parsers accept every benchmark message
// and agree on the basics, so the benchmarks compare equal work.
func TestCorpusParses(t *testing.T) {
	for _, c := range corpus {
		m, err := sip.ParseMessage(c.data)
		if err != nil {
			t.Fatalf("%s: sipua: %v", c.name, err)
		}
		g, err := sipgo.ParseMessage(c.data)
		if err != nil {
			t.Fatalf("%s: sipgo: %v", c.name, err)
		}
		h := m.Headers()
		if got, want := h.CallID(), g.CallID().Value(); got != want {
			t.Errorf("%s: Call-ID %q vs %q", c.name, got, want)
		}
		if !bytes.Equal(m.Body(), g.Body()) {
			t.Errorf("%s: bodies differ", c.name)
		}
		if cl, _ := h.ContentLength(); cl != len(m.Body()) {
			t.Errorf("%s: Content-Length %d but body %d", c.name, cl, len(m.Body()))
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, c := range corpus {
		b.Run(c.name+"/sipua", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for i := 0; i < b.N; i++ {
				m, err := sip.ParseMessage(c.data)
				if err != nil {
					b.Fatal(err)
				}
				if m.Headers().CallID() == "" {
					b.Fatal("no Call-ID")
				}
			}
		})
		b.Run(c.name+"/sipgo", func(b *testing.B) {
			p := sipgo.NewParser()
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for i := 0; i < b.N; i++ {
				m, err := p.ParseSIP(c.data)
				if err != nil {
					b.Fatal(err)
				}
				if m.CallID() == nil {
					b.Fatal("no Call-ID")
				}
			}
		})
	}
}
