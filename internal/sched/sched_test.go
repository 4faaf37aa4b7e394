package sched

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// firing is a callback that ran: its name and the fake time, since t0.
type firing struct {
	name string
	at   time.Duration
}

// recorder collects firings of callbacks run by a fake-clock scheduler.
type recorder struct {
	c   *clock.Fake
	got []firing
}

func (r *recorder) fn(name string) func() {
	return func() { r.got = append(r.got, firing{name, r.c.Now().Sub(t0)}) }
}

func newFake(t *testing.T) (*clock.Fake, *Scheduler, *recorder) {
	t.Helper()
	c := clock.NewFake(t0)
	s := New(c, WithPanicHandler(func(v any) { t.Errorf("callback panicked: %v", v) }))
	t.Cleanup(s.Close)
	return c, s, &recorder{c: c}
}

func TestOrder(t *testing.T) {
	type sched struct {
		name string
		d    time.Duration
	}
	tests := []struct {
		name    string
		timers  []sched
		advance []time.Duration
		want    []firing
	}{
		{
			name:    "deadline order",
			timers:  []sched{{"c", 3 * time.Second}, {"a", time.Second}, {"b", 2 * time.Second}},
			advance: []time.Duration{time.Minute},
			want:    []firing{{"a", time.Second}, {"b", 2 * time.Second}, {"c", 3 * time.Second}},
		},
		{
			name:    "ties in the order scheduled",
			timers:  []sched{{"x", time.Second}, {"y", time.Second}, {"early", 1}, {"z", time.Second}},
			advance: []time.Duration{time.Second},
			want:    []firing{{"early", 1}, {"x", time.Second}, {"y", time.Second}, {"z", time.Second}},
		},
		{
			name:    "at the target fires, after it does not",
			timers:  []sched{{"on", 32 * time.Second}, {"after", 32*time.Second + 1}},
			advance: []time.Duration{32 * time.Second},
			want:    []firing{{"on", 32 * time.Second}},
		},
		{
			name:    "several advances",
			timers:  []sched{{"A", 500 * time.Millisecond}, {"E", 4 * time.Second}, {"B", 32 * time.Second}},
			advance: []time.Duration{time.Second, 3 * time.Second, 27 * time.Second, time.Second},
			want:    []firing{{"A", 500 * time.Millisecond}, {"E", 4 * time.Second}, {"B", 32 * time.Second}},
		},
		{
			name:    "zero and negative durations run on Advance(0)",
			timers:  []sched{{"zero", 0}, {"neg", -time.Hour}},
			advance: []time.Duration{0},
			want:    []firing{{"neg", 0}, {"zero", 0}},
		},
		{
			name:    "nothing before time moves",
			timers:  []sched{{"a", time.Nanosecond}},
			advance: nil,
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s, r := newFake(t)
			for _, tm := range tt.timers {
				s.AfterFunc(tm.d, r.fn(tm.name))
			}
			for _, d := range tt.advance {
				c.Advance(d)
			}
			assert.Equal(t, tt.want, r.got)
		})
	}
}

func TestAt(t *testing.T) {
	c, s, r := newFake(t)
	tm := s.At(t0.Add(90*time.Second), r.fn("at"))
	s.At(t0.Add(-time.Hour), r.fn("past"))
	assert.Equal(t, t0.Add(90*time.Second), tm.When())
	c.Advance(0)
	assert.Equal(t, []firing{{"past", 0}}, r.got)
	c.Advance(2 * time.Minute)
	assert.Equal(t, []firing{{"past", 0}, {"at", 90 * time.Second}}, r.got)
}

func TestStop(t *testing.T) {
	tests := []struct {
		name      string
		advance   time.Duration // before Stop
		wantStop  bool
		wantFired int
	}{
		{"before firing", time.Second, true, 0},
		{"after firing", 2 * time.Second, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s, _ := newFake(t)
			fired := 0
			tm := s.AfterFunc(2*time.Second, func() { fired++ })
			c.Advance(tt.advance)
			assert.Equal(t, tt.wantStop, tm.Stop())
			assert.False(t, tm.Stop(), "a second Stop")
			c.Advance(time.Hour)
			assert.Equal(t, tt.wantFired, fired)
			assert.Zero(t, s.Len())
		})
	}
	var nilTimer *Timer
	assert.False(t, nilTimer.Stop(), "Stop on a nil Timer")
	assert.False(t, new(Timer).Stop(), "Stop on a zero Timer")
	assert.Panics(t, func() { new(Timer).Reset(time.Second) })
	assert.True(t, new(Timer).When().IsZero())
}

