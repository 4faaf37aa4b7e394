package dialog

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/dialog/sdpneg"
	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transaction"
	"github.com/sipua-go/sipua/sip/ua"
)

// rawCaller is a bare UA that sends a hand-built INVITE and PRACKs by
// hand: the peer for what two layers never do to each other.
type rawCaller struct {
	t   *testing.T
	u   *ua.UA
	req *sip.Request
	c   *transaction.InviteClient
}

func newRawCaller(t *testing.T, to sip.URI, body string, hdrs ...[2]string) *rawCaller {
	r := &rawCaller{t: t, u: newUA(t, ua.Config{})}
	req := sip.NewRequest(sip.MethodInvite, to)
	contact, _ := r.u.ContactURI("")
	req.Set("Contact", "<"+contact.String()+">")
	req.Set("From", "<sip:peer@example.test>;tag=raw1")
	for _, h := range hdrs {
		req.Add(h[0], h[1])
	}
	if body != "" {
		req.Set("Content-Type", "application/sdp")
		req.SetBody([]byte(body))
	}
	c, _, err := r.u.StartInvite(context.Background(), req, ua.Target{})
	require.NoError(t, err)
	r.req, r.c = req, c
	return r
}

// next returns the next response to the INVITE.
func (r *rawCaller) next() *sip.Response {
	r.t.Helper()
	return wait(r.t, r.c.Responses())
}

// none checks that no response arrives within d.
func (r *rawCaller) none(d time.Duration) {
	r.t.Helper()
	select {
	case res := <-r.c.Responses():
		r.t.Fatalf("unexpected %d %s", res.StatusCode, res.Reason)
	case <-time.After(d):
	}
}

// prack sends a PRACK with the given RAck in the early dialog of res.
func (r *rawCaller) prack(d *Dialog, rack string) int {
	r.t.Helper()
	req := d.NewRequest(sip.MethodPrack)
	req.Set("RAck", rack)
	res, err := d.Do(context.Background(), req)
	var se *ua.StatusError
	if errors.As(err, &se) {
		return se.StatusCode()
	}
	require.NoError(r.t, err)
	return res.StatusCode
}

func rackOf(res *sip.Response, delta int) string {
	rseq, _ := res.RSeq()
	return strconv.FormatUint(uint64(int64(rseq)+int64(delta)), 10) + " " + strconv.FormatUint(uint64(res.CSeq().Seq), 10) + " INVITE"
}

// Two layers (the default policy): the INVITE carries Supported: 100rel,
// the callee's 180 and 183 go reliably with consecutive RSeqs, the caller
// PRACKs each once, and the call and its BYE work on (CSeq numbers after
// the PRACKs).
func TestPrackBetweenLayers(t *testing.T) {
	p := newPair(t, ua.Config{}, Config{})
	aliceEv := newRecorder()
	done := make(chan error, 1)
	var out *Session
	go func() {
		var err error
		out, err = p.alice.Invite(context.Background(), p.bobURI, InviteOptions{SDP: []byte(offerSDP), OnEvent: aliceEv.on})
		done <- err
	}()
	in := wait(t, p.incoming)
	assert.True(t, in.Request().HasToken("Supported", "100rel"))
	assert.True(t, in.Request().HasToken("Supported", "replaces"))
	require.NoError(t, in.Progress(context.Background(), 180, nil))
	require.NoError(t, in.Progress(context.Background(), 183, []byte(answerSDP)), "waits for the 180's PRACK")
	require.NoError(t, in.Accept(context.Background(), nil), "waits for the 183's PRACK")
	require.NoError(t, wait(t, done))
	var provisional []*sip.Response
	aliceEv.mu.Lock()
	for _, ev := range aliceEv.events {
		if pr, ok := ev.(Progress); ok {
			provisional = append(provisional, pr.Response)
		}
	}
	aliceEv.mu.Unlock()
	require.Len(t, provisional, 2, "one Progress per reliable provisional response, retransmissions dropped")
	assert.Equal(t, []string{"100rel"}, provisional[0].Require())
	r1, err := provisional[0].RSeq()
	require.NoError(t, err)
	r2, _ := provisional[1].RSeq()
	assert.Equal(t, r1+1, r2)
	assert.Equal(t, answerSDP, string(provisional[1].Body()))
	assert.Equal(t, answerSDP, string(out.RemoteSDP()), "the answer came in the 183")
	assert.Equal(t, answerSDP, string(in.LocalSDP()), "the 2xx repeated it")

	// The BYE's CSeq follows the PRACKs': the callee takes it.
	require.NoError(t, out.Hangup(context.Background()))
	wait(t, in.Done())
	assert.Equal(t, RemoteBye, in.Err().Cause)
}

