package peerbench

import (
	"testing"

	sipgo "github.com/emiago/sipgo/sip"
	"github.com/sipua-go/sipua/sip"
)

// chunkReader returns the chunks in turn, forever, one per Read, as a TCP
// connection delivers them.
type chunkReader struct {
	chunks [][]byte
	i      int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	c := r.chunks[r.i%len(r.chunks)]
	r.i++
	return copy(p, c), nil
}

func split(data []byte, n int) [][]byte {
	var out [][]byte
	size := (len(data) + n - 1) / n
	for len(data) > 0 {
		k := min(size, len(data))
		out = append(out, data[:k])
		data = data[k:]
	}
	return out
}

// BenchmarkStream parses an INVITE arriving on a stream, whole in one read
// and in three reads, with sipua's Parser and sipgo's ParserStream.
func BenchmarkStream(b *testing.B) {
	for _, n := range []int{1, 3} {
		name := map[int]string{1: "whole", 3: "3chunks"}[n]
		chunks := split(Invite, n)
		b.Run(name+"/sipua", func(b *testing.B) {
			p := sip.NewParser(&chunkReader{chunks: chunks})
			b.ReportAllocs()
			b.SetBytes(int64(len(Invite)))
			for i := 0; i < b.N; i++ {
				m, err := p.ReadMessage()
				if err != nil {
					b.Fatal(err)
				}
				if m.Headers().CallID() == "" {
					b.Fatal("no Call-ID")
				}
			}
		})
		b.Run(name+"/sipgo", func(b *testing.B) {
			ps := sipgo.NewParser().NewSIPStream()
			b.ReportAllocs()
			b.SetBytes(int64(len(Invite)))
			got := 0
			cb := func(m sipgo.Message) {
				if m.CallID() == nil {
					b.Fatal("no Call-ID")
				}
				got++
			}
			for i := 0; i < b.N; i++ {
				for _, c := range chunks {
					if err := ps.ParseSIPStream(c, cb); err != nil && err != sipgo.ErrParseSipPartial {
						b.Fatal(err)
					}
				}
			}
			if got != b.N {
				b.Fatalf("parsed %d of %d", got, b.N)
			}
		})
	}
}