func TestReset(t *testing.T) {
	tests := []struct {
		name      string
		before    func(c *clock.Fake, tm *Timer) // brings the timer to the state under test
		wantReset bool
	}{
		{"pending", func(c *clock.Fake, tm *Timer) { c.Advance(time.Second) }, true},
		{"fired", func(c *clock.Fake, tm *Timer) { c.Advance(2 * time.Second) }, false},
		{"stopped", func(c *clock.Fake, tm *Timer) { c.Advance(time.Second); tm.Stop() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s, r := newFake(t)
			tm := s.AfterFunc(2*time.Second, r.fn("t"))
			tt.before(c, tm)
			start := c.Now().Sub(t0)
			r.got = nil
			assert.Equal(t, tt.wantReset, tm.Reset(10*time.Second))
			assert.Equal(t, c.Now().Add(10*time.Second), tm.When())
			c.Advance(10*time.Second - 1)
			assert.Empty(t, r.got, "fired before the new deadline")
			c.Advance(time.Hour)
			assert.Equal(t, []firing{{"t", start + 10*time.Second}}, r.got, "fires once, at the new deadline")
		})
	}
}

func TestResetEarlierAndTieOrder(t *testing.T) {
	c, s, r := newFake(t)
	a := s.AfterFunc(time.Hour, r.fn("a"))
	s.AfterFunc(time.Second, r.fn("b"))
	s.AfterFunc(2*time.Second, r.fn("c"))
	assert.True(t, a.Reset(time.Second), "moved earlier than the earliest deadline")
	c.Advance(time.Hour)
	// a was reset after b was scheduled, so it runs after b at the tie.
	assert.Equal(t, []firing{{"b", time.Second}, {"a", time.Second}, {"c", 2 * time.Second}}, r.got)
}

func TestCallbacksScheduleStopAndReset(t *testing.T) {
	c, s, r := newFake(t)
	var victim, self *Timer
	victim = s.AfterFunc(3*time.Second, r.fn("victim"))
	s.AfterFunc(time.Second, func() {
		r.fn("first")()
		assert.True(t, victim.Stop())
		s.AfterFunc(500*time.Millisecond, r.fn("child"))  // due before the target
		s.AfterFunc(0, r.fn("now"))                       // due at once
		s.AfterFunc(10*time.Minute, r.fn("after-target")) // beyond the target
	})
	n := 0
	self = s.AfterFunc(2*time.Second, func() {
		n++
		r.fn(fmt.Sprint("self", n))()
		if n < 3 {
			assert.False(t, self.Reset(time.Second), "a firing timer is not pending")
		}
		if n == 2 {
			assert.True(t, self.Stop(), "Stop on itself after re-arming")
			self.Reset(2 * time.Second)
		}
	})
	c.Advance(time.Minute)
	assert.Equal(t, []firing{
		{"first", time.Second},
		{"now", time.Second},
		{"child", 1500 * time.Millisecond},
		{"self1", 2 * time.Second},
		{"self2", 3 * time.Second},
		{"self3", 5 * time.Second},
	}, r.got)
	assert.Equal(t, 1, s.Len())
}

func TestCallbackClosesScheduler(t *testing.T) {
	c, s, r := newFake(t)
	s.AfterFunc(time.Second, func() { r.fn("close")(); s.Close() })
	s.AfterFunc(time.Second, r.fn("dropped"))
	c.Advance(time.Minute)
	assert.Equal(t, []firing{{"close", time.Second}}, r.got)
}

