package interop

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/im"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
)

// imUser is a sipua user registered at a Kamailio, with a pager and a
// dialog layer that accepts IM sessions.
type imUser struct {
	u     *ua.UA
	ep    *ua.UserEndpoint
	pager *im.Pager
	layer *dialog.Layer
	msgs  chan *im.Message
	flows chan *im.Flow
}

func newIMUser(t *testing.T, k *kamailioProc, user, password string) *imUser {
	t.Helper()
	u, err := ua.New(ua.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = u.Close(context.Background()) })
	x := &imUser{u: u, msgs: make(chan *im.Message, 100), flows: make(chan *im.Flow, 4)}
	x.ep, err = ua.NewUserEndpoint(u, ua.UserEndpointConfig{AOR: "sip:" + user + "@example.test",
		Credentials: auth.Credentials{Password: password}, Registrars: []string{k.addr()}, Expires: 600 * time.Second})
	require.NoError(t, err)
	x.pager, err = im.NewPager(im.PagerConfig{Endpoint: x.ep, OnMessage: func(m *im.Message) { x.msgs <- m }})
	require.NoError(t, err)
	x.layer, err = dialog.New(x.ep, dialog.Config{OnInvite: func(s *dialog.Session) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if f, err := im.Accept(ctx, s, im.FlowConfig{UA: u}); err == nil {
				x.flows <- f
			}
		}()
	}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, x.ep.Establish(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = x.layer.Close(ctx)
		_ = x.ep.Terminate(ctx)
	})
	return x
}

func nextMessage(t *testing.T, ch <-chan *im.Message) *im.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
		return nil
	}
}

// Pager-mode MESSAGE between two sipua endpoints registered at Kamailio:
// the proxy routes each by its location table, both ways.
func TestKamailioPagerMessage(t *testing.T) {
	k := runKamailio(t, "proxy.cfg", freeUDPPort(t))
	probe, err := ua.New(ua.Config{})
	require.NoError(t, err)
	defer probe.Close(context.Background())
	k.waitReady(t, probe)
	alice := newIMUser(t, k, "alice", "alice123")
	bob := newIMUser(t, k, "bob", "bob123")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	bobURI := sip.URI{Scheme: "sip", User: "bob", Host: "example.test"}
	aliceURI := sip.URI{Scheme: "sip", User: "alice", Host: "example.test"}
	for i := range 10 {
		res, err := alice.pager.SendText(ctx, bobURI, "hello bob "+strconv.Itoa(i))
		require.NoError(t, err)
		assert.Equal(t, 200, res.StatusCode)
		m := nextMessage(t, bob.msgs)
		assert.Equal(t, "hello bob "+strconv.Itoa(i), m.Text())
		assert.Equal(t, "sip:alice@example.test", m.From.URI.String())
		assert.Len(t, m.Request.Via(), 2, "relayed by the proxy")
	}
	_, err = bob.pager.Send(ctx, aliceURI, "application/json", []byte(`{"reply":true}`))
	require.NoError(t, err)
	m := nextMessage(t, alice.msgs)
	assert.Equal(t, "application/json", m.ContentType)

	// An unknown user: Kamailio's 404 is a typed delivery error.
	_, err = alice.pager.SendText(ctx, sip.URI{Scheme: "sip", User: "nobody", Host: "example.test"}, "?")
	var de *im.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 404, de.StatusCode)
}

