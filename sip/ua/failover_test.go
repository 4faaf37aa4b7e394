package ua

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
)

// blackHole is a UDP address that swallows everything (a dead registrar).
func blackHole(t *testing.T) (addr string, received *atomic.Int32) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	received = new(atomic.Int32)
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			received.Add(1)
		}
	}()
	return pc.LocalAddr().String(), received
}

// closedTCPPort is a TCP address nothing listens on.
func closedTCPPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// resetter accepts TCP connections, reads the first bytes and resets them.
func resetter(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				_ = c.(*net.TCPConn).SetLinger(0) // close with RST
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func failedOver(t *testing.T, c *client) *FailedOver {
	t.Helper()
	return c.wait(t, "FailedOver", func(ev Event) bool { _, ok := ev.(*FailedOver); return ok }).(*FailedOver)
}

func message(to string) *sip.Request {
	uri, _ := sip.ParseURI("sip:bob@example.test")
	req := sip.NewRequest(sip.MethodMessage, uri)
	req.Set("Content-Type", "text/plain")
	req.SetBody([]byte("hi " + to))
	return req
}

func TestFailoverOnTimeout(t *testing.T) {
	dead, hits := blackHole(t)
	alt := newRegistrar(t, "udp:127.0.0.1:0")
	c := newClient(t)
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{dead, alt.addr}, Expires: 600 * time.Second})
	done := make(chan error, 1)
	go func() { done <- e.Establish(context.Background()) }()
	var err error
	c.advanceUntil(t, time.Second, func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	require.NoError(t, err)
	fo := failedOver(t, c)
	assert.Equal(t, dead, fo.From.AddrPort.String())
	assert.Equal(t, alt.addr, fo.To.AddrPort.String())
	var fe *FailoverError
	require.ErrorAs(t, fo.Cause, &fe)
	assert.Equal(t, FailoverTimeout, fe.Reason)
	assert.True(t, fe.Timeout())
	assert.Greater(t, hits.Load(), int32(1), "retransmitted to the primary until Timer F")
	c.waitReg(t, alt.addr, Registered)
	tg, err := e.Target(context.Background())
	require.NoError(t, err)
	assert.Equal(t, alt.addr, tg.AddrPort.String())

	// Later requests go to the alternate at once.
	before := hits.Load()
	res, err := e.Do(context.Background(), message("alt"))
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	assert.Len(t, alt.requests(sip.MethodMessage), 1)
	assert.Equal(t, before, hits.Load())
	m := alt.requests(sip.MethodMessage)[0]
	assert.Equal(t, "sip:alice@example.test", m.From().URI.String(), "From is the endpoint's identity")
	assert.NotEmpty(t, m.From().Tag())
}

func TestFailoverOnConnectionRefusedAndReset(t *testing.T) {
	for _, tc := range []struct {
		name    string
		primary string
		reason  FailoverReason
	}{
		{"refused", closedTCPPort(t), FailoverConnRefused},
		{"reset", resetter(t), FailoverConnReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alt := newRegistrar(t, "tcp:127.0.0.1:0")
			c := newClient(t, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
			e := c.endpoint(t, UserEndpointConfig{Registrars: []string{
				tc.primary + ";transport=tcp", "sip:" + alt.addr + ";transport=tcp"}})
			require.NoError(t, e.Establish(context.Background()))
			fo := failedOver(t, c)
			var fe *FailoverError
			require.ErrorAs(t, fo.Cause, &fe)
			assert.Equal(t, tc.reason, fe.Reason, "%v", fe)
			assert.Equal(t, "TCP", fo.To.Transport)
			regs := alt.requests(sip.MethodRegister)
			require.Len(t, regs, 1)
			assert.Equal(t, "tcp", regs[0].Contact()[0].URI.Params.Value("transport"), "the contact of the TCP listener")
		})
	}
}

