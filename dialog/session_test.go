package dialog

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/dialog/sdpneg"
	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

const offerSDP = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
const answerSDP = "v=0\r\no=bob 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"

func newUA(t *testing.T, cfg ua.Config) *ua.UA {
	t.Helper()
	u, err := ua.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = u.Close(ctx)
	})
	return u
}

func mustLayer(t *testing.T, ep Endpoint, cfg Config) *Layer {
	t.Helper()
	l, err := New(ep, cfg)
	require.NoError(t, err)
	return l
}

func endpoint(t *testing.T, u *ua.UA, user string) Static {
	t.Helper()
	a, err := sip.ParseAddress("<sip:" + user + "@example.test>")
	require.NoError(t, err)
	return Static{Agent: u, Identity: a}
}

// recorder collects a session's events.
type recorder struct {
	mu     sync.Mutex
	events []Event
	ch     chan Event
}

func newRecorder() *recorder { return &recorder{ch: make(chan Event, 64)} }

func (r *recorder) on(_ *Session, ev Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	r.ch <- ev
}

func (r *recorder) states() []SessionState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []SessionState
	for _, ev := range r.events {
		if sc, ok := ev.(StateChanged); ok {
			out = append(out, sc.To)
		}
	}
	return out
}

func (r *recorder) count(f func(Event) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.events {
		if f(ev) {
			n++
		}
	}
	return n
}

type pair struct {
	alice, bob     *Layer
	aliceUA, bobUA *ua.UA
	bobURI         sip.URI
	incoming       chan *Session
}

// newPair makes two endpoints on loopback UDP; bob's incoming sessions
// arrive on incoming, unanswered.
func newPair(t *testing.T, cfg ua.Config, bobCfg Config) *pair {
	t.Helper()
	p := &pair{incoming: make(chan *Session, 4)}
	p.aliceUA, p.bobUA = newUA(t, cfg), newUA(t, cfg)
	if bobCfg.OnInvite == nil {
		bobCfg.OnInvite = func(s *Session) { p.incoming <- s }
	}
	p.alice = mustLayer(t, endpoint(t, p.aliceUA, "alice"), Config{})
	p.bob = mustLayer(t, endpoint(t, p.bobUA, "bob"), bobCfg)
	uri, ok := p.bobUA.ContactURI("")
	require.True(t, ok)
	uri.User = "bob"
	p.bobURI = uri
	return p
}

func wait[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("timed out")
	}
	var zero T
	return zero
}

func TestCallAnswerHangup(t *testing.T) {
	p := newPair(t, ua.Config{}, Config{})
	aliceEv, bobEv := newRecorder(), newRecorder()
	type result struct {
		s   *Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := p.alice.Invite(context.Background(), p.bobURI, InviteOptions{SDP: []byte(offerSDP), OnEvent: aliceEv.on})
		done <- result{s, err}
	}()
	in := wait(t, p.incoming)
	in.OnEvent(bobEv.on)
	assert.Equal(t, Incoming, in.State())
	assert.Equal(t, offerSDP, string(in.RemoteSDP()))
	require.NoError(t, in.Progress(context.Background(), 180, nil))
	require.NoError(t, in.Accept(context.Background(), []byte(answerSDP)))
	r := wait(t, done)
	require.NoError(t, r.err)
	out := r.s
	assert.Equal(t, Established, out.State())
	assert.Equal(t, Established, in.State())
	assert.Equal(t, answerSDP, string(out.RemoteSDP()))
	assert.Equal(t, out.Dialog().ID().CallID, in.Dialog().ID().CallID)
	assert.Equal(t, out.Dialog().ID().LocalTag, in.Dialog().ID().RemoteTag)
	assert.Equal(t, 1, p.alice.Len())
	assert.Equal(t, 1, p.bob.Len())
	assert.Equal(t, 1, aliceEv.count(func(ev Event) bool { _, ok := ev.(Progress); return ok }), "one 180 delivered")

	require.NoError(t, out.Hangup(context.Background()))
	wait(t, in.Done())
	assert.Equal(t, LocalBye, out.Err().Cause)
	assert.Equal(t, RemoteBye, in.Err().Cause)
	assert.Equal(t, 0, p.alice.Len())
	assert.Equal(t, 0, p.bob.Len())
	require.Eventually(t, func() bool {
		return len(bobEv.states()) == 4 && len(aliceEv.states()) == 4
	}, 2*time.Second, 5*time.Millisecond)
	assert.Equal(t, []SessionState{Ringing, Accepting, Established, Terminated}, bobEv.states())
	assert.Equal(t, []SessionState{Ringing, Established, Terminating, Terminated}, aliceEv.states())
}

