package transaction

import (
	"bytes"
	"hash/maphash"
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

// datagrams is a recorder that also sends datagrams, as
// *transport.Layer does: completed server transactions keep only the
// bytes of their final response.
type datagrams struct {
	recorder
	dmu     sync.Mutex
	kept    []datagram // sent with the message (the first time)
	resent  []datagram // sent again, without it
	tcpLike bool       // responses go over a stream: no datagram
}

func (d *datagrams) DatagramTarget(in *transport.Inbound, _ *sip.Response) (netip.AddrPort, bool) {
	return in.Remote, !d.tcpLike
}

func (d *datagrams) SendDatagram(to netip.AddrPort, m sip.Message, data []byte) error {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	dg := datagram{to, bytes.Clone(data)}
	if m == nil {
		d.resent = append(d.resent, dg)
		return nil
	}
	d.kept = append(d.kept, dg)
	if m.String() != string(data) {
		panic("the datagram is not the message")
	}
	return nil
}

func setupDatagrams(t *testing.T) (*Layer, *clock.Fake, *datagrams) {
	t.Helper()
	clk := clock.NewFake(t0)
	sc := sched.New(clk)
	t.Cleanup(sc.Close)
	d := &datagrams{recorder: recorder{clk: clk}}
	l := New(Config{}, sc, d)
	require.NotNil(t, l.dgram, "the Layer uses RespondDatagram and Resend")
	return l, clk, d
}

var udpSource = netip.MustParseAddrPort("192.0.2.1:5060")

func udpIn(r *sip.Request) *transport.Inbound {
	return &transport.Inbound{Msg: r, Transport: transport.UDP, Remote: udpSource}
}

// A non-INVITE server transaction completed over UDP keeps the datagram
// of its final response, not the request and the response, and sends it
// again for every retransmission of the request until Timer J (64·T1).
func TestCompletedServerKeepsDatagram(t *testing.T) {
	l, clk, d := setupDatagrams(t)
	req := newRequest(t, "MESSAGE", "z9hG4bKd1")
	s, err := l.HandleRequest(udpIn(req))
	require.NoError(t, err)
	require.Same(t, req, s.Request())
	require.NoError(t, s.Respond(sip.NewResponse(req, 180, "")))
	dup, err := l.HandleRequest(udpIn(newRequest(t, "MESSAGE", "z9hG4bKd1")))
	require.NoError(t, err)
	assert.Nil(t, dup)
	assert.Len(t, d.sent, 2, "the provisional response is resent as a message")

	require.NoError(t, s.Respond(sip.NewResponse(req, 200, "")))
	assert.Equal(t, Completed, s.State())
	assert.Nil(t, s.Request(), "a completed transaction lets the request go")
	assert.Nil(t, s.in)
	assert.Nil(t, s.last)
	require.Len(t, d.kept, 1)
	_, sv := l.Len()
	assert.Equal(t, 1, sv)
	assert.Empty(t, l.servers, "the Layer keeps a doneTx, not the Server")
	assert.Equal(t, 1, l.done.size)
	assert.ErrorIs(t, s.Respond(sip.NewResponse(req, 500, "")), ErrBadResponse)

	for range 3 {
		dup, err = l.HandleRequest(udpIn(newRequest(t, "MESSAGE", "z9hG4bKd1")))
		require.NoError(t, err)
		assert.Nil(t, dup, "a retransmission is absorbed")
	}
	require.Len(t, d.resent, 3)
	for _, dg := range d.resent {
		assert.Equal(t, d.kept[0], dg, "the final response, byte for byte, to the same place")
	}
	assert.Equal(t, udpSource, d.resent[0].to)
	assert.Contains(t, string(d.resent[0].data), "SIP/2.0 200 OK\r\n")

	clk.Advance(64*500*time.Millisecond - time.Millisecond)
	assert.Equal(t, Completed, s.State())
	_, sv = l.Len()
	assert.Equal(t, 1, sv)
	clk.Advance(time.Millisecond) // Timer J
	assert.Equal(t, Terminated, s.State())
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Timer J")
	}
	_, sv = l.Len()
	assert.Zero(t, sv)
	assert.Zero(t, l.expiry.size)
	assert.Zero(t, l.done.size)
	assert.Empty(t, l.merges)
	assert.Empty(t, l.doneByKey)
	assert.Empty(t, l.doneByMerge)

	again, err := l.HandleRequest(udpIn(newRequest(t, "MESSAGE", "z9hG4bKd1")))
	require.NoError(t, err)
	assert.NotNil(t, again, "after Timer J the same request is a new transaction")
	assert.False(t, again.Merged())
}

