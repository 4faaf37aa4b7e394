package transport

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/sipua-go/sipua/sip"
)

// RFC 3263 §4: locating a SIP server.

// NAPTR is a DNS NAPTR record (RFC 3403 §4.1).
type NAPTR struct {
	Order       uint16
	Preference  uint16
	Flags       string
	Services    string
	Regexp      string
	Replacement string // a domain name ("_sip._udp.example.com."); "." for none
}

// SRV is a DNS SRV record (RFC 2782).
type SRV struct {
	Target   string
	Port     uint16
	Priority uint16
	Weight   uint16
}

// Resolver looks up the DNS records RFC 3263 uses. A name that has no
// record of the type asked for yields no records and a nil error; an error
// means the lookup itself failed. DNS (the default) implements it; tests
// and applications with their own DNS plug in another.
type Resolver interface {
	// LookupNAPTR returns the NAPTR records of a domain.
	LookupNAPTR(ctx context.Context, domain string) ([]NAPTR, error)
	// LookupSRV returns the SRV records of a name such as
	// "_sip._tcp.example.com", in any order.
	LookupSRV(ctx context.Context, name string) ([]SRV, error)
	// LookupIP returns the IPv4 and IPv6 addresses (A and AAAA) of a host.
	LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
}

// ErrNoTarget: the URI resolved to no address.
var ErrNoTarget = errors.New("transport: no target found")

// A transport's names in RFC 3263 and RFC 7118: the NAPTR service, the SRV
// prefix and the default port. There is no SRV prefix registered for
// WebSocket; "_sip._ws" and "_sips._ws" follow the pattern of "_sips._tcp"
// (the scheme in the service label, the transport in the protocol label).
var transportInfo = map[string]struct {
	service, srv string
	port         uint16
	secure       bool
}{
	UDP: {"SIP+D2U", "_sip._udp.", 5060, false},
	TCP: {"SIP+D2T", "_sip._tcp.", 5060, false},
	TLS: {"SIPS+D2T", "_sips._tcp.", 5061, true},
	// RFC 7118 names no port; these are a ws: and a wss: URI's (RFC 6455 §3).
	WS:  {"SIP+D2W", "_sip._ws.", 80, false},
	WSS: {"SIPS+D2W", "_sips._ws.", 443, true},
}

// DefaultPort returns the port a transport uses when a URI names none:
// 5060 for UDP and TCP, 5061 for TLS, 80 for WS and 443 for WSS.
func DefaultPort(transport string) uint16 {
	return transportInfo[strings.ToUpper(transport)].port
}

// fallbackSRV lists the SRV queries made when a domain has no usable
// NAPTR record (RFC 3263 §4.1), most preferred first.
var fallbackSRV = []string{UDP, TCP, TLS}

// URITransport returns the transport a SIP or SIPS URI's transport
// parameter asks for ("" when it has none): transport=ws is WSS in a sips
// URI (RFC 7118 §5.2), transport=tcp is TLS in one (RFC 3261 §26.2.2).
func URITransport(uri sip.URI) (string, error) {
	p := strings.ToUpper(uri.Params.Value("transport"))
	secure := uri.Scheme == "sips"
	switch p {
	case "":
		return "", nil
	case UDP:
		if secure {
			return "", fmt.Errorf("%w: a sips URI over UDP", ErrUnsupportedTransport)
		}
		return UDP, nil
	case TCP, TLS:
		if secure || p == TLS {
			return TLS, nil
		}
		return TCP, nil
	case WS, WSS:
		if secure || p == WSS {
			return WSS, nil
		}
		return WS, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnsupportedTransport, p)
}

// Locator resolves SIP and SIPS URIs to the ordered list of targets RFC
// 3263 §4 gives. Its methods are safe for concurrent use.
type Locator struct {
	// Resolver does the DNS lookups. Nil: DefaultResolver().
	Resolver Resolver
	// Rand orders the SRV records of equal priority by weight (RFC 2782).
	// Nil: the math/rand/v2 global source.
	Rand *rand.Rand

	mu sync.Mutex // guards Rand
}

