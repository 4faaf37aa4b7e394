package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
)

// closedLog records ConnClosed calls.
type closedLog struct {
	mu    sync.Mutex
	addrs []Addr
	errs  []error
}

func (c *closedLog) hook(a Addr, err error) {
	c.mu.Lock()
	c.addrs = append(c.addrs, a)
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

func (c *closedLog) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.addrs)
}

func (c *closedLog) at(i int) (Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addrs[i], c.errs[i]
}

func TestWSRequestResponseReuseAndTrace(t *testing.T) {
	base := runtime.NumGoroutine()
	var mu sync.Mutex
	var events []string
	tr := &Trace{
		Sent:     func(e Event) { mu.Lock(); events = append(events, "sent "+e.Transport); mu.Unlock() },
		Received: func(e Event) { mu.Lock(); events = append(events, "received "+e.Transport); mu.Unlock() },
	}
	srvIn, cliIn := newInbox(), newInbox()
	var cliClosed closedLog
	srv := New(Config{Trace: tr}, srvIn.handle)
	cli := New(Config{ConnClosed: cliClosed.hook}, cliIn.handle)
	addr, err := srv.ListenWS("127.0.0.1:0")
	require.NoError(t, err)

	for i := 0; i < 3; i++ {
		req := request(t, "MESSAGE", "SIP/2.0/WS "+InvalidHost()+";branch=z9hG4bKws"+itoa(i))
		require.NoError(t, cli.Send(context.Background(), Addr{Transport: "ws", AddrPort: addr}, req))
		in := srvIn.next(t)
		assert.Equal(t, WS, in.Transport)
		assert.Equal(t, addr, in.Local)
		top, _ := in.Msg.(*sip.Request).TopVia()
		assert.Equal(t, "127.0.0.1", top.Received(), "received filled in: the Via host is .invalid")
		require.NoError(t, srv.Respond(in, sip.NewResponse(in.Msg.(*sip.Request), 202, "")))
		got := cliIn.next(t)
		assert.Equal(t, 202, got.Msg.(*sip.Response).StatusCode)
		assert.Equal(t, WS, got.Transport)
		assert.Equal(t, addr, got.Remote)
	}
	cli.mu.Lock()
	assert.Len(t, cli.all, 1, "one WebSocket reused for every request")
	cli.mu.Unlock()
	mu.Lock()
	assert.Equal(t, []string{"received WS", "sent WS", "received WS", "sent WS", "received WS", "sent WS"}, events)
	mu.Unlock()

	// The server closes: the client hears of it at once, as a clean close.
	require.NoError(t, srv.Close())
	require.Eventually(t, func() bool { return cliClosed.len() == 1 }, 5*time.Second, 10*time.Millisecond)
	a, cause := cliClosed.at(0)
	assert.Equal(t, Addr{Transport: WS, AddrPort: addr}, a)
	assert.NoError(t, cause)
	require.NoError(t, cli.Close())
	goroutinesSettle(t, base)
}

// rawWS opens a WebSocket to a listener as a browser client would.
func rawWS(t *testing.T, addr netip.AddrPort, protos ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws://"+addr.String()+"/sip", &websocket.DialOptions{Subprotocols: protos})
	if c != nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, res, err
}

func TestWSSubprotocolRequired(t *testing.T) {
	srv := New(Config{}, func(*Inbound) { t.Error("no message expected") })
	defer srv.Close()
	addr, err := srv.ListenWS("127.0.0.1:0")
	require.NoError(t, err)
	for _, protos := range [][]string{nil, {"chat"}} {
		_, res, err := rawWS(t, addr, protos...)
		require.Error(t, err, "%v", protos)
		require.NotNil(t, res)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	}
	// A plain HTTP request is no upgrade either.
	res, err := http.Get("http://" + addr.String() + "/")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	srv.mu.Lock()
	assert.Empty(t, srv.all)
	srv.mu.Unlock()

	// A server that does not agree to sip is refused by the client.
	plain := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil) // no subprotocol chosen
		if err == nil {
			c.CloseNow()
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go plain.Serve(ln)
	defer plain.Close()
	cli := New(Config{}, func(*Inbound) {})
	defer cli.Close()
	err = cli.Send(context.Background(), Addr{Transport: WS, AddrPort: ln.Addr().(*net.TCPAddr).AddrPort()},
		request(t, "OPTIONS", "SIP/2.0/WS x.invalid;branch=z9hG4bKsp"))
	assert.ErrorIs(t, err, ErrSubprotocol)
}

