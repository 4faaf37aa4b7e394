package transaction

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transport"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// recorder is a Sender that records what it sends, with the fake time.
type recorder struct {
	clk  *clock.Fake
	mu   sync.Mutex
	sent []sent
	fail error
}

type sent struct {
	at  time.Duration
	msg sip.Message
}

func (r *recorder) Send(_ context.Context, _ transport.Addr, m sip.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.sent = append(r.sent, sent{r.clk.Now().Sub(t0), m})
	return nil
}

func (r *recorder) Respond(_ *transport.Inbound, res *sip.Response) error {
	return r.Send(context.Background(), transport.Addr{}, res)
}

func (r *recorder) times() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Duration
	for _, s := range r.sent {
		out = append(out, s.at)
	}
	return out
}

func setup(t *testing.T) (*Layer, *clock.Fake, *recorder) {
	t.Helper()
	clk := clock.NewFake(t0)
	sc := sched.New(clk)
	t.Cleanup(sc.Close)
	rec := &recorder{clk: clk}
	return New(Config{}, sc, rec), clk, rec
}

func newRequest(t *testing.T, method, branch string) *sip.Request {
	t.Helper()
	raw := method + " sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=" + branch + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: tx@example.com\r\n" +
		"CSeq: 1 " + method + "\r\nContent-Length: 0\r\n\r\n"
	m, err := sip.ParseMessage([]byte(raw))
	require.NoError(t, err)
	return m.(*sip.Request)
}

var udpPeer = transport.Addr{Transport: transport.UDP, AddrPort: netip.MustParseAddrPort("192.0.2.2:5060")}
var tcpPeer = transport.Addr{Transport: transport.TCP, AddrPort: netip.MustParseAddrPort("192.0.2.2:5060")}

func secs(fs ...float64) []time.Duration {
	out := make([]time.Duration, len(fs))
	for i, f := range fs {
		out[i] = time.Duration(f * float64(time.Second))
	}
	return out
}

// Timer E doubles from T1 to T2; Timer F ends the transaction at 64·T1.
func TestClientRetransmitsThenTimesOut(t *testing.T) {
	l, clk, rec := setup(t)
	c, err := l.Request(context.Background(), newRequest(t, "OPTIONS", "z9hG4bK1"), udpPeer)
	require.NoError(t, err)
	clk.Advance(31900 * time.Millisecond)
	assert.Equal(t, Trying, c.State())
	assert.Equal(t, secs(0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5), rec.times())
	clk.Advance(100 * time.Millisecond) // t = 32 s
	<-c.Done()
	var te *TimeoutError
	require.ErrorAs(t, c.Err(), &te)
	assert.Equal(t, "F", te.Timer)
	assert.True(t, te.Timeout())
	assert.ErrorIs(t, c.Err(), ErrTimeout)
	cl, _ := l.Len()
	assert.Equal(t, 0, cl, "the transaction is gone")
	clk.Advance(time.Minute)
	assert.Len(t, rec.times(), 11, "nothing more is sent")
}

func TestClientProvisionalThenFinal(t *testing.T) {
	l, clk, rec := setup(t)
	req := newRequest(t, "MESSAGE", "z9hG4bK2")
	c, err := l.Request(context.Background(), req, udpPeer)
	require.NoError(t, err)
	clk.Advance(600 * time.Millisecond) // one retransmission at 0.5 s
	require.True(t, l.HandleResponse(sip.NewResponse(req, 100, "")))
	assert.Equal(t, Proceeding, c.State())
	// In Proceeding the interval is T2: next at 0.5 + 4 = 4.5 s (Timer E
	// was armed for 1.5 s before the 100 and fires then, re-arming at T2).
	clk.Advance(5 * time.Second)
	assert.Equal(t, secs(0, 0.5, 1.5), rec.times()[:3])
	assert.Equal(t, 100, (<-c.Responses()).StatusCode)

	ok := sip.NewResponse(req, 200, "")
	require.True(t, l.HandleResponse(ok))
	assert.Equal(t, Completed, c.State())
	assert.Equal(t, 200, (<-c.Responses()).StatusCode)
	n := len(rec.times())
	require.True(t, l.HandleResponse(ok), "a retransmitted final response is matched")
	select {
	case r := <-c.Responses():
		t.Fatalf("retransmitted final delivered again: %d", r.StatusCode)
	default:
	}
	clk.Advance(4999 * time.Millisecond)
	assert.Equal(t, Completed, c.State(), "Timer K is T4")
	clk.Advance(time.Millisecond)
	<-c.Done()
	assert.NoError(t, c.Err())
	assert.Len(t, rec.times(), n, "no retransmission after the final response")
}

