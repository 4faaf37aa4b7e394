package transport

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
)

func request(t *testing.T, method, via string) *sip.Request {
	t.Helper()
	raw := method + " sip:bob@127.0.0.1 SIP/2.0\r\n" +
		"Via: " + via + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n" +
		"Call-ID: c1@example.com\r\nCSeq: 1 " + method + "\r\nContent-Length: 0\r\n\r\n"
	m, err := sip.ParseMessage([]byte(raw))
	require.NoError(t, err)
	return m.(*sip.Request)
}

// inbox collects inbound messages.
type inbox struct {
	ch chan *Inbound
}

func newInbox() *inbox              { return &inbox{ch: make(chan *Inbound, 16)} }
func (b *inbox) handle(in *Inbound) { b.ch <- in }
func (b *inbox) next(t *testing.T) *Inbound {
	t.Helper()
	select {
	case in := <-b.ch:
		return in
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
		return nil
	}
}

func goroutinesSettle(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), base, "goroutines leaked")
}

func TestUDPRequestResponse(t *testing.T) {
	base := runtime.NumGoroutine()
	srvIn, cliIn := newInbox(), newInbox()
	srv := New(Config{}, srvIn.handle)
	cli := New(Config{}, cliIn.handle)
	srvAddr, err := srv.ListenUDP("127.0.0.1:0")
	require.NoError(t, err)
	cliAddr, err := cli.ListenUDP("127.0.0.1:0")
	require.NoError(t, err)

	// The client puts a host name in Via and asks for rport: the server
	// must fill received and rport, and answer to the source port.
	req := request(t, "OPTIONS", "SIP/2.0/UDP client.invalid:9;branch=z9hG4bK1;rport")
	require.NoError(t, cli.Send(context.Background(), Addr{Transport: UDP, AddrPort: srvAddr}, req))
	in := srvIn.next(t)
	assert.Equal(t, UDP, in.Transport)
	assert.Equal(t, cliAddr, in.Remote)
	top, _ := in.Msg.(*sip.Request).TopVia()
	assert.Equal(t, "127.0.0.1", top.Received())
	rp, _ := top.RPort()
	assert.Equal(t, int(cliAddr.Port()), rp)

	res := sip.NewResponse(in.Msg.(*sip.Request), 200, "")
	require.NoError(t, srv.Respond(in, res))
	got := cliIn.next(t)
	assert.Equal(t, 200, got.Msg.(*sip.Response).StatusCode)

	require.NoError(t, srv.Close())
	require.NoError(t, cli.Close())
	goroutinesSettle(t, base)
}

