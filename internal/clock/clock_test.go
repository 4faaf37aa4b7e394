package clock

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestRealNowIsMonotonic(t *testing.T) {
	c := Real()
	a := c.Now()
	b := c.Now()
	assert.False(t, b.Before(a))
}

func TestRealTimer(t *testing.T) {
	c := Real()
	tm := c.NewTimer(time.Millisecond)
	select {
	case <-tm.C():
	case <-time.After(5 * time.Second):
		t.Fatal("real timer did not fire")
	}
	assert.False(t, tm.Stop(), "Stop after the value was received")

	assert.False(t, tm.Reset(time.Hour), "Reset of a fired timer")
	assert.True(t, tm.Stop(), "Stop of a pending timer")
	select {
	case <-tm.C():
		t.Fatal("stopped timer delivered a value")
	case <-time.After(5 * time.Millisecond):
	}
}

func TestFakeNowAdvanceSet(t *testing.T) {
	f := NewFake(t0)
	assert.Equal(t, t0, f.Now())
	f.Advance(90 * time.Second)
	assert.Equal(t, t0.Add(90*time.Second), f.Now())
	f.Advance(0)
	assert.Equal(t, t0.Add(90*time.Second), f.Now())
	f.Set(t0.Add(time.Hour))
	assert.Equal(t, t0.Add(time.Hour), f.Now())
	f.Set(t0.Add(time.Hour))
	assert.Equal(t, t0.Add(time.Hour), f.Now())

	assert.PanicsWithValue(t, "clock: Fake.Advance with negative duration", func() { f.Advance(-1) })
	assert.PanicsWithValue(t, "clock: Fake.Set moves time backwards", func() { f.Set(t0) })
	assert.Equal(t, t0.Add(time.Hour), f.Now(), "a rejected move changes nothing")
	f.Advance(time.Second) // the serializing lock was released by the panics
}

// firing is a timer that fired: its name and the fake time, since t0.
type firing struct {
	name string
	at   time.Duration // since t0
}

func TestFakeFiresInDeadlineOrder(t *testing.T) {
	tests := []struct {
		name    string
		timers  []time.Duration // started in this order, named "0", "1", ...
		advance []time.Duration // successive Advance calls
		want    []firing
	}{
		{
			name:    "one advance past all",
			timers:  []time.Duration{3 * time.Second, time.Second, 2 * time.Second},
			advance: []time.Duration{10 * time.Second},
			want:    []firing{{"1", time.Second}, {"2", 2 * time.Second}, {"0", 3 * time.Second}},
		},
		{
			name:    "ties in start order",
			timers:  []time.Duration{time.Second, time.Second, 500 * time.Millisecond, time.Second},
			advance: []time.Duration{time.Second},
			want:    []firing{{"2", 500 * time.Millisecond}, {"0", time.Second}, {"1", time.Second}, {"3", time.Second}},
		},
		{
			name:    "deadline equal to target fires, later does not",
			timers:  []time.Duration{time.Second, time.Second + 1},
			advance: []time.Duration{time.Second},
			want:    []firing{{"0", time.Second}},
		},
		{
			name:    "step by step",
			timers:  []time.Duration{2 * time.Second, 4 * time.Second},
			advance: []time.Duration{time.Second, time.Second, time.Second, time.Second},
			want:    []firing{{"0", 2 * time.Second}, {"1", 4 * time.Second}},
		},
		{
			name:    "zero duration fires on Advance(0)",
			timers:  []time.Duration{0, -time.Second},
			advance: []time.Duration{0},
			want:    []firing{{"1", 0}, {"0", 0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFake(t0)
			var got []firing
			for i, d := range tt.timers {
				name := string(rune('0' + i))
				f.AfterFunc(d, func() { got = append(got, firing{name, f.Now().Sub(t0)}) })
			}
			assert.Empty(t, got, "nothing fires before time moves")
			for _, d := range tt.advance {
				f.Advance(d)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFakeTimerStartedWhileAdvancing(t *testing.T) {
	f := NewFake(t0)
	var got []firing
	rec := func(name string) func() {
		return func() { got = append(got, firing{name, f.Now().Sub(t0)}) }
	}
	f.AfterFunc(time.Second, func() {
		rec("a")()
		f.AfterFunc(500*time.Millisecond, rec("b")) // due 1.5 s, within this Advance
		f.AfterFunc(0, rec("c"))                    // due now: runs next, same Advance
		f.AfterFunc(time.Hour, rec("late"))         // beyond the target
	})
	f.AfterFunc(2*time.Second, rec("d"))
	f.Advance(3 * time.Second)
	assert.Equal(t, []firing{
		{"a", time.Second}, {"c", time.Second}, {"b", 1500 * time.Millisecond}, {"d", 2 * time.Second},
	}, got)
	assert.Equal(t, t0.Add(3*time.Second), f.Now())
}

func TestFakeStopAndReset(t *testing.T) {
	f := NewFake(t0)
	n := 0
	tm := f.AfterFunc(time.Second, func() { n++ })
	assert.True(t, tm.Stop(), "Stop of a pending timer")
	assert.False(t, tm.Stop(), "second Stop")
	f.Advance(time.Minute)
	assert.Equal(t, 0, n)

	assert.False(t, tm.Reset(time.Second), "Reset of a stopped timer")
	assert.True(t, tm.Reset(2*time.Second), "Reset of a pending timer")
	f.Advance(time.Second)
	assert.Equal(t, 0, n, "the first deadline was replaced")
	f.Advance(time.Second)
	assert.Equal(t, 1, n)
	assert.False(t, tm.Stop(), "Stop after firing")
	assert.Nil(t, tm.C())
}

func TestFakeChannelTimer(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Second)
	select {
	case <-tm.C():
		t.Fatal("fired before time moved")
	default:
	}
	f.Advance(2 * time.Second)
	select {
	case v := <-tm.C():
		assert.Equal(t, t0.Add(time.Second), v, "the value is the deadline")
	default:
		t.Fatal("did not fire")
	}
	assert.False(t, tm.Stop())

	// A value not yet received is discarded by Reset and Stop, as with
	// time.Timer since Go 1.23, and counts as pending.
	tm.Reset(time.Second)
	f.Advance(time.Second)
	assert.True(t, tm.Reset(time.Second), "an undelivered value counts as pending")
	select {
	case <-tm.C():
		t.Fatal("stale value after Reset")
	default:
	}
	f.Advance(time.Second)
	assert.True(t, tm.Stop())
	select {
	case <-tm.C():
		t.Fatal("stale value after Stop")
	default:
	}
}

func TestFakeAfterFuncNil(t *testing.T) {
	assert.Panics(t, func() { NewFake(t0).AfterFunc(time.Second, nil) })
}

func TestFakeConcurrentUse(t *testing.T) {
	f := NewFake(t0)
	var mu sync.Mutex
	fired := 0
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				tm := f.AfterFunc(time.Duration(i%7)*time.Millisecond, func() {
					mu.Lock()
					fired++
					mu.Unlock()
				})
				if (i+g)%3 == 0 {
					tm.Stop()
				}
				if g%2 == 0 {
					f.Advance(time.Millisecond)
				}
				_ = f.Now()
			}
		}()
	}
	wg.Wait()
	f.Advance(time.Second)
	mu.Lock()
	defer mu.Unlock()
	require.Positive(t, fired)
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Empty(t, f.timers, "every timer fired or was stopped")
}
