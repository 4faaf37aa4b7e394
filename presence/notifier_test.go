package presence

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/presence/rlmi"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
)

// stateMap is a StateProvider: resource → basic status.
type stateMap struct {
	mu sync.Mutex
	m  map[string]string
}

func (sm *stateMap) set(resource, basic string) {
	sm.mu.Lock()
	if sm.m == nil {
		sm.m = make(map[string]string)
	}
	sm.m[resource] = basic
	sm.mu.Unlock()
}

func (sm *stateMap) EventState(resource, event string) (string, []byte, bool) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	b, ok := sm.m[resource]
	if !ok {
		return "", nil, false
	}
	return "application/pidf+xml", subPIDF(resource, b), true
}

type notifierEnv struct {
	fcSrv, fcCli *clock.Fake
	srv, cli     *ua.UA
	n            *Notifier
	states       *stateMap
}

// newNotifierEnv starts a notifier UA and a subscriber UA, each on its own
// fake clock so that either side's timers can be driven alone.
func newNotifierEnv(t *testing.T, mod func(*NotifierConfig)) *notifierEnv {
	t.Helper()
	e := &notifierEnv{fcSrv: clock.NewFake(subStart), fcCli: clock.NewFake(subStart), states: &stateMap{}}
	e.srv = subUA(t, e.fcSrv, ua.Config{})
	e.cli = subUA(t, e.fcCli, ua.Config{})
	cfg := NotifierConfig{State: e.states}
	if mod != nil {
		mod(&cfg)
	}
	e.n = NewNotifier(e.srv, cfg)
	e.srv.Handle(sip.MethodSubscribe, e.n)
	return e
}

// idle waits until no NOTIFY of the notifier is outstanding: moving its
// fake clock by more than 64·T1 while one is would time it out.
func (n *Notifier) waitIdle(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, s := range n.subs {
			s.mu.Lock()
			busy := s.sending
			s.mu.Unlock()
			if busy {
				return false
			}
		}
		return true
	}, subWait, time.Millisecond)
}

func (e *notifierEnv) uri(user string) sip.URI {
	a := e.srv.Addrs()[0].AddrPort
	return sip.URI{Scheme: "sip", User: user, Host: a.Addr().String(), Port: int(a.Port())}
}

func (e *notifierEnv) key(user string) string { return ResourceKey(e.uri(user)) }

func (e *notifierEnv) sub(t *testing.T, user string, mod func(*SubscriptionConfig)) (*Subscription, *subRecorder) {
	t.Helper()
	rec := &subRecorder{}
	cfg := SubscriptionConfig{UA: e.cli, Target: e.srv.Addrs()[0], Resource: e.uri(user), From: bob,
		Expires: 600 * time.Second, OnEvent: rec.on}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSubscription(cfg)
	require.NoError(t, err)
	return s, rec
}

// bodies returns the bodies of the NotifyReceived events.
func (r *subRecorder) bodies() []NotifyReceived {
	var out []NotifyReceived
	for _, ev := range r.all() {
		if n, ok := ev.(NotifyReceived); ok {
			out = append(out, n)
		}
	}
	return out
}

func (r *subRecorder) waitNotifies(t *testing.T, n int) []NotifyReceived {
	t.Helper()
	require.Eventually(t, func() bool { return len(r.bodies()) >= n }, subWait, time.Millisecond,
		"%d NOTIFYs, want %d: %q", len(r.bodies()), n, r.strings())
	return r.bodies()
}

// TestNotifierSingle: initial NOTIFY, NOTIFY on change, full NOTIFY on
// refresh, unsubscribe.
func TestNotifierSingle(t *testing.T) {
	e := newNotifierEnv(t, nil)
	e.states.set(e.key("alice"), "open")
	s, rec := e.sub(t, "alice", nil)
	require.NoError(t, s.Subscribe(context.Background()))
	waitSubState(t, s, Active)
	ns := rec.waitNotifies(t, 1)
	assert.Equal(t, "active", ns[0].State.State)
	assert.Equal(t, 600, ns[0].State.Expires)
	assert.Contains(t, string(ns[0].Body), "<basic>open</basic>")
	assert.Equal(t, 1, e.n.Len())

	e.states.set(e.key("alice"), "closed")
	e.n.Changed(e.key("alice"))
	ns = rec.waitNotifies(t, 2)
	assert.Contains(t, string(ns[1].Body), "<basic>closed</basic>")

	// The subscriber refreshes at 540 s; the notifier answers with a
	// full NOTIFY.
	e.fcCli.Advance(540 * time.Second)
	rec.waitNotifies(t, 3)
	assert.Equal(t, Active, s.State())

	require.NoError(t, s.Unsubscribe(context.Background()))
	assert.Equal(t, Terminated, s.State())
	assert.ErrorIs(t, s.Err(), ErrUnsubscribed)
	ns = rec.waitNotifies(t, 4)
	assert.Equal(t, "terminated", ns[3].State.State)
	assert.Equal(t, "timeout", ns[3].State.Reason)
	require.Eventually(t, func() bool { return e.n.Len() == 0 }, subWait, time.Millisecond)
}

