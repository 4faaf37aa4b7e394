package transaction

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transport"
)

func sentMethods(rec *recorder) []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []string
	for _, s := range rec.sent {
		switch m := s.msg.(type) {
		case *sip.Request:
			out = append(out, m.Method)
		case *sip.Response:
			out = append(out, itoa(m.StatusCode))
		}
	}
	return out
}

// Timer A doubles without a cap; Timer B ends the transaction at 64·T1.
func TestInviteClientTimerAAndB(t *testing.T) {
	l, clk, rec := setup(t)
	c, err := l.Invite(context.Background(), newRequest(t, "INVITE", "z9hG4bKi1"), udpPeer)
	require.NoError(t, err)
	assert.Equal(t, Calling, c.State())
	clk.Advance(32 * time.Second)
	<-c.Done()
	assert.Equal(t, secs(0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5), rec.times())
	var te *TimeoutError
	require.ErrorAs(t, c.Err(), &te)
	assert.Equal(t, "B", te.Timer)
}

// A failure response is ACKed by the transaction, the ACK repeated for
// each retransmission of the response, and Timer D (32 s) ends it.
func TestInviteClientFailureIsAcked(t *testing.T) {
	l, clk, rec := setup(t)
	inv := newRequest(t, "INVITE", "z9hG4bKi2")
	inv.Add("Route", "<sip:proxy.example.com;lr>")
	c, err := l.Invite(context.Background(), inv, udpPeer)
	require.NoError(t, err)
	require.True(t, l.HandleResponse(sip.NewResponse(inv, 180, "")))
	assert.Equal(t, Proceeding, c.State())
	clk.Advance(10 * time.Second)
	assert.Equal(t, []string{"INVITE"}, sentMethods(rec), "no retransmission once a provisional came")

	busy := sip.NewResponse(inv, 486, "")
	busy.Set("To", inv.Get("To")+";tag=callee")
	require.True(t, l.HandleResponse(busy))
	assert.Equal(t, Completed, c.State())
	assert.Equal(t, 180, (<-c.Responses()).StatusCode)
	assert.Equal(t, 486, (<-c.Responses()).StatusCode)
	require.True(t, l.HandleResponse(busy))
	assert.Equal(t, []string{"INVITE", "ACK", "ACK"}, sentMethods(rec))

	ack := rec.sent[1].msg.(*sip.Request)
	v, _ := ack.TopVia()
	assert.Equal(t, "z9hG4bKi2", v.Branch(), "same branch as the INVITE")
	assert.Equal(t, "callee", ack.To().Tag())
	assert.Equal(t, sip.CSeq{Seq: 1, Method: "ACK"}, ack.CSeq())
	assert.Equal(t, inv.URI.String(), ack.URI.String())
	assert.Equal(t, []string{"<sip:proxy.example.com;lr>"}, ack.Values("Route"))

	clk.Advance(31 * time.Second)
	assert.Equal(t, Completed, c.State())
	clk.Advance(time.Second)
	<-c.Done()
	assert.NoError(t, c.Err())
}

// RFC 6026: a 2xx moves to Accepted; 2xx retransmissions still reach the
// dialog; nothing is ACKed by the transaction; Timer M ends it.
func TestInviteClientAccepted(t *testing.T) {
	l, clk, rec := setup(t)
	inv := newRequest(t, "INVITE", "z9hG4bKi3")
	c, err := l.Invite(context.Background(), inv, udpPeer)
	require.NoError(t, err)
	ok := sip.NewResponse(inv, 200, "")
	require.True(t, l.HandleResponse(ok))
	assert.Equal(t, Accepted, c.State())
	require.True(t, l.HandleResponse(ok))
	assert.Equal(t, 200, (<-c.Responses()).StatusCode)
	assert.Equal(t, 200, (<-c.Responses()).StatusCode, "the retransmitted 2xx is passed on")
	assert.Equal(t, []string{"INVITE"}, sentMethods(rec), "the dialog, not the transaction, ACKs a 2xx")
	clk.Advance(32 * time.Second) // Timer M = 64·T1
	<-c.Done()
	assert.NoError(t, c.Err())
}

