package clock

import "time"

// Scaled returns a clock that runs factor times faster than the system
// clock (factor > 0): after one real second, Now has advanced factor
// seconds, and a timer of d fires after d/factor of real time. Demos use
// it to show minutes of protocol behaviour (session-timer refreshes,
// registration refreshes) in seconds over real sockets, where a Fake
// clock, which only moves when told to, does not fit.
func Scaled(factor float64) Clock {
	if factor <= 0 {
		factor = 1
	}
	now := time.Now()
	return &scaled{factor: factor, start: now, virtual: now}
}

type scaled struct {
	factor  float64
	start   time.Time // real time at creation (with a monotonic reading)
	virtual time.Time // the scaled clock's time at creation
}

func (s *scaled) Now() time.Time {
	return s.virtual.Add(time.Duration(float64(time.Since(s.start)) * s.factor))
}

func (s *scaled) real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.factor)
}

func (s *scaled) NewTimer(d time.Duration) Timer {
	return &scaledTimer{s: s, t: time.NewTimer(s.real(d))}
}

type scaledTimer struct {
	s *scaled
	t *time.Timer
}

func (t *scaledTimer) C() <-chan time.Time        { return t.t.C }
func (t *scaledTimer) Reset(d time.Duration) bool { return t.t.Reset(t.s.real(d)) }
func (t *scaledTimer) Stop() bool                 { return t.t.Stop() }
