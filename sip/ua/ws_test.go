package ua

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/testcert"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transport"
)

// Two UAs talk over WebSocket and secure WebSocket: the target comes from
// the Request-URI's transport parameter.
func TestWSOptionsAndMessageBetweenUAs(t *testing.T) {
	base := runtime.NumGoroutine()
	cert, pool, err := testcert.New()
	require.NoError(t, err)
	srv, err := New(Config{Listen: []string{"ws:127.0.0.1:0", "wss:127.0.0.1:0"},
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	require.NoError(t, err)
	got := make(chan string, 4)
	srv.HandleFunc("MESSAGE", func(w ResponseWriter, r *Request) {
		got <- string(r.Body())
		require.NoError(t, w.Respond(w.NewResponse(202, "")))
	})
	cli, err := New(Config{TLS: &tls.Config{RootCAs: pool}}) // UDP only: no WS listener of its own
	require.NoError(t, err)

	for _, tc := range []struct{ transport, uri string }{
		{"WS", "sip:bob@%s;transport=ws"},
		{"WSS", "sips:bob@%s;transport=ws"},
	} {
		addr, ok := srv.localAddr(tc.transport)
		require.True(t, ok)
		uri, err := sip.ParseURI(fmt.Sprintf(tc.uri, addr.AddrPort.String()))
		require.NoError(t, err)

		to, err := cli.Targets(context.Background(), uri)
		require.NoError(t, err)
		assert.Equal(t, []Target{{Transport: tc.transport, AddrPort: addr.AddrPort}}, to)

		opt := sip.NewRequest(sip.MethodOptions, uri)
		res, err := cli.Do(context.Background(), opt, Target{})
		require.NoError(t, err, tc.transport)
		assert.Equal(t, 200, res.StatusCode)
		top, _ := res.TopVia()
		assert.Equal(t, tc.transport, top.Transport)

		msg := sip.NewRequest(sip.MethodMessage, uri)
		msg.Set("Content-Type", "text/plain")
		msg.SetBody([]byte("hello over " + tc.transport))
		res, err = cli.Do(context.Background(), msg, Target{})
		require.NoError(t, err)
		assert.Equal(t, 202, res.StatusCode)
		select {
		case body := <-got:
			assert.Equal(t, "hello over "+tc.transport, body)
		case <-time.After(5 * time.Second):
			t.Fatal("MESSAGE not delivered")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, cli.Close(ctx))
	require.NoError(t, srv.Close(ctx))
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), base, "goroutines leaked")
}

// fakeResolver answers RFC 3263 lookups from maps.
type fakeResolver struct {
	srv map[string][]transport.SRV
	ip  map[string][]netip.Addr
}

func (f fakeResolver) LookupNAPTR(context.Context, string) ([]transport.NAPTR, error) {
	return nil, nil
}
func (f fakeResolver) LookupSRV(_ context.Context, n string) ([]transport.SRV, error) {
	return f.srv[n], nil
}
func (f fakeResolver) LookupIP(_ context.Context, h string) ([]netip.Addr, error) {
	return f.ip[h], nil
}

func TestResolverTargets(t *testing.T) {
	u := newUA(t, Config{Resolver: fakeResolver{
		srv: map[string][]transport.SRV{"_sip._udp.example.test": {
			{Target: "b.example.test.", Port: 5062, Priority: 2},
			{Target: "a.example.test.", Port: 5061, Priority: 1},
		}},
		ip: map[string][]netip.Addr{"a.example.test.": {netip.MustParseAddr("192.0.2.1")}, "b.example.test.": {netip.MustParseAddr("192.0.2.2")}},
	}})
	uri, err := sip.ParseURI("sip:bob@example.test")
	require.NoError(t, err)
	ts, err := u.Targets(context.Background(), uri)
	require.NoError(t, err)
	assert.Equal(t, []Target{
		{Transport: "UDP", AddrPort: netip.MustParseAddrPort("192.0.2.1:5061"), Name: "example.test"},
		{Transport: "UDP", AddrPort: netip.MustParseAddrPort("192.0.2.2:5062"), Name: "example.test"},
	}, ts)
	first, err := u.target(context.Background(), sip.NewRequest(sip.MethodOptions, uri))
	require.NoError(t, err)
	assert.Equal(t, ts[0], first)

	tel, err := sip.ParseURI("tel:+15550100")
	require.NoError(t, err)
	_, err = u.Targets(context.Background(), tel)
	assert.Error(t, err)
}
