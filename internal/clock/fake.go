package clock

import (
	"sync"
	"time"
)

// Fake is a [Clock] that moves only when told to, for deterministic tests.
// Create it with [NewFake]; the zero value is not usable.
//
// Time moves with [Fake.Advance] and [Fake.Set]. Each of them steps
// through the due timers in deadline order (ties in the order the timers
// were started or reset): for each one it sets Now to that timer's
// deadline, then fires it, and it finally sets Now to the target time. A
// timer started or reset while time is moving, with a deadline at or
// before the target, fires within the same call, in order. A timer whose
// deadline is not after Now (for example one started with a zero duration)
// fires on the next call to Advance or Set, which may be Advance(0).
//
// Firing a timer from [Fake.NewTimer] is a non-blocking send of its
// deadline on a channel with a buffer of one; the receiving goroutine runs
// whenever the Go scheduler lets it, so Advance does not wait for it.
// Firing a timer from [Fake.AfterFunc] calls its function synchronously on
// the goroutine that called Advance or Set, before that call moves on:
// this is what makes a scheduler driven through AfterFunc deterministic
// (see package sched).
//
// All methods are safe for concurrent use. Calls to Advance and Set are
// serialized: one waits until another has finished. While Advance runs a
// function started by AfterFunc, it holds only the lock that serializes
// Advance and Set, so the function may call Now and start, reset or stop
// timers, but must not call Advance or Set (that deadlocks).
//
// The pending timers are scanned linearly; a Fake is meant for a handful
// of timers, such as the one wake-up timer of each scheduler.
type Fake struct {
	adv sync.Mutex // serializes Advance and Set; held while firing timers

	mu     sync.Mutex // guards the fields below
	now    time.Time
	seq    uint64
	timers []*fakeTimer // pending timers, unordered; typically one or two
}

// NewFake returns a fake clock whose Now is start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start}
}

// Now returns the fake current time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a started timer that delivers the fake time on its
// channel once the clock reaches Now()+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1), index: -1}
	t.Reset(d)
	return t
}

// AfterFunc returns a started timer that calls fn once the clock reaches
// Now()+d. fn runs synchronously inside the [Fake.Advance] or [Fake.Set]
// call that moves the clock to the timer's deadline, with Now equal to
// that deadline. The returned timer's C method returns nil.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	if fn == nil {
		panic("clock: Fake.AfterFunc with nil function")
	}
	t := &fakeTimer{f: f, fn: fn, index: -1}
	t.Reset(d)
	return t
}

// Advance moves the clock forward by d, firing every timer due at or
// before the new time in deadline order, with Now set to each timer's
// deadline as it fires. A negative d panics: the clock is monotonic.
func (f *Fake) Advance(d time.Duration) {
	if d < 0 {
		panic("clock: Fake.Advance with negative duration")
	}
	f.adv.Lock()
	defer f.adv.Unlock()
	f.mu.Lock()
	target := f.now.Add(d)
	f.mu.Unlock()
	f.runUntil(target)
}

// Set moves the clock forward to t, firing due timers as [Fake.Advance]
// does. A t before Now panics: the clock is monotonic.
func (f *Fake) Set(t time.Time) {
	f.adv.Lock()
	defer f.adv.Unlock()
	f.mu.Lock()
	if t.Before(f.now) {
		f.mu.Unlock()
		panic("clock: Fake.Set moves time backwards")
	}
	f.mu.Unlock()
	f.runUntil(t)
}

// runUntil fires due timers one at a time, earliest first, re-examining
// the pending set after each so that timers started by a fired function
// are seen. f.adv is held by the caller; f.mu is not held while firing.
func (f *Fake) runUntil(target time.Time) {
	for {
		f.mu.Lock()
		var next *fakeTimer
		for _, t := range f.timers {
			if t.when.After(target) {
				continue
			}
			if next == nil || t.when.Before(next.when) || t.when.Equal(next.when) && t.seq < next.seq {
				next = t
			}
		}
		if next == nil {
			f.now = target
			f.mu.Unlock()
			return
		}
		if next.when.After(f.now) {
			f.now = next.when
		}
		f.remove(next)
		now := f.now
		if next.fn == nil {
			select {
			case next.c <- now:
			default: // a value is already waiting; the receiver is behind
			}
			f.mu.Unlock()
			continue
		}
		fn := next.fn
		f.mu.Unlock()
		fn()
	}
}

// remove deletes t from the pending set. f.mu is held.
func (f *Fake) remove(t *fakeTimer) {
	i := t.index
	last := len(f.timers) - 1
	f.timers[i] = f.timers[last]
	f.timers[i].index = i
	f.timers[last] = nil
	f.timers = f.timers[:last]
	t.index = -1
}

type fakeTimer struct {
	f     *Fake
	c     chan time.Time // nil for AfterFunc timers
	fn    func()         // nil for channel timers
	when  time.Time
	seq   uint64 // start order, breaks ties between equal deadlines
	index int    // position in f.timers, -1 when not pending
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

// Reset implements [Timer.Reset]. A channel timer whose value has been
// sent but not received counts as pending, as with [time.Timer] since Go
// 1.23.
func (t *fakeTimer) Reset(d time.Duration) bool {
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	pending := t.stopLocked()
	t.when = f.now.Add(d)
	f.seq++
	t.seq = f.seq
	t.index = len(f.timers)
	f.timers = append(f.timers, t)
	return pending
}

// Stop implements [Timer.Stop].
func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	return t.stopLocked()
}

func (t *fakeTimer) stopLocked() bool {
	pending := false
	if t.index >= 0 {
		t.f.remove(t)
		pending = true
	}
	if t.c != nil {
		select {
		case <-t.c:
			pending = true
		default:
		}
	}
	return pending
}