func TestClientOverReliableTransport(t *testing.T) {
	l, clk, rec := setup(t)
	req := newRequest(t, "OPTIONS", "z9hG4bK3")
	c, err := l.Request(context.Background(), req, tcpPeer)
	require.NoError(t, err)
	clk.Advance(10 * time.Second)
	assert.Len(t, rec.times(), 1, "no retransmission over TCP")
	require.True(t, l.HandleResponse(sip.NewResponse(req, 200, "")))
	<-c.Done() // Timer K is zero over reliable transports
	assert.NoError(t, c.Err())

	// Timer F still bounds a transaction over TCP.
	c2, err := l.Request(context.Background(), newRequest(t, "OPTIONS", "z9hG4bK4"), tcpPeer)
	require.NoError(t, err)
	clk.Advance(32 * time.Second)
	<-c2.Done()
	assert.ErrorIs(t, c2.Err(), ErrTimeout)
}

func TestClientTransportFailure(t *testing.T) {
	l, _, rec := setup(t)
	rec.fail = errors.New("connection refused")
	_, err := l.Request(context.Background(), newRequest(t, "OPTIONS", "z9hG4bK5"), tcpPeer)
	assert.EqualError(t, err, "connection refused")
	cl, _ := l.Len()
	assert.Equal(t, 0, cl)
}

func TestClientRefusesBadRequests(t *testing.T) {
	l, _, _ := setup(t)
	_, err := l.Request(context.Background(), newRequest(t, "OPTIONS", "oldbranch"), udpPeer)
	assert.ErrorIs(t, err, ErrNoBranch)
	_, err = l.Request(context.Background(), newRequest(t, "INVITE", "z9hG4bK6"), udpPeer)
	assert.Error(t, err)
}

func TestResponseMatching(t *testing.T) {
	l, _, _ := setup(t)
	req := newRequest(t, "OPTIONS", "z9hG4bK7")
	_, err := l.Request(context.Background(), req, udpPeer)
	require.NoError(t, err)
	other := newRequest(t, "OPTIONS", "z9hG4bK8")
	assert.False(t, l.HandleResponse(sip.NewResponse(other, 200, "")), "other branch")
	wrongMethod := newRequest(t, "OPTIONS", "z9hG4bK7")
	wrongMethod.Set("CSeq", "1 MESSAGE")
	assert.False(t, l.HandleResponse(sip.NewResponse(wrongMethod, 200, "")), "same branch, other CSeq method")
	assert.True(t, l.HandleResponse(sip.NewResponse(req, 200, "")))
}

