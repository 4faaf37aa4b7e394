package transaction

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transport"
)

// nullNet is a Sender that sends nothing (but serializes what Send and
// Respond are given, as *transport.Layer does), so that the benchmark
// measures the transaction layer without sockets.
type nullNet struct{ buf []byte }

func (n *nullNet) Send(_ context.Context, _ transport.Addr, m sip.Message) error {
	n.buf = m.AppendTo(n.buf[:0])
	return nil
}

func (n *nullNet) Respond(_ *transport.Inbound, res *sip.Response) error {
	n.buf = res.AppendTo(n.buf[:0])
	return nil
}

func (n *nullNet) DatagramTarget(in *transport.Inbound, _ *sip.Response) (netip.AddrPort, bool) {
	return in.Remote, true
}

func (n *nullNet) SendDatagram(netip.AddrPort, sip.Message, []byte) error { return nil }

// BenchmarkServerTransaction measures a non-INVITE server transaction over
// UDP in the transaction layer alone: HandleRequest (matching, the
// merged-request index), Respond with a final response (the datagram
// kept), and its end by Timer J. The requests are parsed beforehand, ring
// of them with distinct branches; after each pass over the ring the fake
// clock moves 64·T1 on, so that Timer J ends the pass's transactions
// before their requests come again: ring is also the number of completed
// transactions alive at the end of a pass.
//
//	go test -run '^$' -bench ServerTransaction -count 5 ./sip/transaction
func BenchmarkServerTransaction(b *testing.B) {
	for _, ring := range []int{1 << 12, 1 << 15} {
		b.Run(fmt.Sprintf("ring=%d", ring), func(b *testing.B) {
			clk := clock.NewFake(t0)
			sc := sched.New(clk)
			defer sc.Close()
			l := New(Config{}, sc, &nullNet{})
			src := netip.MustParseAddrPort("192.0.2.1:5060")
			ins := make([]*transport.Inbound, ring)
			ress := make([]*sip.Response, ring)
			for i := range ins {
				raw := fmt.Sprintf("MESSAGE sip:service@192.0.2.2:5060 SIP/2.0\r\n"+
					"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-bench-%010d\r\n"+
					"From: <sip:sipp@192.0.2.1:5060>;tag=%010d\r\nTo: <sip:service@192.0.2.2:5060>\r\n"+
					"Call-ID: %010d@bench\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"+
					"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", i, i, i)
				m, err := sip.ParseMessage([]byte(raw))
				if err != nil {
					b.Fatal(err)
				}
				req := m.(*sip.Request)
				ins[i] = &transport.Inbound{Msg: req, Transport: transport.UDP, Remote: src}
				ress[i] = sip.NewResponse(req, 200, "")
				ress[i].Set("To", req.Get("To")+";tag=1234abcd")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := i % ring
				if j == 0 && i > 0 {
					clk.Advance(64 * 500 * time.Millisecond)
				}
				s, err := l.HandleRequest(ins[j])
				if err != nil || s == nil {
					b.Fatalf("request %d: %v %v", i, s, err)
				}
				if err := s.Respond(ress[j]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