func TestFailoverOn503ForAnyRequest(t *testing.T) {
	primary := newRegistrar(t, "udp:127.0.0.1:0")
	alt := newRegistrar(t, "udp:127.0.0.1:0")
	var retryAfter atomic.Bool
	primary.script(func(w ResponseWriter, r *Request) bool {
		if r.Method != sip.MethodMessage {
			return false
		}
		res := w.NewResponse(503, "")
		if retryAfter.Load() {
			res.Set("Retry-After", "30")
		}
		return w.Respond(res) == nil
	})
	c := newClient(t)
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{primary.addr, alt.addr}})
	require.NoError(t, e.Establish(context.Background()))

	// 503 with Retry-After: the server is overloaded, not gone; no failover.
	retryAfter.Store(true)
	_, err := e.Do(context.Background(), message("p"))
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 503, se.StatusCode())
	assert.Empty(t, alt.requests(""))

	retryAfter.Store(false)
	req := message("x")
	res, err := e.Do(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	pm := primary.requests(sip.MethodMessage)[1]
	am := alt.requests(sip.MethodMessage)
	require.Len(t, am, 1, "the same request re-sent to the alternate")
	assert.Equal(t, pm.CallID(), am[0].CallID())
	assert.Equal(t, pm.CSeq(), am[0].CSeq())
	pv, _ := pm.TopVia()
	av, _ := am[0].TopVia()
	assert.NotEqual(t, pv.Branch(), av.Branch(), "as a new transaction")
	fo := failedOver(t, c)
	var fe *FailoverError
	require.ErrorAs(t, fo.Cause, &fe)
	assert.Equal(t, FailoverStatus, fe.Reason)
	require.ErrorAs(t, fe, &se)
	assert.Equal(t, 503, se.StatusCode())
	// Requests go to the registrar that now holds the binding.
	c.waitReg(t, alt.addr, Registered)
	_, err = e.Do(context.Background(), message("y"))
	require.NoError(t, err)
	assert.Len(t, primary.requests(sip.MethodMessage), 2)
	assert.Len(t, alt.requests(sip.MethodMessage), 2)
}

func TestFailoverOnConfiguredCodes(t *testing.T) {
	primary := newRegistrar(t, "udp:127.0.0.1:0")
	alt := newRegistrar(t, "udp:127.0.0.1:0")
	primary.script(func(w ResponseWriter, r *Request) bool {
		return r.Method == sip.MethodOptions && w.Respond(w.NewResponse(500, "")) == nil
	})
	c := newClient(t)
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{primary.addr, alt.addr},
		Failover: FailoverConfig{OnCodes: []string{"5xx"}}})
	require.NoError(t, e.Establish(context.Background()))
	res, err := e.Do(context.Background(), sip.NewRequest(sip.MethodOptions, sip.URI{Scheme: "sip", Host: "example.test"}))
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	assert.Len(t, alt.requests(sip.MethodOptions), 1)

	// Without 5xx configured a 500 is just an answer.
	c2 := newClient(t)
	e2 := c2.endpoint(t, UserEndpointConfig{Registrars: []string{primary.addr, alt.addr}})
	require.NoError(t, e2.Establish(context.Background()))
	_, err = e2.Do(context.Background(), sip.NewRequest(sip.MethodOptions, sip.URI{Scheme: "sip", Host: "example.test"}))
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 500, se.StatusCode())
}

// downUp returns a registrar that answers 503 while down is set.
func downUp(t *testing.T) (*registrar, *atomic.Bool) {
	r := newRegistrar(t, "udp:127.0.0.1:0")
	down := new(atomic.Bool)
	down.Store(true)
	r.script(func(w ResponseWriter, req *Request) bool {
		return down.Load() && w.Respond(w.NewResponse(503, "")) == nil
	})
	return r, down
}

