// Package sched is sipua's timer scheduler: one [Scheduler] per user agent
// carries the RFC 3261 §17 transaction timers (A to M: tens of thousands
// at once, most stopped before they fire), the RFC 4028 session-refresh
// timers of every dialog, and registration and subscription refreshes.
//
// A Scheduler runs the callbacks scheduled with [Scheduler.AfterFunc] and
// [Scheduler.At] one at a time, in deadline order; callbacks with equal
// deadlines run in the order they were scheduled, a [Timer.Reset] counting
// as scheduling. It costs one goroutine (none with a fake clock) and one
// wake-up timer of its [clock.Clock], whatever the number of timers, and
// keeps no global state.
//
// # Callbacks
//
// A callback runs without any scheduler lock held, so it may call
// AfterFunc, At, Stop and Reset on any timer, its own included. It must
// not block for long: every other callback of the scheduler waits for it.
// A callback must not call [Scheduler.Close] directly (Close waits for the
// running callback); it may call go s.Close().
//
// [Timer.Stop] does not wait for a callback that has already started, and
// a callback may be about to start when Stop returns false. Code whose
// callback must not act after Stop should check its own state, under its
// own lock, in the callback.
//
// A panic in a callback is recovered; the scheduler carries on with the
// next callback. The panic is reported to the handler set with
// [WithPanicHandler], or else logged at error level with its stack to the
// logger set with [WithLogger], or else to [slog.Default].
//
// # Testing with a fake clock
//
// Given a [*clock.Fake], [New] starts no goroutine: the scheduler's
// wake-up is a [clock.Fake.AfterFunc] timer, so [clock.Fake.Advance] and
// [clock.Fake.Set] run every callback due at or before their target on
// the calling goroutine before they return, each with the clock's Now
// equal to its deadline, including callbacks scheduled by callbacks during
// the same Advance. A test needs no sleeps and no synchronisation:
//
//	c := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
//	s := sched.New(c)
//	defer s.Close()
//	... start a client transaction that uses s ...
//	c.Advance(32 * time.Second) // Timer F fires inside this call
//	... assert that the transaction timed out ...
//
// A callback scheduled with a zero or negative duration outside Advance
// runs at the next Advance or Set call, which may be c.Advance(0). Only
// timer callbacks are run by Advance: work that the code under test hands
// to other goroutines needs its own synchronisation. A callback must not
// call Advance or Set. Hiding the *clock.Fake behind another type gives
// the goroutine mode, in which callbacks run after Advance returns.
//
// # Data structure
//
// Pending timers are kept in a 4-ary min-heap ordered by (deadline,
// scheduling order); each heap slot holds a copy of its key and each Timer
// holds its index in the heap, so Stop and Reset are O(log n) and need no
// search. The earliest deadline is the root, which the one wake-up timer
// is set to. The alternative, a hierarchical timing wheel (seven levels of
// 64 slots of 2^24 ns ticks, slot arrays with each timer's index in its
// slot, in front of a small heap of the current tick's timers to keep the
// exact order and fire times), was implemented (and not kept), passed the
// same tests, and was benchmarked against the heap with this package's benchmarks
// (ns/op, minimum of 8 runs on a shared 2-vCPU AMD EPYC VM, GOMAXPROCS=1;
// fake clock unless noted):
//
//	                                               4-ary heap   timing wheel
//	Transactions: AfterFunc(32s) and Stop of the
//	  oldest of 10,000 in flight, 100,000 pending      165          95
//	Population100k: fire and re-arm, 900 s period      434         377
//	AfterFuncStopReal, 1,000 pending, real clock       145         108
//	AfterFuncStop, Stop at once, 100,000 pending        72          89
//	AfterFuncFire, 100,000 pending                     198         203
//	Reset of a pending timer, 100,000 pending           27          28
//	Timer size                                          32 B        48 B
//	live memory per timer, 110,000 timers               79 B       136 B
//	longest time the lock is held, 900 s refresh
//	  timers, 100,000 / 1,000,000 of them          3 / 5 ms    9 / 131 ms
//
// The wheel is faster on average when the timer stopped is an old one:
// such a timer sits near the root of the heap and its removal sifts down
// through every level, about 70 ns more at 100,000 timers. But a wheel
// moves whole slots down a level when time reaches them, under the lock:
// with 1,000,000 refresh timers every scheduling call and every due
// callback waited up to 131 ms, and 232 seconds of 4 hours of protocol
// time had a pause over 1 ms. The heap's longest operations, 3 and 5 ms,
// were isolated (4 and 24 over 1 ms in the same 4 hours): the noise of a
// shared machine.
// The heap was chosen: its cost is bounded by one O(log n) sift per
// operation whatever the population, it needs less memory and a third of
// the code, and 70 ns per stopped transaction timer is 2 ms of CPU per
// second at 30,000 stopped timers a second. A 4-ary heap was preferred to
// a binary one: half the depth, with the four children's keys in two
// cache lines; on the bare data structures, with 100,000 timers, it took
// 11 ns against 20 to add and stop a timer and 223 ns against 250 to fire
// and re-arm one, and lost only on random removals (254 ns against 230).
//
// # Costs
//
// AfterFunc and At allocate one 32-byte Timer; Stop and Reset do not
// allocate (the heap's array grows by appending and keeps its capacity).
// The wake-up timer is reset only when the earliest deadline moves
// earlier; when the earliest timer is stopped, the scheduler wakes up at
// its old deadline, finds nothing due and sets the wake-up again, which is
// cheaper than resetting the clock's timer on every Stop.
package sched