// The server sends 100 Trying when the TU has not answered within 200 ms
// (§17.2.1); a failure response is retransmitted by Timer G until the ACK
// (Confirmed, Timer I) or Timer H.
func TestInviteServerFailureAndAck(t *testing.T) {
	l, clk, rec := setup(t)
	inv := newRequest(t, "INVITE", "z9hG4bKs1")
	s, err := l.HandleInvite(&transport.Inbound{Msg: inv, Transport: transport.UDP})
	require.NoError(t, err)
	require.NotNil(t, s)
	clk.Advance(199 * time.Millisecond)
	assert.Empty(t, sentMethods(rec), "the TU may still answer within 200 ms")
	clk.Advance(time.Millisecond)
	assert.Equal(t, []string{"100"}, sentMethods(rec))

	again, err := l.HandleInvite(&transport.Inbound{Msg: newRequest(t, "INVITE", "z9hG4bKs1"), Transport: transport.UDP})
	require.NoError(t, err)
	assert.Nil(t, again)
	assert.Equal(t, []string{"100", "100"}, sentMethods(rec), "a retransmitted INVITE gets the last provisional")

	require.NoError(t, s.Respond(sip.NewResponse(inv, 603, "")))
	clk.Advance(4 * time.Second) // G at 0.5, 1.5, 3.5 after the 603
	assert.Equal(t, []string{"100", "100", "603", "603", "603", "603"}, sentMethods(rec))

	ack := newRequest(t, "ACK", "z9hG4bKs1")
	assert.True(t, l.HandleAck(ack))
	assert.Equal(t, Confirmed, s.State())
	clk.Advance(10 * time.Second)
	assert.Len(t, sentMethods(rec), 6, "no retransmission after the ACK")
	<-s.Done() // Timer I = T4
	assert.NoError(t, s.Err())
	assert.False(t, l.HandleAck(ack), "the transaction is gone")
}

func TestInviteServerNoAckTimerH(t *testing.T) {
	l, clk, _ := setup(t)
	inv := newRequest(t, "INVITE", "z9hG4bKs2")
	s, err := l.HandleInvite(&transport.Inbound{Msg: inv, Transport: transport.UDP})
	require.NoError(t, err)
	require.NoError(t, s.Respond(sip.NewResponse(inv, 486, "")))
	clk.Advance(32 * time.Second)
	<-s.Done()
	var te *TimeoutError
	require.ErrorAs(t, s.Err(), &te)
	assert.Equal(t, "H", te.Timer)
}

// RFC 6026: after a 2xx the server transaction absorbs INVITE
// retransmissions without answering (the dialog retransmits the 2xx), lets
// the 2xx ACK through to the dialog, and ends with Timer L.
func TestInviteServerAccepted(t *testing.T) {
	l, clk, rec := setup(t)
	inv := newRequest(t, "INVITE", "z9hG4bKs3")
	s, err := l.HandleInvite(&transport.Inbound{Msg: inv, Transport: transport.UDP})
	require.NoError(t, err)
	require.NoError(t, s.Respond(sip.NewResponse(inv, 200, "")))
	assert.Equal(t, Accepted, s.State())
	again, _ := l.HandleInvite(&transport.Inbound{Msg: newRequest(t, "INVITE", "z9hG4bKs3"), Transport: transport.UDP})
	assert.Nil(t, again)
	clk.Advance(time.Second)
	assert.Equal(t, []string{"200"}, sentMethods(rec), "answered within 200 ms: no 100 Trying")
	assert.False(t, l.HandleAck(newRequest(t, "ACK", "z9hG4bKs3")), "a 2xx ACK is the dialog's")
	assert.ErrorIs(t, s.Respond(sip.NewResponse(inv, 500, "")), ErrBadResponse)
	clk.Advance(32 * time.Second) // Timer L
	<-s.Done()
}

func TestMatchCancel(t *testing.T) {
	l, _, _ := setup(t)
	inv := newRequest(t, "INVITE", "z9hG4bKc1")
	s, err := l.HandleInvite(&transport.Inbound{Msg: inv, Transport: transport.UDP})
	require.NoError(t, err)
	assert.Same(t, s, l.MatchCancel(newRequest(t, "CANCEL", "z9hG4bKc1")))
	assert.Nil(t, l.MatchCancel(newRequest(t, "CANCEL", "z9hG4bKother")))
}

func TestStateNames(t *testing.T) {
	for s, want := range map[State]string{Trying: "Trying", Calling: "Calling", Accepted: "Accepted", Confirmed: "Confirmed", State(99): "State(99)"} {
		assert.Equal(t, want, s.String())
	}
}

// A retransmitted INVITE before any response gets 100 Trying at once; a
// negative TryingDelay sends it with the INVITE's arrival.
func TestInviteServerTryingOnRetransmission(t *testing.T) {
	l, _, rec := setup(t)
	inv := newRequest(t, "INVITE", "z9hG4bKs4")
	_, err := l.HandleInvite(&transport.Inbound{Msg: inv, Transport: transport.UDP})
	require.NoError(t, err)
	assert.Empty(t, sentMethods(rec))
	_, _ = l.HandleInvite(&transport.Inbound{Msg: newRequest(t, "INVITE", "z9hG4bKs4"), Transport: transport.UDP})
	assert.Equal(t, []string{"100"}, sentMethods(rec))

	clk2 := clock.NewFake(t0)
	sc := sched.New(clk2)
	t.Cleanup(sc.Close)
	rec2 := &recorder{clk: clk2}
	l2 := New(Config{TryingDelay: -1}, sc, rec2)
	_, err = l2.HandleInvite(&transport.Inbound{Msg: newRequest(t, "INVITE", "z9hG4bKs5"), Transport: transport.UDP})
	require.NoError(t, err)
	assert.Equal(t, []string{"100"}, sentMethods(rec2))
}