// Locate resolves uri, a sip or sips URI, to the targets to try in
// order, a failed one giving way to the next (RFC 3263 §4.3):
//   - a numeric IP address: the URI's transport (UDP, TLS for sips) and
//     port (or the transport's default); no lookup;
//   - otherwise, with an explicit port: A/AAAA of the host only, over the
//     URI's transport or UDP (TLS for sips);
//   - otherwise, with a transport parameter: the SRV records of that
//     transport, or A/AAAA with the default port when there are none;
//   - otherwise the NAPTR records of the domain (RFC 3403, sorted by order
//     and preference, only the services this package serves: SIP+D2U,
//     SIP+D2T, SIPS+D2T, SIP+D2W, SIPS+D2W; only SIPS ones for a sips URI),
//     each followed to its SRV records; without NAPTR, the SRV records of
//     UDP, TCP and TLS (TLS alone for sips); without SRV, A/AAAA over UDP
//     (TLS for sips) with the default port.
//
// SRV records are ordered by priority and, within a priority, by a
// weighted random choice (RFC 2782); each SRV target becomes as many
// targets as it has addresses. Every target carries the URI's host in Name
// when it is a name: a TLS peer's certificate must match it (RFC 5922
// §4). Duplicates are removed. With no target at all the error wraps
// ErrNoTarget and the last lookup error.
func (l *Locator) Locate(ctx context.Context, uri sip.URI) ([]Addr, error) {
	if !uri.IsSIP() {
		return nil, fmt.Errorf("transport: cannot locate a %s URI", uri.Scheme)
	}
	secure := uri.Scheme == "sips"
	tp, err := URITransport(uri)
	if err != nil {
		return nil, err
	}
	if uri.Port < 0 || uri.Port > 0xffff {
		return nil, fmt.Errorf("transport: bad port %d", uri.Port)
	}
	port := uint16(uri.Port)
	def := UDP
	if secure {
		def = TLS
	}
	host := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(uri.Host, "["), "]"), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		if tp == "" {
			tp = def
		}
		if port == 0 {
			port = DefaultPort(tp)
		}
		return []Addr{{Transport: tp, AddrPort: netip.AddrPortFrom(ip.Unmap(), port)}}, nil
	}
	if host == "" {
		return nil, fmt.Errorf("transport: URI without host")
	}
	r := l.Resolver
	if r == nil {
		r = DefaultResolver()
	}
	s := search{l: l, r: r, name: host}
	switch {
	case port != 0 || isLocalhost(host):
		// RFC 6761 §6.3: localhost is not asked of DNS; A/AAAA come from
		// the hosts file.
		if port == 0 {
			if tp == "" {
				tp = def
			}
			port = DefaultPort(tp)
		}
		if tp == "" {
			tp = def
		}
		s.addHost(ctx, tp, host, port)
	case tp != "":
		if !s.addSRV(ctx, tp, transportInfo[tp].srv+host) {
			s.addHost(ctx, tp, host, DefaultPort(tp))
		}
	default:
		s.naptr(ctx, host, secure, def)
	}
	if len(s.out) == 0 {
		if s.err != nil {
			return nil, fmt.Errorf("%w for %s: %w", ErrNoTarget, host, s.err)
		}
		return nil, fmt.Errorf("%w for %s", ErrNoTarget, host)
	}
	return s.out, nil
}

// search gathers targets for one Locate call.
type search struct {
	l    *Locator
	r    Resolver
	name string // the URI's host: each target's Name
	out  []Addr
	err  error // the last lookup error
}