// The reliable 18x is retransmitted at T1, 2·T1, 4·T1... (no T2 cap);
// without a PRACK the INVITE gets 500 at 64·T1 and the session ends with
// NoPrack (RFC 3262 §3).
func TestPrackRetransmissionAndTimeout(t *testing.T) {
	fake := clock.NewFake(time.Unix(1e9, 0))
	bobUA := newUA(t, ua.Config{Clock: fake})
	incoming := make(chan *Session, 1)
	mustLayer(t, endpoint(t, bobUA, "bob"), Config{OnInvite: func(s *Session) { incoming <- s }})
	uri, _ := bobUA.ContactURI("")
	peer := newRawCaller(t, uri, offerSDP, [2]string{"Supported", "100rel"})
	in := wait(t, incoming)
	require.NoError(t, in.Progress(context.Background(), 180, nil))
	first := peer.next()
	for first.StatusCode == 100 {
		first = peer.next()
	}
	require.Equal(t, 180, first.StatusCode)
	rseq, err := first.RSeq()
	require.NoError(t, err)
	assert.Equal(t, []string{"100rel"}, first.Require())

	t1 := 500 * time.Millisecond
	elapsed := time.Duration(0)
	for wait := t1; elapsed+wait < 64*t1; wait *= 2 {
		fake.Advance(wait - time.Millisecond)
		peer.none(30 * time.Millisecond)
		fake.Advance(time.Millisecond)
		elapsed += wait
		res := peer.next()
		require.Equal(t, 180, res.StatusCode, "retransmission at %v", elapsed)
		got, _ := res.RSeq()
		assert.Equal(t, rseq, got, "a retransmission keeps its RSeq")
	}
	assert.Equal(t, 63*t1, elapsed, "sent at 0, T1, 3·T1, ... 63·T1")
	fake.Advance(t1)
	final := peer.next()
	assert.Equal(t, 500, final.StatusCode, "no PRACK in 64·T1: 5xx")
	wait(t, in.Done())
	assert.Equal(t, NoPrack, in.Err().Cause)
	assert.ErrorIs(t, in.Accept(context.Background(), nil), in.Err())
}

// A PRACK whose RAck names no unacknowledged response gets 481, the right
// one 200, the same one again 481; the 2xx waits for the PRACK.
func TestPrackMatchingAndAcceptWaits(t *testing.T) {
	fake := clock.NewFake(time.Unix(1e9, 0)) // no retransmissions unless advanced
	bobUA := newUA(t, ua.Config{Clock: fake})
	incoming := make(chan *Session, 1)
	mustLayer(t, endpoint(t, bobUA, "bob"), Config{OnInvite: func(s *Session) { incoming <- s }})
	uri, _ := bobUA.ContactURI("")
	peer := newRawCaller(t, uri, offerSDP, [2]string{"Require", "100rel"})
	in := wait(t, incoming)
	require.NoError(t, in.Progress(context.Background(), 180, nil))
	res := peer.next()
	for res.StatusCode == 100 {
		res = peer.next()
	}
	require.Equal(t, 180, res.StatusCode)
	d, err := NewUAC(peer.u, peer.req, res)
	require.NoError(t, err)

	accepted := make(chan error, 1)
	go func() { accepted <- in.Accept(context.Background(), []byte(answerSDP)) }()
	peer.none(150 * time.Millisecond) // no 2xx before the PRACK
	assert.Equal(t, Ringing, in.State())

	assert.Equal(t, 481, peer.prack(d, rackOf(res, 1)), "wrong RSeq")
	assert.Equal(t, 481, peer.prack(d, "1 1 BYE"), "wrong CSeq and method")
	assert.Equal(t, 200, peer.prack(d, rackOf(res, 0)))
	ok := peer.next()
	assert.Equal(t, 200, ok.StatusCode, "the 2xx goes once the PRACK came")
	assert.Equal(t, 481, peer.prack(d, rackOf(res, 0)), "already acknowledged")
	okd, err := NewUAC(peer.u, peer.req, ok)
	require.NoError(t, err)
	okd.inherit(d)
	require.NoError(t, peer.u.SendAck(context.Background(), okd.NewAck(peer.req.CSeq().Seq), ua.Target{}))
	require.NoError(t, wait(t, accepted))
	assert.Equal(t, Established, in.State())
}

