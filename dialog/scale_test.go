package dialog

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// The scale tests hold many established sessions between two UAs on
// loopback TCP (no loss, so no retransmissions are needed while the fake
// clock stands still), each session with an RFC 4028 session timer
// (1800 s, alice the refresher), set up by real INVITE/200/ACK exchanges.
// Both UAs run on one fake clock: time moves only when the test advances
// it, so a day of protocol time takes as long as its messages do.
//
//	go test -run TestScale -v ./dialog                  # 5,000 and 1,000 sessions, seconds
//	SIPUA_SESSIONS=100000 go test -run TestScaleMemory -v -timeout 30m ./dialog
//	SIPUA_DAY_SESSIONS=10000 go test -run TestScaleDay -v -timeout 30m ./dialog
//
// Both are skipped under -short; TestScaleMemory is skipped under -race
// (the race detector multiplies memory), TestScaleDay runs 200 sessions
// there.

// scaleWorkers bounds the INVITEs (and BYEs) in flight at once.
const scaleWorkers = 64

// scaleRig is two layers on loopback TCP sharing a fake clock; bob
// accepts every call, both count their sessions' events.
type scaleRig struct {
	fake             *clock.Fake
	aliceUA, bobUA   *ua.UA
	alice, bob       *Layer
	bobURI           sip.URI
	aliceRefreshed   atomic.Int64 // Refreshed events, alice's sessions
	bobRefreshed     atomic.Int64
	aliceEnded       atomic.Int64 // StateChanged to Terminated
	bobEnded         atomic.Int64
	aliceEstablished atomic.Int64
	bobEstablished   atomic.Int64
}

func newScaleRig(t *testing.T) *scaleRig {
	t.Helper()
	r := &scaleRig{fake: clock.NewFake(time.Unix(1.7e9, 0))}
	cfg := ua.Config{Listen: []string{"tcp:127.0.0.1:0"}, Clock: r.fake}
	r.aliceUA, r.bobUA = newUA(t, cfg), newUA(t, cfg)
	count := func(refreshed, ended, established *atomic.Int64) func(*Session, Event) {
		return func(_ *Session, ev Event) {
			switch ev := ev.(type) {
			case Refreshed:
				refreshed.Add(1)
			case StateChanged:
				switch ev.To {
				case Terminated:
					ended.Add(1)
				case Established:
					established.Add(1)
				}
			}
		}
	}
	r.alice = mustLayer(t, endpoint(t, r.aliceUA, "alice"), Config{
		OnEvent: count(&r.aliceRefreshed, &r.aliceEnded, &r.aliceEstablished)})
	r.bob = mustLayer(t, endpoint(t, r.bobUA, "bob"), Config{
		OnEvent: count(&r.bobRefreshed, &r.bobEnded, &r.bobEstablished),
		OnInvite: func(s *Session) {
			go func() { _ = s.Accept(context.Background(), []byte(answerSDP)) }()
		}})
	uri, ok := r.bobUA.ContactURI("tcp")
	require.True(t, ok)
	require.Equal(t, "transport=tcp", string(uri.Params))
	uri.User = "bob"
	r.bobURI = uri
	return r
}

// establish sets up n sessions, scaleWorkers at a time, and returns
// alice's side of them.
func (r *scaleRig) establish(t *testing.T, n int) []*Session {
	t.Helper()
	out := make([]*Session, n)
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	for w := 0; w < scaleWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() > 0 {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				s, err := r.alice.Invite(ctx, r.bobURI, InviteOptions{SDP: []byte(offerSDP)})
				cancel()
				if err != nil {
					failed.Add(1)
					firstErr.Do(func() { t.Errorf("session %d: %v", i, err) })
					return
				}
				out[i] = s
			}
		}()
	}
	wg.Wait()
	require.Zero(t, failed.Load(), "every INVITE succeeds")
	// Bob's sessions are Established once their ACK is in.
	require.Eventually(t, func() bool { return r.bobEstablished.Load() == int64(n) && r.aliceEstablished.Load() == int64(n) },
		30*time.Second, 10*time.Millisecond, "established: alice %d, bob %d of %d", r.aliceEstablished.Load(), r.bobEstablished.Load(), n)
	require.Equal(t, n, r.alice.Len())
	require.Equal(t, n, r.bob.Len())
	return out
}

// settle lets the transactions of the last exchanges end (Timer L of the
// INVITE server transactions is 64·T1 even on TCP) without reaching any
// session timer's refresh (900 s).
func (r *scaleRig) settle() { r.fake.Advance(40 * time.Second) }

// reset zeroes the event counters.
func (r *scaleRig) reset() {
	for _, c := range []*atomic.Int64{&r.aliceRefreshed, &r.bobRefreshed, &r.aliceEnded, &r.bobEnded, &r.aliceEstablished, &r.bobEstablished} {
		c.Store(0)
	}
}

