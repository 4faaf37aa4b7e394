package ua

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/testcert"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/transaction"
)

func newUA(t *testing.T, cfg Config) *UA {
	t.Helper()
	u, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = u.Close(context.Background()) })
	return u
}

func request(t *testing.T, method string, to *UA, transport string) (*sip.Request, Target) {
	t.Helper()
	addr, ok := to.localAddr(transport)
	require.True(t, ok)
	uri, err := sip.ParseURI("sip:bob@" + addr.AddrPort.String())
	require.NoError(t, err)
	req := sip.NewRequest(method, uri)
	req.Set("From", "<sip:alice@example.test>")
	req.Set("To", "<sip:bob@example.test>")
	return req, addr
}

func TestOptionsBuiltinAndHandlers(t *testing.T) {
	srv := newUA(t, Config{Supported: []string{"timer"}})
	got := make(chan string, 1)
	srv.HandleFunc("MESSAGE", func(w ResponseWriter, r *Request) {
		got <- string(r.Body())
		assert.NoError(t, w.Respond(w.NewResponse(202, "")))
	})
	cli := newUA(t, Config{})

	req, to := request(t, "OPTIONS", srv, "UDP")
	res, err := cli.Do(context.Background(), req, to)
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, []string{"MESSAGE", "OPTIONS"}, res.Allow())
	assert.Equal(t, []string{"timer"}, res.Supported())
	assert.NotEmpty(t, res.To().Tag(), "a final response carries a To tag")
	assert.Equal(t, "sipua", res.Server())

	msg, to := request(t, "MESSAGE", srv, "UDP")
	msg.Set("Content-Type", "text/plain")
	msg.SetBody([]byte("hello"))
	res, err = cli.Do(context.Background(), msg, to)
	require.NoError(t, err)
	assert.Equal(t, 202, res.StatusCode)
	assert.Equal(t, "hello", <-got)
	v, _ := msg.TopVia()
	assert.True(t, strings.HasPrefix(v.Branch(), "z9hG4bK"))
	assert.NotEmpty(t, msg.CallID())
	assert.NotEmpty(t, msg.From().Tag())
}

func TestBuiltinRefusals(t *testing.T) {
	srv := newUA(t, Config{})
	cli := newUA(t, Config{})
	var se *StatusError

	req, to := request(t, "PUBLISH", srv, "UDP")
	_, err := cli.Do(context.Background(), req, to)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 405, se.StatusCode())
	assert.Equal(t, []string{"OPTIONS"}, se.Response.Allow())

	req, to = request(t, "OPTIONS", srv, "UDP")
	req.Set("Require", "foo, bar")
	_, err = cli.Do(context.Background(), req, to)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 420, se.StatusCode())
	assert.Equal(t, []string{"foo", "bar"}, se.Response.Unsupported())

	req, to = request(t, "BYE", srv, "UDP")
	req.Set("To", "<sip:bob@example.test>;tag=nodialog")
	_, err = cli.Do(context.Background(), req, to)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 481, se.StatusCode())
	assert.False(t, se.Temporary())
}

func TestHandlerThatDoesNotAnswerGets500(t *testing.T) {
	srv := newUA(t, Config{})
	srv.HandleFunc("MESSAGE", func(w ResponseWriter, r *Request) {})
	srv.HandleFunc("INFO", func(w ResponseWriter, r *Request) { panic("boom") })
	cli := newUA(t, Config{})
	for _, m := range []string{"MESSAGE", "INFO"} {
		req, to := request(t, m, srv, "UDP")
		_, err := cli.Do(context.Background(), req, to)
		var se *StatusError
		require.ErrorAs(t, err, &se, m)
		assert.Equal(t, 500, se.StatusCode(), m)
	}
}

func TestDigestChallengeAnswered(t *testing.T) {
	srv := newUA(t, Config{})
	as, err := auth.NewServer(auth.ServerConfig{Realm: "example.test"})
	require.NoError(t, err)
	srv.HandleFunc("MESSAGE", func(w ResponseWriter, r *Request) {
		res := as.Verify(r.Request, func(user, realm string) (string, bool) { return "alice123", user == "alice" })
		if !res.OK() {
			ch := w.NewResponse(401, "")
			as.Challenge(ch, res.Reason == auth.ReasonStale)
			require.NoError(t, w.Respond(ch))
			return
		}
		require.NoError(t, w.Respond(w.NewResponse(200, "")))
	})

	good := newUA(t, Config{Credentials: func(realm string) (auth.Credentials, bool) {
		return auth.Credentials{Username: "alice", Password: "alice123"}, realm == "example.test"
	}})
	req, to := request(t, "MESSAGE", srv, "UDP")
	res, err := good.Do(context.Background(), req, to)
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, uint32(2), req.CSeq().Seq, "the retry used CSeq + 1")

	bad := newUA(t, Config{Credentials: func(string) (auth.Credentials, bool) {
		return auth.Credentials{Username: "alice", Password: "wrong"}, true
	}})
	req, to = request(t, "MESSAGE", srv, "UDP")
	_, err = bad.Do(context.Background(), req, to)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 401, se.StatusCode())
	assert.ErrorIs(t, err, auth.ErrAuthFailed)

	none := newUA(t, Config{})
	req, to = request(t, "MESSAGE", srv, "UDP")
	_, err = none.Do(context.Background(), req, to)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 401, se.StatusCode())
}

