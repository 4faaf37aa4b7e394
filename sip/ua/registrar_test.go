package ua

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/transport"
)

func newRegistrarUA(t *testing.T, c clock.Clock, cfg RegistrarConfig) (*UA, *Registrar) {
	t.Helper()
	u := newUA(t, Config{Clock: c})
	if cfg.Auth == nil {
		a, err := auth.NewServer(auth.ServerConfig{Realm: "example.test"})
		require.NoError(t, err)
		cfg.Auth = a
		cfg.Password = func(user, realm string) (string, bool) { return user + "-secret", user != "" }
	}
	r := NewRegistrar(u, cfg)
	u.Handle(sip.MethodRegister, r)
	u.Handle(sip.MethodInvite, r.Redirect())
	return u, r
}

// A user endpoint registers at the registrar with digest; the binding is
// looked up, redirects point at it, it expires on the clock, and
// Terminate removes it.
func TestRegistrarWithUserEndpoint(t *testing.T) {
	fake := clock.NewFake(time.Unix(1.7e9, 0))
	srv, reg := newRegistrarUA(t, fake, RegistrarConfig{Domains: []string{"example.test"}})
	cli := newUA(t, Config{Clock: fake})
	ep, err := NewUserEndpoint(cli, UserEndpointConfig{AOR: "sip:alice@example.test",
		Credentials: auth.Credentials{Username: "alice", Password: "alice-secret"},
		Registrars:  []string{srv.Addrs()[0].AddrPort.String()}, Expires: 600 * time.Second})
	require.NoError(t, err)
	require.NoError(t, ep.Establish(context.Background()))
	aor, _ := sip.ParseURI("sip:alice@EXAMPLE.test")
	bs := reg.Lookup(aor)
	require.Len(t, bs, 1)
	assert.Equal(t, fake.Now().Add(600*time.Second), bs[0].Expires)
	contact, _ := cli.ContactURI("")
	assert.Equal(t, contact.Host, bs[0].Contact.URI.Host)

	// The redirect server sends callers to the contact.
	inv := sip.NewRequest(sip.MethodInvite, aor)
	inv.Set("Contact", "<sip:caller@127.0.0.1>")
	caller := newUA(t, Config{})
	c, _, err := caller.StartInvite(context.Background(), inv, srv.Addrs()[0])
	require.NoError(t, err)
	var res *sip.Response
	for res = range c.Responses() {
		if res.StatusCode >= 200 {
			break
		}
	}
	require.Equal(t, 302, res.StatusCode)
	assert.Equal(t, bs[0].Contact.URI.Port, res.Contact()[0].URI.Port)

	require.NoError(t, ep.Terminate(context.Background()))
	assert.Empty(t, reg.Lookup(aor), "Expires: 0 removed the binding")
}

func TestRegistrarRefusals(t *testing.T) {
	fake := clock.NewFake(time.Unix(1.7e9, 0))
	srv, reg := newRegistrarUA(t, fake, RegistrarConfig{Domains: []string{"example.test"}})
	cli := newUA(t, Config{Clock: fake, Credentials: func(realm string) (auth.Credentials, bool) {
		return auth.Credentials{Username: "bob", Password: "bob-secret"}, true
	}})
	do := func(aor, contact, expires string) *sip.Response {
		uri, _ := sip.ParseURI("sip:example.test")
		req := sip.NewRequest(sip.MethodRegister, uri)
		req.Set("To", "<"+aor+">")
		req.Set("From", "<"+aor+">")
		req.Set("Contact", contact)
		if expires != "" {
			req.Set("Expires", expires)
		}
		res, err := cli.Do(context.Background(), req, srv.Addrs()[0])
		if err != nil {
			var se *StatusError
			require.ErrorAs(t, err, &se)
		}
		return res
	}
	assert.Equal(t, 404, do("sip:bob@elsewhere.test", "<sip:bob@127.0.0.1>", "").StatusCode)
	assert.Equal(t, 403, do("sip:alice@example.test", "<sip:bob@127.0.0.1>", "").StatusCode, "bob cannot register alice")
	res := do("sip:bob@example.test", "<sip:bob@127.0.0.1>", "10")
	assert.Equal(t, 423, res.StatusCode)
	assert.Equal(t, "60", res.Get("Min-Expires"))
	assert.Equal(t, 400, do("sip:bob@example.test", "*", "60").StatusCode, "* needs Expires: 0")

	res = do("sip:bob@example.test", "<sip:bob@127.0.0.1:5999>;expires=120", "")
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "120", res.Contact()[0].Params.Value("expires"))
	bob, _ := sip.ParseURI("sip:bob@example.test")
	assert.Len(t, reg.Lookup(bob), 1)
	fake.Advance(119 * time.Second)
	assert.Len(t, reg.Lookup(bob), 1)
	fake.Advance(time.Second)
	assert.Empty(t, reg.Lookup(bob), "expired")

	require.Equal(t, 200, do("sip:bob@example.test", "<sip:bob@127.0.0.1:5999>", "7200").StatusCode)
	assert.Equal(t, fake.Now().Add(3600*time.Second), reg.Lookup(bob)[0].Expires, "capped at MaxExpires")
	require.Equal(t, 200, do("sip:bob@example.test", "*", "0").StatusCode)
	assert.Empty(t, reg.Lookup(bob))
}

// A registrar given as a domain becomes its SRV targets, in priority
// order, as the failover list: the first refuses connections, the
// endpoint fails over to the second and registers there.
func TestRegistrarDomainExpandsToSRVTargets(t *testing.T) {
	srv := newUA(t, Config{Listen: []string{"tcp:127.0.0.1:0"}})
	reg := NewRegistrar(srv, RegistrarConfig{})
	srv.Handle(sip.MethodRegister, reg)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close()
	resolver := fakeResolver{
		srv: map[string][]transport.SRV{"_sip._tcp.example.test": {
			{Target: "backup.example.test.", Port: srv.Addrs()[0].AddrPort.Port(), Priority: 20},
			{Target: "primary.example.test.", Port: uint16(deadPort), Priority: 10},
		}},
		ip: map[string][]netip.Addr{
			"primary.example.test.": {netip.MustParseAddr("127.0.0.1")},
			"backup.example.test.":  {netip.MustParseAddr("127.0.0.1")},
		},
	}
	cli := newUA(t, Config{Resolver: resolver, Listen: []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}})
	events := make(chan Event, 32)
	ep, err := NewUserEndpoint(cli, UserEndpointConfig{AOR: "sip:alice@example.test",
		Registrars: []string{"example.test;transport=tcp"}, OnEvent: func(ev Event) { events <- ev }})
	require.NoError(t, err)
	require.NoError(t, ep.Establish(context.Background()))
	aor, _ := sip.ParseURI("sip:alice@example.test")
	assert.Len(t, reg.Lookup(aor), 1, "registered at the second SRV target")
	var fo *FailedOver
	for fo == nil {
		select {
		case ev := <-events:
			fo, _ = ev.(*FailedOver)
		case <-time.After(5 * time.Second):
			t.Fatal("no FailedOver event")
		}
	}
	assert.Equal(t, uint16(deadPort), fo.From.AddrPort.Port())
	assert.Equal(t, srv.Addrs()[0].AddrPort.Port(), fo.To.AddrPort.Port())
	require.NoError(t, ep.Terminate(context.Background()))
}
