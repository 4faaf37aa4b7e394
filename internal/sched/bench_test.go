package sched

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sipua-go/sipua/internal/clock"
)

var populations = []int{0, 1000, 100000}

// populate schedules n timers with deadlines spread over [0, 64 s), the
// spread of the RFC 3261 transaction timers with T1 = 500 ms. With the
// fake clock they never fire unless the benchmark moves time.
func populate(s *Scheduler, n int) []*Timer {
	rng := rand.New(rand.NewPCG(1, 2))
	ts := make([]*Timer, n)
	for i := range ts {
		ts[i] = s.AfterFunc(time.Duration(rng.Int64N(int64(64*time.Second)))+1, func() {})
	}
	return ts
}

// BenchmarkAfterFuncStop is the transaction pattern: a timer is scheduled
// and stopped before it fires (Timer B, F, H when the response arrives),
// among a population of pending timers. Time does not move.
func BenchmarkAfterFuncStop(b *testing.B) {
	for _, pop := range populations {
		b.Run(fmt.Sprintf("pop=%d", pop), func(b *testing.B) {
			s := New(clock.NewFake(t0))
			defer s.Close()
			populate(s, pop)
			f := func() {}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s.AfterFunc(32*time.Second, f).Stop()
			}
		})
	}
}

// BenchmarkAfterFuncStopReal is the same with the real clock and its
// goroutine. With an empty population every AfterFunc moves the wake-up
// earlier, so it resets the runtime timer: the worst case.
func BenchmarkAfterFuncStopReal(b *testing.B) {
	for _, pop := range []int{0, 1000} {
		b.Run(fmt.Sprintf("pop=%d", pop), func(b *testing.B) {
			s := New(clock.Real())
			defer s.Close()
			for range pop {
				s.AfterFunc(time.Hour, func() {})
			}
			f := func() {}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s.AfterFunc(32*time.Second, f).Stop()
			}
		})
	}
}

// BenchmarkAfterFuncFire schedules timers at distinct deadlines and lets
// them fire, through the fake clock: one op is one AfterFunc plus its
// share of Advance, dispatch and callback.
func BenchmarkAfterFuncFire(b *testing.B) {
	for _, pop := range populations {
		b.Run(fmt.Sprintf("pop=%d", pop), func(b *testing.B) {
			c := clock.NewFake(t0)
			s := New(c)
			defer s.Close()
			for range pop {
				s.AfterFunc(1000*time.Hour, func() {})
			}
			n := 0
			f := func() { n++ }
			const batch = 1000
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				s.AfterFunc(time.Duration(i%batch+1)*time.Microsecond, f)
				if i%batch == batch-1 || i == b.N-1 {
					c.Advance(batch * time.Microsecond)
				}
			}
			b.StopTimer()
			if n != b.N {
				b.Fatalf("%d callbacks, want %d", n, b.N)
			}
		})
	}
}

// BenchmarkReset moves a pending timer back and forth within a
// population: the retransmission pattern (Timer A, E, G doubling).
func BenchmarkReset(b *testing.B) {
	for _, pop := range populations {
		b.Run(fmt.Sprintf("pop=%d", pop), func(b *testing.B) {
			s := New(clock.NewFake(t0))
			defer s.Close()
			populate(s, pop)
			t := s.AfterFunc(time.Second, func() {})
			d := [2]time.Duration{4 * time.Second, 32 * time.Second}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				t.Reset(d[i&1])
			}
		})
	}
}

// BenchmarkPopulation100k is RFC 4028 session refresh for 100,000
// dialogs: every timer re-arms itself from its callback every 900 s, at
// phases spread over the period. One op is one fire and re-arm, including
// the fake clock's stepping from one deadline to the next.
func BenchmarkPopulation100k(b *testing.B) {
	const (
		n      = 100000
		period = 900 * time.Second
	)
	c := clock.NewFake(t0)
	s := New(c)
	defer s.Close()
	fired := 0
	rng := rand.New(rand.NewPCG(3, 4))
	for range n {
		var t *Timer
		t = s.AfterFunc(time.Duration(rng.Int64N(int64(period))), func() {
			fired++
			t.Reset(period)
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for fired < b.N {
		c.Advance(100 * time.Millisecond)
	}
}

// BenchmarkTransactions is the transaction pattern at scale: 100,000
// session-refresh timers and a FIFO of 10,000 in-flight transactions; each
// op schedules a 32 s timer and stops the one scheduled 10,000 ops
// earlier, as when its response arrives. Time does not move.
func BenchmarkTransactions(b *testing.B) {
	const long, k = 100000, 10000
	s := New(clock.NewFake(t0))
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for range long {
		s.AfterFunc(time.Hour+time.Duration(rng.Int64N(int64(900*time.Second))), func() {})
	}
	f := func() {}
	inflight := make([]*Timer, k)
	for i := range inflight {
		inflight[i] = s.AfterFunc(32*time.Second, f)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		inflight[i%k].Stop()
		inflight[i%k] = s.AfterFunc(32*time.Second, f)
	}
}
