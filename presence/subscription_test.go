package presence

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
)

var bob = sip.Address{URI: sip.URI{Scheme: "sip", User: "bob", Host: "example.test"}}

func newTestSub(t *testing.T, fc *clock.Fake, p *subPeer, cli *ua.UA, mod func(*SubscriptionConfig)) (*Subscription, *subRecorder) {
	t.Helper()
	if cli == nil {
		cli = subUA(t, fc, ua.Config{})
	}
	rec := &subRecorder{}
	cfg := SubscriptionConfig{UA: cli, Target: p.target(), Resource: p.uri("alice"), From: bob,
		Expires: 600 * time.Second, OnEvent: rec.on}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSubscription(cfg)
	require.NoError(t, err)
	return s, rec
}

// establish runs SUBSCRIBE → 200 (Expires 600) → NOTIFY active and
// returns the notifier's side of the dialog.
func establish(t *testing.T, p *subPeer, s *Subscription) (*subX, *dialog.Dialog) {
	t.Helper()
	ch := subscribeAsync(s)
	x := p.next(t)
	res := x.ok(p, 600)
	require.NoError(t, subResult(t, ch))
	d := p.dialogOf(t, x, res.To().Tag())
	require.Equal(t, 200, p.notify(t, d, "active;expires=600", "application/pidf+xml", subPIDF("sip:alice@example.test", "open")))
	waitSubState(t, s, Active)
	return x, d
}

func TestSubscriptionLifecycle(t *testing.T) {
	fc := clock.NewFake(subStart)
	p := newSubPeer(t, fc, ua.Config{})
	s, rec := newTestSub(t, fc, p, nil, nil)
	x, d := establish(t, p, s)

	// The initial SUBSCRIBE (RFC 6665 §4.1.2.1, RFC 3856).
	r := x.req
	assert.Equal(t, "presence", r.Get("Event"))
	assert.Equal(t, "600", r.Get("Expires"))
	assert.Equal(t, "application/pidf+xml", r.Get("Accept"))
	assert.NotEmpty(t, r.Contact())
	assert.Empty(t, r.To().Tag())
	rec.waitFor(t, "notify:active", "Subscribing->Active")
	assert.Equal(t, subStart.Add(600*time.Second), s.ExpiresAt())

	// Refresh at 0.9·600 = 540 s, in the dialog, CSeq + 1.
	fc.Advance(539 * time.Second)
	p.none(t, 50*time.Millisecond)
	fc.Advance(time.Second)
	rx := p.next(t)
	assert.Equal(t, d.ID().LocalTag, rx.req.To().Tag())
	assert.Equal(t, r.From().Tag(), rx.req.From().Tag())
	assert.Equal(t, r.CSeq().Seq+1, rx.req.CSeq().Seq)
	assert.Equal(t, "600", rx.req.Get("Expires"))
	require.True(t, d.Receive(rx.req.Request))
	rx.ok(p, 300)
	require.Eventually(t, func() bool { return s.ExpiresAt().Equal(fc.Now().Add(300 * time.Second)) }, subWait, time.Millisecond)
	// A NOTIFY with a change.
	require.Equal(t, 200, p.notify(t, d, "active;expires=300", "application/pidf+xml", subPIDF("sip:alice@example.test", "closed")))

	// Unsubscribe: Expires: 0 in the dialog, then the final NOTIFY.
	done := make(chan error, 1)
	go func() { done <- s.Unsubscribe(context.Background()) }()
	ux := p.next(t)
	assert.Equal(t, "0", ux.req.Get("Expires"))
	assert.Equal(t, rx.req.CSeq().Seq+1, ux.req.CSeq().Seq)
	require.True(t, d.Receive(ux.req.Request))
	ux.ok(p, 0)
	require.Equal(t, 200, p.notify(t, d, "terminated;reason=timeout", "", nil))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(subWait):
		t.Fatal("Unsubscribe did not return")
	}
	assert.Equal(t, Terminated, s.State())
	assert.ErrorIs(t, s.Err(), ErrUnsubscribed)
	assert.Equal(t, sip.ReasonTimeout, s.Err().Reason)
	// A NOTIFY after the end: 481.
	assert.Equal(t, 481, p.notify(t, d, "active", "", nil))
	// No timers left behind.
	fc.Advance(2 * time.Hour)
	p.none(t, 50*time.Millisecond)
}

