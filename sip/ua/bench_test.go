package ua

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sipua-go/sipua/sip/transaction"
)

// messageClient is a raw UDP client that sends pre-serialized MESSAGE
// requests, each with a unique branch, From tag and Call-ID, and reads
// the responses: it costs a sendto and a recvfrom per request, so that a
// benchmark measures the server rather than a UA client stack.
type messageClient struct {
	c    *net.UDPConn
	to   *net.UDPAddr
	tmpl []byte
	ids  []int // offsets of the 10-digit counters in tmpl
	n    int   // requests sent
	buf  []byte
}

func newMessageClient(tb testing.TB, server *net.UDPAddr) *messageClient {
	tb.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	tb.Cleanup(func() { c.Close() })
	local := c.LocalAddr().String()
	const id = "0000000000"
	// The request SIPp sends in the capped comparison
	// (internal/interop/sipp/uac_message.xml).
	tmpl := "MESSAGE sip:service@" + server.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-bench-" + id + "\r\n" +
		"From: <sip:sipp@" + local + ">;tag=" + id + "\r\n" +
		"To: <sip:service@" + server.String() + ">\r\n" +
		"Call-ID: " + id + "@bench\r\n" +
		"CSeq: 1 MESSAGE\r\n" +
		"Max-Forwards: 70\r\n" +
		"Content-Type: text/plain\r\n" +
		"Content-Length: 26\r\n" +
		"\r\n" +
		"hello from sipp " + id
	mc := &messageClient{c: c, to: server, tmpl: []byte(tmpl), buf: make([]byte, 65535)}
	for off := 0; ; {
		i := bytes.Index(mc.tmpl[off:], []byte(id))
		if i < 0 {
			break
		}
		mc.ids = append(mc.ids, off+i)
		off += i + len(id)
	}
	return mc
}

// send sends the next request.
func (mc *messageClient) send(tb testing.TB) {
	mc.n++
	var d [10]byte
	v := mc.n
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	for _, off := range mc.ids {
		copy(mc.tmpl[off:], d[:])
	}
	if _, err := mc.c.WriteToUDP(mc.tmpl, mc.to); err != nil {
		tb.Fatal(err)
	}
}

// recv reads one response and checks that it is a 200.
func (mc *messageClient) recv(tb testing.TB) {
	_ = mc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := mc.c.ReadFromUDP(mc.buf)
	if err != nil {
		tb.Fatalf("after %d requests: %v", mc.n, err)
	}
	if !bytes.HasPrefix(mc.buf[:n], []byte("SIP/2.0 200 ")) {
		tb.Fatalf("unexpected response:\n%s", mc.buf[:n])
	}
}

// run sends n requests keeping up to window of them unanswered, and reads
// every response.
func (mc *messageClient) run(tb testing.TB, n, window int) {
	sent, got := 0, 0
	for sent < n && sent < window {
		mc.send(tb)
		sent++
	}
	for got < n {
		mc.recv(tb)
		got++
		if sent < n {
			mc.send(tb)
			sent++
		}
	}
}

func newMessageServer(tb testing.TB, timers transaction.Config) *UA {
	tb.Helper()
	u, err := New(Config{UserAgent: "sipuamessage", Timers: timers})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = u.Close(context.Background()) })
	u.HandleFunc("MESSAGE", func(w ResponseWriter, r *Request) {
		_ = w.Respond(w.NewResponse(200, ""))
	})
	return u
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkServerMessageUDP measures the server side of an out-of-dialog
// MESSAGE over UDP loopback: receive, parse, server transaction, 482
// bookkeeping, handler, 200 OK sent. window is how many requests the
// client keeps unanswered (1: request-response latency; 64: throughput).
// live is how many completed transactions (in Timer J, 32 s) the server
// holds before the timed loop, as at ~5,000 MESSAGE/s in steady state.
// With timerJ set, T1 is shortened so that Timer J (64·T1) fires during
// the loop: the cost of ending transactions is then in the figures, and
// the live population is the request rate times timerJ.
//
// Besides ns/op, B/op and allocs/op (which include the client's small
// share), it reports:
//   - cpu-ns/op: process CPU time (user+system, client included) per
//     request, what a CPU quota charges;
//   - live-B/tx: heap still reachable after the loop, per transaction
//     (the completed transactions are alive until Timer J fires), which
//     is what each GC cycle has to mark.
//
// The run must finish within Timer J (32 s) for live-B/tx to mean
// anything. With live > 0 the prefill runs for every b.N, so use
// -benchtime=Nx, e.g.:
//
//	go test -run '^$' -bench ServerMessageUDP -benchtime 50000x -count 5 -cpu 1 ./sip/ua
//
// With live=150k the loop must allocate enough for garbage collections to
// happen in it (a large live heap puts them off): -benchtime 300000x.
//
// SIPUA_BENCH_HEAPPROFILE=file writes a heap profile taken after the loop,
// while the transactions are alive (use it with -memprofilerate).
func BenchmarkServerMessageUDP(b *testing.B) {
	for _, bc := range []struct {
		window, live int
		timerJ       time.Duration
	}{{1, 0, 0}, {64, 0, 0}, {64, 150000, 0}, {64, 0, 320 * time.Millisecond}} {
		name := fmt.Sprintf("window=%d/live=%s", bc.window, kilo(bc.live))
		var timers transaction.Config
		if bc.timerJ > 0 {
			name = fmt.Sprintf("window=%d/timerJ=%s", bc.window, bc.timerJ)
			timers.T1 = bc.timerJ / 64
		}
		b.Run(name, func(b *testing.B) {
			u := newMessageServer(b, timers)
			mc := newMessageClient(b, net.UDPAddrFromAddrPort(u.Addrs()[0].AddrPort))
			mc.run(b, 1000, bc.window) // warm up
			if bc.live > 0 && b.N > 1 {
				mc.run(b, bc.live, 256)
			}
			before := liveHeap()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			mc.run(b, b.N, bc.window)
			cpu := cpuTime() - cpu0
			b.StopTimer()
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			if bc.timerJ > 0 {
				b.ReportMetric(0, "live-B/tx") // transactions have ended
				return
			}
			if f := os.Getenv("SIPUA_BENCH_HEAPPROFILE"); f != "" {
				// The heap while the transactions are in Timer J.
				writeHeapProfile(b, f)
			}
			if after := liveHeap(); after > before {
				b.ReportMetric(float64(after-before)/float64(b.N), "live-B/tx")
			} else {
				b.ReportMetric(0, "live-B/tx")
			}
		})
	}
}

func writeHeapProfile(tb testing.TB, name string) {
	runtime.GC()
	f, err := os.Create(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		tb.Fatal(err)
	}
}

func kilo(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
