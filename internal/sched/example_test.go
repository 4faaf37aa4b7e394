package sched_test

import (
	"fmt"
	"time"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/internal/sched"
)

// A client transaction arms Timer B (64*T1) when it sends a request and
// stops it when a final response arrives. The callback runs on the
// scheduler's goroutine.
func ExampleScheduler_AfterFunc() {
	s := sched.New(clock.Real())
	defer s.Close()

	done := make(chan struct{})
	timerB := s.AfterFunc(32*time.Second, func() { fmt.Println("Timer B fired: transaction timeout") })
	timerK := s.AfterFunc(10*time.Millisecond, func() { fmt.Println("Timer K fired"); close(done) })

	// A final response arrived: the transaction stops Timer B.
	fmt.Println("stopped Timer B:", timerB.Stop())
	<-done
	fmt.Println("stopped Timer K:", timerK.Stop())
	// Output:
	// stopped Timer B: true
	// Timer K fired
	// stopped Timer K: false
}

// With a fake clock the scheduler has no goroutine: Advance runs every
// callback due by its target before it returns, each with Now equal to the
// callback's deadline, so a test asserts right after Advance, with no
// sleeps. Here Timer E retransmits a non-INVITE request at T1, 2*T1, 4*T1,
// ... capped at T2 until Timer F fires at 64*T1.
func ExampleNew_fakeClock() {
	const t1, t2 = 500 * time.Millisecond, 4 * time.Second
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clock.NewFake(start)
	s := sched.New(c)
	defer s.Close()

	interval := t1
	var timerE *sched.Timer
	timerE = s.AfterFunc(interval, func() {
		fmt.Println("retransmit at", c.Now().Sub(start))
		interval = min(2*interval, t2)
		timerE.Reset(interval)
	})
	s.AfterFunc(64*t1, func() {
		fmt.Println("Timer F at", c.Now().Sub(start))
		timerE.Stop()
	})

	c.Advance(10 * time.Second)
	fmt.Println("-- 10s")
	c.Advance(time.Minute)
	fmt.Println("pending timers:", s.Len())
	// Output:
	// retransmit at 500ms
	// retransmit at 1.5s
	// retransmit at 3.5s
	// retransmit at 7.5s
	// -- 10s
	// retransmit at 11.5s
	// retransmit at 15.5s
	// retransmit at 19.5s
	// retransmit at 23.5s
	// retransmit at 27.5s
	// retransmit at 31.5s
	// Timer F at 32s
	// pending timers: 0
}
