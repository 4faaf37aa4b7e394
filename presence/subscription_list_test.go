package presence

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/presence/rlmi"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

var listMembers = []string{"sip:a@tenant.test", "sip:b@tenant.test", "sip:x@othertenant.test", "sip:d@tenant.test"}

func memberURIs(t *testing.T, ss ...string) []sip.URI {
	var out []sip.URI
	for _, s := range ss {
		u, err := sip.ParseURI(s)
		require.NoError(t, err)
		out = append(out, u)
	}
	return out
}

func newBatchSub(t *testing.T, fc *clock.Fake, p *subPeer, members ...string) (*Subscription, *subRecorder) {
	return newTestSub(t, fc, p, nil, func(c *SubscriptionConfig) {
		c.Resource = p.uri("bob")
		c.Members = memberURIs(t, members...)
	})
}

// TestBatchSubscribeRequest is AT-P5-1: the headers and body of a batch
// SUBSCRIBE; every member starts in Subscribing.
func TestBatchSubscribeRequest(t *testing.T) {
	fc := clock.NewFake(subStart)
	p := newSubPeer(t, fc, ua.Config{})
	s, _ := newBatchSub(t, fc, p, listMembers...)
	for _, r := range s.Resources() {
		assert.Equal(t, Subscribing, r.State, r.URI)
	}
	require.Len(t, s.Resources(), len(listMembers))
	ch := subscribeAsync(s)
	x := p.next(t)
	r := x.req
	assert.Equal(t, "presence", r.Get("Event"))
	assert.True(t, hasTokenFold(r.Require(), "adhoclist"))
	assert.True(t, hasTokenFold(r.Supported(), "eventlist"))
	assert.True(t, hasTokenFold(r.Supported(), "ms-piggyback-first-notify"))
	assert.Equal(t, "application/rlmi+xml, multipart/related, application/msrtc-event-categories+xml", r.Get("Accept"))
	assert.True(t, r.ContentType().Is("application/msrtc-adrl-categorylist+xml"))
	got, err := ParseAdHocList(r.Body())
	require.NoError(t, err)
	assert.Equal(t, listMembers, got)
	x.respond(403)
	require.Error(t, subResult(t, ch))
	// AT-P5-5: every listed presentity Terminated with the code.
	for _, r := range s.Resources() {
		assert.Equal(t, Terminated, r.State, r.URI)
		assert.Equal(t, 403, r.StatusCode, r.URI)
	}
}

// TestBatchAccept is configurable.
func TestBatchAcceptConfigurable(t *testing.T) {
	fc := clock.NewFake(subStart)
	p := newSubPeer(t, fc, ua.Config{})
	s, _ := newTestSub(t, fc, p, nil, func(c *SubscriptionConfig) {
		c.Resource = p.uri("bob")
		c.Members = memberURIs(t, listMembers[:1]...)
		c.Accept = "application/rlmi+xml, multipart/related, application/pidf+xml"
	})
	subscribeAsync(s)
	x := p.next(t)
	assert.Equal(t, "application/rlmi+xml, multipart/related, application/pidf+xml", x.req.Get("Accept"))
	x.respond(480)
}