// One SIP message per WebSocket message, text or binary, Content-Length
// optional; a malformed one is answered 400 and the connection stays up.
func TestWSFramingByMessage(t *testing.T) {
	srvIn := newInbox()
	srv := New(Config{}, srvIn.handle)
	t.Cleanup(func() { srv.Close() }) // after the client's close (LIFO)
	addr, err := srv.ListenWS("127.0.0.1:0")
	require.NoError(t, err)
	c, _, err := rawWS(t, addr, "other", Subprotocol)
	require.NoError(t, err)
	assert.Equal(t, Subprotocol, c.Subprotocol())
	ctx := context.Background()

	noLength := strings.Replace(request(t, "OPTIONS", "SIP/2.0/WS a.invalid;branch=z9hG4bKf1").String(), "Content-Length: 0\r\n", "", 1)
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(noLength)))
	in := srvIn.next(t)
	top, _ := in.Msg.(*sip.Request).TopVia()
	assert.Equal(t, "z9hG4bKf1", top.Branch())
	require.NoError(t, srv.Respond(in, sip.NewResponse(in.Msg.(*sip.Request), 200, "")))
	typ, data, err := c.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, websocket.MessageText, typ)
	assert.True(t, strings.HasPrefix(string(data), "SIP/2.0 200 OK\r\n"), string(data))

	bin := request(t, "MESSAGE", "SIP/2.0/WS a.invalid;branch=z9hG4bKf2").String()
	require.NoError(t, c.Write(ctx, websocket.MessageBinary, []byte(bin)))
	top, _ = srvIn.next(t).Msg.(*sip.Request).TopVia()
	assert.Equal(t, "z9hG4bKf2", top.Branch())

	bad := strings.Replace(request(t, "OPTIONS", "SIP/2.0/WS a.invalid;branch=z9hG4bKf3").String(), "CSeq: 1 OPTIONS", "CSeq: one OPTIONS", 1)
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(bad)))
	_, data, err = c.Read(ctx)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(data), "SIP/2.0 400 "), string(data))

	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(request(t, "OPTIONS", "SIP/2.0/WS a.invalid;branch=z9hG4bKf4").String())))
	top, _ = srvIn.next(t).Msg.(*sip.Request).TopVia()
	assert.Equal(t, "z9hG4bKf4", top.Branch(), "the connection survived the bad message")
}

func TestWSSRequestResponseWithVerification(t *testing.T) {
	base := runtime.NumGoroutine()
	cert, pool := selfSigned(t)
	srvIn, cliIn := newInbox(), newInbox()
	srv := New(Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, srvIn.handle)
	addr, err := srv.ListenWSS("127.0.0.1:0")
	require.NoError(t, err)

	cli := New(Config{TLS: &tls.Config{RootCAs: pool}, WebSocket: WebSocketConfig{Path: "ws"}}, cliIn.handle)
	for _, name := range []string{"", "sip.example.test"} {
		req := request(t, "OPTIONS", "SIP/2.0/WSS client.invalid;branch=z9hG4bKwss"+name)
		require.NoError(t, cli.Send(context.Background(), Addr{Transport: WSS, AddrPort: addr, Name: name}, req))
		in := srvIn.next(t)
		assert.Equal(t, WSS, in.Transport)
		require.NoError(t, srv.Respond(in, sip.NewResponse(in.Msg.(*sip.Request), 200, "")))
		got := cliIn.next(t)
		assert.Equal(t, 200, got.Msg.(*sip.Response).StatusCode)
		assert.Equal(t, WSS, got.Transport)
	}
	cli.mu.Lock()
	assert.Len(t, cli.all, 1, "reused whatever the name")
	cli.mu.Unlock()

	untrusting := New(Config{}, func(*Inbound) {})
	err = untrusting.Send(context.Background(), Addr{Transport: WSS, AddrPort: addr}, request(t, "OPTIONS", "SIP/2.0/WSS x.invalid;branch=z9hG4bKu"))
	var unknownAuthority x509.UnknownAuthorityError
	assert.ErrorAs(t, err, &unknownAuthority)
	wrongName := New(Config{TLS: &tls.Config{RootCAs: pool}}, func(*Inbound) {})
	err = wrongName.Send(context.Background(), Addr{Transport: WSS, AddrPort: addr, Name: "other.example.test"}, request(t, "OPTIONS", "SIP/2.0/WSS x.invalid;branch=z9hG4bKw"))
	var hostErr x509.HostnameError
	assert.ErrorAs(t, err, &hostErr)

	_, err = New(Config{}, func(*Inbound) {}).ListenWSS("127.0.0.1:0")
	assert.Error(t, err, "no certificate, no WSS listener")

	for _, l := range []*Layer{untrusting, wrongName, cli, srv} {
		require.NoError(t, l.Close())
	}
	goroutinesSettle(t, base)
}