// TestNotifierNeutralState: a resource without state gets a closed PIDF.
func TestNotifierNeutralState(t *testing.T) {
	e := newNotifierEnv(t, nil)
	s, rec := e.sub(t, "nobody", nil)
	require.NoError(t, s.Subscribe(context.Background()))
	ns := rec.waitNotifies(t, 1)
	assert.Contains(t, string(ns[0].Body), "closed")
}

// TestNotifierExpiry: the notifier's clock reaches the end of the
// subscription: NOTIFY terminated;reason=timeout, and the subscriber
// (reason timeout → resubscribe) subscribes again.
func TestNotifierExpiry(t *testing.T) {
	e := newNotifierEnv(t, nil)
	s, rec := e.sub(t, "alice", nil)
	require.NoError(t, s.Subscribe(context.Background()))
	waitSubState(t, s, Active)
	id1, _ := s.DialogID()
	e.n.waitIdle(t)
	e.fcSrv.Advance(599 * time.Second)
	assert.Equal(t, 1, len(rec.bodies()))
	e.fcSrv.Advance(time.Second)
	ns := rec.waitNotifies(t, 3)
	assert.Equal(t, "terminated", ns[1].State.State)
	assert.Equal(t, "timeout", ns[1].State.Reason)
	rec.waitFor(t, "Active->WaitingToRetry{timeout 0}", "WaitingToRetry->Subscribing", "Subscribing->Active")
	id2, _ := s.DialogID()
	assert.NotEqual(t, id1.CallID, id2.CallID)
	require.Eventually(t, func() bool { return e.n.Len() == 1 }, subWait, time.Millisecond)
}

func TestNotifierReject403(t *testing.T) {
	e := newNotifierEnv(t, func(c *NotifierConfig) {
		c.Authorize = func(r *ua.Request, resource string) Authorization { return AuthorizeReject }
	})
	s, _ := e.sub(t, "alice", nil)
	err := s.Subscribe(context.Background())
	var se *SubscriptionError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 403, se.StatusCode)
	assert.Equal(t, Terminated, s.State())
	assert.Equal(t, 0, e.n.Len())
}

func TestNotifierRejectByNotify(t *testing.T) {
	e := newNotifierEnv(t, func(c *NotifierConfig) {
		c.Authorize = func(r *ua.Request, resource string) Authorization { return AuthorizeRejectNotify }
	})
	e.states.set(e.key("alice"), "open")
	s, rec := e.sub(t, "alice", nil)
	// The NOTIFY may overtake the 2xx, in which case Subscribe already
	// returns the cause.
	_ = s.Subscribe(context.Background())
	waitSubState(t, s, Terminated)
	assert.Equal(t, "rejected", s.Err().Reason)
	ns := rec.waitNotifies(t, 1)
	assert.Empty(t, ns[0].Body, "no state for a rejected watcher")
	require.Eventually(t, func() bool { return e.n.Len() == 0 }, subWait, time.Millisecond)
}

func TestNotifierPendingThenAllowed(t *testing.T) {
	var mu sync.Mutex
	decision := AuthorizePending
	e := newNotifierEnv(t, func(c *NotifierConfig) {
		c.Authorize = func(r *ua.Request, resource string) Authorization {
			mu.Lock()
			defer mu.Unlock()
			return decision
		}
	})
	e.states.set(e.key("alice"), "open")
	s, rec := e.sub(t, "alice", nil)
	require.NoError(t, s.Subscribe(context.Background()))
	waitSubState(t, s, Pending)
	ns := rec.waitNotifies(t, 1)
	assert.Empty(t, ns[0].Body)
	mu.Lock()
	decision = AuthorizeAllow
	mu.Unlock()
	e.n.Reauthorize(e.key("alice"))
	waitSubState(t, s, Active)
	ns = rec.waitNotifies(t, 2)
	assert.Contains(t, string(ns[1].Body), "open")
}