// TestBatchPiggybackAndForbidden is AT-P5-2 and AT-P5-3: the 2xx carries
// the first state as multipart/related RLMI; the cross-tenant resource is
// Terminated with forbidden, 403 and 2157 in the same dispatch, the others
// proceed, the list stays active; Timer N later ends the member that never
// appeared (AT-P5-4) and nothing else.
func TestBatchPiggybackAndForbidden(t *testing.T) {
	fc := clock.NewFake(subStart)
	p := newSubPeer(t, fc, ua.Config{})
	s, rec := newBatchSub(t, fc, p, listMembers...)
	ch := subscribeAsync(s)
	x := p.next(t)
	ct, body := rlmiBody(t, "sip:bob@tenant.test", 0, true,
		rlmiRes{uri: listMembers[0], state: "active", pidf: "open"},
		rlmiRes{uri: listMembers[1], state: "active", pidf: "closed"},
		rlmiRes{uri: listMembers[2], state: "terminated", reason: "forbidden",
			attrs: map[string]string{"statusCode": "403", "ms-diagnostics": "2157", "poolFqdn": "pool.othertenant.test"}},
	)
	x.respondBody(200, ct, body, "Expires", "600", "Contact", p.contact(), "Require", "eventlist")
	require.NoError(t, subResult(t, ch))
	want := []string{
		"piggyback",
		"res:" + listMembers[0] + ":Subscribing->Active",
		"res:" + listMembers[1] + ":Subscribing->Active",
		"res:" + listMembers[2] + ":Subscribing->Terminated{forbidden 403}",
		"Subscribing->Active",
	}
	rec.waitFor(t, want...)
	// One dispatch: the events are consecutive.
	evs := rec.strings()
	require.GreaterOrEqual(t, len(evs), len(want))
	assert.Equal(t, want, evs[:len(want)])

	x3, ok := s.Resource(listMembers[2])
	require.True(t, ok)
	assert.Equal(t, "forbidden", x3.Reason)
	assert.Equal(t, 403, x3.StatusCode)
	require.NotNil(t, x3.Diagnostics)
	assert.Equal(t, 2157, x3.Diagnostics.Code)
	assert.Equal(t, "pool.othertenant.test", x3.Attrs["poolFqdn"])
	a, _ := s.Resource(listMembers[0])
	assert.Equal(t, "application/pidf+xml", a.ContentType)
	assert.Contains(t, string(a.Body), "<basic>open</basic>")
	assert.Equal(t, Active, s.State())

	// AT-P5-4: the member without an instance times out after Timer N;
	// forbidden is not retried.
	fc.Advance(31 * time.Second)
	d4, _ := s.Resource(listMembers[3])
	assert.Equal(t, Subscribing, d4.State)
	fc.Advance(time.Second)
	rec.waitFor(t, "res:"+listMembers[3]+":Subscribing->Terminated{timeout 0}")
	d4, _ = s.Resource(listMembers[3])
	assert.ErrorIs(t, d4.Err, ErrNoNotify)
	assert.Equal(t, Active, s.State())
	a, _ = s.Resource(listMembers[0])
	assert.Equal(t, Active, a.State)
	p.none(t, 50*time.Millisecond)
}

// TestBatchNoNotify is AT-P5-4's second bullet: neither a piggybacked body
// nor a NOTIFY within Timer N ends the whole subscription and every
// member with timeout.
func TestBatchNoNotify(t *testing.T) {
	fc := clock.NewFake(subStart)
	p := newSubPeer(t, fc, ua.Config{})
	s, rec := newBatchSub(t, fc, p, listMembers[:2]...)
	ch := subscribeAsync(s)
	p.next(t).ok(p, 600)
	require.NoError(t, subResult(t, ch))
	fc.Advance(32 * time.Second)
	waitSubState(t, s, Terminated)
	rec.waitFor(t, "res:"+listMembers[0]+":Subscribing->Terminated{timeout 0}",
		"res:"+listMembers[1]+":Subscribing->Terminated{timeout 0}", "Subscribing->Terminated{timeout 0}")
	assert.ErrorIs(t, s.Err(), ErrNoNotify)
}

// listNotify sends a NOTIFY with an RLMI body.
func listNotify(t *testing.T, p *subPeer, d *dialog.Dialog, state string, version uint32, full bool, rs ...rlmiRes) int {
	t.Helper()
	ct, body := rlmiBody(t, "sip:buddies@tenant.test", version, full, rs...)
	return p.notify(t, d, state, ct, body)
}