// An IM session between two sipua endpoints through a record-routing
// Kamailio: INVITE with m=message, in-dialog MESSAGE both ways along the
// route set (through the proxy), is-composing, BYE.
func TestKamailioIMSession(t *testing.T) {
	k := runKamailio(t, "proxy_rr.cfg", freeUDPPort(t))
	probe, err := ua.New(ua.Config{})
	require.NoError(t, err)
	defer probe.Close(context.Background())
	k.waitReady(t, probe)
	alice := newIMUser(t, k, "alice", "alice123")
	bob := newIMUser(t, k, "bob", "bob123")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	f, err := im.Dial(ctx, alice.layer, sip.URI{Scheme: "sip", User: "bob", Host: "example.test"}, im.FlowConfig{UA: alice.u})
	require.NoError(t, err)
	var bf *im.Flow
	select {
	case bf = <-bob.flows:
	case <-time.After(10 * time.Second):
		t.Fatal("bob did not get the session")
	}
	rr := bf.Session().Request().Get("Record-Route")
	assert.Contains(t, rr, "127.0.0.1:"+strconv.Itoa(k.port), "the proxy record-routed the INVITE")
	assert.Equal(t, []string{rr}, f.Session().Dialog().RouteSet())

	bobEv := make(chan im.FlowEvent, 20)
	bf.OnEvent(func(ev im.FlowEvent) { bobEv <- ev })
	aliceEv := make(chan im.FlowEvent, 20)
	f.OnEvent(func(ev im.FlowEvent) { aliceEv <- ev })
	next := func(ch chan im.FlowEvent) im.FlowEvent {
		select {
		case ev := <-ch:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no flow event")
			return nil
		}
	}
	f.Typing()
	c, ok := next(bobEv).(im.ComposingChanged)
	require.True(t, ok)
	assert.Equal(t, im.Active, c.State)
	require.NoError(t, f.SendText(ctx, "hi bob, via the proxy"))
	assert.Equal(t, im.Idle, next(bobEv).(im.ComposingChanged).State)
	m := next(bobEv).(im.MessageReceived).Message
	assert.Equal(t, "hi bob, via the proxy", m.Text())
	assert.Len(t, m.Request.Via(), 2, "the in-dialog MESSAGE went through the proxy")
	require.NoError(t, bf.SendText(ctx, "hi alice"))
	assert.Equal(t, "hi alice", next(aliceEv).(im.MessageReceived).Message.Text())

	require.NoError(t, f.Close(ctx))
	select {
	case <-bf.Done():
		assert.Equal(t, dialog.RemoteBye, bf.Err().Cause)
	case <-time.After(10 * time.Second):
		t.Fatal("BYE did not reach bob")
	}
}

// SIPp as a pager-mode client sends an is-composing status, a text
// message and an oversized message to a sipua Pager: 200, 200, 513.
func TestSIPpToPager(t *testing.T) {
	sipp(t)
	u, err := ua.New(ua.Config{})
	require.NoError(t, err)
	defer u.Close(context.Background())
	var text, composing atomic.Int64
	_, err = im.NewPager(im.PagerConfig{UA: u, MaxSize: 300, OnMessage: func(m *im.Message) {
		switch {
		case strings.HasPrefix(m.ContentType, im.ComposingType):
			if c, err := im.ParseComposing(m.Body); err == nil && c.State == im.Active {
				composing.Add(1)
			}
		case strings.HasPrefix(m.Text(), "pager message"):
			text.Add(1)
		}
	}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	abs, _ := filepath.Abs(scenario("uac_pager.xml"))
	out, err := runSIPp(t, ctx, "-sf", abs, "-p", strconv.Itoa(freeUDPPort(t)), "-m", "50", "-r", "50",
		u.Addrs()[0].AddrPort.String())
	require.NoError(t, err, "%s", out)
	assert.Eventually(t, func() bool { return text.Load() == 50 && composing.Load() == 50 }, 5*time.Second, 10*time.Millisecond)
}

// A sipua Pager sends to SIPp acting as a store-and-forward server: 202
// Accepted is a success that Accepted reports.
func TestPagerToSIPp(t *testing.T) {
	sipp(t)
	port := freeUDPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	abs, _ := filepath.Abs(scenario("uas_pager.xml"))
	done := make(chan error, 1)
	var out []byte
	go func() {
		var err error
		out, err = runSIPp(t, ctx, "-sf", abs, "-p", strconv.Itoa(port), "-m", "20", "-deadcall_wait", "0")
		done <- err
	}()
	u, err := ua.New(ua.Config{})
	require.NoError(t, err)
	defer u.Close(context.Background())
	p, err := im.NewPager(im.PagerConfig{UA: u, From: sip.Address{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.test"}}})
	require.NoError(t, err)
	to := sip.URI{Scheme: "sip", User: "store", Host: "127.0.0.1", Port: port}
	for i := range 20 {
		res, err := p.Send(ctx, to, "application/json", []byte(`{"text":"hello SIPp `+strconv.Itoa(i)+`"}`))
		require.NoError(t, err, "MESSAGE %d", i)
		assert.True(t, im.Accepted(res))
	}
	select {
	case err := <-done:
		require.NoError(t, err, "sipp:\n%s", out)
	case <-ctx.Done():
		t.Fatal("sipp did not finish")
	}
}