func TestFallbackInterval(t *testing.T) {
	primary, down := downUp(t)
	alt := newRegistrar(t, "udp:127.0.0.1:0")
	c := newClient(t)
	// Cisco's example: Expires 3600, fallback every 600 s.
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{primary.addr, alt.addr}, Expires: time.Hour,
		Failover: FailoverConfig{Fallback: FallbackInterval, FallbackInterval: 600 * time.Second}})
	require.NoError(t, e.Establish(context.Background()))
	failedOver(t, c)
	c.waitReg(t, alt.addr, Registered)
	require.Len(t, primary.requests(sip.MethodRegister), 1)

	c.clk.Advance(599 * time.Second)
	time.Sleep(20 * time.Millisecond)
	assert.Len(t, primary.requests(sip.MethodRegister), 1, "no probe before the interval")
	c.clk.Advance(time.Second)
	c.waitReg(t, primary.addr, RegistrationFailed)
	assert.Len(t, primary.requests(sip.MethodRegister), 2, "probe at 600 s")
	eventually(t, func() bool { return !e.probing.Load() }, "the probe is over")

	down.Store(false)
	c.clk.Advance(600 * time.Second)
	fb := c.wait(t, "FellBack", func(ev Event) bool { _, ok := ev.(*FellBack); return ok }).(*FellBack)
	assert.Equal(t, alt.addr, fb.From.AddrPort.String())
	assert.Equal(t, primary.addr, fb.To.AddrPort.String())
	assert.Equal(t, FallbackInterval, fb.Mode)
	c.waitReg(t, alt.addr, Unregistered)
	aregs := alt.requests(sip.MethodRegister)
	assert.Equal(t, 0, expiresOf(aregs[len(aregs)-1]), "the binding at the alternate is removed")

	_, err := e.Do(context.Background(), message("back"))
	require.NoError(t, err)
	assert.Len(t, primary.requests(sip.MethodMessage), 1, "new requests go to the primary")
	assert.Empty(t, alt.requests(sip.MethodMessage))
	assert.Equal(t, []RegistrationState{Registered, Unregistered}, e.RegistrationState())
}

func TestFallbackAtExpiry(t *testing.T) {
	primary, down := downUp(t)
	alt := newRegistrar(t, "udp:127.0.0.1:0")
	c := newClient(t)
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{primary.addr, alt.addr}, Expires: time.Hour})
	require.NoError(t, e.Establish(context.Background()))
	failedOver(t, c)
	c.waitReg(t, alt.addr, Registered)
	down.Store(false) // the primary is back, but nothing tries it yet

	c.clk.Advance(3239 * time.Second)
	time.Sleep(20 * time.Millisecond)
	assert.Len(t, primary.requests(sip.MethodRegister), 1)
	c.clk.Advance(time.Second) // the refresh of the 3600 s binding: to the primary first
	fb := c.wait(t, "FellBack", func(ev Event) bool { _, ok := ev.(*FellBack); return ok }).(*FellBack)
	assert.Equal(t, FallbackAtExpiry, fb.Mode)
	assert.Len(t, primary.requests(sip.MethodRegister), 2)
	c.waitReg(t, alt.addr, Unregistered)
	tg, err := e.Target(context.Background())
	require.NoError(t, err)
	assert.Equal(t, primary.addr, tg.AddrPort.String())
}

func TestFallbackAtExpiryStaysWhilePrimaryDown(t *testing.T) {
	primary, _ := downUp(t)
	alt := newRegistrar(t, "udp:127.0.0.1:0")
	c := newClient(t)
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{primary.addr, alt.addr}, Expires: 600 * time.Second})
	require.NoError(t, e.Establish(context.Background()))
	c.waitReg(t, alt.addr, Registered)
	for range 3 {
		c.clk.Advance(540 * time.Second)
		c.waitReg(t, alt.addr, Registered) // after the primary's 503, the alternate is refreshed
	}
	assert.Len(t, primary.requests(sip.MethodRegister), 4)
	assert.Len(t, alt.requests(sip.MethodRegister), 4)
	tg, _ := e.Target(context.Background())
	assert.Equal(t, alt.addr, tg.AddrPort.String())
}