func TestRejectAndUnanswered(t *testing.T) {
	p := newPair(t, ua.Config{}, Config{})
	go func() {
		in := wait(t, p.incoming)
		_ = in.Reject(context.Background(), 486, "")
	}()
	s, err := p.alice.Invite(context.Background(), p.bobURI, InviteOptions{SDP: []byte(offerSDP)})
	require.Error(t, err)
	var te *TerminatedError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, Rejected, te.Cause)
	assert.Equal(t, 486, te.StatusCode)
	var se *ua.StatusError
	require.ErrorAs(t, err, &se, "the rejection carries the response")
	assert.Equal(t, 486, se.StatusCode())
	assert.Equal(t, Terminated, s.State())
	assert.Equal(t, 0, p.alice.Len())
	require.Eventually(t, func() bool { return p.bob.Len() == 0 }, time.Second, 5*time.Millisecond)
}

func TestNoHandlerGets480(t *testing.T) {
	aliceUA, bobUA := newUA(t, ua.Config{}), newUA(t, ua.Config{})
	alice := mustLayer(t, endpoint(t, aliceUA, "alice"), Config{})
	mustLayer(t, endpoint(t, bobUA, "bob"), Config{})
	uri, _ := bobUA.ContactURI("")
	_, err := alice.Invite(context.Background(), uri, InviteOptions{SDP: []byte(offerSDP)})
	var te *TerminatedError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 480, te.StatusCode)
}

func TestCancelBeforeAnswer(t *testing.T) {
	p := newPair(t, ua.Config{}, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		s   *Session
		err error
	}
	done := make(chan result, 1)
	aliceEv := newRecorder()
	go func() {
		s, err := p.alice.Invite(ctx, p.bobURI, InviteOptions{SDP: []byte(offerSDP), OnEvent: aliceEv.on})
		done <- result{s, err}
	}()
	in := wait(t, p.incoming)
	require.NoError(t, in.Progress(context.Background(), 180, nil))
	wait(t, aliceEv.ch) // Ringing
	cancel()
	r := wait(t, done)
	var te *TerminatedError
	require.ErrorAs(t, r.err, &te)
	assert.Equal(t, Canceled, te.Cause)
	assert.Equal(t, 487, te.StatusCode)
	wait(t, in.Done())
	assert.Equal(t, Canceled, in.Err().Cause)
	assert.ErrorIs(t, in.Accept(context.Background(), []byte(answerSDP)), in.Err(), "too late to accept")
}

func establish(t *testing.T, p *pair, opts InviteOptions) (out, in *Session) {
	t.Helper()
	type result struct {
		s   *Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := p.alice.Invite(context.Background(), p.bobURI, opts)
		done <- result{s, err}
	}()
	in = wait(t, p.incoming)
	require.NoError(t, in.Accept(context.Background(), []byte(answerSDP)))
	r := wait(t, done)
	require.NoError(t, r.err)
	return r.s, in
}