// Offer/answer in reliable provisional responses (RFC 3262 §5): with
// Config.Media the callee's 183 carries the layer's answer and the 2xx
// repeats it; for an INVITE without offer, the 183 carries the callee's
// offer and the PRACK the caller's answer.
func TestPrackOfferAnswer(t *testing.T) {
	aliceCaps := sdpneg.AudioOnly("127.0.0.1", 4000)
	bobCaps := sdpneg.AudioOnly("127.0.0.1", 5000)
	aliceUA, bobUA := newUA(t, ua.Config{}), newUA(t, ua.Config{})
	incoming := make(chan *Session, 2)
	alice := mustLayer(t, endpoint(t, aliceUA, "alice"), Config{Media: &aliceCaps})
	mustLayer(t, endpoint(t, bobUA, "bob"), Config{Media: &bobCaps, OnInvite: func(s *Session) { incoming <- s }})
	uri, _ := bobUA.ContactURI("")
	early := make(chan *sip.Response, 4)
	done := make(chan *Session, 1)
	go func() {
		s, err := alice.Invite(context.Background(), uri, InviteOptions{OnEvent: func(_ *Session, ev Event) {
			if pr, ok := ev.(Progress); ok {
				early <- pr.Response
			}
		}})
		assert.NoError(t, err)
		done <- s
	}()
	in := wait(t, incoming)
	require.NoError(t, in.Progress(context.Background(), 183, nil))
	r183 := wait(t, early)
	assert.Contains(t, string(r183.Body()), "m=audio 5000", "the layer's answer in the reliable 183")
	require.NoError(t, in.Accept(context.Background(), nil))
	out := wait(t, done)
	assert.Equal(t, string(r183.Body()), string(out.RemoteSDP()))
	assert.Equal(t, string(in.LocalSDP()), string(r183.Body()), "the 2xx repeats the 183's answer")
	assert.Equal(t, string(out.LocalSDP()), string(in.RemoteSDP()))
	require.NoError(t, out.Hold(context.Background()), "the negotiators agree: a re-offer works")

	// Late offer: the 183 offers, the PRACK answers.
	p := newPair(t, ua.Config{}, Config{})
	lateDone := make(chan *Session, 1)
	go func() {
		s, err := p.alice.Invite(context.Background(), p.bobURI, InviteOptions{Answer: func(offer []byte) ([]byte, error) {
			return []byte(offerSDP), nil
		}})
		assert.NoError(t, err)
		lateDone <- s
	}()
	lin := wait(t, p.incoming)
	require.NoError(t, lin.Progress(context.Background(), 183, []byte(answerSDP)), "our offer")
	require.NoError(t, lin.Accept(context.Background(), []byte("ignored")))
	lout := wait(t, lateDone)
	assert.Equal(t, offerSDP, string(lin.RemoteSDP()), "the PRACK carried the answer")
	assert.Equal(t, answerSDP, string(lin.LocalSDP()), "the 2xx repeated the offer")
	assert.Equal(t, answerSDP, string(lout.RemoteSDP()))
	assert.Equal(t, offerSDP, string(lout.LocalSDP()))
}

// Config.Reliable: Never answers unreliably and refuses Require: 100rel
// with 420; Required puts Require: 100rel in our INVITEs and refuses an
// INVITE without 100rel with 421.
func TestReliablePolicy(t *testing.T) {
	p := newPair(t, ua.Config{}, Config{Reliable: ReliableNever})
	aliceEv := newRecorder()
	done := make(chan error, 1)
	go func() {
		_, err := p.alice.Invite(context.Background(), p.bobURI, InviteOptions{SDP: []byte(offerSDP), OnEvent: aliceEv.on})
		done <- err
	}()
	in := wait(t, p.incoming)
	require.NoError(t, in.Progress(context.Background(), 180, nil))
	require.NoError(t, in.Accept(context.Background(), []byte(answerSDP)))
	require.NoError(t, wait(t, done))
	aliceEv.mu.Lock()
	for _, ev := range aliceEv.events {
		if pr, ok := ev.(Progress); ok {
			assert.Empty(t, pr.Response.Get("RSeq"), "Never: unreliable")
			assert.False(t, pr.Response.HasToken("Require", "100rel"))
		}
	}
	aliceEv.mu.Unlock()

	never := newRawCaller(t, p.bobURI, offerSDP, [2]string{"Require", "100rel"})
	res := never.next()
	for res.StatusCode < 200 {
		res = never.next()
	}
	assert.Equal(t, 420, res.StatusCode)
	assert.Equal(t, "100rel", res.Get("Unsupported"))

	bobUA := newUA(t, ua.Config{})
	invites := make(chan *sip.Request, 1)
	mustLayer(t, endpoint(t, bobUA, "bob"), Config{Reliable: ReliableRequired, OnInvite: func(s *Session) {
		invites <- s.Request()
		_ = s.Reject(context.Background(), 486, "")
	}})
	uri, _ := bobUA.ContactURI("")
	plain := newRawCaller(t, uri, offerSDP)
	res = plain.next()
	for res.StatusCode < 200 {
		res = plain.next()
	}
	assert.Equal(t, 421, res.StatusCode)
	assert.Equal(t, []string{"100rel"}, res.Require())

	aliceUA := newUA(t, ua.Config{})
	alice := mustLayer(t, endpoint(t, aliceUA, "alice"), Config{Reliable: ReliableRequired})
	_, err := alice.Invite(context.Background(), uri, InviteOptions{SDP: []byte(offerSDP)})
	require.Error(t, err)
	got := wait(t, invites)
	assert.True(t, got.HasToken("Require", "100rel"))
}