func TestThousandsOfTimers(t *testing.T) {
	c, s, _ := newFake(t)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 20000
	type fired struct {
		at    time.Duration
		when  time.Duration
		order int
	}
	var got []fired
	timers := make([]*Timer, n)
	stopped := make(map[int]bool)
	for i := range n {
		d := time.Duration(rng.IntN(1000)) * time.Millisecond // many ties
		timers[i] = s.AfterFunc(d, func() {
			got = append(got, fired{c.Now().Sub(t0), timers[i].When().Sub(t0), i})
		})
	}
	for i := range n {
		switch rng.IntN(4) {
		case 0:
			require.True(t, timers[i].Stop())
			stopped[i] = true
		case 1:
			require.True(t, timers[i].Reset(time.Duration(rng.IntN(1000))*time.Millisecond))
		}
	}
	require.Equal(t, n-len(stopped), s.Len())
	c.Advance(time.Second)
	require.Len(t, got, n-len(stopped))
	for i, f := range got {
		require.Equal(t, f.when, f.at, "ran at its deadline")
		require.False(t, stopped[f.order])
		if i > 0 {
			require.LessOrEqual(t, got[i-1].at, f.at, "deadline order")
		}
	}
	assert.Zero(t, s.Len())
}

// TestDayOfTimers runs 10,000 timers, each re-armed every 900 s from its
// own callback at its own phase, through 24 hours of protocol time (about
// a million callbacks at distinct instants) and checks every fire time
// exactly. It takes about 0.2 s; under the race detector it runs 1,000
// timers.
func TestDayOfTimers(t *testing.T) {
	c, s, _ := newFake(t)
	const (
		period = 900 * time.Second
		day    = 24 * time.Hour
	)
	n := 10000
	if raceEnabled {
		n = 1000
	}
	fires := make([][]time.Duration, n)
	for i := range n {
		phase := time.Duration(i%900)*time.Second + time.Duration(i)*time.Millisecond
		var tm *Timer
		tm = s.AfterFunc(phase, func() {
			fires[i] = append(fires[i], c.Now().Sub(t0))
			tm.Reset(period)
		})
	}
	start := time.Now()
	for range 24 {
		c.Advance(time.Hour)
	}
	elapsed := time.Since(start)
	t.Logf("24 h of protocol time, %d timers: %v", n, elapsed)
	total := 0
	for i := range n {
		phase := time.Duration(i%900)*time.Second + time.Duration(i)*time.Millisecond
		var want []time.Duration
		for at := phase; at <= day; at += period {
			want = append(want, at)
		}
		require.Equal(t, want, fires[i], "timer %d", i)
		total += len(want)
	}
	assert.Equal(t, n, s.Len())
	t.Logf("%d callbacks", total)
	assert.Less(t, elapsed, 10*time.Second, "sanity bound")
}

func TestTwoSchedulersShareAFakeClock(t *testing.T) {
	c := clock.NewFake(t0)
	s1, s2 := New(c), New(c)
	defer s1.Close()
	defer s2.Close()
	r := &recorder{c: c}
	s1.AfterFunc(3*time.Second, r.fn("s1-3"))
	s2.AfterFunc(2*time.Second, r.fn("s2-2"))
	s1.AfterFunc(time.Second, func() {
		r.fn("s1-1")()
		s2.AfterFunc(1500*time.Millisecond, r.fn("s2-2.5"))
	})
	c.Advance(time.Minute)
	assert.Equal(t, []firing{
		{"s1-1", time.Second}, {"s2-2", 2 * time.Second}, {"s2-2.5", 2500 * time.Millisecond}, {"s1-3", 3 * time.Second},
	}, r.got)
}

func TestCloseFake(t *testing.T) {
	c, s, r := newFake(t)
	pending := s.AfterFunc(time.Second, r.fn("pending"))
	fired := s.AfterFunc(0, r.fn("fired"))
	c.Advance(0)
	s.Close()
	s.Close()
	assert.Zero(t, s.Len())
	assert.False(t, pending.Stop(), "a dropped timer is not pending")
	assert.False(t, fired.Reset(time.Second))
	late := s.AfterFunc(time.Second, r.fn("late"))
	assert.False(t, late.Stop(), "AfterFunc after Close returns a stopped Timer")
	assert.Equal(t, t0.Add(time.Second), late.When())
	s.At(t0, r.fn("late-at"))
	c.Advance(time.Hour)
	assert.Equal(t, []firing{{"fired", 0}}, r.got)
}