func TestReinviteAndUpdate(t *testing.T) {
	answered := make(chan []byte, 4)
	p := newPair(t, ua.Config{}, Config{Answer: func(s *Session, offer []byte) ([]byte, error) {
		answered <- offer
		return []byte(answerSDP + "a=sendrecv\r\n"), nil
	}})
	aliceEv := newRecorder()
	out, in := establish(t, p, InviteOptions{SDP: []byte(offerSDP), OnEvent: aliceEv.on})
	bobEv := newRecorder()
	in.OnEvent(bobEv.on)
	media := func(ev Event) bool { _, ok := ev.(MediaChanged); return ok }

	// The same SDP again (a refresh): the same answer, no MediaChanged.
	require.NoError(t, out.Reinvite(context.Background(), nil))
	assert.Equal(t, answerSDP, string(out.RemoteSDP()))
	assert.Empty(t, answered, "an unchanged offer is not renegotiated")

	// A bodiless UPDATE.
	require.NoError(t, out.Update(context.Background(), nil))

	// A changed offer: the application answers, both sides see the change.
	hold := []byte("v=0\r\no=alice 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n")
	require.NoError(t, out.Reinvite(context.Background(), hold))
	assert.Equal(t, string(hold), string(wait(t, answered)))
	assert.Equal(t, answerSDP+"a=sendrecv\r\n", string(out.RemoteSDP()))
	require.Eventually(t, func() bool { return bobEv.count(media) == 1 && aliceEv.count(media) == 1 }, 2*time.Second, 5*time.Millisecond)

	// UPDATE with an offer, from the callee.
	require.NoError(t, in.Update(context.Background(), []byte(answerSDP)))
	assert.Equal(t, Established, out.State())
	assert.Equal(t, Established, in.State())
	require.NoError(t, in.Hangup(context.Background()))
	wait(t, out.Done())
	assert.Equal(t, RemoteBye, out.Err().Cause)
}

func TestGlareAnswered491(t *testing.T) {
	p := newPair(t, ua.Config{}, Config{})
	out, in := establish(t, p, InviteOptions{SDP: []byte(offerSDP)})
	in.mu.Lock()
	in.offering = true // bob's own offer is in flight
	in.mu.Unlock()
	req := out.Dialog().NewRequest(sip.MethodUpdate)
	req.Set("Content-Type", "application/sdp")
	req.SetBody([]byte(offerSDP))
	_, err := out.Dialog().Do(context.Background(), req)
	var se *ua.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 491, se.StatusCode())
	assert.ErrorIs(t, in.Update(context.Background(), []byte(answerSDP)), ErrOfferPending)
}

func TestInDialogChecks(t *testing.T) {
	p := newPair(t, ua.Config{}, Config{})
	out, in := establish(t, p, InviteOptions{SDP: []byte(offerSDP)})
	bobEv := newRecorder()
	in.OnEvent(bobEv.on)

	res, err := out.Message(context.Background(), "", "text/plain", []byte("hello"))
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	ev := wait(t, bobEv.ch)
	for _, ok := ev.(StateChanged); ok; _, ok = ev.(StateChanged) {
		ev = wait(t, bobEv.ch) // the states from before the handler came
	}
	require.IsType(t, MessageReceived{}, ev)
	assert.Equal(t, "hello", string(ev.(MessageReceived).Request.Body()))

	// A CSeq lower than the last one is out of order: 500 (§12.2.2).
	d := out.Dialog()
	stale := d.NewRequest(sip.MethodInfo)
	stale.Set("CSeq", "1 INFO")
	_, err = d.Do(context.Background(), stale)
	var se *ua.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 500, se.StatusCode())

	// A request for a dialog that does not exist: 481.
	ghost := d.NewRequest(sip.MethodBye)
	ghost.Set("Call-ID", "nobody@here")
	_, err = d.Do(context.Background(), ghost)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 481, se.StatusCode())

	// An unknown method inside the dialog: 501.
	_, err = d.Do(context.Background(), d.NewRequest("FOO"))
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 501, se.StatusCode())
}

func TestLateOffer(t *testing.T) {
	p := newPair(t, ua.Config{}, Config{})
	type result struct {
		s   *Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := p.alice.Invite(context.Background(), p.bobURI, InviteOptions{Answer: func(offer []byte) ([]byte, error) {
			return []byte(offerSDP), nil
		}})
		done <- result{s, err}
	}()
	in := wait(t, p.incoming)
	assert.Empty(t, in.RemoteSDP())
	require.NoError(t, in.Accept(context.Background(), []byte(answerSDP)), "the 2xx carries our offer")
	r := wait(t, done)
	require.NoError(t, r.err)
	assert.Equal(t, offerSDP, string(in.RemoteSDP()), "the ACK carried the answer")
	assert.Equal(t, answerSDP, string(r.s.RemoteSDP()))
}