// TestListVersions is AT-P5-6 over an RFC 4662 list subscription: full
// state, partial updates of only the listed resources, stale versions
// ignored, a gap → refresh for full state, terminated → every resource
// terminated with the reason.
func TestListVersions(t *testing.T) {
	fc := clock.NewFake(subStart)
	p := newSubPeer(t, fc, ua.Config{})
	s, rec := newTestSub(t, fc, p, nil, func(c *SubscriptionConfig) {
		c.Resource = p.uri("buddies")
		c.EventList = true
	})
	ch := subscribeAsync(s)
	x := p.next(t)
	assert.True(t, hasTokenFold(x.req.Supported(), "eventlist"))
	assert.Empty(t, x.req.Require())
	assert.Equal(t, DefaultEventListAccept, x.req.Get("Accept"))
	res := x.ok(p, 600)
	require.NoError(t, subResult(t, ch))
	d := p.dialogOf(t, x, res.To().Tag())
	a, b, c := "sip:a@tenant.test", "sip:b@tenant.test", "sip:c@tenant.test"
	require.Equal(t, 200, listNotify(t, p, d, "active;expires=600", 0, true,
		rlmiRes{uri: a, state: "active", pidf: "open"}, rlmiRes{uri: b, state: "pending"}, rlmiRes{uri: c, state: "active", pidf: "closed"}))
	rec.waitFor(t, "res:"+a+":Subscribing->Active", "res:"+b+":Subscribing->Pending", "res:"+c+":Subscribing->Active", "Subscribing->Active")
	require.Len(t, s.Resources(), 3)
	rec.reset()

	// Partial: only b.
	require.Equal(t, 200, listNotify(t, p, d, "active;expires=600", 1, false, rlmiRes{uri: b, state: "active", pidf: "open"}))
	rec.waitFor(t, "notify:active", "res:"+b+":Pending->Active")
	// A duplicate of version 1 changes nothing.
	require.Equal(t, 200, listNotify(t, p, d, "active;expires=600", 1, false, rlmiRes{uri: a, state: "terminated", reason: "rejected"}))
	time.Sleep(20 * time.Millisecond)
	for _, e := range rec.strings() {
		assert.NotContains(t, e, "res:"+a)
		assert.NotContains(t, e, "res:"+c)
	}
	ra, _ := s.Resource(a)
	assert.Equal(t, Active, ra.State)

	// A gap (3 after 1): refresh in the dialog to get full state.
	require.Equal(t, 200, listNotify(t, p, d, "active;expires=600", 3, false, rlmiRes{uri: a, state: "terminated", reason: "rejected"}))
	rx := p.next(t)
	assert.Equal(t, d.ID().LocalTag, rx.req.To().Tag())
	require.True(t, d.Receive(rx.req.Request))
	rx.ok(p, 600)
	ra, _ = s.Resource(a)
	assert.Equal(t, Active, ra.State, "the gapped NOTIFY is not applied")
	// Partial updates are ignored until the full state comes.
	require.Equal(t, 200, listNotify(t, p, d, "active;expires=600", 4, false, rlmiRes{uri: a, state: "terminated", reason: "rejected"}))
	require.Equal(t, 200, listNotify(t, p, d, "active;expires=600", 5, true,
		rlmiRes{uri: a, state: "active", pidf: "closed"}, rlmiRes{uri: b, state: "active", pidf: "open"}, rlmiRes{uri: c, state: "active", pidf: "closed"}))
	require.Eventually(t, func() bool {
		r, _ := s.Resource(a)
		return string(r.Body) == string(subPIDF(a, "closed"))
	}, subWait, time.Millisecond)
	ra, _ = s.Resource(a)
	assert.Equal(t, Active, ra.State)
	rec.reset()

	// Terminated on the list: every resource terminated with the reason.
	require.Equal(t, 200, listNotify(t, p, d, "terminated;reason=noresource", 6, false))
	waitSubState(t, s, Terminated)
	for _, r := range s.Resources() {
		assert.Equal(t, Terminated, r.State, r.URI)
		assert.Equal(t, "noresource", r.Reason, r.URI)
	}
	rec.waitFor(t, "res:"+a+":Active->Terminated{noresource 0}", "res:"+b+":Active->Terminated{noresource 0}",
		"res:"+c+":Active->Terminated{noresource 0}", "Active->Terminated{noresource 0}")
}

// TestListDeactivated: deactivated on the list puts every resource in
// WaitingToRetry, then back to Subscribing with the new SUBSCRIBE.
func TestListDeactivated(t *testing.T) {
	fc := clock.NewFake(subStart)
	p := newSubPeer(t, fc, ua.Config{})
	s, rec := newBatchSub(t, fc, p, listMembers[:2]...)
	ch := subscribeAsync(s)
	x := p.next(t)
	res := x.ok(p, 600)
	require.NoError(t, subResult(t, ch))
	d := p.dialogOf(t, x, res.To().Tag())
	require.Equal(t, 200, listNotify(t, p, d, "active;expires=600", 0, true,
		rlmiRes{uri: listMembers[0], state: "active"}, rlmiRes{uri: listMembers[1], state: "active"}))
	waitSubState(t, s, Active)
	require.Equal(t, 200, listNotify(t, p, d, "terminated;reason=deactivated", 1, false))
	nx := p.next(t)
	assert.Empty(t, nx.req.To().Tag())
	rec.waitFor(t, "res:"+listMembers[0]+":Active->WaitingToRetry{deactivated 0}",
		"Active->WaitingToRetry{deactivated 0}", "WaitingToRetry->Subscribing",
		"res:"+listMembers[0]+":WaitingToRetry->Subscribing")
	res = nx.ok(p, 600)
	d2 := p.dialogOf(t, nx, res.To().Tag())
	require.Equal(t, 200, listNotify(t, p, d2, "active;expires=600", 0, true,
		rlmiRes{uri: listMembers[0], state: "active"}, rlmiRes{uri: listMembers[1], state: "active"}))
	waitSubState(t, s, Active)
	r0, _ := s.Resource(listMembers[0])
	assert.Equal(t, Active, r0.State)
	_ = context.Background
	_ = fmt.Sprint
	_ = rlmi.ContentType
}