// TestNotifierRLS: a resource list server: full state first, then only
// the member that changed with version + 1; a rejected member is a
// terminated instance.
func TestNotifierRLS(t *testing.T) {
	var mu sync.Mutex
	var members []string
	e := newNotifierEnv(t, func(c *NotifierConfig) {
		c.Lists = func(resource string) ([]string, bool) {
			if !strings.HasPrefix(resource, "sip:buddies@") {
				return nil, false
			}
			mu.Lock()
			defer mu.Unlock()
			return members, true
		}
		c.Authorize = func(r *ua.Request, resource string) Authorization {
			if strings.HasPrefix(resource, "sip:carol@") {
				return AuthorizeReject
			}
			return AuthorizeAllow
		}
	})
	mu.Lock()
	members = []string{e.uri("alice").String(), e.uri("bob").String(), e.uri("carol").String()}
	mu.Unlock()
	e.states.set(e.key("alice"), "open")
	e.states.set(e.key("bob"), "closed")
	s, rec := e.sub(t, "buddies", func(c *SubscriptionConfig) { c.EventList = true })
	require.NoError(t, s.Subscribe(context.Background()))
	alice, bobURI, carol := e.uri("alice").String(), e.uri("bob").String(), e.uri("carol").String()
	rec.waitFor(t, "res:"+alice+":Subscribing->Active", "res:"+bobURI+":Subscribing->Active",
		"res:"+carol+":Subscribing->Terminated{rejected 0}", "Subscribing->Active")
	ns := rec.waitNotifies(t, 1)
	l0, err := rlmi.Decode(mustMediaType(t, ns[0].ContentType), ns[0].Body)
	require.NoError(t, err)
	assert.True(t, l0.List.FullState)
	assert.Equal(t, uint32(0), l0.List.Version)
	assert.Len(t, l0.List.Resources, 3)
	ra, _ := s.Resource(alice)
	assert.Contains(t, string(ra.Body), "open")

	rec.reset()
	e.states.set(e.key("alice"), "closed")
	e.n.Changed(e.key("alice"))
	ns = rec.waitNotifies(t, 1)
	l1, err := rlmi.Decode(mustMediaType(t, ns[0].ContentType), ns[0].Body)
	require.NoError(t, err)
	assert.False(t, l1.List.FullState)
	assert.Equal(t, uint32(1), l1.List.Version)
	require.Len(t, l1.List.Resources, 1)
	assert.Equal(t, alice, l1.List.Resources[0].URI)
	require.Eventually(t, func() bool {
		r, _ := s.Resource(alice)
		return strings.Contains(string(r.Body), "closed")
	}, subWait, time.Millisecond)
	for _, ev := range rec.strings() {
		assert.NotContains(t, ev, "res:"+bobURI)
	}
	// A change of nothing the list holds sends nothing.
	e.n.Changed(e.key("dave"))
	e.n.Changed(e.key("bob")) // same state as before: no NOTIFY
	time.Sleep(30 * time.Millisecond)
	assert.Len(t, rec.bodies(), 1)
}

func mustMediaType(t *testing.T, s string) sip.MediaType {
	t.Helper()
	m, err := sip.ParseMediaType(s)
	require.NoError(t, err)
	return m
}

// TestNotifierAdHocList: a batch Subscription against the notifier.
func TestNotifierAdHocList(t *testing.T) {
	e := newNotifierEnv(t, nil)
	e.states.set(e.key("alice"), "open")
	members := []sip.URI{e.uri("alice"), e.uri("bob")}
	s, rec := e.sub(t, "me", func(c *SubscriptionConfig) { c.Members = members })
	require.NoError(t, s.Subscribe(context.Background()))
	rec.waitFor(t, "res:"+members[0].String()+":Subscribing->Active", "res:"+members[1].String()+":Subscribing->Active")
	r, _ := s.Resource(members[0].String())
	assert.Contains(t, string(r.Body), "open")
}