func TestNonSDPBodyGets415(t *testing.T) {
	p := newPair(t, ua.Config{}, Config{})
	_, err := p.alice.Invite(context.Background(), p.bobURI, InviteOptions{Prepare: func(req *sip.Request) {
		req.Set("Content-Type", "text/plain")
		req.SetBody([]byte("hi"))
	}})
	var te *TerminatedError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 415, te.StatusCode)
}

// TestNoAckEndsWithBye: the peer never ACKs our 2xx; after 64·T1 of
// retransmissions the session ends with NoAck and a BYE (§13.3.1.4).
func TestNoAckEndsWithBye(t *testing.T) {
	fake := clock.NewFake(time.Unix(1e9, 0))
	bobUA := newUA(t, ua.Config{Clock: fake})
	incoming := make(chan *Session, 1)
	mustLayer(t, endpoint(t, bobUA, "bob"), Config{OnInvite: func(s *Session) { incoming <- s }})
	peer := newUA(t, ua.Config{})
	byes := make(chan *sip.Request, 1)
	peer.AddRouter(routerFunc(func(req *sip.Request) ua.Handler {
		return ua.HandlerFunc(func(w ua.ResponseWriter, r *ua.Request) {
			byes <- r.Request
			_ = w.Respond(w.NewResponse(200, ""))
		})
	}))
	var oks sync.WaitGroup
	uri, _ := bobUA.ContactURI("")
	req := sip.NewRequest(sip.MethodInvite, uri)
	contact, _ := peer.ContactURI("")
	req.Set("Contact", "<"+contact.String()+">")
	req.Set("From", "<sip:peer@example.test>;tag=p1")
	c, _, err := peer.StartInvite(context.Background(), req, ua.Target{})
	require.NoError(t, err)
	in := wait(t, incoming)
	accepted := make(chan error, 1)
	oks.Add(1)
	go func() { defer oks.Done(); accepted <- in.Accept(context.Background(), []byte(answerSDP)) }()
	for n := 0; n < 3; {
		res := wait(t, c.Responses())
		if res.StatusCode == 200 {
			n++
			if n < 3 {
				fake.Advance(time.Duration(n) * 500 * time.Millisecond) // T1, then 2·T1
			}
		}
	}
	fake.Advance(40 * time.Second)
	bye := wait(t, byes)
	assert.Contains(t, bye.Get("Reason"), "cause=408")
	err = wait(t, accepted)
	var te *TerminatedError
	require.True(t, errors.As(err, &te))
	assert.Equal(t, NoAck, te.Cause)
	oks.Wait()
}

// routerFunc routes every in-dialog request to the handler it returns.
type routerFunc func(req *sip.Request) ua.Handler

func (f routerFunc) RouteRequest(req *sip.Request) ua.Handler { return f(req) }

// With Config.Media both sides negotiate SDP themselves: offer, answer,
// hold and resume, and a refresh that changes nothing.
func TestMediaNegotiation(t *testing.T) {
	aliceCaps := sdpneg.AudioOnly("127.0.0.1", 4000)
	bobCaps := sdpneg.AudioOnly("127.0.0.1", 5000)
	aliceUA, bobUA := newUA(t, ua.Config{}), newUA(t, ua.Config{})
	incoming := make(chan *Session, 1)
	bobEv := newRecorder()
	alice := mustLayer(t, endpoint(t, aliceUA, "alice"), Config{Media: &aliceCaps})
	mustLayer(t, endpoint(t, bobUA, "bob"), Config{Media: &bobCaps, OnInvite: func(s *Session) {
		s.OnEvent(bobEv.on)
		incoming <- s
		go func() { _ = s.Accept(context.Background(), nil) }()
	}})
	uri, _ := bobUA.ContactURI("")
	out, err := alice.Invite(context.Background(), uri, InviteOptions{})
	require.NoError(t, err)
	in := wait(t, incoming)
	require.Eventually(t, func() bool { return in.State() == Established }, 2*time.Second, time.Millisecond)
	assert.Contains(t, string(out.LocalSDP()), "m=audio 4000 RTP/AVP 0 8")
	assert.Contains(t, string(out.RemoteSDP()), "m=audio 5000 RTP/AVP 0 8")
	assert.Equal(t, string(out.LocalSDP()), string(in.RemoteSDP()))

	media := func(ev Event) bool { _, ok := ev.(MediaChanged); return ok }
	before := string(out.LocalSDP())
	require.NoError(t, out.Reinvite(context.Background(), nil), "a refresh")
	assert.Equal(t, before, string(out.LocalSDP()), "a refresh repeats the SDP, o= version included")
	require.NoError(t, out.Hold(context.Background()))
	assert.True(t, out.OnHold())
	assert.Contains(t, string(in.RemoteSDP()), "a=sendonly")
	assert.Contains(t, string(in.LocalSDP()), "a=recvonly")
	require.NoError(t, out.Resume(context.Background()))
	assert.False(t, out.OnHold())
	assert.Contains(t, string(in.LocalSDP()), "a=sendrecv")
	require.Eventually(t, func() bool { return bobEv.count(media) == 2 }, 2*time.Second, time.Millisecond,
		"hold and resume change the media; the refresh does not")
	assert.Error(t, out.Reinvite(context.Background(), []byte(offerSDP)), "offers come from the negotiator")
}