func TestServerAbsorbsRetransmissions(t *testing.T) {
	l, clk, rec := setup(t)
	in := &transport.Inbound{Msg: newRequest(t, "MESSAGE", "z9hG4bK9"), Transport: transport.UDP}
	s, err := l.HandleRequest(in)
	require.NoError(t, err)
	require.NotNil(t, s)
	assert.Equal(t, Trying, s.State())

	again := &transport.Inbound{Msg: newRequest(t, "MESSAGE", "z9hG4bK9"), Transport: transport.UDP}
	dup, err := l.HandleRequest(again)
	require.NoError(t, err)
	assert.Nil(t, dup, "a retransmission is absorbed")
	assert.Empty(t, rec.times(), "nothing to resend before a response")

	require.NoError(t, s.Respond(sip.NewResponse(s.Request(), 100, "")))
	_, _ = l.HandleRequest(again)
	require.NoError(t, s.Respond(sip.NewResponse(s.Request(), 200, "")))
	_, _ = l.HandleRequest(again)
	codes := []int{}
	for _, x := range rec.sent {
		codes = append(codes, x.msg.(*sip.Response).StatusCode)
	}
	assert.Equal(t, []int{100, 100, 200, 200}, codes, "the last response is resent for each retransmission")
	assert.ErrorIs(t, s.Respond(sip.NewResponse(s.Request(), 500, "")), ErrBadResponse)

	clk.Advance(31999 * time.Millisecond)
	assert.Equal(t, Completed, s.State())
	clk.Advance(time.Millisecond) // Timer J = 64·T1
	<-s.Done()
	_, sv := l.Len()
	assert.Equal(t, 0, sv)
}

func TestServerOverReliableTransportEndsAtFinal(t *testing.T) {
	l, _, _ := setup(t)
	s, err := l.HandleRequest(&transport.Inbound{Msg: newRequest(t, "OPTIONS", "z9hG4bKa"), Transport: transport.TCP})
	require.NoError(t, err)
	require.NoError(t, s.Respond(sip.NewResponse(s.Request(), 200, "")))
	<-s.Done() // Timer J is zero over reliable transports
}