// TestNotifierCompositor: a PUBLISH to the colleague's Compositor makes
// the notifier NOTIFY the watchers.
func TestNotifierCompositor(t *testing.T) {
	var c *Compositor
	e := newNotifierEnv(t, func(cfg *NotifierConfig) {
		cfg.State = nil
		c = nil
	})
	// Rebuild with a compositor on the same UA.
	require.NoError(t, e.n.Close(context.Background()))
	c = NewCompositor(e.srv, CompositorConfig{})
	e.srv.Handle(sip.MethodPublish, c)
	e.n = NewNotifier(e.srv, NotifierConfig{Compositor: c})
	e.srv.Handle(sip.MethodSubscribe, e.n)

	s, rec := e.sub(t, "alice", nil)
	require.NoError(t, s.Subscribe(context.Background()))
	ns := rec.waitNotifies(t, 1)
	assert.Contains(t, string(ns[0].Body), "closed")

	pub, err := NewPublication(PublicationConfig{UA: e.cli, Target: e.srv.Addrs()[0], Resource: e.uri("alice")})
	require.NoError(t, err)
	require.NoError(t, pub.Publish(context.Background(), Body{Data: []byte(pidfOnThePhone)}))
	ns = rec.waitNotifies(t, 2)
	assert.Contains(t, string(ns[1].Body), "on-the-phone")
}

// TestNotifierChallengedNotify is AT-P4-5 for our NOTIFY: the subscriber
// challenges it with 401; the notifier answers with credentials (CSeq + 1)
// and the subscription is not terminated; the next NOTIFY reuses the
// nonce with nc=00000002.
func TestNotifierChallengedNotify(t *testing.T) {
	fc := clock.NewFake(subStart)
	srv := subUA(t, fc, ua.Config{Credentials: func(realm string) (auth.Credentials, bool) {
		return auth.Credentials{Username: "rls", Password: "pw"}, true
	}})
	states := &stateMap{}
	n := NewNotifier(srv, NotifierConfig{Event: "check-sync", State: states})
	srv.Handle(sip.MethodSubscribe, n)
	peer := subUA(t, fc, ua.Config{})
	ds, err := auth.NewServer(auth.ServerConfig{Realm: "phone.test", Algorithms: []string{"MD5"}, Now: fc.Now})
	require.NoError(t, err)
	got := make(chan *sip.Request, 8)
	peer.AddRouter(subPeerRouterFor(sip.MethodNotify, func(w ua.ResponseWriter, r *ua.Request) {
		got <- r.Request
		if r.Get("Authorization") == "" {
			res := w.NewResponse(401, "")
			ds.Challenge(res, false)
			_ = w.Respond(res)
			return
		}
		if v := ds.Verify(r.Request, func(u, realm string) (string, bool) { return "pw", u == "rls" }); !v.OK() {
			_ = w.Respond(w.NewResponse(403, v.Reason.String()))
			return
		}
		_ = w.Respond(w.NewResponse(200, ""))
	}))
	a := srv.Addrs()[0].AddrPort
	target := sip.URI{Scheme: "sip", User: "phone", Host: a.Addr().String(), Port: int(a.Port())}
	req := sip.NewRequest(sip.MethodSubscribe, target)
	req.Set("From", "<sip:cisco@phone.test>;tag=ph1")
	req.Set("To", "<"+target.String()+">")
	req.Set("Event", "check-sync")
	req.Set("Expires", "600")
	cu, _ := peer.ContactURI("")
	req.Set("Contact", "<"+cu.String()+">")
	_, err = peer.Do(context.Background(), req, srv.Addrs()[0])
	require.NoError(t, err)

	recv := func() *sip.Request {
		select {
		case r := <-got:
			return r
		case <-time.After(subWait):
			t.Fatal("no NOTIFY")
			return nil
		}
	}
	n1 := recv()
	assert.Empty(t, n1.Get("Authorization"))
	n2 := recv()
	assert.Equal(t, n1.CSeq().Seq+1, n2.CSeq().Seq)
	cred := n2.Get("Authorization")
	for _, want := range []string{`username="rls"`, `realm="phone.test"`, "algorithm=MD5", "qop=auth", "nc=00000001", "cnonce="} {
		assert.Contains(t, cred, want)
	}
	require.Eventually(t, func() bool { return n.Len() == 1 }, subWait, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, 1, n.Len(), "the challenge did not end the subscription")

	n.Changed(ResourceKey(target))
	n3 := recv()
	assert.Contains(t, n3.Get("Authorization"), "nc=00000002")
	assert.Equal(t, n2.CSeq().Seq+1, n3.CSeq().Seq)
	assert.Equal(t, 1, n.Len())
}

type subPeerRouterFunc struct {
	method string
	f      func(w ua.ResponseWriter, r *ua.Request)
}

func (r subPeerRouterFunc) RouteRequest(req *sip.Request) ua.Handler {
	if req.Method == r.method {
		return ua.HandlerFunc(r.f)
	}
	return nil
}

func subPeerRouterFor(method string, f func(w ua.ResponseWriter, r *ua.Request)) ua.Router {
	return subPeerRouterFunc{method, f}
}