// Timer J of many transactions runs on one scheduler timer: each ends
// 64·T1 after its own final response, in order.
func TestTimerJInOrder(t *testing.T) {
	l, clk, _ := setupDatagrams(t)
	var ss []*Server
	for i := range 5 {
		req := newRequest(t, "OPTIONS", "z9hG4bKo"+itoa(i+1))
		req.Set("Call-ID", "order"+itoa(i))
		s, err := l.HandleRequest(udpIn(req))
		require.NoError(t, err)
		require.NoError(t, s.Respond(sip.NewResponse(req, 200, "")))
		ss = append(ss, s)
		clk.Advance(time.Second)
	}
	// Final responses at 0..4 s: Timer J at 32..36 s. Now is 5 s.
	assert.Equal(t, 1, l.sched.Len(), "one timer for all of them")
	clk.Advance(27 * time.Second) // 32 s
	assert.Equal(t, Terminated, ss[0].State())
	assert.Equal(t, Completed, ss[1].State())
	clk.Advance(2500 * time.Millisecond) // 34.5 s
	assert.Equal(t, Terminated, ss[2].State())
	assert.Equal(t, Completed, ss[3].State())
	clk.Advance(1500 * time.Millisecond) // 36 s
	for _, s := range ss {
		assert.Equal(t, Terminated, s.State())
	}
	assert.Zero(t, l.sched.Len(), "no timer left")
}

// A Sender that sends the final response over a stream keeps the response
// (there is no datagram to resend).
func TestCompletedServerWithoutDatagram(t *testing.T) {
	l, clk, d := setupDatagrams(t)
	d.tcpLike = true
	req := newRequest(t, "MESSAGE", "z9hG4bKd2")
	s, err := l.HandleRequest(udpIn(req))
	require.NoError(t, err)
	require.NoError(t, s.Respond(sip.NewResponse(req, 202, "")))
	_, _ = l.HandleRequest(udpIn(newRequest(t, "MESSAGE", "z9hG4bKd2")))
	require.Len(t, d.sent, 2)
	assert.Equal(t, 202, d.sent[1].msg.(*sip.Response).StatusCode)
	clk.Advance(32 * time.Second)
	assert.Equal(t, Terminated, s.State())
}

func mergedRequest(t *testing.T, method, branch string) *sip.Request {
	t.Helper()
	r := newRequest(t, method, branch)
	r.Set("From", "<sip:a@example.com>;tag=fork")
	r.Set("Call-ID", "merged@example.com")
	return r
}

