package dialog

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
	"github.com/sipua-go/sipua/timer"
)

// scriptPeer is the far end of the ACCEPTANCE P1 scenarios (a UCMA
// Mediation Server, a Cisco phone): a bare UA that sends hand-built
// requests and answers every in-dialog request with answer(req).
type scriptPeer struct {
	t      *testing.T
	u      *ua.UA
	d      *Dialog
	mu     sync.Mutex
	answer func(req *sip.Request) (code int, headers map[string]string)
	got    chan *sip.Request
	// lastInvite is the last INVITE sent with invite.
	lastInvite *sip.Request
}

func newScriptPeer(t *testing.T) *scriptPeer {
	p := &scriptPeer{t: t, u: newUA(t, ua.Config{}), got: make(chan *sip.Request, 16)}
	p.u.AddRouter(routerFunc(func(req *sip.Request) ua.Handler {
		return ua.HandlerFunc(func(w ua.ResponseWriter, r *ua.Request) {
			p.got <- r.Request
			if r.Method == sip.MethodAck {
				return
			}
			code, hdrs := 200, map[string]string(nil)
			p.mu.Lock()
			f := p.answer
			p.mu.Unlock()
			if f != nil {
				code, hdrs = f(r.Request)
			}
			res := w.NewResponse(code, "")
			for k, v := range hdrs {
				res.Set(k, v)
			}
			_ = w.Respond(res)
		})
	}))
	return p
}

func (p *scriptPeer) setAnswer(f func(req *sip.Request) (int, map[string]string)) {
	p.mu.Lock()
	p.answer = f
	p.mu.Unlock()
}

// invite sends an INVITE with the given extra header fields and body,
// waits for the final response, ACKs a 2xx and keeps the dialog.
func (p *scriptPeer) invite(to sip.URI, hdrs [][2]string, body string) *sip.Response {
	t := p.t
	req := sip.NewRequest(sip.MethodInvite, to)
	contact, _ := p.u.ContactURI("")
	req.Set("Contact", "<"+contact.String()+">")
	req.Set("From", "<sip:+15551234@gw.example.test;user=phone>;tag=ms1")
	req.Set("To", "<sip:+15556789@example.test;user=phone>")
	req.Set("Allow", "INVITE, ACK, BYE, CANCEL, UPDATE")
	for _, h := range hdrs {
		req.Add(h[0], h[1])
	}
	if body != "" {
		req.Set("Content-Type", "application/sdp")
		req.SetBody([]byte(body))
	}
	c, _, err := p.u.StartInvite(context.Background(), req, ua.Target{})
	require.NoError(t, err)
	for {
		res := wait(t, c.Responses())
		if res.StatusCode < 200 {
			continue
		}
		if res.IsSuccess() {
			d, err := NewUAC(p.u, req, res)
			require.NoError(t, err)
			p.d = d
			require.NoError(t, p.u.SendAck(context.Background(), d.NewAck(req.CSeq().Seq), ua.Target{}))
		}
		p.lastInvite = req
		return res
	}
}

// send sends an in-dialog request and returns its final response.
func (p *scriptPeer) send(method string, hdrs [][2]string, body string) *sip.Response {
	t := p.t
	req := p.d.NewRequest(method)
	contact, _ := p.u.ContactURI("")
	req.Set("Contact", "<"+contact.String()+">")
	for _, h := range hdrs {
		req.Add(h[0], h[1])
	}
	if body != "" {
		req.Set("Content-Type", "application/sdp")
		req.SetBody([]byte(body))
	}
	if method == sip.MethodInvite {
		c, _, err := p.u.StartInvite(context.Background(), req, ua.Target{})
		require.NoError(t, err)
		for {
			res := wait(t, c.Responses())
			if res.StatusCode < 200 {
				continue
			}
			if res.IsSuccess() {
				require.NoError(t, p.u.SendAck(context.Background(), p.d.NewAck(req.CSeq().Seq), ua.Target{}))
			}
			return res
		}
	}
	res, err := p.d.Do(context.Background(), req)
	var se *ua.StatusError
	if errors.As(err, &se) {
		return se.Response
	}
	require.NoError(t, err)
	return res
}

// uasUnderTest is bob: our dialog layer on a fake clock, auto-answering.
type uasUnderTest struct {
	fake  *clock.Fake
	layer *Layer
	uri   sip.URI
	sess  chan *Session
	ev    *recorder
}

