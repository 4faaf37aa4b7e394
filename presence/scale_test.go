package presence

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestScaleRefresh publishes N presence documents from one UA to a
// Compositor on another over loopback TCP, then drives the fake clock
// through three refresh cycles: at each 540 s step every publication
// refreshes (N concurrent PUBLISH transactions) and the compositor must
// still hold exactly N publications with the clients' newest entity-tags.
// N is 10,000 (1,000 with -race, whose goroutine limit is 8,128, or
// -short). Run with -v for the figures.
func TestScaleRefresh(t *testing.T) {
	n := 10000
	if raceEnabled || testing.Short() {
		n = 1000
	}
	fc := clock.NewFake(t0)
	srv := newUA(t, fc, "tcp:127.0.0.1:0")
	c := NewCompositor(srv, CompositorConfig{})
	srv.Handle(sip.MethodPublish, c)
	cli := newUA(t, fc, "tcp:127.0.0.1:0")
	to := srv.Addrs()[0]

	var published atomic.Int64
	onEvent := func(e PublicationEvent) {
		if sc, ok := e.(PublicationStateChanged); ok && sc.To == Published {
			published.Add(1)
		}
	}
	base := heapInUse()
	pubs := make([]*Publication, n)
	for i := range pubs {
		res, err := sip.ParseURI(fmt.Sprintf("sip:user%d@example.test", i))
		require.NoError(t, err)
		pubs[i], err = NewPublication(PublicationConfig{UA: cli, Target: to, Resource: res, OnEvent: onEvent})
		require.NoError(t, err)
	}

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := atomic.Int64{}
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := pubs[i].Publish(context.Background(), pidf(pidfOnThePhone)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	initial := time.Since(start)
	require.Equal(t, n, c.Len())
	perPub := float64(heapInUse()-base) / float64(n)

	var cycles []time.Duration
	for cycle := 1; cycle <= 3; cycle++ {
		want := published.Load() + int64(n)
		start := time.Now()
		fc.Advance(540 * time.Second)
		require.Eventually(t, func() bool { return published.Load() >= want }, 120*time.Second, 5*time.Millisecond,
			"cycle %d: %d of %d refreshed", cycle, published.Load()-(want-int64(n)), n)
		cycles = append(cycles, time.Since(start))
		require.Equal(t, n, c.Len(), "cycle %d", cycle)
		for i := 0; i < n; i += n / 100 {
			st := c.State(fmt.Sprintf("sip:user%d@example.test", i), "presence")
			require.Len(t, st, 1)
			require.Equal(t, pubs[i].ETag(), st[0].ETag)
			require.Equal(t, Published, pubs[i].State())
		}
	}
	t.Logf("%d publications over loopback TCP: initial PUBLISH of all %v (%.1f µs each); refresh cycles %v (%.1f µs per refresh, median cycle)",
		n, initial.Round(time.Millisecond), float64(initial.Microseconds())/float64(n), cycles,
		float64(median(cycles).Microseconds())/float64(n))
	t.Logf("heap per publication, client Publication + compositor entry + %d-byte body on each side: %.0f bytes", len(pidfOnThePhone), perPub)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// BenchmarkCompositorRefresh measures the compositor alone (no network):
// 10,000 publications held, each iteration a refresh of one of them with
// its current entity-tag. It reports the heap held per publication.
func BenchmarkCompositorRefresh(b *testing.B) {
	const n = 10000
	fc := clock.NewFake(t0)
	u := newUA(b, fc)
	base := heapInUse()
	c := NewCompositor(u, CompositorConfig{})
	reqs := make([]*sip.Request, n)
	etags := make([]string, n)
	for i := range reqs {
		uri := fmt.Sprintf("sip:user%d@example.test", i)
		res := serve(c, publishReq(uri, pidfOnThePhone, "Event", "presence", "Expires", "600"))
		if res.StatusCode != 200 {
			b.Fatal(res.StartLine())
		}
		etags[i] = res.SIPETag()
	}
	held := heapInUse() - base
	for i := range reqs {
		reqs[i] = publishReq(fmt.Sprintf("sip:user%d@example.test", i), "", "Event", "presence", "Expires", "600")
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % n
		reqs[k].Set("SIP-If-Match", etags[k])
		res := serve(c, reqs[k])
		if res.StatusCode != 200 {
			b.Fatal(res.StartLine())
		}
		etags[k] = res.SIPETag()
		i++
		if i%n == 0 {
			fc.Advance(time.Second) // time moves; nothing expires
		}
	}
	if c.Len() != n {
		b.Fatalf("%d publications held", c.Len())
	}
	// After the loop: b.Loop's first call deletes metrics reported before.
	b.ReportMetric(float64(held)/n, "heapB/publication")
}
