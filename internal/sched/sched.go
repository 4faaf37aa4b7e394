package sched

import (
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sipua-go/sipua/internal/clock"
)

// never is the largest deadline offset: "no wake-up set", and where
// deadlines too far ahead saturate.
const never = int64(1<<63 - 1)

// Scheduler runs timer callbacks one at a time, in deadline order. Create
// it with [New]; the zero value is not usable. All methods are safe for
// concurrent use.
type Scheduler struct {
	clock   clock.Clock
	epoch   time.Time // deadlines are stored as nanoseconds since epoch
	onPanic func(any)
	logger  *slog.Logger

	wake   clock.Timer   // the one wake-up timer
	done   chan struct{} // closed by Close; nil without a goroutine
	exited chan struct{} // closed when the goroutine returns; nil without one

	mu      sync.Mutex
	heap    []entry // 4-ary min-heap on (when, seq)
	seq     uint64  // scheduling order, breaks ties
	wakeAt  int64   // deadline the wake-up timer is set for, or never
	running bool    // runDue is running; it sets the wake-up timer when done
	closed  bool
}

// entry is a heap slot. The key is copied out of the Timer so that sifting
// compares keys without dereferencing timers.
type entry struct {
	when int64
	seq  uint64
	t    *Timer
}

func (a *entry) less(b *entry) bool {
	return a.when < b.when || a.when == b.when && a.seq < b.seq
}

// Timer is a callback scheduled on a [Scheduler]. It is created by
// [Scheduler.AfterFunc] or [Scheduler.At] and may be stopped, reset and
// reused for as long as its Scheduler is open.
type Timer struct {
	s     *Scheduler
	f     func()
	when  int64 // latest deadline, nanoseconds since s.epoch
	index int   // position in s.heap; -1 when not pending
}

// An Option configures a Scheduler.
type Option func(*Scheduler)

// WithPanicHandler makes the scheduler call h with the value of a panic
// raised by a timer callback, instead of logging it. h runs on the
// goroutine that ran the callback, inside the deferred recover, so
// [debug.Stack] called from h includes the panicking frames. The scheduler
// carries on with the next callback after h returns; a handler that wants
// the program to crash can re-panic.
func WithPanicHandler(h func(v any)) Option {
	return func(s *Scheduler) { s.onPanic = h }
}

// WithLogger sets the logger that reports panics in timer callbacks when
// there is no panic handler. Without it, [slog.Default] is used: a panic
// is never silent.
func WithLogger(l *slog.Logger) Option {
	return func(s *Scheduler) { s.logger = l }
}

// New returns a scheduler that reads time from c.
//
// How callbacks are driven depends on c. If c is a [*clock.Fake], the
// scheduler starts no goroutine: it registers its wake-up with
// [clock.Fake.AfterFunc], so every callback due at or before the target of
// a [clock.Fake.Advance] or [clock.Fake.Set] call runs on the goroutine
// making that call, before it returns, with Now equal to the callback's
// deadline. This is the mode tests use. For any other clock, New starts
// one goroutine that waits on a single timer of c and runs the callbacks;
// [Scheduler.Close] stops it. Both modes share all of the scheduling code.
func New(c clock.Clock, opts ...Option) *Scheduler {
	s := &Scheduler{clock: c, epoch: c.Now(), wakeAt: never}
	for _, o := range opts {
		o(s)
	}
	if f, ok := c.(*clock.Fake); ok {
		s.wake = f.AfterFunc(time.Hour, s.runDue)
		s.wake.Stop()
		return s
	}
	s.wake = c.NewTimer(time.Hour)
	s.wake.Stop()
	s.done = make(chan struct{})
	s.exited = make(chan struct{})
	go s.loop()
	return s
}

func (s *Scheduler) loop() {
	defer close(s.exited)
	c := s.wake.C()
	for {
		select {
		case <-c:
			s.runDue()
		case <-s.done:
			return
		}
	}
}

// now returns the clock's time as an offset from s.epoch.
func (s *Scheduler) now() int64 {
	return int64(s.clock.Now().Sub(s.epoch))
}