// waitEnded waits until alice and bob have seen that many sessions end
// (events are delivered asynchronously).
func (r *scaleRig) waitEnded(t *testing.T, alice, bob int) {
	t.Helper()
	require.Eventually(t, func() bool { return r.aliceEnded.Load() == int64(alice) && r.bobEnded.Load() == int64(bob) },
		30*time.Second, time.Millisecond, "want %d and %d ended", alice, bob)
}

// hangupAll ends sessions with BYE, scaleWorkers at a time.
func hangupAll(t *testing.T, sessions []*Session) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < scaleWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(sessions) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_ = sessions[i].Hangup(ctx)
				cancel()
			}
		}()
	}
	wg.Wait()
}

type heapSample struct {
	alloc, inuse, sys uint64
	goroutines        int
}

// sampleHeap collects garbage until the live heap stops shrinking and
// returns the heap in use and the goroutine count, after waiting for the
// goroutines to come down to at most base+slack (transient goroutines:
// event drains, handlers finishing).
func sampleHeap(t *testing.T, base, slack int) heapSample {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for base >= 0 && runtime.NumGoroutine() > base+slack && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return heapSample{alloc: ms.HeapAlloc, inuse: ms.HeapInuse, sys: ms.Sys, goroutines: runtime.NumGoroutine()}
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	require.NoError(t, err, name)
	require.Positive(t, n, name)
	return n
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// perSession is (after − before)/n in bytes, negative deltas as 0.
func perSession(after, before uint64, n int) float64 {
	if after < before {
		return 0
	}
	return float64(after-before) / float64(n)
}

// TestScaleMemory measures what N established sessions cost, each with an
// active session timer: the live heap (HeapAlloc) and the heap in use
// (HeapInuse, spans included) after garbage collection, per session for
// both sides together (the two UAs are in this process) and for the UAS
// side alone (alice's sessions are then ended locally, without BYE, and
// the heap measured again; its in-use figure then includes the holes
// alice's freed objects leave). The goroutine count must not grow with N.
// Bob then hangs up every call. A second cycle of N calls, up and down
// (alice hanging up this time), must leave the heap where the first left
// it: what stays after the first cycle is high-water capacity (maps,
// the scheduler's heap, goroutine descriptors), not sessions.
// DESIGN.md's target is 100,000 sessions in under 1 GiB.
func TestScaleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if raceEnabled() {
		t.Skip("the race detector multiplies memory; the measurement means nothing under -race")
	}
	n := envInt(t, "SIPUA_SESSIONS", 5000)
	if os.Getenv("SCALE_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	r := newScaleRig(t)
	// Warm up: one call up and down, so that connections, buffers and
	// pools exist before the baseline. Bob hangs up so that his
	// connection to alice's listener is open too: the teardown's BYEs
	// reuse it (concurrent first requests to an address each dial a
	// connection of their own).
	r.establish(t, 1)
	hangupAll(t, r.bob.Sessions())
	r.waitEnded(t, 1, 1)
	r.settle()
	r.reset()
	before := sampleHeap(t, -1, 0)

	start := time.Now()
	sessions := r.establish(t, n)
	setup := time.Since(start)
	r.settle()
	both := sampleHeap(t, before.goroutines, 10)
	for _, s := range sessions[:min(n, 100)] {
		st := s.SessionTimer()
		require.True(t, st.Active(), "every session has a session timer")
		require.Equal(t, 1800*time.Second, st.Interval())
	}
	assert.Equal(t, n, r.bob.Len())
	assert.LessOrEqual(t, both.goroutines-before.goroutines, 10, "goroutines do not grow with sessions")

	// The UAS side alone: alice's sessions end locally (no BYE).
	for _, s := range sessions {
		s.terminate(&TerminatedError{Cause: Shutdown})
	}
	r.waitEnded(t, n, 0)
	require.Zero(t, r.alice.Len())
	sessions = nil
	bobOnly := sampleHeap(t, before.goroutines, 10)

	// Bob hangs up every call (alice answers 481; the sessions end anyway).
	hangupAll(t, r.bob.Sessions())
	r.waitEnded(t, n, n)
	require.Zero(t, r.bob.Len())
	r.settle()
	after1 := sampleHeap(t, before.goroutines, 10)

	// Second cycle: N calls up and down again, alice hanging up.
	r.reset()
	start = time.Now()
	hangupAll(t, r.establish(t, n))
	cycle := time.Since(start)
	r.waitEnded(t, n, n)
	require.Zero(t, r.alice.Len())
	require.Zero(t, r.bob.Len())
	r.settle()
	after2 := sampleHeap(t, before.goroutines, 10)
	if f := os.Getenv("SCALE_HEAPPROFILE"); f != "" {
		w, err := os.Create(f)
		require.NoError(t, err)
		require.NoError(t, pprof.Lookup("heap").WriteTo(w, 0))
		w.Close()
	}

	t.Logf("%d sessions set up in %v (%.0f sessions/s, %d INVITEs in flight); second cycle up and down in %v",
		n, setup.Round(time.Millisecond), float64(n)/setup.Seconds(), scaleWorkers, cycle.Round(time.Millisecond))
	t.Logf("baseline: live heap %.1f MiB, heap in use %.1f MiB, %d goroutines", mib(before.alloc), mib(before.inuse), before.goroutines)
	t.Logf("%d sessions, both sides: live heap %.1f MiB, heap in use %.1f MiB, Sys %.1f MiB, %d goroutines",
		n, mib(both.alloc), mib(both.inuse), mib(both.sys), both.goroutines)
	t.Logf("per session, both sides: %.0f B live, %.0f B in use", perSession(both.alloc, before.alloc, n), perSession(both.inuse, before.inuse, n))
	t.Logf("per session, UAS side (bob) alone: %.0f B live, %.0f B in use", perSession(bobOnly.alloc, before.alloc, n), perSession(bobOnly.inuse, before.inuse, n))
	t.Logf("per session, UAC side (alice), by difference: %.0f B live", perSession(both.alloc, bobOnly.alloc, n))
	t.Logf("after the first cycle: live heap %.1f MiB (%+.1f MiB vs baseline: high-water capacity), %d goroutines (%+d)",
		mib(after1.alloc), mib(after1.alloc)-mib(before.alloc), after1.goroutines, after1.goroutines-before.goroutines)
	t.Logf("after the second cycle: live heap %.1f MiB (%+.2f MiB vs the first), %d goroutines",
		mib(after2.alloc), mib(after2.alloc)-mib(after1.alloc), after2.goroutines)
	uas := perSession(bobOnly.alloc, before.alloc, n)
	t.Logf("extrapolated to 100,000 sessions: UAS side %.0f MiB live; both sides %.0f MiB live, %.0f MiB in use",
		uas*1e5/(1<<20), perSession(both.alloc, before.alloc, n)*1e5/(1<<20), perSession(both.inuse, before.inuse, n)*1e5/(1<<20))

	assert.Less(t, uas*1e5, float64(1<<30), "100,000 sessions of one side: live heap under 1 GiB")
	assert.LessOrEqual(t, after2.goroutines-before.goroutines, 10, "no goroutine left per session")
	assert.Less(t, perSession(after2.alloc, after1.alloc, n), 100.0, "a second cycle leaves nothing behind (bytes per session)")
}

// TestScaleDay runs a day of protocol time over N sessions on the fake
// clock, advancing one minute at a time: alice refreshes every session
// with UPDATE every 900 s (96 times a day), bob sees each refresh, and no
// session ends. It reports the wall time. N is SIPUA_DAY_SESSIONS, 1,000
// when unset (10,000 sessions make 960,000 refreshes and take over a
// minute on a 2-core machine).
func TestScaleDay(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	n := envInt(t, "SIPUA_DAY_SESSIONS", 1000)
	if raceEnabled() {
		n = min(n, 200)
	}
	const day, step, interval = 24 * time.Hour, time.Minute, 900 * time.Second
	r := newScaleRig(t)
	start := time.Now()
	sessions := r.establish(t, n)
	setup := time.Since(start)
	t0 := r.fake.Now()

	start = time.Now()
	var stalls []string
	for elapsed := step; elapsed <= day; elapsed += step {
		r.fake.Advance(step)
		// Every refresh due by now must be done, on both sides, before
		// the clock moves on (its transaction runs in real time).
		want := int64(n) * int64(r.fake.Now().Sub(t0)/interval)
		deadline := time.Now().Add(60 * time.Second)
		for r.aliceRefreshed.Load() < want || r.bobRefreshed.Load() < want {
			if time.Now().After(deadline) {
				stalls = append(stalls, fmt.Sprintf("at %v: alice %d, bob %d refreshes of %d", elapsed, r.aliceRefreshed.Load(), r.bobRefreshed.Load(), want))
				break
			}
			if r.aliceEnded.Load() > 0 || r.bobEnded.Load() > 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if len(stalls) > 0 || r.aliceEnded.Load() > 0 || r.bobEnded.Load() > 0 {
			break
		}
	}
	wall := time.Since(start)
	want := int64(n) * int64(day/interval)
	t.Logf("%d sessions set up in %v; %v of protocol time in %v wall: %d refreshes by alice, %d seen by bob (want %d each), %d and %d sessions ended",
		n, setup.Round(time.Millisecond), day, wall.Round(time.Millisecond), r.aliceRefreshed.Load(), r.bobRefreshed.Load(), want,
		r.aliceEnded.Load(), r.bobEnded.Load())
	require.Empty(t, stalls, "refreshes stalled")
	assert.Zero(t, r.aliceEnded.Load(), "no session of alice's ended")
	assert.Zero(t, r.bobEnded.Load(), "no session of bob's ended")
	assert.Equal(t, want, r.aliceRefreshed.Load())
	assert.Equal(t, want, r.bobRefreshed.Load())
	assert.Equal(t, n, r.alice.Len())
	assert.Equal(t, n, r.bob.Len())
	for _, s := range sessions[:min(n, 100)] {
		assert.Equal(t, Established, s.State())
		assert.True(t, s.SessionTimer().ExpiresAt().After(r.fake.Now()), "the timer runs on")
	}
}