func TestServerKeyIncludesSentBy(t *testing.T) {
	l, _, _ := setup(t)
	a := newRequest(t, "OPTIONS", "z9hG4bKsame")
	b := newRequest(t, "OPTIONS", "z9hG4bKsame")
	b.Set("Via", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKsame")
	s1, _ := l.HandleRequest(&transport.Inbound{Msg: a, Transport: transport.UDP})
	s2, _ := l.HandleRequest(&transport.Inbound{Msg: b, Transport: transport.UDP})
	assert.NotNil(t, s1)
	assert.NotNil(t, s2, "same branch from another sent-by is another transaction")
}

// A day of protocol time for 1,000 transactions runs in milliseconds.
func TestManyTimeoutsOnTheFakeClock(t *testing.T) {
	l, clk, _ := setup(t)
	var cs []*Client
	for i := 0; i < 1000; i++ {
		c, err := l.Request(context.Background(), newRequest(t, "OPTIONS", "z9hG4bKm"+itoa(i+1)), udpPeer)
		require.NoError(t, err)
		cs = append(cs, c)
	}
	start := time.Now()
	clk.Advance(24 * time.Hour)
	for _, c := range cs {
		<-c.Done()
		require.ErrorIs(t, c.Err(), ErrTimeout)
	}
	assert.Less(t, time.Since(start), 5*time.Second)
}

// A broken connection fails the transactions that used it at once.
func TestConnClosedFailsTransactions(t *testing.T) {
	l, _, _ := setup(t)
	c, err := l.Request(context.Background(), newRequest(t, "MESSAGE", "z9hG4bKcc1"), tcpPeer)
	require.NoError(t, err)
	ic, err := l.Invite(context.Background(), newRequest(t, "INVITE", "z9hG4bKcc2"), tcpPeer)
	require.NoError(t, err)
	other, err := l.Request(context.Background(), newRequest(t, "MESSAGE", "z9hG4bKcc3"), udpPeer)
	require.NoError(t, err)

	l.ConnClosed(tcpPeer, errors.New("connection reset by peer"))
	<-c.Done()
	<-ic.Done()
	assert.EqualError(t, c.Err(), "connection reset by peer")
	assert.EqualError(t, ic.Err(), "connection reset by peer")
	assert.Equal(t, Trying, other.State(), "a transaction over another transport is untouched")

	c2, err := l.Request(context.Background(), newRequest(t, "MESSAGE", "z9hG4bKcc4"), tcpPeer)
	require.NoError(t, err)
	l.ConnClosed(tcpPeer, nil)
	<-c2.Done()
	assert.ErrorIs(t, c2.Err(), ErrConnClosed)
}

func TestSameConnIgnoresName(t *testing.T) {
	a := transport.Addr{Transport: "TLS", AddrPort: netip.MustParseAddrPort("127.0.0.1:5061"), Name: "proxy.example.test"}
	b := transport.Addr{Transport: "tls", AddrPort: netip.MustParseAddrPort("[::ffff:127.0.0.1]:5061")}
	assert.True(t, sameConn(a, b))
	b.AddrPort = netip.MustParseAddrPort("127.0.0.1:5062")
	assert.False(t, sameConn(a, b))
	b = transport.Addr{Transport: "TCP", AddrPort: a.AddrPort}
	assert.False(t, sameConn(a, b))
}

// RFC 2543 peers send no z9hG4bK branch: their requests are matched by
// Request-URI, From tag, Call-ID, CSeq and the topmost Via (§17.2.3), so a
// retransmission is absorbed, another request is new, and the ACK and
// CANCEL of an INVITE find its transaction.
func TestRFC2543Matching(t *testing.T) {
	l, _, _ := setup(t)
	in := func(r *sip.Request) *transport.Inbound { return &transport.Inbound{Msg: r, Transport: transport.UDP} }

	s, err := l.HandleRequest(in(newRequest(t, "OPTIONS", "oldbranch")))
	require.NoError(t, err)
	require.NotNil(t, s)
	again, err := l.HandleRequest(in(newRequest(t, "OPTIONS", "oldbranch")))
	require.NoError(t, err)
	assert.Nil(t, again, "a retransmission is absorbed")
	other := newRequest(t, "OPTIONS", "oldbranch")
	other.Set("CSeq", "2 OPTIONS")
	s2, err := l.HandleRequest(in(other))
	require.NoError(t, err)
	assert.NotNil(t, s2, "another CSeq is another transaction")
	noBranch := newRequest(t, "OPTIONS", "x")
	noBranch.Set("Via", "SIP/2.0/UDP 192.0.2.9:5060")
	s3, err := l.HandleRequest(in(noBranch))
	require.NoError(t, err)
	assert.NotNil(t, s3, "a Via without any branch works too")

	inv := newRequest(t, "INVITE", "old2543")
	is, err := l.HandleInvite(in(inv))
	require.NoError(t, err)
	require.NotNil(t, is)
	assert.Same(t, is, l.MatchCancel(newRequest(t, "CANCEL", "old2543")))
	require.NoError(t, is.Respond(sip.NewResponse(inv, 486, "")))
	ack := newRequest(t, "ACK", "old2543")
	ack.Set("To", "<sip:bob@example.com>;tag=ours")
	assert.True(t, l.HandleAck(ack), "the ACK of our failure response matches the INVITE")
	assert.Equal(t, Confirmed, is.State())
}

// Close ends every live transaction at once, so nothing waits for timers
// that a stopped scheduler will never fire.
func TestLayerCloseEndsTransactions(t *testing.T) {
	l, _, _ := setup(t)
	c, err := l.Request(context.Background(), newRequest(t, "OPTIONS", "z9hG4bKc1"), udpPeer)
	require.NoError(t, err)
	ic, err := l.Invite(context.Background(), newRequest(t, "INVITE", "z9hG4bKc2"), udpPeer)
	require.NoError(t, err)
	s, err := l.HandleRequest(&transport.Inbound{Msg: newRequest(t, "MESSAGE", "z9hG4bKc3"), Transport: transport.UDP})
	require.NoError(t, err)
	l.Close()
	for _, done := range []<-chan struct{}{c.Done(), ic.Done(), s.Done()} {
		select {
		case <-done:
		default:
			t.Fatal("a transaction outlived Close")
		}
	}
	assert.ErrorIs(t, c.Err(), ErrLayerClosed)
	cl, sv := l.Len()
	assert.Zero(t, cl+sv)
}