// after returns the offset d after now, saturating.
func after(now int64, d time.Duration) int64 {
	w := now + int64(d)
	if d > 0 && w < now {
		return never
	}
	if d < 0 && w > now {
		return -never
	}
	return w
}

// AfterFunc schedules f to run once, d after now. A zero or negative d
// means as soon as possible. f runs on the scheduler's goroutine (or, with
// a fake clock, inside Advance), never concurrently with another callback
// of the same scheduler and without any scheduler lock held, so it may
// schedule, stop or reset timers, its own included. After [Scheduler.Close],
// AfterFunc returns a stopped Timer and f never runs.
func (s *Scheduler) AfterFunc(d time.Duration, f func()) *Timer {
	if f == nil {
		panic("sched: AfterFunc with nil func")
	}
	t := &Timer{s: s, f: f, index: -1}
	when := after(s.now(), d)
	s.mu.Lock()
	t.when = when
	if !s.closed {
		s.push(t, when)
	}
	s.mu.Unlock()
	return t
}

// At schedules f to run once at t, as AfterFunc does. A t not after now
// means as soon as possible. t is compared with the clock's times by
// [time.Time.Sub]; for the real clock, pass a time derived from
// [time.Now] so that the monotonic reading is used.
func (s *Scheduler) At(t time.Time, f func()) *Timer {
	if f == nil {
		panic("sched: At with nil func")
	}
	tm := &Timer{s: s, f: f, index: -1}
	when := int64(t.Sub(s.epoch))
	s.mu.Lock()
	tm.when = when
	if !s.closed {
		s.push(tm, when)
	}
	s.mu.Unlock()
	return tm
}

// Now returns the current time of the scheduler's clock.
func (s *Scheduler) Now() time.Time { return s.clock.Now() }

// Len returns the number of pending timers.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.heap)
}

// Close stops the scheduler: pending timers are dropped (their Stop
// returns false and their callbacks never run) and later AfterFunc, At
// and Reset calls schedule nothing. Close waits for a callback that is
// running on the scheduler's goroutine to return and for the goroutine to
// exit, so it must not be called from a callback (use go s.Close()). With
// a fake clock there is no goroutine and Close returns at once. Close is
// idempotent.
func (s *Scheduler) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for i := range s.heap {
			s.heap[i].t.index = -1
		}
		s.heap = nil
		s.wake.Stop()
		s.wakeAt = never
		if s.done != nil {
			close(s.done)
		}
	}
	s.mu.Unlock()
	if s.exited != nil {
		<-s.exited
	}
}

// runDue runs every callback that is due, then sets the wake-up timer for
// the earliest pending deadline. It is called by the goroutine when the
// wake-up timer fires, or by the fake clock's Advance.
func (s *Scheduler) runDue() {
	s.mu.Lock()
	if s.closed || s.running {
		s.mu.Unlock()
		return
	}
	s.running = true
	s.wakeAt = never
	now := s.now()
	for len(s.heap) > 0 {
		if s.heap[0].when > now {
			if now = s.now(); s.heap[0].when > now {
				break
			}
		}
		t := s.heap[0].t
		s.remove(0)
		s.mu.Unlock()
		s.call(t.f)
		s.mu.Lock()
		if s.closed {
			s.running = false
			s.mu.Unlock()
			return
		}
	}
	s.running = false
	if len(s.heap) > 0 {
		s.setWake(s.heap[0].when, now) // now was read after the last callback
	} else {
		s.wakeAt = never
		s.wake.Stop()
	}
	s.mu.Unlock()
}

// setWake sets the wake-up timer for deadline when, now being the
// current time. s.mu is held.
func (s *Scheduler) setWake(when, now int64) {
	s.wakeAt = when
	var d time.Duration
	if when > now {
		d = time.Duration(when - now)
	}
	s.wake.Reset(d)
}

func (s *Scheduler) call(f func()) {
	defer func() {
		if v := recover(); v != nil {
			s.reportPanic(v)
		}
	}()
	f()
}

