package ua

import (
	"context"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A request's context is canceled when its handler returns, whether the
// handler asked for it while it ran or not.
func TestRequestContextEndsWithHandler(t *testing.T) {
	srv := newUA(t, Config{})
	reqs := make(chan *Request, 2)
	var during atomic.Value
	srv.HandleFunc("MESSAGE", func(w ResponseWriter, r *Request) {
		if string(r.Body()) == "ask" {
			during.Store(r.Context().Err() == nil)
		}
		reqs <- r
		_ = w.Respond(w.NewResponse(200, ""))
	})
	cli := newUA(t, Config{})
	for _, body := range []string{"ask", "do not ask"} {
		req, to := request(t, "MESSAGE", srv, "UDP")
		req.SetBody([]byte(body))
		_, err := cli.Do(context.Background(), req, to)
		require.NoError(t, err)
		r := <-reqs
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: the context outlived the handler", body)
		}
		assert.ErrorIs(t, r.Context().Err(), context.Canceled, body)
	}
	assert.Equal(t, true, during.Load(), "live while the handler runs")
}

// Handler goroutines are reused, and those left idle exit after a while
// even though the UA stays open.
func TestIdleHandlerGoroutinesExit(t *testing.T) {
	defer func(d time.Duration) { workerIdle = d }(workerIdle)
	workerIdle = 100 * time.Millisecond
	srv := newUA(t, Config{})
	cli := newUA(t, Config{})
	base := runtime.NumGoroutine()
	release := make(chan struct{})
	var running sync.WaitGroup
	const n = 8
	running.Add(n)
	srv.HandleFunc("MESSAGE", func(w ResponseWriter, r *Request) {
		if string(r.Body()) == "wait" {
			running.Done()
			<-release
		}
		_ = w.Respond(w.NewResponse(200, ""))
	})
	errs := make(chan error, n)
	for range n {
		req, to := request(t, "MESSAGE", srv, "UDP")
		req.SetBody([]byte("wait"))
		go func() { _, err := cli.Do(context.Background(), req, to); errs <- err }()
	}
	running.Wait() // n handlers block at once: n goroutines
	assert.GreaterOrEqual(t, runtime.NumGoroutine(), base+n)
	close(release)
	for range n {
		require.NoError(t, <-errs)
	}
	// Requests one at a time are served by the idle goroutines.
	for range 20 {
		req, to := request(t, "MESSAGE", srv, "UDP")
		_, err := cli.Do(context.Background(), req, to)
		require.NoError(t, err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), base, "idle handler goroutines exit")
}

// A retransmitted request gets the final response again, byte for byte,
// and its handler runs once.
func TestRetransmittedRequestGetsSameResponse(t *testing.T) {
	srv := newUA(t, Config{})
	var handled atomic.Int32
	srv.HandleFunc("MESSAGE", func(w ResponseWriter, r *Request) {
		handled.Add(1)
		_ = w.Respond(w.NewResponse(200, ""))
	})
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer c.Close()
	to := net.UDPAddrFromAddrPort(srv.Addrs()[0].AddrPort)
	local := c.LocalAddr().String()
	msg := []byte("MESSAGE sip:bob@" + to.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bKretrans1\r\n" +
		"From: <sip:alice@" + local + ">;tag=a1\r\nTo: <sip:bob@" + to.String() + ">\r\n" +
		"Call-ID: retrans@test\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	read := func() string {
		buf := make([]byte, 4096)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(3*time.Second)))
		n, _, err := c.ReadFromUDP(buf)
		require.NoError(t, err)
		return string(buf[:n])
	}
	_, err = c.WriteToUDP(msg, to)
	require.NoError(t, err)
	first := read()
	assert.Contains(t, first, "SIP/2.0 200 OK\r\n")
	for range 3 {
		_, err = c.WriteToUDP(msg, to)
		require.NoError(t, err)
		assert.Equal(t, first, read())
	}
	assert.Equal(t, int32(1), handled.Load())
}
