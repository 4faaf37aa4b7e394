package timer_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/timer"
)

// TestBytesPerSession measures the heap held by an active Session: the
// Session itself, its scheduler timer and closure, and its heap slot. The
// design budget is 1 GiB for 100,000 dialogs, about 10 KiB each.
func TestBytesPerSession(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 10,000 sessions")
	}
	const n = 10000
	clk := clock.NewFake(epoch)
	s := sched.New(clk)
	defer s.Close()
	e := &env{t: t, clk: clk, sch: s, cseq: 1}
	req := e.request("INVITE", "Supported: timer", "Session-Expires: 1800")
	ok := response(t, req, 200, "Require: timer", "Session-Expires: 1800;refresher=uac")
	sessions := make([]*timer.Session, n)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range sessions {
		st := timer.New(timer.Config{}, timer.UAC, s, timer.Hooks{})
		st.HandleResponse(req, ok)
		sessions[i] = st
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes per active Session (incl. its sched.Timer, closure and heap slot)", per)
	require.Equal(t, n, s.Len())
	require.Less(t, per, 512.0)
	runtime.KeepAlive(sessions)
}

func BenchmarkCheckRequest(b *testing.B) {
	e := newEnv(b, timer.Config{}, timer.UAS)
	req := e.request("UPDATE", "Supported: timer", "Session-Expires: 1800;refresher=uac")
	b.ReportAllocs()
	for b.Loop() {
		if e.s.CheckRequest(req) != nil {
			b.Fatal("rejected")
		}
	}
}

// BenchmarkPrepareResponse answers a refreshing UPDATE: negotiation,
// headers and timer restart. The response is built fresh each time, as a
// dialog does; BenchmarkNewResponse is that part alone.
func BenchmarkPrepareResponse(b *testing.B) {
	e := newEnv(b, timer.Config{}, timer.UAS)
	req := e.request("UPDATE", "Supported: timer", "Session-Expires: 1800;refresher=uac")
	b.ReportAllocs()
	for b.Loop() {
		res := sip.NewResponse(req, 200, "")
		e.s.PrepareResponse(req, res)
	}
}

func BenchmarkNewResponse(b *testing.B) {
	e := newEnv(b, timer.Config{}, timer.UAS)
	req := e.request("UPDATE", "Supported: timer", "Session-Expires: 1800;refresher=uac")
	b.ReportAllocs()
	for b.Loop() {
		_ = sip.NewResponse(req, 200, "")
	}
}

// BenchmarkHandleResponse processes the 200 to a refresh this UA sent
// (negotiation and timer restart); the messages are reused.
func BenchmarkHandleResponse(b *testing.B) {
	e := newEnv(b, timer.Config{}, timer.UAC)
	req := e.request("UPDATE", "Supported: timer", "Session-Expires: 1800;refresher=uac", "Min-SE: 90")
	ok := response(b, req, 200, "Require: timer", "Session-Expires: 1800;refresher=uac")
	b.ReportAllocs()
	for b.Loop() {
		e.s.HandleResponse(req, ok)
	}
}

func BenchmarkPrepareRequest(b *testing.B) {
	e := newEnv(b, timer.Config{}, timer.UAC)
	req := e.request("UPDATE")
	ok := response(b, req, 200, "Require: timer", "Session-Expires: 1800;refresher=uac")
	e.s.HandleResponse(req, ok)
	b.ReportAllocs()
	for b.Loop() {
		r := sip.NewRequest("UPDATE", req.URI)
		e.s.PrepareRequest(r)
	}
}

// BenchmarkDay10000 runs 10,000 sessions through 24 hours of protocol
// time on the fake clock: half refresh (every 900 s, answered by a 200 at
// once), half are refreshed by the peer (an UPDATE answered every 900 s,
// driven by a peer timer on the same scheduler). It reports the wall time
// per simulated day and the refreshes handled.
func BenchmarkDay10000(b *testing.B) {
	const n = 10000
	for b.Loop() {
		clk := clock.NewFake(epoch)
		s := sched.New(clk)
		e := &env{t: b, clk: clk, sch: s, cseq: 1}
		upd := e.request("UPDATE", "Supported: timer", "Session-Expires: 1800;refresher=uac", "Min-SE: 90")
		ok := response(b, upd, 200, "Require: timer", "Session-Expires: 1800;refresher=uac")
		refreshes := 0
		sessions := make([]*timer.Session, n)
		for i := range sessions {
			var st *timer.Session
			if i%2 == 0 {
				st = timer.New(timer.Config{}, timer.UAC, s, timer.Hooks{Refresh: func() {
					refreshes++
					st.HandleResponse(upd, ok)
				}})
				st.HandleResponse(upd, ok)
			} else {
				st = timer.New(timer.Config{}, timer.UAS, s, timer.Hooks{})
				res := sip.NewResponse(upd, 200, "")
				st.PrepareResponse(upd, res)
				// The peer refreshes at SE/2 with an UPDATE we answer.
				var peer *sched.Timer
				peer = s.AfterFunc(900*time.Second, func() {
					refreshes++
					if st.CheckRequest(upd) == nil {
						st.PrepareResponse(upd, sip.NewResponse(upd, 200, ""))
					}
					peer.Reset(900 * time.Second)
				})
			}
			sessions[i] = st
		}
		start := time.Now()
		clk.Advance(24 * time.Hour)
		wall := time.Since(start)
		for _, st := range sessions {
			if !st.Active() {
				b.Fatal("a session expired")
			}
		}
		b.ReportMetric(wall.Seconds(), "wall-s/day")
		b.ReportMetric(float64(refreshes), "refreshes/day")
		s.Close()
	}
}