// An INVITE without offer that requires 100rel: a reliable provisional
// response must carry an offer, so Progress without SDP fails; with a
// peer that only supports 100rel it goes unreliably.
func TestPrackNeedsOffer(t *testing.T) {
	bobUA := newUA(t, ua.Config{})
	incoming := make(chan *Session, 2)
	mustLayer(t, endpoint(t, bobUA, "bob"), Config{OnInvite: func(s *Session) { incoming <- s }})
	uri, _ := bobUA.ContactURI("")
	newRawCaller(t, uri, "", [2]string{"Require", "100rel"})
	in := wait(t, incoming)
	assert.ErrorIs(t, in.Progress(context.Background(), 180, nil), ErrNeedOffer)
	require.NoError(t, in.Reject(context.Background(), 486, ""))

	sup := newRawCaller(t, uri, "", [2]string{"Supported", "100rel"})
	in = wait(t, incoming)
	require.NoError(t, in.Progress(context.Background(), 180, nil))
	res := sup.next()
	for res.StatusCode == 100 {
		res = sup.next()
	}
	assert.Equal(t, 180, res.StatusCode)
	assert.Empty(t, res.Get("RSeq"), "sent unreliably")
	require.NoError(t, in.Reject(context.Background(), 486, ""))
}

// As UAC: a reliable provisional response is PRACKed once; a
// retransmission (same RSeq), a lower RSeq and one out of order (RSeq
// not one higher) are neither PRACKed nor reported (RFC 3262 §4).
func TestPrackUACDropsRetransmissions(t *testing.T) {
	aliceUA := newUA(t, ua.Config{})
	alice := mustLayer(t, endpoint(t, aliceUA, "alice"), Config{})
	callee := newUA(t, ua.Config{})
	racks := make(chan string, 8)
	callee.AddRouter(routerFunc(func(req *sip.Request) ua.Handler {
		return ua.HandlerFunc(func(w ua.ResponseWriter, r *ua.Request) {
			if r.Method == sip.MethodPrack {
				racks <- r.Get("RAck")
			}
			if r.Method != sip.MethodAck {
				_ = w.Respond(w.NewResponse(200, ""))
			}
		})
	}))
	contact := "<sip:callee@" + callee.Addrs()[0].AddrPort.String() + ">"
	callee.HandleFunc(sip.MethodInvite, func(w ua.ResponseWriter, r *ua.Request) {
		assert.True(t, r.HasToken("Supported", "100rel"))
		send := func(rseq string) {
			res := w.NewResponse(180, "")
			res.Set("Contact", contact)
			res.Set("Require", "100rel")
			res.Set("RSeq", rseq)
			_ = w.Respond(res)
		}
		seq := strconv.FormatUint(uint64(r.CSeq().Seq), 10)
		send("5")
		assert.Equal(t, "5 "+seq+" INVITE", wait(t, racks))
		send("5") // a retransmission
		send("4") // lower
		send("7") // out of order
		send("6")
		assert.Equal(t, "6 "+seq+" INVITE", wait(t, racks))
		ok := w.NewResponse(200, "")
		ok.Set("Contact", contact)
		ok.Set("Content-Type", "application/sdp")
		ok.SetBody([]byte(answerSDP))
		_ = w.Respond(ok)
	})
	uri, _ := callee.ContactURI("")
	ev := newRecorder()
	s, err := alice.Invite(context.Background(), uri, InviteOptions{SDP: []byte(offerSDP), OnEvent: ev.on})
	require.NoError(t, err)
	assert.Equal(t, Established, s.State())
	select {
	case r := <-racks:
		t.Fatalf("unexpected PRACK %s", r)
	case <-time.After(50 * time.Millisecond):
	}
	assert.Equal(t, 2, ev.count(func(e Event) bool { _, ok := e.(Progress); return ok }), "RSeq 5 and 6 only")
}
