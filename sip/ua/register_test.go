package ua

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
)

// registrar is an in-process registrar (and proxy stand-in) on the real
// clock: it records every request and answers with answer, or by default
// 200 with the contact and its expires echoed.
type registrar struct {
	ua     *UA
	addr   string // host:port, for Registrars
	mu     sync.Mutex
	reqs   []*sip.Request
	answer atomic.Pointer[func(w ResponseWriter, r *Request) bool]
}

func newRegistrar(t *testing.T, listen string) *registrar {
	t.Helper()
	r := &registrar{ua: newUA(t, Config{Listen: []string{listen}})}
	r.addr = r.ua.Addrs()[0].AddrPort.String()
	r.ua.HandleFunc("", func(w ResponseWriter, req *Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Request.Clone())
		r.mu.Unlock()
		if f := r.answer.Load(); f != nil && (*f)(w, req) {
			return
		}
		res := w.NewResponse(200, "")
		if req.Method == sip.MethodRegister {
			exp, err := req.Expires()
			if err != nil {
				exp = 3600
			}
			if c := req.Contact(); len(c) > 0 && exp > 0 {
				a := c[0]
				a.Params = a.Params.With("expires", strconv.Itoa(exp))
				res.Set("Contact", a.String())
			}
		}
		_ = w.Respond(res)
	})
	return r
}

// script sets the answer function; returning false falls through to the
// default answer.
func (r *registrar) script(f func(w ResponseWriter, req *Request) bool) { r.answer.Store(&f) }

// requests returns the requests received of a method ("" all).
func (r *registrar) requests(method string) []*sip.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*sip.Request
	for _, q := range r.reqs {
		if method == "" || q.Method == method {
			out = append(out, q)
		}
	}
	return out
}

func expiresOf(r *sip.Request) int {
	n, _ := r.Expires()
	return n
}

// client is a UA on a fake clock and the events of its endpoint.
type client struct {
	ua     *UA
	clk    *clock.Fake
	events chan Event
}

func newClient(t *testing.T, listen ...string) *client {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if len(listen) == 0 {
		listen = []string{"udp:127.0.0.1:0"}
	}
	return &client{ua: newUA(t, Config{Clock: clk, Listen: listen}), clk: clk, events: make(chan Event, 10000)}
}

func (c *client) endpoint(t *testing.T, cfg UserEndpointConfig) *UserEndpoint {
	t.Helper()
	if cfg.AOR == "" {
		cfg.AOR = "sip:alice@example.test"
	}
	cfg.OnEvent = func(ev Event) { c.events <- ev }
	e, err := NewUserEndpoint(c.ua, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = e.Terminate(ctx)
	})
	return e
}

// wait returns the next event satisfying ok, discarding the others.
func (c *client) wait(t *testing.T, what string, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-c.events:
			if ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event", what)
			return nil
		}
	}
}

func (c *client) waitReg(t *testing.T, target string, st RegistrationState) *RegistrationStateChanged {
	t.Helper()
	return c.wait(t, st.String()+" at "+target, func(ev Event) bool {
		r, ok := ev.(*RegistrationStateChanged)
		return ok && r.State == st && (target == "" || r.Target.AddrPort.String() == target)
	}).(*RegistrationStateChanged)
}