// A request with the From tag, Call-ID and CSeq of an ongoing server
// transaction that it does not match (another branch: a proxy forked it)
// is a merged request (RFC 3261 §8.2.2.2); the first one is remembered
// until its transaction ends, 64·T1 after its final response over UDP.
func TestMergedRequestDetection(t *testing.T) {
	l, clk, _ := setupDatagrams(t)
	first := mergedRequest(t, "MESSAGE", "z9hG4bKm1")
	s1, err := l.HandleRequest(udpIn(first))
	require.NoError(t, err)
	assert.False(t, s1.Merged())

	s2, err := l.HandleRequest(udpIn(mergedRequest(t, "MESSAGE", "z9hG4bKm2")))
	require.NoError(t, err)
	assert.True(t, s2.Merged(), "same From tag, Call-ID and CSeq, another branch")

	tagged := mergedRequest(t, "MESSAGE", "z9hG4bKm3")
	tagged.Set("To", "<sip:bob@example.com>;tag=dialog")
	s3, err := l.HandleRequest(udpIn(tagged))
	require.NoError(t, err)
	assert.False(t, s3.Merged(), "a request inside a dialog is not checked")

	other := mergedRequest(t, "MESSAGE", "z9hG4bKm4")
	other.Set("CSeq", "2 MESSAGE")
	s4, err := l.HandleRequest(udpIn(other))
	require.NoError(t, err)
	assert.False(t, s4.Merged(), "another CSeq is another request")

	// The handler takes its time: the first is still ongoing.
	clk.Advance(40 * time.Second)
	s5, err := l.HandleRequest(udpIn(mergedRequest(t, "MESSAGE", "z9hG4bKm5")))
	require.NoError(t, err)
	assert.True(t, s5.Merged(), "the first request is being served")

	require.NoError(t, s1.Respond(sip.NewResponse(first, 200, "")))
	clk.Advance(31 * time.Second)
	s6, err := l.HandleRequest(udpIn(mergedRequest(t, "MESSAGE", "z9hG4bKm6")))
	require.NoError(t, err)
	assert.True(t, s6.Merged(), "Timer J has not fired")
	clk.Advance(time.Second)
	assert.Equal(t, Terminated, s1.State())
	s7, err := l.HandleRequest(udpIn(mergedRequest(t, "MESSAGE", "z9hG4bKm7")))
	require.NoError(t, err)
	assert.False(t, s7.Merged(), "the first transaction has ended")
}

// Over a reliable transport the transaction ends with its final response,
// but a merged copy is still recognised for 64·T1; the same request again
// (same branch) is not a merged copy.
func TestMergedRequestOverTCP(t *testing.T) {
	l, clk, _ := setupDatagrams(t)
	tcpIn := func(r *sip.Request) *transport.Inbound {
		return &transport.Inbound{Msg: r, Transport: transport.TCP, Remote: udpSource}
	}
	first := mergedRequest(t, "MESSAGE", "z9hG4bKt1")
	s1, err := l.HandleRequest(tcpIn(first))
	require.NoError(t, err)
	require.NoError(t, s1.Respond(sip.NewResponse(first, 200, "")))
	assert.Equal(t, Terminated, s1.State())
	<-s1.Done()
	_, sv := l.Len()
	assert.Zero(t, sv)

	s2, err := l.HandleRequest(tcpIn(mergedRequest(t, "MESSAGE", "z9hG4bKt2")))
	require.NoError(t, err)
	assert.True(t, s2.Merged())
	s3, err := l.HandleRequest(tcpIn(mergedRequest(t, "MESSAGE", "z9hG4bKt1")))
	require.NoError(t, err)
	require.NotNil(t, s3)
	assert.False(t, s3.Merged(), "the same request again is not a merged copy")
	require.NoError(t, s3.Respond(sip.NewResponse(s3.Request(), 200, "")))

	clk.Advance(32 * time.Second)
	s4, err := l.HandleRequest(tcpIn(mergedRequest(t, "MESSAGE", "z9hG4bKt4")))
	require.NoError(t, err)
	assert.False(t, s4.Merged(), "forgotten 64·T1 after the final response")
	assert.Len(t, l.merges, 1, "s4's own entry")
	assert.Empty(t, l.doneByMerge)
}

// An INVITE is remembered for merged-request detection while its
// transaction lives and at least 64·T1 after its final response, even
// when an ACKed failure ends the transaction sooner.
func TestMergedInvite(t *testing.T) {
	l, clk, _ := setupDatagrams(t)
	inv := mergedRequest(t, "INVITE", "z9hG4bKi1")
	s1, err := l.HandleInvite(udpIn(inv))
	require.NoError(t, err)
	s2, err := l.HandleInvite(udpIn(mergedRequest(t, "INVITE", "z9hG4bKi2")))
	require.NoError(t, err)
	assert.True(t, s2.Merged())

	require.NoError(t, s1.Respond(sip.NewResponse(inv, 486, "")))
	ack := mergedRequest(t, "ACK", "z9hG4bKi1")
	ack.Set("CSeq", "1 ACK")
	require.True(t, l.HandleAck(ack))
	clk.Advance(5 * time.Second) // Timer I
	assert.Equal(t, Terminated, s1.State())
	s3, err := l.HandleInvite(udpIn(mergedRequest(t, "INVITE", "z9hG4bKi3")))
	require.NoError(t, err)
	assert.True(t, s3.Merged(), "within 64·T1 of the 486")

	clk.Advance(27 * time.Second) // 32 s after the 486
	s4, err := l.HandleInvite(udpIn(mergedRequest(t, "INVITE", "z9hG4bKi4")))
	require.NoError(t, err)
	assert.False(t, s4.Merged())
}

