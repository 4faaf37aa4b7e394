package transport

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
)

// fakeDNS is a Resolver over maps, recording every lookup.
type fakeDNS struct {
	naptr map[string][]NAPTR
	srv   map[string][]SRV
	ip    map[string][]netip.Addr
	fail  map[string]error // by "naptr NAME", "srv NAME" or "ip NAME"

	mu    sync.Mutex
	calls []string
}

func (f *fakeDNS) record(call string) error {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
	return f.fail[call]
}

func (f *fakeDNS) LookupNAPTR(_ context.Context, d string) ([]NAPTR, error) {
	if err := f.record("naptr " + d); err != nil {
		return nil, err
	}
	return f.naptr[d], nil
}

func (f *fakeDNS) LookupSRV(_ context.Context, n string) ([]SRV, error) {
	if err := f.record("srv " + n); err != nil {
		return nil, err
	}
	return f.srv[n], nil
}

func (f *fakeDNS) LookupIP(_ context.Context, h string) ([]netip.Addr, error) {
	if err := f.record("ip " + h); err != nil {
		return nil, err
	}
	return f.ip[h], nil
}

func ips(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func locate(t *testing.T, f *fakeDNS, uri string) ([]string, error) {
	t.Helper()
	u, err := sip.ParseURI(uri)
	require.NoError(t, err)
	l := &Locator{Resolver: f, Rand: rand.New(rand.NewPCG(1, 2))}
	as, err := l.Locate(context.Background(), u)
	var out []string
	for _, a := range as {
		s := a.String()
		if a.Name != "" {
			s += " " + a.Name
		}
		out = append(out, s)
	}
	return out, err
}

func TestLocateNumericIPNoLookup(t *testing.T) {
	tests := map[string]string{
		"sip:192.0.2.1":                      "UDP:192.0.2.1:5060",
		"sip:192.0.2.1:5070;transport=tcp":   "TCP:192.0.2.1:5070",
		"sips:192.0.2.1":                     "TLS:192.0.2.1:5061",
		"sips:192.0.2.1;transport=tcp":       "TLS:192.0.2.1:5061",
		"sip:[2001:db8::1]":                  "UDP:[2001:db8::1]:5060",
		"sip:192.0.2.1;transport=ws":         "WS:192.0.2.1:80",
		"sips:192.0.2.1;transport=ws":        "WSS:192.0.2.1:443",
		"sip:192.0.2.1:8443;transport=wss":   "WSS:192.0.2.1:8443",
		"sip:alice@192.0.2.1;transport=TLS":  "TLS:192.0.2.1:5061",
		"sip:192.0.2.1:5080;transport=WS;lr": "WS:192.0.2.1:5080",
	}
	for uri, want := range tests {
		f := &fakeDNS{}
		got, err := locate(t, f, uri)
		require.NoError(t, err, uri)
		assert.Equal(t, []string{want}, got, uri)
		assert.Empty(t, f.calls, uri)
	}
	_, err := locate(t, &fakeDNS{}, "sips:192.0.2.1;transport=udp")
	assert.ErrorIs(t, err, ErrUnsupportedTransport)
	_, err = locate(t, &fakeDNS{}, "sip:192.0.2.1;transport=sctp")
	assert.ErrorIs(t, err, ErrUnsupportedTransport)
}

func TestLocateExplicitPortOnlyAddresses(t *testing.T) {
	f := &fakeDNS{ip: map[string][]netip.Addr{"example.test": ips("192.0.2.1", "2001:db8::1")},
		naptr: map[string][]NAPTR{"example.test": {{Flags: "s", Services: "SIP+D2T", Replacement: "_sip._tcp.example.test."}}}}
	got, err := locate(t, f, "sip:example.test:5070")
	require.NoError(t, err)
	assert.Equal(t, []string{"UDP:192.0.2.1:5070 example.test", "UDP:[2001:db8::1]:5070 example.test"}, got)
	assert.Equal(t, []string{"ip example.test"}, f.calls)

	f.calls = nil
	got, err = locate(t, f, "sips:example.test:5071")
	require.NoError(t, err)
	assert.Equal(t, "TLS:192.0.2.1:5071 example.test", got[0], "TLS for sips")
	assert.Equal(t, []string{"ip example.test"}, f.calls)
}

func TestLocateExplicitTransportSRVOnly(t *testing.T) {
	f := &fakeDNS{
		naptr: map[string][]NAPTR{"example.test": {{Flags: "s", Services: "SIP+D2U", Replacement: "_sip._udp.example.test."}}},
		srv:   map[string][]SRV{"_sip._tcp.example.test": {{Target: "tcp1.example.test.", Port: 5080, Priority: 1}}},
		ip: map[string][]netip.Addr{"tcp1.example.test.": ips("192.0.2.10"), "example.test": ips("192.0.2.1"),
			"ws.example.test.": ips("192.0.2.20")},
	}
	got, err := locate(t, f, "sip:example.test;transport=tcp")
	require.NoError(t, err)
	assert.Equal(t, []string{"TCP:192.0.2.10:5080 example.test"}, got)
	assert.Equal(t, []string{"srv _sip._tcp.example.test", "ip tcp1.example.test."}, f.calls, "no NAPTR")

	// No SRV for that transport: its default port on the host's address.
	f.calls = nil
	got, err = locate(t, f, "sips:example.test;transport=tcp")
	require.NoError(t, err)
	assert.Equal(t, []string{"TLS:192.0.2.1:5061 example.test"}, got)
	assert.Equal(t, []string{"srv _sips._tcp.example.test", "ip example.test"}, f.calls)

	f.srv["_sips._ws.example.test"] = []SRV{{Target: "ws.example.test.", Port: 8443}}
	got, err = locate(t, f, "sips:example.test;transport=ws")
	require.NoError(t, err)
	assert.Equal(t, []string{"WSS:192.0.2.20:8443 example.test"}, got)
}

func TestLocateNAPTROrderAndFilter(t *testing.T) {
	f := &fakeDNS{
		naptr: map[string][]NAPTR{"example.test": {
			{Order: 20, Preference: 10, Flags: "s", Services: "SIP+D2U", Replacement: "_sip._udp.example.test."},
			{Order: 10, Preference: 20, Flags: "S", Services: "SIP+D2T", Replacement: "_sip._tcp.example.test."},
			{Order: 10, Preference: 10, Flags: "s", Services: "SIPS+D2T", Replacement: "_sips._tcp.example.test."},
			{Order: 5, Preference: 10, Flags: "s", Services: "SIP+D2S", Replacement: "_sip._sctp.example.test."},    // not served
			{Order: 5, Preference: 10, Flags: "u", Services: "SIP+D2U", Regexp: "!^.*$!sip:x@y!", Replacement: "."}, // not an SRV
			{Order: 30, Preference: 10, Flags: "s", Services: "SIP+D2W", Replacement: "_sip._ws.example.test."},
		}},
		srv: map[string][]SRV{
			"_sips._tcp.example.test.": {{Target: "tls.example.test.", Port: 5061}},
			"_sip._tcp.example.test.":  {{Target: "tcp.example.test.", Port: 5060}},
			"_sip._udp.example.test.":  {{Target: "udp.example.test.", Port: 5060}},
			"_sip._ws.example.test.":   {{Target: "ws.example.test.", Port: 80}},
		},
		ip: map[string][]netip.Addr{"tls.example.test.": ips("192.0.2.1"), "tcp.example.test.": ips("192.0.2.2"),
			"udp.example.test.": ips("192.0.2.3"), "ws.example.test.": ips("192.0.2.4")},
	}
	got, err := locate(t, f, "sip:example.test")
	require.NoError(t, err)
	assert.Equal(t, []string{"TLS:192.0.2.1:5061 example.test", "TCP:192.0.2.2:5060 example.test",
		"UDP:192.0.2.3:5060 example.test", "WS:192.0.2.4:80 example.test"}, got)
	assert.NotContains(t, f.calls, "srv _sip._sctp.example.test.")

	// sips keeps the secure services only.
	got, err = locate(t, f, "sips:example.test")
	require.NoError(t, err)
	assert.Equal(t, []string{"TLS:192.0.2.1:5061 example.test"}, got)
}

func TestLocateFallbacksWithoutNAPTR(t *testing.T) {
	f := &fakeDNS{
		srv: map[string][]SRV{
			"_sip._tcp.example.test":  {{Target: "tcp.example.test.", Port: 5060}},
			"_sips._tcp.example.test": {{Target: "tls.example.test.", Port: 5061}},
		},
		ip: map[string][]netip.Addr{"tcp.example.test.": ips("192.0.2.2"), "tls.example.test.": ips("192.0.2.1"),
			"example.test": ips("192.0.2.9"), "bare.test": ips("192.0.2.8")},
		fail: map[string]error{"naptr example.test": errors.New("SERVFAIL")},
	}
	got, err := locate(t, f, "sip:example.test")
	require.NoError(t, err)
	assert.Equal(t, []string{"TCP:192.0.2.2:5060 example.test", "TLS:192.0.2.1:5061 example.test"}, got)
	assert.Equal(t, []string{"naptr example.test", "srv _sip._udp.example.test", "srv _sip._tcp.example.test",
		"ip tcp.example.test.", "srv _sips._tcp.example.test", "ip tls.example.test."}, f.calls, "the lookups in order of preference")

	f.calls = nil
	got, err = locate(t, f, "sips:example.test")
	require.NoError(t, err)
	assert.Equal(t, []string{"TLS:192.0.2.1:5061 example.test"}, got)
	assert.NotContains(t, f.calls, "srv _sip._udp.example.test", "sips: TLS only")

	// Neither NAPTR nor SRV: the host's addresses, UDP (TLS for sips).
	got, err = locate(t, f, "sip:bare.test")
	require.NoError(t, err)
	assert.Equal(t, []string{"UDP:192.0.2.8:5060 bare.test"}, got)
	got, err = locate(t, f, "sips:bare.test")
	require.NoError(t, err)
	assert.Equal(t, []string{"TLS:192.0.2.8:5061 bare.test"}, got)

	// Nothing at all.
	f.fail["ip nowhere.test"] = errors.New("timeout")
	_, err = locate(t, f, "sip:nowhere.test")
	assert.ErrorIs(t, err, ErrNoTarget)
	assert.ErrorContains(t, err, "timeout")
}

// Every SRV record and every address is a target, in RFC 2782 order; one
// whose address lookup fails is left out, the others stay.
func TestLocateFailoverOrder(t *testing.T) {
	f := &fakeDNS{
		srv: map[string][]SRV{"_sip._udp.example.test": {
			{Target: "c.example.test.", Port: 5062, Priority: 20, Weight: 5},
			{Target: "a.example.test.", Port: 5060, Priority: 10, Weight: 0},
			{Target: "b.example.test.", Port: 5061, Priority: 10, Weight: 0},
			{Target: "dead.example.test.", Port: 5063, Priority: 15},
		}},
		ip: map[string][]netip.Addr{"a.example.test.": ips("192.0.2.1", "2001:db8::1"), "b.example.test.": ips("192.0.2.2"),
			"c.example.test.": ips("192.0.2.3", "192.0.2.1")},
		fail: map[string]error{"ip dead.example.test.": errors.New("NXDOMAIN")},
	}
	got, err := locate(t, f, "sip:example.test;transport=udp")
	require.NoError(t, err)
	// Zero weights keep their order; priority 20 comes last.
	assert.Equal(t, []string{"UDP:192.0.2.1:5060 example.test", "UDP:[2001:db8::1]:5060 example.test",
		"UDP:192.0.2.2:5061 example.test", "UDP:192.0.2.3:5062 example.test", "UDP:192.0.2.1:5062 example.test"}, got)
}

func TestOrderSRVWeights(t *testing.T) {
	recs := []SRV{
		{Target: "w60.", Priority: 1, Weight: 60},
		{Target: "w30.", Priority: 1, Weight: 30},
		{Target: "w10.", Priority: 1, Weight: 10},
		{Target: "w0.", Priority: 1, Weight: 0},
		{Target: "backup.", Priority: 2, Weight: 100},
	}
	l := &Locator{Rand: rand.New(rand.NewPCG(42, 7))}
	const n = 20000
	first := map[string]int{}
	for range n {
		out := l.orderSRV(recs)
		require.Len(t, out, 5)
		assert.Equal(t, "backup.", out[4].Target, "a higher priority value is always later")
		first[out[0].Target]++
	}
	// P(first) = weight / (sum+1) for weighted records, 1/(sum+1) for 0.
	for target, w := range map[string]float64{"w60.": 60, "w30.": 30, "w10.": 10, "w0.": 1} {
		got := float64(first[target]) / n
		assert.InDelta(t, w/101, got, 0.015, target)
	}

	// A fixed source gives a fixed order.
	a := (&Locator{Rand: rand.New(rand.NewPCG(9, 9))}).orderSRV(recs)
	b := (&Locator{Rand: rand.New(rand.NewPCG(9, 9))}).orderSRV(recs)
	assert.Equal(t, a, b)

	// "." alone: the service is not offered here.
	assert.Empty(t, l.orderSRV([]SRV{{Target: ".", Port: 0}}))
}

func TestURITransport(t *testing.T) {
	for uri, want := range map[string]string{
		"sip:a@b": "", "sip:a@b;transport=udp": UDP, "sip:a@b;transport=tcp": TCP, "sips:a@b;transport=tcp": TLS,
		"sip:a@b;transport=tls": TLS, "sip:a@b;transport=ws": WS, "sips:a@b;transport=ws": WSS, "sip:a@b;transport=wss": WSS,
	} {
		u, err := sip.ParseURI(uri)
		require.NoError(t, err)
		got, err := URITransport(u)
		require.NoError(t, err)
		assert.Equal(t, want, got, uri)
	}
	assert.Equal(t, uint16(443), DefaultPort("wss"))
	assert.True(t, strings.HasPrefix(transportInfo[WS].srv, "_sip._ws"))
}