func TestUDPMalformedRequestAnswered400(t *testing.T) {
	srv := New(Config{}, func(*Inbound) { t.Error("a malformed request reached the handler") })
	defer srv.Close()
	srvAddr, err := srv.ListenUDP("127.0.0.1:0")
	require.NoError(t, err)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	bad := "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + itoa(port) + ";branch=z9hG4bK2\r\n" +
		"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: one OPTIONS\r\nContent-Length: 0\r\n\r\n"
	_, err = c.WriteToUDP([]byte(bad), net.UDPAddrFromAddrPort(srvAddr))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 2048)
	n, _, err := c.ReadFromUDP(buf)
	require.NoError(t, err)
	// The response copies the request's (malformed) CSeq byte for byte,
	// as RFC 3261 §8.2.6 asks, so only its status line is checked here.
	assert.True(t, strings.HasPrefix(string(buf[:n]), "SIP/2.0 400 Malformed CSeq header\r\n"), string(buf[:n]))
	assert.Contains(t, string(buf[:n]), "\r\nCSeq: one OPTIONS\r\n")
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestTCPReuseAndResponseOnSameConnection(t *testing.T) {
	base := runtime.NumGoroutine()
	srvIn, cliIn := newInbox(), newInbox()
	var closedMu sync.Mutex
	var closed []Addr
	srv := New(Config{}, srvIn.handle)
	cli := New(Config{ConnClosed: func(a Addr, err error) {
		closedMu.Lock()
		closed = append(closed, a)
		closedMu.Unlock()
	}}, cliIn.handle)
	srvAddr, err := srv.ListenTCP("127.0.0.1:0")
	require.NoError(t, err)

	for i := 0; i < 3; i++ {
		req := request(t, "MESSAGE", "SIP/2.0/TCP client.invalid;branch=z9hG4bK"+itoa(i))
		require.NoError(t, cli.Send(context.Background(), Addr{Transport: TCP, AddrPort: srvAddr}, req))
		in := srvIn.next(t)
		require.NotNil(t, in.conn)
		require.NoError(t, srv.Respond(in, sip.NewResponse(in.Msg.(*sip.Request), 202, "")))
		assert.Equal(t, 202, cliIn.next(t).Msg.(*sip.Response).StatusCode)
	}
	cli.mu.Lock()
	assert.Len(t, cli.all, 1, "one connection reused for every request")
	cli.mu.Unlock()

	// The server goes away: the client learns at once that the connection broke.
	require.NoError(t, srv.Close())
	require.Eventually(t, func() bool {
		closedMu.Lock()
		defer closedMu.Unlock()
		return len(closed) == 1 && closed[0].AddrPort == srvAddr
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, cli.Close())
	goroutinesSettle(t, base)
}

func TestTCPPingPongAndFraming(t *testing.T) {
	srvIn := newInbox()
	srv := New(Config{}, srvIn.handle)
	defer srv.Close()
	srvAddr, err := srv.ListenTCP("127.0.0.1:0")
	require.NoError(t, err)
	c, err := net.Dial("tcp", srvAddr.String())
	require.NoError(t, err)
	defer c.Close()

	// A ping is answered with a pong.
	_, err = c.Write([]byte("\r\n\r\n"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	pong := make([]byte, 2)
	_, err = c.Read(pong)
	require.NoError(t, err)
	assert.Equal(t, "\r\n", string(pong))

	// Two pipelined requests, the first split across writes.
	one := request(t, "OPTIONS", "SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKa").String()
	two := request(t, "OPTIONS", "SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKb").String()
	_, err = c.Write([]byte(one[:20]))
	require.NoError(t, err)
	_, err = c.Write([]byte(one[20:] + two))
	require.NoError(t, err)
	b1, _ := srvIn.next(t).Msg.(*sip.Request).TopVia()
	b2, _ := srvIn.next(t).Msg.(*sip.Request).TopVia()
	assert.Equal(t, "z9hG4bKa", b1.Branch())
	assert.Equal(t, "z9hG4bKb", b2.Branch())

	// A request without Content-Length cannot be framed: 400, then the
	// connection is closed.
	_, err = c.Write([]byte(strings.Replace(one, "Content-Length: 0\r\n", "", 1)))
	require.NoError(t, err)
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "SIP/2.0 400 Malformed Content-Length header\r\n", line)
	_, err = io_ReadAll(r)
	assert.NoError(t, err, "the server closed the connection")
}

func io_ReadAll(r *bufio.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 512)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || err.Error() == "EOF" {
				return out, nil
			}
			return out, err
		}
	}
}