func newUAS(t *testing.T, cfg Config) *uasUnderTest {
	b := &uasUnderTest{fake: clock.NewFake(time.Unix(1.7e9, 0)), sess: make(chan *Session, 1), ev: newRecorder()}
	u := newUA(t, ua.Config{Clock: b.fake})
	cfg.OnInvite = func(s *Session) {
		s.OnEvent(b.ev.on)
		b.sess <- s
		go func() { _ = s.Accept(context.Background(), []byte(answerSDP)) }()
	}
	b.layer = mustLayer(t, endpoint(t, u, "bob"), cfg)
	b.uri, _ = u.ContactURI("")
	b.uri.User = "bob"
	return b
}

var p1Invite = [][2]string{{"Supported", "timer"}, {"Session-Expires", "1800"}, {"Min-SE", "90"}}

// AT-P1-1 and AT-P1-2: negotiation on INVITE, then bodiless UPDATE
// refreshes at SE/2 for 3×SE, then expiry when the peer stops.
func TestP1RefreshByUpdate(t *testing.T) {
	peer := newScriptPeer(t)
	bob := newUAS(t, Config{})
	res := peer.invite(bob.uri, p1Invite, offerSDP)
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "1800;refresher=uac", res.Get("Session-Expires"))
	assert.Equal(t, []string{"timer"}, res.Require())
	assert.True(t, res.HasToken("Supported", "timer"))
	assert.NotEmpty(t, res.Contact())
	assert.Empty(t, res.Get("Min-SE"))
	inv := peer.lastInvite
	assert.Equal(t, inv.Get("From"), res.Get("From"), "From mirrored byte-exact")
	assert.True(t, strings.HasPrefix(res.Get("To"), inv.Get("To")+";tag="), "To mirrored, user=phone kept: %s", res.Get("To"))
	assert.Equal(t, inv.Get("Call-ID"), res.Get("Call-ID"))
	assert.Equal(t, inv.Get("CSeq"), res.Get("CSeq"))
	assert.Equal(t, inv.Get("Via"), stripReceived(res.Get("Via")))

	s := wait(t, bob.sess)
	require.Eventually(t, func() bool { return s.State() == Established }, 2*time.Second, time.Millisecond)
	st := s.SessionTimer()
	assert.Equal(t, 1800*time.Second, st.Interval())
	assert.Equal(t, timer.RefresherRemote, st.Refresher())
	assert.Equal(t, bob.fake.Now().Add(1768*time.Second), st.ExpiresAt(), "refreshee timer at 1800 − min(32, 600)")

	// The peer refreshes every 900 s for three intervals.
	for elapsed := 900 * time.Second; elapsed <= 3*1800*time.Second; elapsed += 900 * time.Second {
		bob.fake.Advance(900 * time.Second)
		res := peer.send(sip.MethodUpdate, [][2]string{{"Session-Expires", "1800;refresher=uac"}, {"Supported", "timer"}}, "")
		require.Equal(t, 200, res.StatusCode, "at %v", elapsed)
		assert.Equal(t, "1800;refresher=uac", res.Get("Session-Expires"))
		assert.Equal(t, []string{"timer"}, res.Require())
		assert.NotEmpty(t, res.Contact(), "UPDATE is a target refresh: Contact in the 200")
		assert.Empty(t, res.Body(), "no SDP")
		assert.Empty(t, res.Get("Min-SE"))
		assert.Equal(t, bob.fake.Now().Add(1768*time.Second), st.ExpiresAt(), "restarted by the UPDATE")
	}
	assert.Equal(t, Established, s.State(), "still up at 3×SE")
	select {
	case r := <-peer.got:
		t.Fatalf("unexpected %s from bob", r.Method)
	default:
	}

	// The peer stops: BYE with Reason at 1768 s after the last refresh.
	bob.fake.Advance(1767 * time.Second)
	assert.Equal(t, Established, s.State())
	bob.fake.Advance(time.Second)
	bye := wait(t, peer.got)
	assert.Equal(t, sip.MethodBye, bye.Method)
	assert.Equal(t, `SIP;cause=408;text="Session timeout"`, bye.Get("Reason"))
	wait(t, s.Done())
	assert.Equal(t, SessionExpired, s.Err().Cause)
	assert.Equal(t, 408, s.Err().StatusCode)
}