// drain returns the events queued now (after a short settle).
func (c *client) drain() []Event {
	time.Sleep(20 * time.Millisecond)
	var out []Event
	for {
		select {
		case ev := <-c.events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// advanceUntil moves the fake clock in steps until cond holds (bounded).
func (c *client) advanceUntil(t *testing.T, step time.Duration, cond func() bool) {
	t.Helper()
	for range 5000 {
		if cond() {
			return
		}
		c.clk.Advance(step)
		time.Sleep(200 * time.Microsecond)
	}
	t.Fatal("condition not reached")
}

// eventually waits in real time for cond (the network is real).
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, time.Millisecond, msg)
}

func TestRegisterRefreshTimingOverADay(t *testing.T) {
	reg := newRegistrar(t, "udp:127.0.0.1:0")
	// The registrar grants 300 s per contact while its Expires says 600:
	// the contact's expires parameter wins.
	reg.script(func(w ResponseWriter, r *Request) bool {
		res := w.NewResponse(200, "")
		c := r.Contact()[0]
		c.Params = c.Params.With("expires", "300")
		res.Set("Contact", c.String())
		res.Set("Expires", "600")
		return w.Respond(res) == nil
	})
	c := newClient(t)
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{reg.addr}, Expires: 600 * time.Second})
	require.NoError(t, e.Establish(context.Background()))
	ev := c.waitReg(t, reg.addr, Registered)
	assert.Equal(t, 300*time.Second, ev.Expires)
	assert.Equal(t, EndpointEstablished, e.State())
	first := reg.requests(sip.MethodRegister)[0]
	assert.Equal(t, 600, expiresOf(first))
	assert.Equal(t, "<sip:alice@example.test>", first.Get("To"))
	assert.Equal(t, "sip:example.test", first.URI.String())
	assert.Equal(t, "sip:alice@"+c.ua.Addrs()[0].AddrPort.String(), first.Contact()[0].URI.String())

	// Margin for 300 s: max(30 s, min(32 s, 150 s)) = 32 s → refresh at 268 s.
	c.clk.Advance(267 * time.Second)
	time.Sleep(30 * time.Millisecond)
	assert.Len(t, reg.requests(sip.MethodRegister), 1, "not refreshed before the margin")
	c.clk.Advance(time.Second)
	c.waitReg(t, reg.addr, Registered)
	assert.Len(t, reg.requests(sip.MethodRegister), 2)

	// A day of registrations, in milliseconds of real time.
	n := 2
	for elapsed := 268 * time.Second; elapsed < 24*time.Hour; elapsed += 268 * time.Second {
		c.clk.Advance(268 * time.Second)
		c.waitReg(t, reg.addr, Registered)
		n++
	}
	regs := reg.requests(sip.MethodRegister)
	assert.Len(t, regs, n)
	assert.Greater(t, n, 300)
	for i, r := range regs {
		assert.Equal(t, first.CallID(), r.CallID(), "one Call-ID for the binding")
		assert.Equal(t, uint32(i+1), r.CSeq().Seq, "CSeq goes up by one per REGISTER")
	}
}

func TestRefreshMarginScales(t *testing.T) {
	for _, c := range []struct{ granted, at time.Duration }{
		{3600 * time.Second, 3240 * time.Second}, // 10%
		{600 * time.Second, 540 * time.Second},
		{120 * time.Second, 88 * time.Second}, // Timer F's 32 s
		{40 * time.Second, 20 * time.Second},  // half
	} {
		assert.Equal(t, c.at, c.granted-defaultRefreshMargin(c.granted), c.granted)
	}
}

func TestRegister423(t *testing.T) {
	reg := newRegistrar(t, "udp:127.0.0.1:0")
	reg.script(func(w ResponseWriter, r *Request) bool {
		if expiresOf(r.Request) < 1800 {
			res := w.NewResponse(423, "")
			res.Set("Min-Expires", "1800")
			return w.Respond(res) == nil
		}
		return false
	})
	c := newClient(t)
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{reg.addr}, Expires: 600 * time.Second})
	require.NoError(t, e.Establish(context.Background()))
	regs := reg.requests(sip.MethodRegister)
	require.Len(t, regs, 2)
	assert.Equal(t, 600, expiresOf(regs[0]))
	assert.Equal(t, 1800, expiresOf(regs[1]))
	assert.Equal(t, regs[0].CSeq().Seq+1, regs[1].CSeq().Seq)
	assert.Equal(t, 1800*time.Second, c.waitReg(t, "", Registered).Expires)
	// Refreshes ask for 1800 s from now on.
	c.clk.Advance(1620 * time.Second)
	c.waitReg(t, "", Registered)
	assert.Equal(t, 1800, expiresOf(reg.requests(sip.MethodRegister)[2]))

	for _, min := range []string{"", "300", "600"} {
		reg2 := newRegistrar(t, "udp:127.0.0.1:0")
		reg2.script(func(w ResponseWriter, r *Request) bool {
			res := w.NewResponse(423, "")
			if min != "" {
				res.Set("Min-Expires", min)
			}
			return w.Respond(res) == nil
		})
		e2 := c.endpoint(t, UserEndpointConfig{Registrars: []string{reg2.addr}, Expires: 600 * time.Second})
		err := e2.Establish(context.Background())
		require.ErrorIs(t, err, ErrIntervalTooBrief, "Min-Expires %q", min)
		var se *StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 423, se.StatusCode())
		assert.Len(t, reg2.requests(sip.MethodRegister), 1, "gave up at once with Min-Expires %q", min)
		assert.Equal(t, EndpointIdle, e2.State())
	}
}