// naptr does RFC 3263 §4.1 when neither transport nor port is known.
func (s *search) naptr(ctx context.Context, domain string, secure bool, def string) {
	recs, err := s.r.LookupNAPTR(ctx, domain)
	if err != nil {
		s.err = err
	}
	type choice struct {
		NAPTR
		transport string
	}
	var usable []choice
	for _, n := range recs {
		if !strings.EqualFold(n.Flags, "s") || n.Replacement == "" || n.Replacement == "." {
			continue
		}
		for tp, info := range transportInfo {
			if strings.EqualFold(n.Services, info.service) && (!secure || info.secure) {
				usable = append(usable, choice{n, tp})
			}
		}
	}
	slices.SortStableFunc(usable, func(a, b choice) int {
		if a.Order != b.Order {
			return int(a.Order) - int(b.Order)
		}
		return int(a.Preference) - int(b.Preference)
	})
	found := false
	for _, c := range usable {
		found = s.addSRV(ctx, c.transport, c.Replacement) || found
	}
	if found {
		return
	}
	if len(usable) > 0 {
		// §4.2: NAPTR chose a transport, SRV gave nothing: A/AAAA.
		s.addHost(ctx, usable[0].transport, domain, DefaultPort(usable[0].transport))
		return
	}
	for _, tp := range fallbackSRV {
		if secure && !transportInfo[tp].secure {
			continue
		}
		found = s.addSRV(ctx, tp, transportInfo[tp].srv+domain) || found
	}
	if !found {
		s.addHost(ctx, def, domain, DefaultPort(def))
	}
}

// addSRV adds the targets of the SRV records of name in RFC 2782 order
// and reports whether there were records.
func (s *search) addSRV(ctx context.Context, tp, name string) bool {
	recs, err := s.r.LookupSRV(ctx, name)
	if err != nil {
		s.err = err
		return false
	}
	if len(recs) == 0 {
		return false
	}
	for _, rec := range s.l.orderSRV(recs) {
		s.addHost(ctx, tp, rec.Target, rec.Port)
	}
	return true
}

// addHost adds a target per address of host.
func (s *search) addHost(ctx context.Context, tp, host string, port uint16) {
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(strings.TrimSuffix(host, ".")); err == nil {
		ips = []netip.Addr{ip}
	} else {
		var err error
		if ips, err = s.r.LookupIP(ctx, host); err != nil {
			s.err = err
			return
		}
	}
	for _, ip := range ips {
		a := Addr{Transport: tp, AddrPort: netip.AddrPortFrom(ip.Unmap(), port), Name: s.name}
		if !slices.Contains(s.out, a) {
			s.out = append(s.out, a)
		}
	}
}

// orderSRV sorts SRV records as RFC 2782 says: by priority, and within a
// priority by repeated weighted random choice (a record with weight 0
// has a small chance, ahead of the others). A single record with target
// "." says that the service is not available: no records.
func (l *Locator) orderSRV(recs []SRV) []SRV {
	if len(recs) == 1 && (recs[0].Target == "." || recs[0].Target == "") {
		return nil
	}
	recs = slices.Clone(recs)
	slices.SortStableFunc(recs, func(a, b SRV) int {
		if a.Priority != b.Priority {
			return int(a.Priority) - int(b.Priority)
		}
		// The weight-0 records first, as the selection requires.
		return min(int(a.Weight), 1) - min(int(b.Weight), 1)
	})
	out := make([]SRV, 0, len(recs))
	for len(recs) > 0 {
		n := 1
		for n < len(recs) && recs[n].Priority == recs[0].Priority {
			n++
		}
		group := recs[:n]
		for len(group) > 0 {
			sum := 0
			for _, r := range group {
				sum += int(r.Weight)
			}
			pick := l.intN(sum + 1)
			i, run := 0, 0
			for ; i < len(group)-1; i++ {
				run += int(group[i].Weight)
				if run >= pick {
					break
				}
			}
			out = append(out, group[i])
			group = slices.Delete(group, i, i+1)
		}
		recs = recs[n:]
	}
	return slices.DeleteFunc(out, func(r SRV) bool { return r.Target == "." || r.Target == "" })
}

func (l *Locator) intN(n int) int {
	if l.Rand == nil {
		return rand.IntN(n)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Rand.IntN(n)
}

func isLocalhost(host string) bool {
	h := strings.ToLower(host)
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}
