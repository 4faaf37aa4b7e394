package presence

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// TestSubscriptionScale runs 10,000 concurrent subscriptions (override
// with SIPUA_SUBSCRIPTIONS) between two UAs in one process over loopback
// UDP on a fake clock, refreshes all of them, and logs the memory per
// subscription (subscriber and notifier state together, after the
// transactions have ended) and the wall time of each phase:
//
//	go test ./presence/ -run TestSubscriptionScale -v
func TestSubscriptionScale(t *testing.T) {
	if testing.Short() || subRaceEnabled {
		t.Skip("scale test: not in -short or -race")
	}
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("SIPUA_SUBSCRIPTIONS")); err == nil && v > 0 {
		n = v
	}
	const batch = 200
	fc := clock.NewFake(subStart)
	srv := subUA(t, fc, ua.Config{})
	cli := subUA(t, fc, ua.Config{})
	body := subPIDF("sip:someone@example.test", "open")
	nt := NewNotifier(srv, NotifierConfig{State: StateFunc(func(string, string) (string, []byte, bool) {
		return "application/pidf+xml", body, true
	})})
	srv.Handle(sip.MethodSubscribe, nt)
	a := srv.Addrs()[0].AddrPort
	target := srv.Addrs()[0]

	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()

	subs := make([]*Subscription, n)
	start := time.Now()
	for i := range subs {
		s, err := NewSubscription(SubscriptionConfig{UA: cli, Target: target, From: bob, Expires: 600 * time.Second,
			Resource: sip.URI{Scheme: "sip", User: "u" + strconv.Itoa(i), Host: a.Addr().String(), Port: int(a.Port())}})
		require.NoError(t, err)
		subs[i] = s
	}
	for lo := 0; lo < n; lo += batch {
		hi := min(n, lo+batch)
		var wg sync.WaitGroup
		for _, s := range subs[lo:hi] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				require.NoError(t, s.Subscribe(ctx))
			}()
		}
		wg.Wait()
		waitAll(t, subs[lo:hi], func(s *Subscription) bool { return s.state == Active && !s.busy })
		nt.waitIdle(t)
		fc.Advance(time.Second) // spread the refreshes over n/batch seconds
	}
	setup := time.Since(start)
	// Let every transaction end (Timer J: 64·T1) so only the
	// subscriptions remain.
	fc.Advance(33 * time.Second)
	time.Sleep(100 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	require.Equal(t, n, nt.Len())
	perSub := float64(m1.HeapAlloc-m0.HeapAlloc) / float64(n)
	t.Logf("%d subscriptions established in %v (%.0f/s); heap %.1f MiB, %.0f B per subscription (subscriber + notifier); goroutines %d → %d",
		n, setup.Round(time.Millisecond), float64(n)/setup.Seconds(), float64(m1.HeapAlloc-m0.HeapAlloc)/(1<<20), perSub, g0, runtime.NumGoroutine())

	// Refresh all: advance in 1 s steps through the refresh times.
	before := make([]time.Time, n)
	for i, s := range subs {
		before[i] = s.ExpiresAt()
	}
	start = time.Now()
	for range 540 - 34 + n/batch + 2 {
		fc.Advance(time.Second)
		waitAll(t, subs, func(s *Subscription) bool { return !s.busy && s.want == subOpNone })
		nt.waitIdle(t)
	}
	refresh := time.Since(start)
	for i, s := range subs {
		require.True(t, s.ExpiresAt().After(before[i]), "subscription %d not refreshed", i)
		require.Equal(t, Active, s.State())
	}
	t.Logf("%d refreshes (SUBSCRIBE/200 + full NOTIFY/200 each) in %v wall time (%.0f/s)",
		n, refresh.Round(time.Millisecond), float64(n)/refresh.Seconds())
}

// waitAll waits until ok holds for every subscription (read under its lock).
func waitAll(t *testing.T, subs []*Subscription, ok func(*Subscription) bool) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, s := range subs {
			s.mu.Lock()
			good := ok(s)
			s.mu.Unlock()
			if !good {
				return false
			}
		}
		return true
	}, 30*time.Second, 2*time.Millisecond)
}