// An INVITE to a redirect server (the registrar's 302) is sent again to
// the registered contact, which answers.
func TestInviteFollowsRedirect(t *testing.T) {
	p := newPair(t, ua.Config{}, Config{})
	redir := newUA(t, ua.Config{})
	redir.HandleFunc(sip.MethodInvite, func(w ua.ResponseWriter, r *ua.Request) {
		res := w.NewResponse(302, "")
		res.Set("Contact", "<"+p.bobURI.String()+">")
		_ = w.Respond(res)
	})
	go func() {
		in := wait(t, p.incoming)
		_ = in.Accept(context.Background(), []byte(answerSDP))
	}()
	to, _ := redir.ContactURI("")
	to.User = "bob"
	s, err := p.alice.Invite(context.Background(), to, InviteOptions{SDP: []byte(offerSDP)})
	require.NoError(t, err)
	assert.Equal(t, Established, s.State())
	_, err = p.alice.Invite(context.Background(), to, InviteOptions{SDP: []byte(offerSDP), NoRedirect: true})
	var te *TerminatedError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 302, te.StatusCode)
}

// A 2xx that crosses our CANCEL (the callee answered before the CANCEL
// reached it) is ACKed, then the call is ended with BYE (RFC 3261 §9.1).
func TestCancelCrossing200(t *testing.T) {
	aliceUA := newUA(t, ua.Config{})
	alice := mustLayer(t, endpoint(t, aliceUA, "alice"), Config{})
	callee := newUA(t, ua.Config{})
	inDialog := make(chan string, 4)
	callee.AddRouter(routerFunc(func(req *sip.Request) ua.Handler {
		return ua.HandlerFunc(func(w ua.ResponseWriter, r *ua.Request) {
			inDialog <- r.Method
			if r.Method != sip.MethodAck {
				_ = w.Respond(w.NewResponse(200, ""))
			}
		})
	}))
	canceled := make(chan struct{})
	callee.HandleFunc(sip.MethodInvite, func(w ua.ResponseWriter, r *ua.Request) {
		res := w.NewResponse(180, "")
		res.Set("Contact", "<sip:callee@"+callee.Addrs()[0].AddrPort.String()+">")
		_ = w.Respond(res)
		<-r.Context().Done() // the CANCEL arrived...
		close(canceled)
		ok := w.NewResponse(200, "") // ...but our 200 was already on its way
		ok.Set("Contact", "<sip:callee@"+callee.Addrs()[0].AddrPort.String()+">")
		ok.Set("Content-Type", "application/sdp")
		ok.SetBody([]byte(answerSDP))
		_ = w.Respond(ok)
	})
	uri, _ := callee.ContactURI("")
	ctx, cancel := context.WithCancel(context.Background())
	ringing := make(chan struct{}, 1)
	done := make(chan error, 1)
	var s *Session
	go func() {
		var err error
		s, err = alice.Invite(ctx, uri, InviteOptions{SDP: []byte(offerSDP), OnEvent: func(_ *Session, ev Event) {
			if p, ok := ev.(Progress); ok && p.Response.StatusCode == 180 {
				ringing <- struct{}{}
			}
		}})
		done <- err
	}()
	wait(t, ringing)
	cancel()
	wait(t, canceled)
	err := wait(t, done)
	var te *TerminatedError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, Canceled, te.Cause)
	assert.Equal(t, sip.MethodAck, wait(t, inDialog), "the crossing 200 is acknowledged")
	assert.Equal(t, sip.MethodBye, wait(t, inDialog), "and the call it set up is ended")
	assert.Equal(t, Terminated, s.State())
}