func stripReceived(via string) string {
	if i := strings.Index(via, ";received="); i >= 0 {
		via = via[:i]
	}
	return strings.Replace(via, ";rport="+portOf(via), ";rport", 1)
}

func portOf(via string) string {
	i := strings.Index(via, ";rport=")
	if i < 0 {
		return ""
	}
	rest := via[i+len(";rport="):]
	if j := strings.IndexByte(rest, ';'); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// AT-P1-3: a re-INVITE refresh with the same SDP gets the same SDP (same
// o= version), the timer headers and Contact, and no MediaChanged.
func TestP1RefreshByReinvite(t *testing.T) {
	peer := newScriptPeer(t)
	bob := newUAS(t, Config{})
	require.Equal(t, 200, peer.invite(bob.uri, p1Invite, offerSDP).StatusCode)
	s := wait(t, bob.sess)
	require.Eventually(t, func() bool { return s.State() == Established }, 2*time.Second, time.Millisecond)
	bob.fake.Advance(900 * time.Second)
	res := peer.send(sip.MethodInvite, [][2]string{{"Session-Expires", "1800;refresher=uac"}, {"Supported", "timer"}}, offerSDP)
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, answerSDP, string(res.Body()), "the same answer, o= version unchanged")
	assert.Equal(t, "1800;refresher=uac", res.Get("Session-Expires"))
	assert.Equal(t, []string{"timer"}, res.Require())
	assert.NotEmpty(t, res.Contact())
	time.Sleep(20 * time.Millisecond)
	assert.Zero(t, bob.ev.count(func(ev Event) bool { _, ok := ev.(MediaChanged); return ok }), "no MediaChanged")
	assert.Equal(t, 1, bob.ev.count(func(ev Event) bool { _, ok := ev.(Refreshed); return ok }))
	assert.Equal(t, Established, s.State())
}

// AT-P1-5: a Session-Expires below our Min-SE gets 422 with Min-SE, on
// INVITE and on UPDATE; an acceptable one is taken as it is.
func TestP1MinSE(t *testing.T) {
	peer := newScriptPeer(t)
	bob := newUAS(t, Config{})
	res := peer.invite(bob.uri, [][2]string{{"Supported", "timer"}, {"Session-Expires", "60"}}, offerSDP)
	assert.Equal(t, 422, res.StatusCode)
	assert.Equal(t, "90", res.Get("Min-SE"))

	res = peer.invite(bob.uri, [][2]string{{"Supported", "timer"}, {"Session-Expires", "120"}, {"Min-SE", "90"}}, offerSDP)
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "120;refresher=uac", res.Get("Session-Expires"), "the UAS does not raise the interval")
	res = peer.send(sip.MethodUpdate, [][2]string{{"Supported", "timer"}, {"Session-Expires", "60"}}, "")
	assert.Equal(t, 422, res.StatusCode)
	assert.Equal(t, "90", res.Get("Min-SE"))
}

// AT-P1-6 and AT-P1-7: we are the callee and the refresher; at SE/2 we
// send UPDATE with refresher=uac and stay the refresher; a 408 to a
// refresh ends the call with BYE and Reason, after RefreshFailed.
func TestP1CalleeRefresherAndFailure(t *testing.T) {
	peer := newScriptPeer(t)
	bob := newUAS(t, Config{SessionTimer: timer.Config{Refresher: timer.RefresherUAS}})
	echo := func(req *sip.Request) (int, map[string]string) {
		return 200, map[string]string{"Session-Expires": req.Get("Session-Expires"), "Require": "timer"}
	}
	peer.setAnswer(echo)
	res := peer.invite(bob.uri, [][2]string{{"Supported", "timer"}, {"Session-Expires", "1800"}}, offerSDP)
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "1800;refresher=uas", res.Get("Session-Expires"))
	s := wait(t, bob.sess)
	require.Eventually(t, func() bool { return s.State() == Established }, 2*time.Second, time.Millisecond)

	for i := 0; i < 2; i++ {
		bob.fake.Advance(900 * time.Second)
		upd := wait(t, peer.got)
		require.Equal(t, sip.MethodUpdate, upd.Method, "the peer allows UPDATE")
		assert.Equal(t, "1800;refresher=uac", upd.Get("Session-Expires"), "we send it, so we are the uac of it")
		assert.Empty(t, upd.Body())
		require.Eventually(t, func() bool {
			return bob.ev.count(func(ev Event) bool { _, ok := ev.(Refreshed); return ok }) == i+1
		}, 2*time.Second, time.Millisecond)
		assert.Equal(t, timer.RefresherLocal, s.SessionTimer().Refresher(), "role kept")
	}

	peer.setAnswer(func(req *sip.Request) (int, map[string]string) { return 408, nil })
	bob.fake.Advance(900 * time.Second)
	assert.Equal(t, sip.MethodUpdate, wait(t, peer.got).Method)
	bye := wait(t, peer.got)
	assert.Equal(t, sip.MethodBye, bye.Method)
	assert.Equal(t, `SIP;cause=408;text="Session timeout"`, bye.Get("Reason"))
	wait(t, s.Done())
	assert.Equal(t, SessionExpired, s.Err().Cause)
	require.Eventually(t, func() bool {
		return bob.ev.count(func(ev Event) bool { rf, ok := ev.(RefreshFailed); return ok && rf.StatusCode == 408 }) == 1
	}, 2*time.Second, time.Millisecond)
}

