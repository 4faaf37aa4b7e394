package transport

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/sipua-go/sipua/sip"
)

// encodeNAPTR is NAPTR RDATA with an uncompressed REPLACEMENT.
func encodeNAPTR(n NAPTR) []byte {
	b := binary.BigEndian.AppendUint16(nil, n.Order)
	b = binary.BigEndian.AppendUint16(b, n.Preference)
	for _, s := range []string{n.Flags, n.Services, n.Regexp} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	for _, label := range strings.Split(strings.TrimSuffix(n.Replacement, "."), ".") {
		if label != "" {
			b = append(b, byte(len(label)))
			b = append(b, label...)
		}
	}
	return append(b, 0)
}

// dnsStub answers DNS queries on 127.0.0.1 over UDP and TCP (same port)
// from canned records. Names in truncate get a truncated UDP answer.
type dnsStub struct {
	addr     netip.AddrPort
	naptr    map[string][]NAPTR
	srv      map[string][]SRV
	a        map[string][]netip.Addr
	truncate map[string]bool
	mu       sync.Mutex
	tcpUsed  int
}

func startStub(t *testing.T, s *dnsStub) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	s.addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	ln, err := net.Listen("tcp", s.addr.String())
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); ln.Close(); wg.Wait() })
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if res := s.answer(buf[:n], true); res != nil {
				pc.WriteTo(res, from)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.tcpUsed++
			s.mu.Unlock()
			var l [2]byte
			if _, err := io.ReadFull(c, l[:]); err == nil {
				q := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, q); err == nil {
					res := s.answer(q, false)
					c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(res))), res...))
				}
			}
			c.Close()
		}
	}()
}

func (s *dnsStub) answer(query []byte, udp bool) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.ToLower(q.Name.String())
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	if udp && s.truncate[name] {
		rh.Truncated = true
	}
	known := s.naptr[name] != nil || s.srv[name] != nil || s.a[name] != nil
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
	if !rh.Truncated {
		switch q.Type {
		case typeNAPTR:
			for _, n := range s.naptr[name] {
				hdr.Type = typeNAPTR
				b.UnknownResource(hdr, dnsmessage.UnknownResource{Type: typeNAPTR, Data: encodeNAPTR(n)})
			}
		case dnsmessage.TypeSRV:
			for _, r := range s.srv[name] {
				b.SRVResource(hdr, dnsmessage.SRVResource{Priority: r.Priority, Weight: r.Weight, Port: r.Port,
					Target: dnsmessage.MustNewName(r.Target)})
			}
		case dnsmessage.TypeA:
			for _, ip := range s.a[name] {
				if ip.Is4() {
					b.AResource(hdr, dnsmessage.AResource{A: ip.As4()})
				}
			}
		case dnsmessage.TypeAAAA:
			for _, ip := range s.a[name] {
				if ip.Is6() {
					b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: ip.As16()})
				}
			}
		}
	}
	res, _ := b.Finish()
	return res
}

// The default resolver end to end against a stub name server: NAPTR
// (decoded from raw RDATA), SRV (one answer truncated over UDP, so asked
// again over TCP), then A/AAAA through a net.Resolver sent to the stub.
func TestDNSAgainstStub(t *testing.T) {
	stub := &dnsStub{
		naptr: map[string][]NAPTR{"example.test.": {
			{Order: 10, Preference: 20, Flags: "s", Services: "SIP+D2U", Replacement: "_sip._udp.example.test."},
			{Order: 10, Preference: 10, Flags: "s", Services: "SIP+D2T", Replacement: "_sip._tcp.example.test."},
		}},
		srv: map[string][]SRV{
			"_sip._tcp.example.test.": {{Target: "tcp.example.test.", Port: 5070, Priority: 1, Weight: 1}},
			"_sip._udp.example.test.": {{Target: "udp.example.test.", Port: 5080, Priority: 1, Weight: 1}},
		},
		a: map[string][]netip.Addr{
			"tcp.example.test.": ips("192.0.2.1", "2001:db8::1"),
			"udp.example.test.": ips("192.0.2.2"),
		},
		truncate: map[string]bool{"_sip._udp.example.test.": true},
	}
	startStub(t, stub)
	ipr := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, stub.addr.String())
	}}
	d := &DNS{Servers: []netip.AddrPort{stub.addr}, Timeout: 2 * time.Second, IP: ipr}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	naptr, err := d.LookupNAPTR(ctx, "example.test")
	require.NoError(t, err)
	assert.Equal(t, stub.naptr["example.test."], naptr)
	none, err := d.LookupNAPTR(ctx, "missing.example.test")
	require.NoError(t, err, "NXDOMAIN is no records, not a failure")
	assert.Empty(t, none)

	u, err := sip.ParseURI("sip:bob@example.test")
	require.NoError(t, err)
	got, err := (&Locator{Resolver: d}).Locate(ctx, u)
	require.NoError(t, err)
	var s []string
	for _, a := range got {
		s = append(s, a.String())
		assert.Equal(t, "example.test", a.Name)
	}
	assert.ElementsMatch(t, []string{"TCP:192.0.2.1:5070", "TCP:[2001:db8::1]:5070"}, s[:2])
	assert.Equal(t, []string{"UDP:192.0.2.2:5080"}, s[2:])
	stub.mu.Lock()
	assert.Equal(t, 1, stub.tcpUsed, "the truncated SRV answer was asked again over TCP")
	stub.mu.Unlock()
}