// A forked INVITE answered by two UASs (two 2xx with different To tags):
// the first sets up the call, the second is ACKed and ended with BYE
// (RFC 3261 §13.2.2.4).
func TestForkedSecond2xxIsAckedAndEnded(t *testing.T) {
	aliceUA := newUA(t, ua.Config{})
	alice := mustLayer(t, endpoint(t, aliceUA, "alice"), Config{})
	forker := newUA(t, ua.Config{})
	type seen struct{ method, tag string }
	inDialog := make(chan seen, 8)
	forker.AddRouter(routerFunc(func(req *sip.Request) ua.Handler {
		return ua.HandlerFunc(func(w ua.ResponseWriter, r *ua.Request) {
			inDialog <- seen{r.Method, r.To().Tag()}
			if r.Method != sip.MethodAck {
				_ = w.Respond(w.NewResponse(200, ""))
			}
		})
	}))
	contact := "<sip:fork@" + forker.Addrs()[0].AddrPort.String() + ">"
	forker.HandleFunc(sip.MethodInvite, func(w ua.ResponseWriter, r *ua.Request) {
		first := w.NewResponse(200, "")
		first.Set("Contact", contact)
		first.Set("Content-Type", "application/sdp")
		first.SetBody([]byte(answerSDP))
		_ = w.Respond(first)
		second := first.Clone()
		second.Set("To", r.Get("To")+";tag=otherfork")
		_ = w.Respond(second) // what a forking proxy passes on from another branch
	})
	uri, _ := forker.ContactURI("")
	s, err := alice.Invite(context.Background(), uri, InviteOptions{SDP: []byte(offerSDP)})
	require.NoError(t, err)
	firstTag := s.Dialog().ID().RemoteTag
	assert.NotEqual(t, "otherfork", firstTag)
	got := map[seen]int{}
	for i := 0; i < 3; i++ {
		got[wait(t, inDialog)]++
	}
	assert.Equal(t, map[seen]int{{"ACK", firstTag}: 1, {"ACK", "otherfork"}: 1, {"BYE", "otherfork"}: 1}, got)
	assert.Equal(t, Established, s.State(), "the first fork's call is unaffected")
}

// UPDATE in an early dialog (RFC 3311, ACCEPTANCE AT-P4-4): after a 183,
// the caller changes the session with UPDATE before the call is answered.
func TestUpdateInEarlyDialog(t *testing.T) {
	answered := make(chan []byte, 2)
	p := newPair(t, ua.Config{}, Config{Answer: func(s *Session, offer []byte) ([]byte, error) {
		answered <- offer
		return []byte(answerSDP), nil
	}})
	aliceEv := newRecorder()
	type result struct {
		s   *Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := p.alice.Invite(context.Background(), p.bobURI, InviteOptions{SDP: []byte(offerSDP), OnEvent: aliceEv.on})
		done <- result{s, err}
	}()
	in := wait(t, p.incoming)
	require.NoError(t, in.Progress(context.Background(), 183, []byte(answerSDP)))
	var out *Session
	require.Eventually(t, func() bool {
		for _, s := range p.alice.Sessions() {
			if s.State() == Ringing {
				out = s
				return true
			}
		}
		return false
	}, 2*time.Second, time.Millisecond)
	changed := []byte("v=0\r\no=alice 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n")
	require.NoError(t, out.Update(context.Background(), changed), "UPDATE in the early dialog")
	assert.Equal(t, string(changed), string(wait(t, answered)))
	assert.Equal(t, Ringing, in.State())
	require.NoError(t, in.Accept(context.Background(), []byte(answerSDP)))
	r := wait(t, done)
	require.NoError(t, r.err)
	assert.Same(t, out, r.s)
	assert.Equal(t, string(changed), string(in.RemoteSDP()))
}