// AT-P1-8: the interval the application sets is the one on the wire;
// disabled sends no Supported: timer but still answers a peer's timer.
func TestP1Knobs(t *testing.T) {
	bobUA := newUA(t, ua.Config{})
	invites := make(chan *sip.Request, 2)
	mustLayer(t, endpoint(t, bobUA, "bob"), Config{OnInvite: func(s *Session) {
		invites <- s.Request()
		_ = s.Reject(context.Background(), 486, "")
	}})
	uri, _ := bobUA.ContactURI("")
	aliceUA := newUA(t, ua.Config{})
	alice := mustLayer(t, endpoint(t, aliceUA, "alice"), Config{SessionTimer: timer.Config{Interval: 7200 * time.Second, MinSE: 600 * time.Second}})
	_, err := alice.Invite(context.Background(), uri, InviteOptions{SDP: []byte(offerSDP)})
	require.Error(t, err)
	got := wait(t, invites)
	assert.Equal(t, "7200", got.Get("Session-Expires"))
	assert.Equal(t, "600", got.Get("Min-SE"))
	assert.True(t, got.HasToken("Supported", "timer"))

	_, err = alice.Invite(context.Background(), uri, InviteOptions{SDP: []byte(offerSDP), SessionTimer: &timer.Config{Disabled: true}})
	require.Error(t, err)
	got = wait(t, invites)
	assert.False(t, got.HasToken("Supported", "timer"), "disabled: no Supported: timer")
	assert.Empty(t, got.Get("Session-Expires"))

	// Disabled as UAS: a peer that asks for a timer still gets a correct answer.
	peer := newScriptPeer(t)
	bob := newUAS(t, Config{SessionTimer: timer.Config{Disabled: true}})
	res := peer.invite(bob.uri, p1Invite, offerSDP)
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "1800;refresher=uac", res.Get("Session-Expires"))
	assert.Equal(t, []string{"timer"}, res.Require())
}

// A 422 to our INVITE is retried at once with the peer's Min-SE.
func TestUAC422Retry(t *testing.T) {
	bobUA := newUA(t, ua.Config{})
	var seen []string
	var mu sync.Mutex
	mustLayer(t, endpoint(t, bobUA, "bob"), Config{
		SessionTimer: timer.Config{MinSE: 1000 * time.Second, Interval: 1800 * time.Second},
		OnInvite: func(s *Session) {
			mu.Lock()
			seen = append(seen, s.Request().Get("Session-Expires"))
			mu.Unlock()
			_ = s.Accept(context.Background(), []byte(answerSDP))
		}})
	uri, _ := bobUA.ContactURI("")
	aliceUA := newUA(t, ua.Config{})
	alice := mustLayer(t, endpoint(t, aliceUA, "alice"), Config{SessionTimer: timer.Config{Interval: 300 * time.Second}})
	s, err := alice.Invite(context.Background(), uri, InviteOptions{SDP: []byte(offerSDP)})
	require.NoError(t, err)
	assert.Equal(t, 1000*time.Second, s.SessionTimer().Interval())
	mu.Lock()
	assert.Equal(t, []string{"1000"}, seen, "the 300 s INVITE was refused with 422 before reaching the application")
	mu.Unlock()
}
