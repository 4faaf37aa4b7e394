package sched

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
)

// randDuration draws durations from nanoseconds to centuries, with many
// exact ties and powers of two.
func randDuration(rng *rand.Rand) time.Duration {
	switch rng.IntN(8) {
	case 0:
		return time.Duration(rng.IntN(3)) - 1 // -1, 0, 1 ns
	case 1:
		return time.Duration(rng.Int64N(1 << 20))
	case 2:
		return time.Duration(1) << (20 + 6*rng.IntN(7)) * time.Duration(rng.IntN(3)+1)
	case 3:
		return time.Duration(rng.Int64N(int64(64 * time.Second)))
	case 4:
		return time.Duration(rng.Int64N(int64(2 * time.Hour)))
	case 5:
		return time.Duration(rng.Int64N(int64(400 * 24 * time.Hour)))
	case 6:
		return time.Duration(rng.Int64N(1<<(20+6*rng.IntN(5)))) + 1
	default:
		return time.Duration(rng.IntN(5)) * 500 * time.Millisecond
	}
}

// TestModel drives the scheduler with random AfterFunc, Stop, Reset and
// Advance calls, callbacks that re-arm or stop timers, and checks every
// firing, order and instant against a direct simulation.
func TestModel(t *testing.T) {
	seeds := 40
	if raceEnabled {
		seeds = 8
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed) })
	}
}

type modelTimer struct {
	pending bool
	when    time.Duration // since t0
	seq     uint64
	fires   int
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	c := clock.NewFake(t0)
	s := New(c, WithPanicHandler(func(v any) { panic(v) }))
	defer s.Close()

	type fired struct {
		id int
		at time.Duration
	}
	var (
		timers []*Timer
		model  []*modelTimer
		seq    uint64
		now    time.Duration
		got    []fired
	)
	// rearm decides, identically for the scheduler and the model, what a
	// callback does when timer id fires for the n-th time: re-arm itself
	// after d (ok), and stop timer victim (if >= 0).
	rearm := func(id, n int) (d time.Duration, ok bool, victim int) {
		r := rand.New(rand.NewPCG(uint64(id), uint64(n)))
		victim = -1
		if r.IntN(4) == 0 {
			victim = r.IntN(id + 1)
		}
		if r.IntN(3) == 0 {
			return randDuration(r), true, victim
		}
		return 0, false, victim
	}
	add := func(d time.Duration) {
		id := len(timers)
		n := 0
		timers = append(timers, s.AfterFunc(d, func() {
			n++
			got = append(got, fired{id, c.Now().Sub(t0)})
			d, ok, victim := rearm(id, n)
			if victim >= 0 && victim != id {
				timers[victim].Stop()
			}
			if ok {
				timers[id].Reset(d)
			}
		}))
		seq++
		model = append(model, &modelTimer{pending: true, when: time.Duration(after(int64(now), d)), seq: seq})
	}
	simulate := func(target time.Duration) []fired {
		var want []fired
		for {
			var next *modelTimer
			id := -1
			for i, m := range model {
				if m.pending && m.when <= target && (next == nil || m.when < next.when || m.when == next.when && m.seq < next.seq) {
					next, id = m, i
				}
			}
			if next == nil {
				now = target
				return want
			}
			now = max(now, next.when)
			next.pending = false
			next.fires++
			want = append(want, fired{id, now})
			d, ok, victim := rearm(id, next.fires)
			if victim >= 0 && victim != id {
				model[victim].pending = false
			}
			if ok {
				seq++
				next.pending, next.when, next.seq = true, time.Duration(after(int64(now), d)), seq
			}
		}
	}

	for op := range 3000 {
		switch k := rng.IntN(10); {
		case k < 4 || len(timers) == 0:
			add(randDuration(rng))
		case k < 6:
			i := rng.IntN(len(timers))
			require.Equal(t, model[i].pending, timers[i].Stop(), "op %d: Stop(%d)", op, i)
			model[i].pending = false
		case k < 8:
			i := rng.IntN(len(timers))
			d := randDuration(rng)
			require.Equal(t, model[i].pending, timers[i].Reset(d), "op %d: Reset(%d)", op, i)
			seq++
			model[i].pending, model[i].when, model[i].seq = true, time.Duration(after(int64(now), d)), seq
		default:
			// Keep the fake clock within 2^62 ns of t0, where the model's
			// arithmetic cannot overflow.
			d := min(max(randDuration(rng), 0), 1<<62-now)
			got = got[:0]
			want := simulate(now + d)
			c.Advance(d)
			if len(want) == 0 {
				want = nil
			}
			if len(got) == 0 {
				got = nil
			}
			require.Equal(t, want, got, "op %d: Advance(%v)", op, d)
		}
		pending := 0
		for i, m := range model {
			if m.pending {
				pending++
				if w := timers[i].When(); !w.Equal(t0.Add(m.when)) {
					t.Fatalf("op %d: When(%d) = %v, want %v", op, i, w, t0.Add(m.when))
				}
			}
		}
		require.Equal(t, pending, s.Len(), "op %d: Len", op)
	}
	// Drain: everything left fires in order.
	got = got[:0]
	var last time.Duration
	for _, m := range model {
		if m.pending {
			last = max(last, m.when)
		}
	}
	if last > now {
		want := simulate(last)
		c.Set(t0.Add(last))
		require.Equal(t, want, got, "drain")
	}
}