// TestSubscriptionTimerN: a 2xx and then nothing ends the whole
// subscription after 64·T1 = 32 s with a timeout cause (RFC 6665
// §4.1.2.4, AT-P5-4).
func TestSubscriptionTimerN(t *testing.T) {
	fc := clock.NewFake(subStart)
	p := newSubPeer(t, fc, ua.Config{})
	s, rec := newTestSub(t, fc, p, nil, nil)
	ch := subscribeAsync(s)
	p.next(t).ok(p, 600)
	require.NoError(t, subResult(t, ch))
	fc.Advance(31 * time.Second)
	assert.Equal(t, Subscribing, s.State())
	fc.Advance(time.Second)
	waitSubState(t, s, Terminated)
	c := s.Err()
	require.NotNil(t, c)
	assert.Equal(t, sip.ReasonTimeout, c.Reason)
	assert.ErrorIs(t, c, ErrNoNotify)
	rec.waitFor(t, "Subscribing->Terminated{timeout 0}")
	// Terminal: no resubscription.
	fc.Advance(time.Hour)
	p.none(t, 50*time.Millisecond)
}

// TestSubscriptionForkedNotify: a NOTIFY from one fork arrives before the
// 2xx, which comes from another fork (a different To tag). The NOTIFY's
// dialog is the subscription; a NOTIFY of a third fork gets 481 (RFC 6665
// §4.1.2.4, §5.4.9); the refresh goes to the NOTIFY's dialog.
func TestSubscriptionForkedNotify(t *testing.T) {
	fc := clock.NewFake(subStart)
	p := newSubPeer(t, fc, ua.Config{})
	s, rec := newTestSub(t, fc, p, nil, nil)
	ch := subscribeAsync(s)
	x := p.next(t)
	fork1 := p.dialogOf(t, x, "fork1")
	require.Equal(t, 200, p.notify(t, fork1, "active;expires=600", "application/pidf+xml", subPIDF("sip:alice@example.test", "open")))
	waitSubState(t, s, Active)
	res := x.ok(p, 600) // random To tag: another fork's 2xx
	require.NotEqual(t, "fork1", res.To().Tag())
	require.NoError(t, subResult(t, ch))
	id, ok := s.DialogID()
	require.True(t, ok)
	assert.Equal(t, "fork1", id.RemoteTag)

	fork2 := p.dialogOf(t, x, "fork2")
	assert.Equal(t, 481, p.notify(t, fork2, "active;expires=600", "", nil))

	fc.Advance(540 * time.Second)
	rx := p.next(t)
	assert.Equal(t, "fork1", rx.req.To().Tag())
	assert.Greater(t, rx.req.CSeq().Seq, x.req.CSeq().Seq)
	require.True(t, fork1.Receive(rx.req.Request))
	rx.ok(p, 600)
	rec.waitFor(t, "notify:active", "Subscribing->Active")
	assert.Equal(t, Active, s.State())
}