func TestPanicHandler(t *testing.T) {
	c := clock.NewFake(t0)
	var panics []any
	s := New(c, WithPanicHandler(func(v any) { panics = append(panics, v) }))
	defer s.Close()
	ran := 0
	s.AfterFunc(time.Second, func() { panic("boom") })
	s.AfterFunc(time.Second, func() { ran++ })
	s.AfterFunc(2*time.Second, func() { var m map[string]int; m["x"] = 1 })
	s.AfterFunc(3*time.Second, func() { ran++ })
	c.Advance(time.Minute)
	assert.Equal(t, 2, ran, "the scheduler carries on after a panic")
	require.Len(t, panics, 2)
	assert.Equal(t, "boom", panics[0])
	assert.ErrorContains(t, panics[1].(error), "nil map")
}

func TestPanicLogged(t *testing.T) {
	var buf bytes.Buffer
	c := clock.NewFake(t0)
	s := New(c, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	defer s.Close()
	s.AfterFunc(time.Second, func() { panic("kaboom") })
	ran := false
	s.AfterFunc(time.Second, func() { ran = true })
	c.Advance(time.Second)
	assert.True(t, ran)
	assert.Contains(t, buf.String(), "level=ERROR")
	assert.Contains(t, buf.String(), "panic=kaboom")
	assert.Contains(t, buf.String(), "TestPanicLogged", "the stack names the panicking function")
}

func TestPanicHandlerMayRepanic(t *testing.T) {
	c := clock.NewFake(t0)
	s := New(c, WithPanicHandler(func(v any) { panic(v) }))
	defer s.Close()
	s.AfterFunc(time.Second, func() { panic("fatal") })
	assert.PanicsWithValue(t, "fatal", func() { c.Advance(time.Second) })
}

// countingClock is the real clock, counting the timers made from it.
type countingClock struct {
	clock.Clock
	timers atomic.Int32
	resets atomic.Int32
}

func (c *countingClock) NewTimer(d time.Duration) clock.Timer {
	c.timers.Add(1)
	return &countingTimer{c.Clock.NewTimer(d), c}
}

type countingTimer struct {
	clock.Timer
	c *countingClock
}

func (t *countingTimer) Reset(d time.Duration) bool {
	t.c.resets.Add(1)
	return t.Timer.Reset(d)
}

func TestRealClock(t *testing.T) {
	cc := &countingClock{Clock: clock.Real()}
	s := New(cc)
	defer s.Close()

	const n = 2000
	var (
		mu       sync.Mutex
		order    []int
		inflight atomic.Int32
		wg       sync.WaitGroup
	)
	wg.Add(n)
	for i := range n {
		// Deadlines 0..19 ms, scheduled from several goroutines.
		go func() {
			s.AfterFunc(time.Duration(i%20)*time.Millisecond, func() {
				if inflight.Add(1) != 1 {
					t.Error("two callbacks ran at once")
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				inflight.Add(-1)
				wg.Done()
			})
		}()
	}
	waitTimeout(t, &wg, 10*time.Second)
	assert.Len(t, order, n)
	assert.Equal(t, int32(1), cc.timers.Load(), "one wake-up timer per scheduler")
	assert.Less(t, cc.resets.Load(), int32(n), "the wake-up timer is reset only when the earliest deadline moves")

	// Stop racing with firing: every timer either is stopped or runs.
	var ran atomic.Int32
	stopped := 0
	timers := make([]*Timer, 1000)
	for i := range timers {
		timers[i] = s.AfterFunc(time.Duration(i%3)*time.Millisecond, func() { ran.Add(1) })
	}
	time.Sleep(time.Millisecond)
	for _, tm := range timers {
		if tm.Stop() {
			stopped++
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for int(ran.Load())+stopped != len(timers) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	assert.Equal(t, len(timers), int(ran.Load())+stopped)
	assert.Zero(t, s.Len())
}

func TestRealClockOrder(t *testing.T) {
	s := New(clock.Real())
	defer s.Close()
	done := make(chan struct{})
	var got []int
	// Scheduled latest first, so every AfterFunc after the first moves the
	// wake-up earlier.
	for i := 5; i >= 0; i-- {
		s.AfterFunc(time.Duration(i)*3*time.Millisecond, func() {
			got = append(got, i)
			if i == 5 {
				close(done)
			}
		})
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("timers did not fire")
	}
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5}, got)
}

// hiddenFake hides the *clock.Fake type, so New runs its goroutine.
type hiddenFake struct{ clock.Clock }

func TestGoroutineModeWithFakeClock(t *testing.T) {
	c := clock.NewFake(t0)
	s := New(hiddenFake{c})
	defer s.Close()
	got := make(chan string, 3)
	for _, name := range []string{"c", "a", "b"} {
		s.AfterFunc(time.Duration(name[0]-'a'+1)*time.Second, func() { got <- name })
	}
	c.Advance(time.Minute)
	// The goroutine runs the callbacks after Advance has returned and may
	// set its wake-up after the clock reached its target, in which case
	// the wake-up fires on the next Advance: poll with Advance(0). This is
	// why tests let New see the *clock.Fake.
	var order []string
	deadline := time.Now().Add(10 * time.Second)
	for len(order) < 3 && time.Now().Before(deadline) {
		select {
		case name := <-got:
			order = append(order, name)
		case <-time.After(time.Millisecond):
			c.Advance(0)
		}
	}
	assert.Equal(t, []string{"a", "b", "c"}, order)
}

func TestCloseReal(t *testing.T) {
	base := runtime.NumGoroutine()
	var ran atomic.Int32
	for range 50 {
		s := New(clock.Real())
		for j := range 100 {
			s.AfterFunc(time.Duration(j)*time.Millisecond+time.Hour*time.Duration(j%2), func() { ran.Add(1) })
		}
		started := make(chan struct{})
		release := make(chan struct{})
		s.AfterFunc(0, func() { close(started); <-release })
		<-started
		closed := make(chan struct{})
		go func() { s.Close(); close(closed) }()
		select {
		case <-closed:
			t.Fatal("Close returned while a callback was running")
		case <-time.After(time.Millisecond):
		}
		close(release)
		<-closed
		s.Close() // idempotent
		assert.Zero(t, s.Len())
		tm := s.AfterFunc(0, func() { ran.Add(1) })
		assert.False(t, tm.Stop())
	}
	before := ran.Load() // timers due within the first 20 ms may have run

	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, before, ran.Load(), "nothing runs after Close")
	waitGoroutines(t, base)
}

func TestConcurrentClose(t *testing.T) {
	base := runtime.NumGoroutine()
	s := New(clock.Real())
	for i := range 1000 {
		s.AfterFunc(time.Duration(i)*time.Microsecond, func() {})
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); s.Close() }()
	}
	waitTimeout(t, &wg, 10*time.Second)
	waitGoroutines(t, base)
}