func TestWSIdleTimeoutCloses(t *testing.T) {
	srvIn := newInbox()
	var srvClosed, cliClosed closedLog
	srv := New(Config{IdleTimeout: 150 * time.Millisecond, ConnClosed: srvClosed.hook}, srvIn.handle)
	defer srv.Close()
	cli := New(Config{IdleTimeout: -1, ConnClosed: cliClosed.hook}, func(*Inbound) {})
	defer cli.Close()
	addr, err := srv.ListenWS("127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, cli.Send(context.Background(), Addr{Transport: WS, AddrPort: addr}, request(t, "OPTIONS", "SIP/2.0/WS i.invalid;branch=z9hG4bKidle")))
	srvIn.next(t)
	start := time.Now()
	require.Eventually(t, func() bool { return srvClosed.len() == 1 && cliClosed.len() == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	_, cause := srvClosed.at(0)
	assert.ErrorIs(t, cause, os.ErrDeadlineExceeded, "the server closed it for idleness")
	cli.mu.Lock()
	assert.Empty(t, cli.conns, "the closed connection is no longer reused")
	cli.mu.Unlock()

	// The next request opens a new connection.
	require.NoError(t, cli.Send(context.Background(), Addr{Transport: WS, AddrPort: addr}, request(t, "OPTIONS", "SIP/2.0/WS i.invalid;branch=z9hG4bKidle2")))
	top, _ := srvIn.next(t).Msg.(*sip.Request).TopVia()
	assert.Equal(t, "z9hG4bKidle2", top.Branch())
}

// A response to a request whose WebSocket has closed cannot go anywhere:
// a WebSocket client is reachable only over its connection.
func TestWSRespondAfterClose(t *testing.T) {
	srvIn := newInbox()
	srv := New(Config{}, srvIn.handle)
	defer srv.Close()
	addr, err := srv.ListenWS("127.0.0.1:0")
	require.NoError(t, err)
	cli := New(Config{}, func(*Inbound) {})
	require.NoError(t, cli.Send(context.Background(), Addr{Transport: WS, AddrPort: addr}, request(t, "OPTIONS", "SIP/2.0/WS c.invalid;branch=z9hG4bKrc")))
	in := srvIn.next(t)
	require.NoError(t, cli.Close())
	select {
	case <-in.conn.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not see the close")
	}
	assert.ErrorIs(t, srv.Respond(in, sip.NewResponse(in.Msg.(*sip.Request), 200, "")), ErrConnClosed)
}

func TestWSDialErrors(t *testing.T) {
	l := New(Config{DialTimeout: time.Second}, func(*Inbound) {})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	err = l.Send(context.Background(), Addr{Transport: WS, AddrPort: dead}, request(t, "OPTIONS", "SIP/2.0/WS d.invalid;branch=z9hG4bKd"))
	assert.Error(t, err)
	require.NoError(t, l.Close())
	_, err = l.ListenWS("127.0.0.1:0")
	assert.ErrorIs(t, err, ErrClosed)
	assert.True(t, errors.Is(l.Send(context.Background(), Addr{Transport: WS, AddrPort: dead}, request(t, "OPTIONS", "SIP/2.0/WS d.invalid;branch=z9hG4bKd")), ErrClosed))
}

func TestInvalidHost(t *testing.T) {
	h := InvalidHost()
	assert.True(t, strings.HasSuffix(h, ".invalid"))
	assert.NotEqual(t, h, InvalidHost())
	_, err := sip.ParseVia("SIP/2.0/WS " + h + ";branch=z9hG4bK1")
	assert.NoError(t, err)
}

// Close does not wait long for a peer that never answers the close
// handshake.
func TestWSCloseUnresponsivePeer(t *testing.T) {
	base := runtime.NumGoroutine()
	srvIn := newInbox()
	var closed closedLog
	srv := New(Config{ConnClosed: closed.hook}, srvIn.handle)
	addr, err := srv.ListenWS("127.0.0.1:0")
	require.NoError(t, err)
	c, _, err := rawWS(t, addr, Subprotocol)
	require.NoError(t, err)
	require.NoError(t, c.Write(context.Background(), websocket.MessageText, []byte(request(t, "OPTIONS", "SIP/2.0/WS u.invalid;branch=z9hG4bKun").String())))
	srvIn.next(t)
	start := time.Now()
	require.NoError(t, srv.Close()) // the client reads nothing: no close answer
	assert.Less(t, time.Since(start), wsCloseGrace+2*time.Second)
	assert.Equal(t, 1, closed.len())
	c.CloseNow()
	goroutinesSettle(t, base)
}