// TestSubscriptionReasons: the reason mapping of AT-P5-5 for a
// terminating NOTIFY.
func TestSubscriptionReasons(t *testing.T) {
	cases := []struct {
		state string
		retry time.Duration // -1: terminal
	}{
		{"terminated;reason=deactivated", 0},
		{"terminated;reason=timeout", 0},
		{"terminated;reason=probation;retry-after=120", 120 * time.Second},
		{"terminated;reason=probation", 30 * time.Second},
		{"terminated;reason=giveup;retry-after=9000", time.Hour},
		{"terminated;reason=rejected", -1},
		{"terminated;reason=noresource", -1},
		{"terminated;reason=invariant", -1},
		{"terminated", -1},
	}
	for _, tc := range cases {
		t.Run(tc.state, func(t *testing.T) {
			fc := clock.NewFake(subStart)
			p := newSubPeer(t, fc, ua.Config{})
			s, rec := newTestSub(t, fc, p, nil, nil)
			x, d := establish(t, p, s)
			require.Equal(t, 200, p.notify(t, d, tc.state, "", nil))
			if tc.retry < 0 {
				waitSubState(t, s, Terminated)
				assert.Nil(t, s.Err().Err)
				fc.Advance(2 * time.Hour)
				p.none(t, 50*time.Millisecond)
				return
			}
			rec.waitFor(t, "Active->WaitingToRetry")
			var wait SubscriptionStateChanged
			for _, ev := range rec.all() {
				if e, ok := ev.(SubscriptionStateChanged); ok && e.To == WaitingToRetry {
					wait = e
				}
			}
			require.NotNil(t, wait.Cause)
			assert.Equal(t, fc.Now().Add(tc.retry), wait.RetryAt)
			if tc.retry > 0 {
				fc.Advance(tc.retry - time.Second)
				p.none(t, 50*time.Millisecond)
				fc.Advance(time.Second)
			}
			nx := p.next(t)
			assert.Empty(t, nx.req.To().Tag(), "a new subscription, outside the dialog")
			assert.NotEqual(t, x.req.CallID(), nx.req.CallID())
			res := nx.ok(p, 600)
			d2 := p.dialogOf(t, nx, res.To().Tag())
			require.Equal(t, 200, p.notify(t, d2, "active;expires=600", "", nil))
			waitSubState(t, s, Active)
			rec.waitFor(t, "Active->WaitingToRetry", "WaitingToRetry->Subscribing", "Subscribing->Active")
		})
	}
}

// TestSubscriptionRejected: a non-2xx to SUBSCRIBE terminates with the
// code and the parsed ms-diagnostics (AT-P5-5).
func TestSubscriptionRejected(t *testing.T) {
	fc := clock.NewFake(subStart)
	p := newSubPeer(t, fc, ua.Config{})
	s, rec := newTestSub(t, fc, p, nil, nil)
	ch := subscribeAsync(s)
	p.next(t).respond(403, "ms-diagnostics", `2157;reason="Cross-tenant subscription not allowed";source="fe.example.test"`)
	err := subResult(t, ch)
	var se *SubscriptionError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 403, se.StatusCode)
	require.NotNil(t, se.Diagnostics)
	assert.Equal(t, 2157, se.Diagnostics.Code)
	assert.Equal(t, "Cross-tenant subscription not allowed", se.Diagnostics.Reason)
	assert.Equal(t, "fe.example.test", se.Diagnostics.Source)
	var st *ua.StatusError
	assert.ErrorAs(t, err, &st)
	assert.Equal(t, Terminated, s.State())
	rec.waitFor(t, "Subscribing->Terminated{ 403}")
}

// TestSubscriptionChallengedRefresh is AT-P4-5 for a subscription: the
// notifier challenges the refreshing SUBSCRIBE with 401; the UA answers
// with credentials (CSeq + 1) and the subscription stays Active.
func TestSubscriptionChallengedRefresh(t *testing.T) {
	fc := clock.NewFake(subStart)
	p := newSubPeer(t, fc, ua.Config{})
	srv, err := auth.NewServer(auth.ServerConfig{Realm: "example.test", Algorithms: []string{"MD5"}, Now: fc.Now})
	require.NoError(t, err)
	cli := subUA(t, fc, ua.Config{Credentials: func(realm string) (auth.Credentials, bool) {
		return auth.Credentials{Username: "bob", Password: "secret"}, true
	}})
	s, rec := newTestSub(t, fc, p, cli, nil)
	_, d := establish(t, p, s)
	rec.reset()

	for round := range 2 {
		fc.Advance(540 * time.Second)
		rx := p.next(t)
		require.True(t, d.Receive(rx.req.Request))
		ch := rx.w.NewResponse(401, "")
		srv.Challenge(ch, false)
		rx.once.Do(func() { _ = rx.w.Respond(ch); close(rx.done) })

		ax := p.next(t)
		assert.Equal(t, rx.req.CSeq().Seq+1, ax.req.CSeq().Seq, "round %d", round)
		cred := ax.req.Get("Authorization")
		assert.Contains(t, cred, "algorithm=MD5")
		assert.Contains(t, cred, "qop=auth")
		assert.Contains(t, cred, "nc=00000001")
		res := srv.Verify(ax.req.Request, func(user, realm string) (string, bool) { return "secret", user == "bob" })
		require.True(t, res.OK(), "verify: %v", res.Reason)
		require.True(t, d.Receive(ax.req.Request))
		ax.ok(p, 600)
		require.Eventually(t, func() bool { return s.ExpiresAt().Equal(fc.Now().Add(600 * time.Second)) }, subWait, time.Millisecond)
		assert.Equal(t, Active, s.State())
	}
	// A NOTIFY after the challenged refreshes is still accepted.
	require.Equal(t, 200, p.notify(t, d, "active;expires=600", "", nil))
	for _, ev := range rec.all() {
		if e, ok := ev.(SubscriptionStateChanged); ok {
			t.Errorf("unexpected transition %v", subEventString(e))
		}
	}
}