// waitGoroutines waits, for at most a second, for the number of
// goroutines to fall back to base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines, want %d:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

func waitTimeout(t *testing.T, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatal("timed out")
	}
}

func TestSaturation(t *testing.T) {
	c, s, r := newFake(t)
	far := s.AfterFunc(time.Duration(1<<63-1), r.fn("never"))
	s.At(time.Time{}, r.fn("year 1")) // far in the past: due now
	c.Advance(0)
	assert.Equal(t, []firing{{"year 1", 0}}, r.got)
	assert.True(t, far.When().After(t0.Add(100*365*24*time.Hour)))
	assert.True(t, far.Stop())
	assert.Zero(t, s.Len())
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c, s, _ := newFake(t)
	populate(s, 10000)
	f := func() {}
	tm := s.AfterFunc(time.Second, f)
	d := [2]time.Duration{4 * time.Second, 32 * time.Second}
	i := 0
	// Let the heap's array reach its working size first.
	for range 100 {
		tm.Reset(d[i&1])
		i++
		s.AfterFunc(32*time.Second, f).Stop()
	}
	assert.Zero(t, testing.AllocsPerRun(1000, func() { tm.Reset(d[i&1]); i++ }), "Reset of a pending timer")
	assert.Zero(t, testing.AllocsPerRun(1000, func() { tm.Stop(); tm.Reset(time.Second) }), "Reset of a stopped timer")
	assert.Equal(t, 1.0, testing.AllocsPerRun(1000, func() { s.AfterFunc(32*time.Second, f).Stop() }), "AfterFunc: the Timer")
	var self *Timer
	self = s.AfterFunc(time.Second, func() { self.Reset(time.Second) })
	c.Advance(time.Minute)
	assert.Zero(t, testing.AllocsPerRun(100, func() { c.Advance(time.Second) }), "a firing timer re-arming itself")
}