func TestDoTimesOut(t *testing.T) {
	cli := newUA(t, Config{Timers: transaction.Config{T1: 5 * time.Millisecond}})
	dead := newUA(t, Config{})
	req, to := request(t, "OPTIONS", dead, "UDP")
	require.NoError(t, dead.Close(context.Background())) // nothing answers there now
	start := time.Now()
	_, err := cli.Do(context.Background(), req, to)
	var te interface{ Timeout() bool }
	require.True(t, errors.As(err, &te), "%v", err)
	assert.True(t, te.Timeout())
	assert.Less(t, time.Since(start), 5*time.Second, "Timer F is 64·T1 = 320 ms")
}

func TestDoOverTCPAndContext(t *testing.T) {
	srv := newUA(t, Config{Listen: []string{"tcp:127.0.0.1:0"}})
	release := make(chan struct{})
	srv.HandleFunc("MESSAGE", func(w ResponseWriter, r *Request) {
		<-release
		_ = w.Respond(w.NewResponse(200, ""))
	})
	cli := newUA(t, Config{Listen: []string{"tcp:127.0.0.1:0"}})
	req, to := request(t, "OPTIONS", srv, "TCP")
	res, err := cli.Do(context.Background(), req, to)
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, to = request(t, "MESSAGE", srv, "TCP")
	_, err = cli.Do(ctx, req, to)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	close(release)
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	srv, err := New(Config{Listen: []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}})
	require.NoError(t, err)
	cli, err := New(Config{Listen: []string{"tcp:127.0.0.1:0"}})
	require.NoError(t, err)
	req, to := request(t, "OPTIONS", srv, "TCP")
	_, err = cli.Do(context.Background(), req, to)
	require.NoError(t, err)
	require.NoError(t, cli.Close(context.Background()))
	require.NoError(t, srv.Close(context.Background()))
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), base)
}

func TestStatusErrorTemporary(t *testing.T) {
	req, _ := sip.ParseMessage([]byte("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n"))
	r := req.(*sip.Request)
	for code, want := range map[int]bool{408: true, 409: true, 480: true, 486: true, 491: true, 500: false, 503: false, 404: false} {
		assert.Equal(t, want, (&StatusError{Response: sip.NewResponse(r, code, "")}).Temporary(), code)
	}
	res := sip.NewResponse(r, 503, "")
	res.Set("Retry-After", "30")
	e := &StatusError{Response: res}
	assert.True(t, e.Temporary())
	d, ok := e.RetryAfter()
	assert.True(t, ok)
	assert.Equal(t, 30*time.Second, d)
}

// A request over 1,300 bytes goes over TCP (RFC 3261 §18.1.1).
func TestLargeRequestSwitchesToTCP(t *testing.T) {
	srv := newUA(t, Config{Listen: []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}})
	via := make(chan string, 2)
	srv.HandleFunc("MESSAGE", func(w ResponseWriter, r *Request) {
		v, _ := r.TopVia()
		via <- v.Transport + " " + r.Source.Transport
		_ = w.Respond(w.NewResponse(200, ""))
	})
	cli := newUA(t, Config{Listen: []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}})
	udp, _ := srv.localAddr("UDP")
	tcp, _ := srv.localAddr("TCP")

	small, _ := request(t, "MESSAGE", srv, "UDP")
	small.SetBody([]byte("short"))
	_, err := cli.Do(context.Background(), small, udp)
	require.NoError(t, err)
	assert.Equal(t, "UDP UDP", <-via)

	big, _ := request(t, "MESSAGE", srv, "UDP")
	big.SetBody([]byte(strings.Repeat("x", 1400)))
	// The server's TCP port differs from its UDP port here; a real target
	// listens on both at one port. Point UDP at the TCP port's number.
	to := Target{Transport: "UDP", AddrPort: tcp.AddrPort}
	_, err = cli.Do(context.Background(), big, to)
	require.NoError(t, err)
	assert.Equal(t, "TCP TCP", <-via)
}