// TestSubscriptionRefreshFailure: a refresh that fails with a code other
// than 481 keeps the subscription until it expires (RFC 6665 §4.1.2.2);
// then it resubscribes (reason timeout). A 481 resubscribes at once.
func TestSubscriptionRefreshFailure(t *testing.T) {
	fc := clock.NewFake(subStart)
	p := newSubPeer(t, fc, ua.Config{})
	s, rec := newTestSub(t, fc, p, nil, nil)
	_, d := establish(t, p, s)
	fc.Advance(540 * time.Second)
	rx := p.next(t)
	require.True(t, d.Receive(rx.req.Request))
	rx.respond(500)
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, Active, s.State())
	fc.Advance(59 * time.Second)
	p.none(t, 50*time.Millisecond)
	fc.Advance(time.Second)
	nx := p.next(t)
	assert.Empty(t, nx.req.To().Tag())
	rec.waitFor(t, "Active->WaitingToRetry{timeout 0}", "WaitingToRetry->Subscribing")
	res := nx.ok(p, 600)
	d2 := p.dialogOf(t, nx, res.To().Tag())
	require.Equal(t, 200, p.notify(t, d2, "active;expires=600", "", nil))
	waitSubState(t, s, Active)

	fc.Advance(540 * time.Second)
	rx = p.next(t)
	rx.respond(481)
	nx = p.next(t)
	assert.Empty(t, nx.req.To().Tag())
	rec.waitFor(t, "Active->WaitingToRetry{ 481}")
}

// TestSubscriptionPiggyback: a 2xx whose body holds the first state
// counts as a NOTIFY (AT-P5-2): no Timer N expiry.
func TestSubscriptionPiggyback(t *testing.T) {
	fc := clock.NewFake(subStart)
	p := newSubPeer(t, fc, ua.Config{})
	s, rec := newTestSub(t, fc, p, nil, nil)
	ch := subscribeAsync(s)
	x := p.next(t)
	x.respondBody(200, "application/pidf+xml", subPIDF("sip:alice@example.test", "open"),
		"Expires", "600", "Contact", p.contact())
	require.NoError(t, subResult(t, ch))
	waitSubState(t, s, Active)
	rec.waitFor(t, "piggyback", "Subscribing->Active")
	fc.Advance(time.Minute)
	assert.Equal(t, Active, s.State())
}

func TestSubscriptionMinExpires(t *testing.T) {
	fc := clock.NewFake(subStart)
	p := newSubPeer(t, fc, ua.Config{})
	s, _ := newTestSub(t, fc, p, nil, func(c *SubscriptionConfig) { c.Expires = 30 * time.Second })
	ch := subscribeAsync(s)
	p.next(t).respond(423, "Min-Expires", "120")
	x := p.next(t)
	assert.Equal(t, "120", x.req.Get("Expires"))
	x.ok(p, 120)
	require.NoError(t, subResult(t, ch))
}