func TestDNSServerDown(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close() // reads nothing: every query times out
	d := &DNS{Servers: []netip.AddrPort{pc.LocalAddr().(*net.UDPAddr).AddrPort()}, Timeout: 50 * time.Millisecond, Attempts: 2}
	start := time.Now()
	_, err = d.LookupSRV(context.Background(), "_sip._udp.example.test")
	assert.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestParseResolvConf(t *testing.T) {
	c := parseResolvConf(strings.NewReader("# comment\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nnameserver bogus\n"+
		"search example.test\noptions ndots:2 timeout:3 attempts:4\n"), dnsConf{timeout: 5 * time.Second, attempts: 2})
	assert.Equal(t, []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:53"), netip.MustParseAddrPort("[2001:db8::53]:53")}, c.servers)
	assert.Equal(t, 3*time.Second, c.timeout)
	assert.Equal(t, 4, c.attempts)
}

// naptrMessage is an answer with NAPTR records for example.test.
func naptrMessage(t testing.TB, recs ...NAPTR) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 1, Response: true})
	name := dnsmessage.MustNewName("example.test.")
	require.NoError(t, b.StartQuestions())
	require.NoError(t, b.Question(dnsmessage.Question{Name: name, Type: typeNAPTR, Class: dnsmessage.ClassINET}))
	require.NoError(t, b.StartAnswers())
	for _, n := range recs {
		require.NoError(t, b.UnknownResource(dnsmessage.ResourceHeader{Name: name, Type: typeNAPTR, Class: dnsmessage.ClassINET},
			dnsmessage.UnknownResource{Type: typeNAPTR, Data: encodeNAPTR(n)}))
	}
	msg, err := b.Finish()
	require.NoError(t, err)
	return msg
}

// A handcrafted message with a compressed REPLACEMENT (RFC 3597 §4 has
// receivers accept one), and malformed RDATA.
func TestDecodeNAPTR(t *testing.T) {
	msg := naptrMessage(t, NAPTR{Order: 1, Preference: 2, Flags: "s", Services: "SIPS+D2W", Replacement: "_sips._ws.example.test."})
	recs, err := parseNAPTRs(msg)
	require.NoError(t, err)
	assert.Equal(t, []NAPTR{{Order: 1, Preference: 2, Flags: "s", Services: "SIPS+D2W", Replacement: "_sips._ws.example.test."}}, recs)

	// The question's name is at offset 12: "_sip._udp" + a pointer to it.
	rdata := append(encodeNAPTR(NAPTR{Order: 5, Preference: 6, Flags: "S", Services: "SIP+D2U"})[:4+2+8+1], // up to the empty regexp
		4, '_', 's', 'i', 'p', 4, '_', 'u', 'd', 'p', 0xC0, 12)
	n, err := decodeNAPTR(msg, rdata)
	require.NoError(t, err)
	assert.Equal(t, NAPTR{Order: 5, Preference: 6, Flags: "S", Services: "SIP+D2U", Replacement: "_sip._udp.example.test."}, n)

	for name, bad := range map[string][]byte{
		"short":         {0, 1, 0},
		"string beyond": {0, 1, 0, 1, 9, 's'},
		"no name":       {0, 1, 0, 1, 1, 's', 0, 0},
		"trailing":      {0, 1, 0, 1, 0, 0, 0, 0, 7},
		"pointer loop":  {0, 1, 0, 1, 0, 0, 0, 0xC0, 0},
		"dot in label":  {0, 1, 0, 1, 0, 0, 0, 3, 'a', '.', 'b', 0},
		"extended":      {0, 1, 0, 1, 0, 0, 0, 0x41, 0},
	} {
		_, err := decodeNAPTR([]byte{0xC0, 0}, bad)
		assert.Error(t, err, name)
	}
	root, err := decodeNAPTR(nil, []byte{0, 1, 0, 1, 1, 'u', 0, 0, 0})
	require.NoError(t, err)
	assert.Equal(t, ".", root.Replacement)
}

// FuzzParseNAPTRs: any message decodes or fails without a panic, and a
// decoded record encodes and decodes back to itself.
func FuzzParseNAPTRs(f *testing.F) {
	f.Add(naptrMessage(f, NAPTR{Order: 10, Preference: 10, Flags: "s", Services: "SIP+D2T", Replacement: "_sip._tcp.example.test."}))
	f.Add(naptrMessage(f, NAPTR{Flags: "u", Services: "E2U+sip", Regexp: "!^.*$!sip:info@example.test!", Replacement: "."},
		NAPTR{Order: 1, Flags: "s", Services: "SIPS+D2W", Replacement: "_sips._ws.example.test."}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		recs, err := parseNAPTRs(msg)
		if err != nil {
			return
		}
		for _, n := range recs {
			if len(n.Flags) > 255 || len(n.Services) > 255 || len(n.Regexp) > 255 {
				t.Fatalf("a character-string longer than 255: %+v", n)
			}
			back, err := decodeNAPTR(nil, encodeNAPTR(n))
			if err != nil {
				t.Fatalf("re-encoded %+v: %v", n, err)
			}
			if back != n {
				t.Fatalf("round trip: %+v became %+v", n, back)
			}
		}
	})
}