func TestDualRegistration(t *testing.T) {
	primary := newRegistrar(t, "udp:127.0.0.1:0")
	alt := newRegistrar(t, "udp:127.0.0.1:0")
	var fail atomic.Bool
	primary.script(func(w ResponseWriter, r *Request) bool {
		return r.Method == sip.MethodMessage && fail.Load() && w.Respond(w.NewResponse(503, "")) == nil
	})
	c := newClient(t)
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{primary.addr, alt.addr}, Expires: 600 * time.Second,
		DualRegistration: true})
	require.NoError(t, e.Establish(context.Background()))
	seen := map[string]bool{}
	for range 2 {
		r := c.waitReg(t, "", Registered)
		seen[r.Target.AddrPort.String()] = true
	}
	assert.Equal(t, map[string]bool{primary.addr: true, alt.addr: true}, seen, "RegistrationStateChanged per target")
	p, a := primary.requests(sip.MethodRegister), alt.requests(sip.MethodRegister)
	require.Len(t, p, 1)
	require.Len(t, a, 1)
	assert.NotEqual(t, p[0].CallID(), a[0].CallID(), "independent Call-IDs")

	// Each binding is refreshed on its own.
	c.clk.Advance(540 * time.Second)
	c.waitReg(t, "", Registered)
	c.waitReg(t, "", Registered)
	assert.Len(t, primary.requests(sip.MethodRegister), 2)
	assert.Len(t, alt.requests(sip.MethodRegister), 2)
	assert.Equal(t, a[0].CallID(), alt.requests(sip.MethodRegister)[1].CallID())

	// Failover needs no REGISTER: the alternate holds a binding already.
	fail.Store(true)
	_, err := e.Do(context.Background(), message("dual"))
	require.NoError(t, err)
	failedOver(t, c)
	time.Sleep(20 * time.Millisecond)
	assert.Len(t, alt.requests(sip.MethodRegister), 2)
	assert.Len(t, alt.requests(sip.MethodMessage), 1)

	// Terminate removes the binding at both.
	require.NoError(t, e.Terminate(context.Background()))
	pr, ar := primary.requests(sip.MethodRegister), alt.requests(sip.MethodRegister)
	assert.Equal(t, 0, expiresOf(pr[len(pr)-1]))
	assert.Equal(t, 0, expiresOf(ar[len(ar)-1]))
	assert.Equal(t, []RegistrationState{Unregistered, Unregistered}, e.RegistrationState())
}

func TestEveryTargetFails(t *testing.T) {
	p, _ := downUp(t)
	a, _ := downUp(t)
	c := newClient(t)
	e := c.endpoint(t, UserEndpointConfig{Registrars: []string{p.addr, a.addr}})
	err := e.Establish(context.Background())
	var se *StatusError
	require.ErrorAs(t, err, &se, "the last target's error")
	assert.Equal(t, 503, se.StatusCode())
	assert.Len(t, p.requests(sip.MethodRegister), 1)
	assert.Len(t, a.requests(sip.MethodRegister), 1, "once around the list")
	assert.Equal(t, EndpointIdle, e.State())
	var sc *StateChanged
	for _, ev := range c.drain() {
		if s, ok := ev.(*StateChanged); ok {
			sc = s
		}
	}
	require.NotNil(t, sc)
	assert.Equal(t, EndpointIdle, sc.To)
	assert.True(t, errors.Is(sc.Cause, err) || sc.Cause == err)
}

func TestApplicationEndpoint(t *testing.T) {
	primary, _ := downUp(t)
	alt := newRegistrar(t, "udp:127.0.0.1:0")
	c := newClient(t)
	app, err := NewApplicationEndpoint(c.ua, ApplicationEndpointConfig{Identity: `"Bot" <sip:bot@example.test>`,
		Contact: "<sip:bot@example.test;gr=urn:uuid:2>", Proxies: []string{primary.addr, alt.addr},
		OnEvent: func(ev Event) { c.events <- ev }})
	require.NoError(t, err)
	require.NoError(t, app.Establish(context.Background()))
	assert.Equal(t, EndpointEstablished, app.State())
	// On behalf of a user: a From that is set stays.
	req := sip.NewRequest(sip.MethodSubscribe, sip.URI{Scheme: "sip", User: "carol", Host: "example.test"})
	req.Set("From", "<sip:dave@example.test>;tag=1")
	req.Set("Event", "presence")
	_, err = app.Do(context.Background(), req)
	require.NoError(t, err)
	got := alt.requests(sip.MethodSubscribe)
	require.Len(t, got, 1)
	assert.Equal(t, "sip:dave@example.test", got[0].From().URI.String())
	assert.Equal(t, "<sip:bot@example.test;gr=urn:uuid:2>", got[0].Get("Contact"))
	failedOver(t, c)
	drained := false
	app.OnTerminate(func(context.Context) error { drained = true; return nil })
	require.NoError(t, app.Terminate(context.Background()))
	assert.True(t, drained)
	assert.Equal(t, EndpointTerminated, app.State())
}