// digestRegistrar challenges every REGISTER (nonces last 5 minutes of the
// fake clock) and counts stale challenges.
func digestRegistrar(t *testing.T, c *client, stale *atomic.Int32) *registrar {
	reg := newRegistrar(t, "udp:127.0.0.1:0")
	as, err := auth.NewServer(auth.ServerConfig{Realm: "example.test", Algorithms: []string{"MD5"},
		Now: c.clk.Now, NonceLifetime: 5 * time.Minute})
	require.NoError(t, err)
	reg.script(func(w ResponseWriter, r *Request) bool {
		v := as.Verify(r.Request, func(user, realm string) (string, bool) { return "alice123", user == "alice" })
		if v.OK() {
			return false
		}
		if v.Reason == auth.ReasonStale {
			stale.Add(1)
		}
		res := w.NewResponse(401, "")
		as.Challenge(res, v.Reason == auth.ReasonStale)
		return w.Respond(res) == nil
	})
	return reg
}

func TestRegisterDigestAndStaleNonce(t *testing.T) {
	c := newClient(t)
	var stale atomic.Int32
	reg := digestRegistrar(t, c, &stale)
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{reg.addr}, Expires: 600 * time.Second,
		Credentials: auth.Credentials{Password: "alice123"}}) // username: the AOR's user
	require.NoError(t, e.Establish(context.Background()))
	regs := reg.requests(sip.MethodRegister)
	require.Len(t, regs, 2, "401, then 200")
	c.waitReg(t, reg.addr, Registered)
	assert.False(t, regs[0].Has("Authorization"))
	assert.Contains(t, regs[1].Get("Authorization"), `username="alice"`)
	assert.Equal(t, uint32(2), regs[1].CSeq().Seq)

	// The refresh at 540 s carries the remembered nonce, which is stale
	// by then: stale=true, recomputed without asking, 200.
	c.clk.Advance(540 * time.Second)
	c.waitReg(t, reg.addr, Registered)
	regs = reg.requests(sip.MethodRegister)
	require.Len(t, regs, 4)
	assert.Contains(t, regs[2].Get("Authorization"), "nc=00000002", "preemptive credentials on the refresh")
	assert.Equal(t, int32(1), stale.Load())
	assert.Equal(t, uint32(4), regs[3].CSeq().Seq)
	for _, ev := range c.drain() {
		if r, ok := ev.(*RegistrationStateChanged); ok {
			assert.NotEqual(t, RegistrationFailed, r.State)
		}
	}

	// A wrong password: the endpoint stays Idle with auth.ErrAuthFailed.
	e2 := c.endpoint(t, UserEndpointConfig{Registrars: []string{reg.addr}, Credentials: auth.Credentials{Password: "nope"}})
	err := e2.Establish(context.Background())
	assert.ErrorIs(t, err, auth.ErrAuthFailed)
	assert.Equal(t, EndpointIdle, e2.State())
}