// Done may be asked for after the transaction has ended.
func TestDoneAfterEnd(t *testing.T) {
	l, _, _ := setupDatagrams(t)
	s, err := l.HandleRequest(&transport.Inbound{Msg: newRequest(t, "OPTIONS", "z9hG4bKe1"), Transport: transport.TCP})
	require.NoError(t, err)
	require.NoError(t, s.Respond(sip.NewResponse(s.Request(), 200, "")))
	select {
	case <-s.Done():
	default:
		t.Fatal("Done of an ended transaction is not closed")
	}
}

// Done of a transaction the Layer keeps as a doneTx is closed at its
// Timer J, or when the Layer closes; State follows.
func TestDoneOfCompletedServer(t *testing.T) {
	l, clk, _ := setupDatagrams(t)
	var ss []*Server
	for i := range 3 {
		req := newRequest(t, "MESSAGE", "z9hG4bKw"+itoa(i))
		req.Set("Call-ID", "watch"+itoa(i))
		s, err := l.HandleRequest(udpIn(req))
		require.NoError(t, err)
		ss = append(ss, s)
	}
	early := ss[0].Done() // asked for before the final response
	for i, s := range ss {
		require.NoError(t, s.Respond(sip.NewResponse(newRequest(t, "MESSAGE", "z9hG4bKw"+itoa(i)), 200, "")))
	}
	late := ss[1].Done() // after it
	clk.Advance(31 * time.Second)
	for _, done := range []<-chan struct{}{early, late} {
		select {
		case <-done:
			t.Fatal("Done closed before Timer J")
		default:
		}
	}
	clk.Advance(time.Second)
	<-early
	<-late
	assert.Equal(t, Terminated, ss[0].State())
	assert.Equal(t, Terminated, ss[2].State(), "State needs no Done")
	assert.Empty(t, l.watched)

	req := newRequest(t, "MESSAGE", "z9hG4bKw9")
	s, err := l.HandleRequest(udpIn(req))
	require.NoError(t, err)
	require.NoError(t, s.Respond(sip.NewResponse(req, 200, "")))
	done := s.Done()
	l.Close()
	<-done
	assert.Equal(t, Terminated, s.State())
}

// When two keys hash alike, the second transaction stays a Server, with
// the same behaviour.
func TestDoneTxHashCollision(t *testing.T) {
	l, clk, d := setupDatagrams(t)
	req := newRequest(t, "MESSAGE", "z9hG4bKc1")
	s, err := l.HandleRequest(udpIn(req))
	require.NoError(t, err)
	var buf [256]byte
	b, n, _ := appendServerKeys(buf[:0], req, req.Method)
	l.mu.Lock()
	l.doneByKey[maphash.Bytes(l.seed, b[:n])] = 12345 // taken by another key
	l.mu.Unlock()
	require.NoError(t, s.Respond(sip.NewResponse(req, 200, "")))
	assert.Same(t, s, l.servers[s.key], "kept as a Server")
	assert.Zero(t, l.done.size)
	_, err = l.HandleRequest(udpIn(newRequest(t, "MESSAGE", "z9hG4bKc1")))
	require.NoError(t, err)
	require.Len(t, d.resent, 1)
	assert.Equal(t, d.kept[0], d.resent[0])
	clk.Advance(32 * time.Second)
	assert.Equal(t, Terminated, s.State())
	_, sv := l.Len()
	assert.Zero(t, sv)
}