func TestTraceSeesEveryMessage(t *testing.T) {
	var mu sync.Mutex
	var sent, recv, dropped int
	tr := &Trace{
		Sent:     func(Event) { mu.Lock(); sent++; mu.Unlock() },
		Received: func(Event) { mu.Lock(); recv++; mu.Unlock() },
		Dropped:  func(Event, error) { mu.Lock(); dropped++; mu.Unlock() },
	}
	in := newInbox()
	srv := New(Config{Trace: tr}, in.handle)
	defer srv.Close()
	addr, err := srv.ListenUDP("127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, srv.Send(context.Background(), Addr{Transport: UDP, AddrPort: addr}, request(t, "OPTIONS", "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKt")))
	in.next(t)
	c, err := net.Dial("udp", addr.String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("garbage that is no SIP\r\n\r\n"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return dropped == 1 }, 5*time.Second, 10*time.Millisecond)
	mu.Lock()
	assert.Equal(t, 1, sent)
	assert.Equal(t, 1, recv)
	mu.Unlock()
}

func TestResponseTarget(t *testing.T) {
	src := netip.MustParseAddrPort("192.0.2.7:40000")
	tests := []struct {
		via  string
		want string
	}{
		{"SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK1", "UDP:192.0.2.7:5062"},
		{"SIP/2.0/UDP host.invalid;branch=z9hG4bK1;received=192.0.2.7", "UDP:192.0.2.7:5060"},
		{"SIP/2.0/UDP host.invalid:5070;branch=z9hG4bK1;received=192.0.2.7;rport=40000", "UDP:192.0.2.7:40000"},
		{"SIP/2.0/UDP host.invalid;branch=z9hG4bK1;received=192.0.2.7;rport", "UDP:192.0.2.7:40000"},
		{"SIP/2.0/TCP host.invalid:5070;branch=z9hG4bK1;received=192.0.2.7;rport=40000", "TCP:192.0.2.7:5070"},
	}
	for _, tt := range tests {
		v, err := sip.ParseVia(tt.via)
		require.NoError(t, err)
		assert.Equal(t, tt.want, responseTarget(v, &Inbound{Remote: src}).String(), tt.via)
	}
}

func TestSendErrors(t *testing.T) {
	l := New(Config{DialTimeout: time.Second}, func(*Inbound) {})
	req := request(t, "OPTIONS", "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKe")
	assert.ErrorIs(t, l.Send(context.Background(), Addr{Transport: UDP, AddrPort: netip.MustParseAddrPort("127.0.0.1:9")}, req), ErrNoListener)
	assert.ErrorIs(t, l.Send(context.Background(), Addr{Transport: "SCTP", AddrPort: netip.MustParseAddrPort("127.0.0.1:9")}, req), ErrUnsupportedTransport)
	// Nothing listens on this port: connection refused, at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	err = l.Send(context.Background(), Addr{Transport: TCP, AddrPort: dead}, req)
	assert.Error(t, err)
	require.NoError(t, l.Close())
	assert.ErrorIs(t, l.Send(context.Background(), Addr{Transport: TCP, AddrPort: dead}, req), ErrClosed)
}

// Concurrent first sends to one TCP peer share one connection: the
// second sender waits for the dial the first started instead of opening
// its own (which would stay open, with its reader, until the idle timeout).
func TestConcurrentSendsDialOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var mu sync.Mutex
	accepted := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted++
			mu.Unlock()
			go func() { _, _ = bufio.NewReader(c).WriteTo(discard{}); c.Close() }()
		}
	}()
	l := New(Config{}, func(*Inbound) {})
	defer l.Close()
	to := Addr{Transport: TCP, AddrPort: netip.MustParseAddrPort(ln.Addr().String())}
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, l.Send(context.Background(), to, request(t, "OPTIONS", "SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK"+strconv.Itoa(i))))
		}()
	}
	wg.Wait()
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 1, accepted)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// RFC 5626 §4.4.1 keep-alives on a TCP flow: Ping sends CRLFCRLF and
// returns when the peer's CRLF pong arrives; without a connection it
// says so; a peer that never pongs leaves it to ctx.
func TestPingPong(t *testing.T) {
	srvIn := newInbox()
	srv := New(Config{}, srvIn.handle)
	defer srv.Close()
	srvAddr, err := srv.ListenTCP("127.0.0.1:0")
	require.NoError(t, err)
	cli := New(Config{}, func(*Inbound) {})
	defer cli.Close()
	to := Addr{Transport: TCP, AddrPort: srvAddr}
	assert.ErrorIs(t, cli.Ping(context.Background(), to), ErrNoFlow)
	require.NoError(t, cli.Send(context.Background(), to, request(t, "OPTIONS", "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKp1")))
	srvIn.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		require.NoError(t, cli.Ping(ctx, to), "ping %d", i)
	}
	assert.ErrorIs(t, cli.Ping(ctx, Addr{Transport: UDP, AddrPort: srvAddr}), errors.ErrUnsupported)

	// A peer that reads but never answers pings.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = bufio.NewReader(c).WriteTo(discard{})
			c.Close()
		}
	}()
	mute := Addr{Transport: TCP, AddrPort: netip.MustParseAddrPort(ln.Addr().String())}
	require.NoError(t, cli.Send(context.Background(), mute, request(t, "OPTIONS", "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKp2")))
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	assert.ErrorIs(t, cli.Ping(short, mute), context.DeadlineExceeded)
}