func TestTerminateRemovesBindingsAfterHooks(t *testing.T) {
	reg := newRegistrar(t, "udp:127.0.0.1:0")
	c := newClient(t)
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{reg.addr}, Expires: 600 * time.Second})
	require.NoError(t, e.Establish(context.Background()))
	var hooked atomic.Int32
	e.OnTerminate(func(ctx context.Context) error {
		assert.Len(t, reg.requests(sip.MethodRegister), 1, "hooks run before the unREGISTER")
		hooked.Add(1)
		return nil
	})
	remove := e.OnTerminate(func(ctx context.Context) error { t.Error("removed hook ran"); return nil })
	remove()
	failing := errors.New("dialog would not end")
	e.OnTerminate(func(ctx context.Context) error { return failing })

	err := e.Terminate(context.Background())
	assert.ErrorIs(t, err, failing)
	assert.Equal(t, int32(1), hooked.Load())
	regs := reg.requests(sip.MethodRegister)
	require.Len(t, regs, 2)
	assert.Equal(t, 0, expiresOf(regs[1]))
	assert.Equal(t, regs[0].CallID(), regs[1].CallID())
	assert.Equal(t, EndpointTerminated, e.State())

	var states []EndpointState
	for _, ev := range c.drain() {
		if s, ok := ev.(*StateChanged); ok {
			states = append(states, s.To)
		}
	}
	assert.Equal(t, []EndpointState{EndpointEstablishing, EndpointEstablished, EndpointTerminating, EndpointTerminated}, states)
	// No refresh after Terminate.
	c.clk.Advance(2 * time.Hour)
	time.Sleep(20 * time.Millisecond)
	assert.Len(t, reg.requests(sip.MethodRegister), 2)
	_, err = e.Do(context.Background(), sip.NewRequest("MESSAGE", sip.URI{Scheme: "sip", Host: "example.test"}))
	assert.ErrorIs(t, err, ErrEndpointState)
}

func TestBindingsQueryAndGRUU(t *testing.T) {
	reg := newRegistrar(t, "udp:127.0.0.1:0")
	reg.script(func(w ResponseWriter, r *Request) bool {
		res := w.NewResponse(200, "")
		res.Add("Contact", "<sip:alice@192.0.2.7:5060>;expires=100")
		if cs := r.Contact(); len(cs) > 0 {
			a := cs[0]
			a.Params = a.Params.With("expires", "600").With("pub-gruu", `"sip:alice@example.test;gr=urn:uuid:1"`).
				With("temp-gruu", `"sip:tgruu.7hs@example.test;gr"`)
			res.Add("Contact", a.String())
		}
		return w.Respond(res) == nil
	})
	c := newClient(t)
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{reg.addr}, GRUU: true,
		InstanceID: "urn:uuid:00000000-0000-1000-8000-000a95a0e128"})
	require.NoError(t, e.Establish(context.Background()))
	r := reg.requests(sip.MethodRegister)[0]
	assert.Equal(t, `"<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"`, r.Contact()[0].Params.Value("+sip.instance"))
	assert.Contains(t, r.Supported(), "gruu")
	assert.Equal(t, "sip:alice@example.test;gr=urn:uuid:1", e.Contact().URI.String())
	assert.Equal(t, "sip:tgruu.7hs@example.test;gr", e.TempGRUU())

	bs, err := e.Bindings(context.Background())
	require.NoError(t, err)
	assert.Len(t, bs, 1, "the query's answer (no contact of ours: the registrar script adds one)")
	q := reg.requests(sip.MethodRegister)[1]
	assert.False(t, q.Has("Contact"), "a query has no Contact")
	assert.Equal(t, r.CallID(), q.CallID())
}