// A TCP peer that drops the connection fails Do at once, not after Timer F.
func TestBrokenConnectionFailsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 1)
			_, _ = c.Read(buf) // the request starts arriving: hang up
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	cli := newUA(t, Config{Listen: []string{"tcp:127.0.0.1:0"}})
	uri, _ := sip.ParseURI("sip:bob@" + ln.Addr().String() + ";transport=tcp")
	req := sip.NewRequest("OPTIONS", uri)
	start := time.Now()
	_, err = cli.Do(context.Background(), req, Target{})
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second, "not Timer F (32 s)")
}

// A sips URI goes over TLS, with the certificate verified; the client
// needs no TLS listener of its own.
func TestDoOverTLS(t *testing.T) {
	cert, pool, err := testcert.New()
	require.NoError(t, err)
	srv := newUA(t, Config{Listen: []string{"tls:127.0.0.1:0"}, TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	cli := newUA(t, Config{TLS: &tls.Config{RootCAs: pool}})
	addr, _ := srv.localAddr("TLS")
	uri, err := sip.ParseURI("sips:bob@" + addr.AddrPort.String())
	require.NoError(t, err)
	req := sip.NewRequest("OPTIONS", uri)
	res, err := cli.Do(context.Background(), req, Target{})
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	v, _ := req.TopVia()
	assert.Equal(t, "TLS", v.Transport)

	untrusting := newUA(t, Config{})
	_, err = untrusting.Do(context.Background(), sip.NewRequest("OPTIONS", uri), Target{})
	assert.Error(t, err, "the server's certificate is not trusted")
}

// A slow handler does not hold up other requests on the same socket.
func TestSlowHandlerDoesNotBlockOthers(t *testing.T) {
	srv := newUA(t, Config{})
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // runs before the UAs close: a failure must not hang
	srv.HandleFunc("MESSAGE", func(w ResponseWriter, r *Request) {
		<-release
		_ = w.Respond(w.NewResponse(200, ""))
	})
	cli := newUA(t, Config{})
	slow, to := request(t, "MESSAGE", srv, "UDP")
	done := make(chan error, 1)
	go func() {
		_, err := cli.Do(context.Background(), slow, to)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // the MESSAGE is in its handler
	opt, optTo := request(t, "OPTIONS", srv, "UDP")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, err := cli.Do(ctx, opt, optTo)
	require.NoError(t, err, "OPTIONS answered while the MESSAGE handler waits")
	assert.Equal(t, 200, res.StatusCode)
	free()
	require.NoError(t, <-done)
}

// A request that reaches the UA twice over different paths (a forking
// proxy: same From tag, Call-ID and CSeq, another branch) is answered 482
// the second time (RFC 3261 §8.2.2.2); a retransmission (same branch) is
// not.
func TestMergedRequestGets482(t *testing.T) {
	srv := newUA(t, Config{})
	var handled atomic.Int32
	srv.HandleFunc("MESSAGE", func(w ResponseWriter, r *Request) {
		handled.Add(1)
		_ = w.Respond(w.NewResponse(200, ""))
	})
	cli := newUA(t, Config{})
	req, to := request(t, "MESSAGE", srv, "UDP")
	res, err := cli.Do(context.Background(), req, to)
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)

	again := req.Clone()
	cli.Renew(again)
	again.Set("CSeq", req.Get("CSeq")) // same CSeq, new branch
	_, err = cli.Do(context.Background(), again, to)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 482, se.StatusCode())
	assert.Equal(t, int32(1), handled.Load())
}

// A handler that declares the body types it accepts gets only those; a
// request with another body is answered 415 with Accept (§8.2.3).
func TestUnacceptedBodyGets415(t *testing.T) {
	srv := newUA(t, Config{})
	srv.Handle("MESSAGE", Accepting(HandlerFunc(func(w ResponseWriter, r *Request) {
		_ = w.Respond(w.NewResponse(200, ""))
	}), "text/plain", "application/im-iscomposing+xml"))
	cli := newUA(t, Config{})
	for _, tc := range []struct {
		ct   string
		code int
	}{{"text/plain", 200}, {"application/im-iscomposing+xml", 200}, {"image/png", 415}} {
		req, to := request(t, "MESSAGE", srv, "UDP")
		req.Set("Content-Type", tc.ct)
		req.SetBody([]byte("x"))
		res, err := cli.Do(context.Background(), req, to)
		if tc.code != 200 {
			var se *StatusError
			require.ErrorAs(t, err, &se)
			res = se.Response
			assert.Equal(t, "text/plain, application/im-iscomposing+xml", res.Get("Accept"))
		}
		assert.Equal(t, tc.code, res.StatusCode, tc.ct)
	}
}