func (s *Scheduler) reportPanic(v any) {
	if s.onPanic != nil {
		s.onPanic(v)
		return
	}
	l := s.logger
	if l == nil {
		l = slog.Default()
	}
	l.Error("sched: timer callback panicked", "panic", v, "stack", string(debug.Stack()))
}

// Stop prevents the timer's callback from running. It reports whether it
// stopped a pending timer; false means the timer had already fired (its
// callback may still be about to run or running: Stop does not wait), had
// been stopped, or its scheduler is closed. Stop on a nil Timer returns
// false.
func (t *Timer) Stop() bool {
	if t == nil || t.s == nil {
		return false
	}
	s := t.s
	s.mu.Lock()
	if t.index < 0 {
		s.mu.Unlock()
		return false
	}
	s.remove(t.index)
	s.mu.Unlock()
	return true
}

// Reset changes the timer to run its callback d after now, whether it is
// pending, stopped or has fired; a reset timer counts as scheduled now for
// ordering among equal deadlines. It reports whether the timer was
// pending. Reset does not allocate. After the scheduler is closed Reset
// does nothing and returns false.
func (t *Timer) Reset(d time.Duration) bool {
	s := t.s
	if s == nil {
		panic("sched: Reset on a Timer not made by AfterFunc or At")
	}
	when := after(s.now(), d)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	t.when = when
	if i := t.index; i >= 0 {
		s.seq++
		e := &s.heap[i]
		e.when, e.seq = when, s.seq
		if !s.down(i) {
			s.up(i)
		}
		s.maybeWake(when)
		s.mu.Unlock()
		return true
	}
	s.push(t, when)
	s.mu.Unlock()
	return false
}

// When returns the timer's deadline: the pending one, or the last one if
// the timer has fired or been stopped.
func (t *Timer) When() time.Time {
	s := t.s
	if s == nil {
		return time.Time{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch.Add(time.Duration(t.when))
}

// push adds t to the heap with deadline when. s.mu is held.
func (s *Scheduler) push(t *Timer, when int64) {
	s.seq++
	t.index = len(s.heap)
	s.heap = append(s.heap, entry{when: when, seq: s.seq, t: t})
	s.up(t.index)
	s.maybeWake(when)
}

// maybeWake moves the wake-up timer earlier if when is before it. A timer
// removed from the heap leaves the wake-up timer where it is: the extra
// wake-up finds nothing due and costs less than resetting the clock's
// timer on every Stop. s.mu is held.
func (s *Scheduler) maybeWake(when int64) {
	if when < s.wakeAt && !s.running && !s.closed {
		s.setWake(when, s.now())
	}
}

// remove deletes the entry at index i from the heap. s.mu is held.
func (s *Scheduler) remove(i int) {
	h := s.heap
	h[i].t.index = -1
	last := len(h) - 1
	if i != last {
		h[i] = h[last]
		h[i].t.index = i
	}
	h[last] = entry{}
	s.heap = h[:last]
	if i < last {
		if !s.down(i) {
			s.up(i)
		}
	}
}

const arity = 4

// up moves the entry at i towards the root until the heap is ordered.
func (s *Scheduler) up(i int) {
	h := s.heap
	e := h[i]
	for i > 0 {
		p := (i - 1) / arity
		if !e.less(&h[p]) {
			break
		}
		h[i] = h[p]
		h[i].t.index = i
		i = p
	}
	h[i] = e
	e.t.index = i
}

// down moves the entry at i towards the leaves until the heap is ordered
// and reports whether it moved.
func (s *Scheduler) down(i int) bool {
	h := s.heap
	n := len(h)
	e := h[i]
	i0 := i
	for {
		c := i*arity + 1
		if c >= n {
			break
		}
		m := c
		for j, end := c+1, min(c+arity, n); j < end; j++ {
			if h[j].less(&h[m]) {
				m = j
			}
		}
		if !h[m].less(&e) {
			break
		}
		h[i] = h[m]
		h[i].t.index = i
		i = m
	}
	h[i] = e
	e.t.index = i
	return i > i0
}