func TestOutboundKeepAliveReregistersWhenTheFlowBreaks(t *testing.T) {
	reg := newRegistrar(t, "udp:127.0.0.1:0")
	var silent atomic.Bool
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	reg.script(func(w ResponseWriter, r *Request) bool {
		switch r.Method {
		case sip.MethodOptions:
			if silent.Load() {
				<-hold // the flow is broken: no answer
				return true
			}
		case sip.MethodRegister:
			res := w.NewResponse(200, "")
			if cs := r.Contact(); len(cs) > 0 {
				a := cs[0]
				a.Params = a.Params.With("expires", "3600")
				res.Set("Contact", a.String())
			}
			res.Set("Flow-Timer", "100")
			res.Set("Require", "outbound")
			return w.Respond(res) == nil
		}
		return false
	})
	c := newClient(t)
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{reg.addr}, Outbound: true})
	require.NoError(t, e.Establish(context.Background()))
	c.waitReg(t, "", Registered)
	r := reg.requests(sip.MethodRegister)[0]
	assert.Equal(t, "1", r.Contact()[0].Params.Value("reg-id"))
	assert.Contains(t, r.Contact()[0].Params.Value("+sip.instance"), "urn:uuid:")
	assert.Contains(t, r.Supported(), "outbound")

	// Keep-alives every 90 s (90% of Flow-Timer 100).
	c.clk.Advance(89 * time.Second)
	time.Sleep(20 * time.Millisecond)
	assert.Empty(t, reg.requests(sip.MethodOptions))
	c.clk.Advance(time.Second)
	eventually(t, func() bool { return len(reg.requests(sip.MethodOptions)) == 1 }, "keep-alive at 90 s")
	time.Sleep(20 * time.Millisecond)
	c.clk.Advance(90 * time.Second)
	eventually(t, func() bool { return len(reg.requests(sip.MethodOptions)) == 2 }, "keep-alive at 180 s")
	assert.Len(t, reg.requests(sip.MethodRegister), 1)

	// The flow breaks: the keep-alive times out, the binding is registered again.
	silent.Store(true)
	time.Sleep(20 * time.Millisecond)
	c.clk.Advance(90 * time.Second)
	eventually(t, func() bool { return len(reg.requests(sip.MethodOptions)) == 3 }, "keep-alive at 270 s")
	c.advanceUntil(t, time.Second, func() bool { return len(reg.requests(sip.MethodRegister)) == 2 })
	c.waitReg(t, "", Registered)
}

// Over TCP the outbound keep-alives are RFC 5626 CRLF pings on the flow
// (no OPTIONS); when the connection is gone the binding is registered
// again over a new one.
func TestOutboundCRLFKeepAliveOverTCP(t *testing.T) {
	reg := newRegistrar(t, "tcp:127.0.0.1:0")
	reg.script(func(w ResponseWriter, r *Request) bool {
		if r.Method != sip.MethodRegister {
			return false
		}
		res := w.NewResponse(200, "")
		if cs := r.Contact(); len(cs) > 0 {
			a := cs[0]
			a.Params = a.Params.With("expires", "3600")
			res.Set("Contact", a.String())
		}
		res.Set("Flow-Timer", "100")
		res.Set("Require", "outbound")
		return w.Respond(res) == nil
	})
	c := newClient(t, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{"sip:" + reg.addr + ";transport=tcp"}, Outbound: true})
	require.NoError(t, e.Establish(context.Background()))
	c.waitReg(t, "", Registered)
	for i := 0; i < 2; i++ {
		c.clk.Advance(90 * time.Second)
		time.Sleep(50 * time.Millisecond)
	}
	assert.Empty(t, reg.requests(sip.MethodOptions), "CRLF pings, not OPTIONS")
	assert.Len(t, reg.requests(sip.MethodRegister), 1, "the pongs came back: no new registration")

	// The registrar goes away and comes back on the same port: the next
	// keep-alive finds the flow gone and the binding is registered again.
	addr := reg.addr
	require.NoError(t, reg.ua.Close(context.Background()))
	again := newRegistrar(t, "tcp:"+addr)
	c.clk.Advance(90 * time.Second)
	c.advanceUntil(t, time.Second, func() bool { return len(again.requests(sip.MethodRegister)) >= 1 })
}
