// Package clock abstracts the passage of time for sipua's single-goroutine
// timer scheduler, so that tests can run hours of protocol time in
// milliseconds.
//
// The interface is deliberately small: a scheduler needs the current time
// and one resettable wake-up timer. [Real] is the system clock; [Fake] is a
// manually driven clock for tests. Nothing in this package keeps global
// state.
//
// # Contract
//
// Every [Clock] implementation obeys these rules:
//
//   - Now is monotonic: a call to Now never returns a time before one
//     returned by an earlier call (compared with [time.Time.Before], which
//     uses the monotonic reading when both times have one). Durations are
//     computed with [time.Time.Sub] between two results of Now.
//   - NewTimer(d) returns a started [Timer] whose channel receives one value
//     (the current time) once Now has reached the time of the call plus d.
//     A zero or negative d means "due now".
//   - Timers behave like [time.Timer] as of Go 1.23: after Stop or Reset
//     returns, no value sent for the old deadline is received. A caller must
//     still tolerate a spurious value (for example under the
//     asynctimerchan=1 GODEBUG setting) and re-check Now when it wakes up;
//     a wake-up is a hint that a deadline may have passed, never proof.
//   - All methods are safe for concurrent use.
package clock

import "time"

// Clock is a source of time and of wake-up timers.
type Clock interface {
	// Now returns the current time. It never goes backwards.
	Now() time.Time
	// NewTimer returns a started timer that fires after d.
	NewTimer(d time.Duration) Timer
}

// Timer is a resettable one-shot wake-up timer, a subset of [time.Timer].
type Timer interface {
	// C returns the channel on which the timer delivers the time it fired.
	// It is the same channel for the life of the timer. For a timer created
	// by [Fake.AfterFunc], C returns nil.
	C() <-chan time.Time
	// Reset changes the timer to fire after d from now, discarding any
	// value not yet received for the previous deadline. It reports whether
	// the timer was pending: not stopped, and not fired or fired with its
	// value not yet received (as with time.Timer since Go 1.23).
	Reset(d time.Duration) bool
	// Stop prevents the timer from firing and discards any value not yet
	// received. It reports whether the timer was pending, as Reset does.
	Stop() bool
}

// Real returns the system clock: Now is [time.Now] and each timer wraps a
// [time.Timer].
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
