package transport

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// typeNAPTR is the NAPTR record type (RFC 3403), which dnsmessage does not
// decode: its records come as UnknownResource data.
const typeNAPTR dnsmessage.Type = 35

// ednsPayload is the UDP payload size announced with EDNS(0) (RFC 6891),
// the size DNS Flag Day 2020 settled on to avoid fragmentation.
const ednsPayload = 1232

// DNS is the default Resolver: NAPTR and SRV queries (RFC 1035 over UDP,
// over TCP when the answer is truncated) to the system's name servers, and
// A/AAAA through a net.Resolver, which also reads /etc/hosts. The zero
// value is ready to use; a DNS must not be copied after first use.
type DNS struct {
	// Servers are the name servers asked for NAPTR and SRV, in order.
	// Zero: the nameserver lines of /etc/resolv.conf (127.0.0.1:53 and
	// [::1]:53 when it has none).
	Servers []netip.AddrPort
	// Timeout bounds one query to one server. Zero: resolv.conf's
	// "options timeout", else 5 seconds.
	Timeout time.Duration
	// Attempts is how many times each server is tried. Zero:
	// resolv.conf's "options attempts", else 2.
	Attempts int
	// IP looks up A and AAAA records. Nil: net.DefaultResolver.
	IP *net.Resolver

	once sync.Once
	conf dnsConf
}

type dnsConf struct {
	servers  []netip.AddrPort
	timeout  time.Duration
	attempts int
}

var defaultDNS = &DNS{}

// DefaultResolver returns the Resolver that a nil Locator.Resolver uses:
// a DNS with the system's configuration.
func DefaultResolver() Resolver { return defaultDNS }

func (d *DNS) config() dnsConf {
	d.once.Do(func() {
		c := dnsConf{timeout: 5 * time.Second, attempts: 2}
		if f, err := os.Open("/etc/resolv.conf"); err == nil {
			c = parseResolvConf(f, c)
			f.Close()
		}
		if len(c.servers) == 0 {
			c.servers = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:53"), netip.MustParseAddrPort("[::1]:53")}
		}
		if len(d.Servers) > 0 {
			c.servers = d.Servers
		}
		if d.Timeout > 0 {
			c.timeout = d.Timeout
		}
		if d.Attempts > 0 {
			c.attempts = d.Attempts
		}
		d.conf = c
	})
	return d.conf
}

// parseResolvConf reads the nameserver lines and the timeout and
// attempts options of resolv.conf(5).
func parseResolvConf(r io.Reader, c dnsConf) dnsConf {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if ip, err := netip.ParseAddr(f[1]); err == nil {
				c.servers = append(c.servers, netip.AddrPortFrom(ip, 53))
			}
		case "options":
			for _, o := range f[1:] {
				name, v, _ := strings.Cut(o, ":")
				n, err := strconv.Atoi(v)
				if err != nil || n <= 0 {
					continue
				}
				switch name {
				case "timeout":
					c.timeout = time.Duration(n) * time.Second
				case "attempts":
					c.attempts = n
				}
			}
		}
	}
	return c
}

// LookupNAPTR asks the name servers for the NAPTR records of domain.
func (d *DNS) LookupNAPTR(ctx context.Context, domain string) ([]NAPTR, error) {
	msg, err := d.query(ctx, domain, typeNAPTR)
	if err != nil || msg == nil {
		return nil, err
	}
	return parseNAPTRs(msg)
}

// LookupSRV asks the name servers for the SRV records of name.
func (d *DNS) LookupSRV(ctx context.Context, name string) ([]SRV, error) {
	msg, err := d.query(ctx, name, dnsmessage.TypeSRV)
	if err != nil || msg == nil {
		return nil, err
	}
	return parseSRVs(msg)
}

// LookupIP looks up the A and AAAA records of host (and /etc/hosts).
func (d *DNS) LookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	r := d.IP
	if r == nil {
		r = net.DefaultResolver
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return nil, nil
	}
	for i, ip := range ips {
		ips[i] = ip.Unmap()
	}
	return ips, err
}

// errServer: a server answered with an error code worth trying another for.
var errServer = errors.New("transport: DNS server failure")

// query asks each server in turn for name's records of type t and returns
// the answer message: nil when the name does not exist.
func (d *DNS) query(ctx context.Context, name string, t dnsmessage.Type) ([]byte, error) {
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return nil, fmt.Errorf("transport: DNS name %q: %w", name, err)
	}
	conf := d.config()
	var last error
	for range conf.attempts {
		for _, srv := range conf.servers {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			msg, rcode, err := exchange(ctx, srv, n, t, conf.timeout)
			switch {
			case err != nil:
				last = err
			case rcode == dnsmessage.RCodeSuccess:
				return msg, nil
			case rcode == dnsmessage.RCodeNameError:
				return nil, nil
			default:
				last = fmt.Errorf("%w: %s answered %v for %s", errServer, srv, rcode, name)
			}
		}
	}
	return nil, last
}

// exchange sends one query to srv over UDP, and again over TCP when the
// answer was truncated, and returns the answer that matches it.
func exchange(ctx context.Context, srv netip.AddrPort, name dnsmessage.Name, t dnsmessage.Type, timeout time.Duration) ([]byte, dnsmessage.RCode, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	q := dnsmessage.Question{Name: name, Type: t, Class: dnsmessage.ClassINET}
	b := dnsmessage.NewBuilder(make([]byte, 2, 514), dnsmessage.Header{ID: id, RecursionDesired: true})
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAdditionals()
	var opt dnsmessage.ResourceHeader
	_ = opt.SetEDNS0(ednsPayload, dnsmessage.RCodeSuccess, false)
	_ = b.OPTResource(opt, dnsmessage.OPTResource{})
	query, err := b.Finish()
	if err != nil {
		return nil, 0, err
	}
	binary.BigEndian.PutUint16(query, uint16(len(query)-2)) // the TCP length prefix

	var dl net.Dialer
	c, err := dl.DialContext(ctx, "udp", srv.String())
	if err != nil {
		return nil, 0, err
	}
	msg, h, err := roundTrip(ctx, c, query[2:], id, q, false)
	c.Close()
	if err == nil && h.Truncated {
		if c, err = dl.DialContext(ctx, "tcp", srv.String()); err != nil {
			return nil, 0, err
		}
		msg, h, err = roundTrip(ctx, c, query, id, q, true)
		c.Close()
	}
	if err != nil {
		return nil, 0, err
	}
	return msg, h.RCode, nil
}

// roundTrip writes a query and reads answers until one matches it (over
// UDP a stray or forged datagram is skipped).
func roundTrip(ctx context.Context, c net.Conn, query []byte, id uint16, q dnsmessage.Question, stream bool) ([]byte, dnsmessage.Header, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.Write(query); err != nil {
		return nil, dnsmessage.Header{}, err
	}
	for {
		var msg []byte
		if stream {
			var l [2]byte
			if _, err := io.ReadFull(c, l[:]); err != nil {
				return nil, dnsmessage.Header{}, err
			}
			msg = make([]byte, binary.BigEndian.Uint16(l[:]))
			if _, err := io.ReadFull(c, msg); err != nil {
				return nil, dnsmessage.Header{}, err
			}
		} else {
			buf := make([]byte, 65535)
			n, err := c.Read(buf)
			if err != nil {
				return nil, dnsmessage.Header{}, err
			}
			msg = buf[:n]
		}
		var p dnsmessage.Parser
		h, err := p.Start(msg)
		if err == nil && h.ID == id && h.Response {
			if got, err := p.Question(); err == nil && got.Type == q.Type && strings.EqualFold(got.Name.String(), q.Name.String()) {
				return msg, h, nil
			}
		}
		if stream {
			return nil, dnsmessage.Header{}, errors.New("transport: DNS answer does not match the query")
		}
	}
}

// parseNAPTRs returns the NAPTR records in the answer section of msg.
func parseNAPTRs(msg []byte) ([]NAPTR, error) {
	var p dnsmessage.Parser
	if _, err := p.Start(msg); err != nil {
		return nil, err
	}
	if err := p.SkipAllQuestions(); err != nil {
		return nil, err
	}
	var out []NAPTR
	for {
		h, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Type != typeNAPTR || h.Class != dnsmessage.ClassINET {
			if err := p.SkipAnswer(); err != nil {
				return nil, err
			}
			continue
		}
		r, err := p.UnknownResource()
		if err != nil {
			return nil, err
		}
		n, err := decodeNAPTR(msg, r.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
}

// parseSRVs returns the SRV records in the answer section of msg.
func parseSRVs(msg []byte) ([]SRV, error) {
	var p dnsmessage.Parser
	if _, err := p.Start(msg); err != nil {
		return nil, err
	}
	if err := p.SkipAllQuestions(); err != nil {
		return nil, err
	}
	var out []SRV
	for {
		h, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Type != dnsmessage.TypeSRV || h.Class != dnsmessage.ClassINET {
			if err := p.SkipAnswer(); err != nil {
				return nil, err
			}
			continue
		}
		r, err := p.SRVResource()
		if err != nil {
			return nil, err
		}
		out = append(out, SRV{Target: r.Target.String(), Port: r.Port, Priority: r.Priority, Weight: r.Weight})
	}
}

var errNAPTR = errors.New("transport: malformed NAPTR record")

// decodeNAPTR decodes NAPTR RDATA (RFC 3403 §4.1): ORDER, PREFERENCE,
// FLAGS, SERVICES and REGEXP (character-strings), REPLACEMENT (a domain
// name). RFC 3597 §4 has receivers accept a compressed REPLACEMENT, so a
// pointer is followed into msg, the whole message.
func decodeNAPTR(msg, rdata []byte) (NAPTR, error) {
	if len(rdata) < 4 {
		return NAPTR{}, errNAPTR
	}
	n := NAPTR{Order: binary.BigEndian.Uint16(rdata), Preference: binary.BigEndian.Uint16(rdata[2:])}
	off := 4
	for _, s := range []*string{&n.Flags, &n.Services, &n.Regexp} {
		if off >= len(rdata) || off+1+int(rdata[off]) > len(rdata) {
			return NAPTR{}, errNAPTR
		}
		l := int(rdata[off])
		*s = string(rdata[off+1 : off+1+l])
		off += 1 + l
	}
	name, end, err := decodeName(msg, rdata, off)
	if err != nil {
		return NAPTR{}, err
	}
	if end != len(rdata) {
		return NAPTR{}, errNAPTR // bytes after the name
	}
	n.Replacement = name
	return n, nil
}

// decodeName decodes the domain name at data[off:] (RFC 1035 §3.1, with
// §4.1.4 compression pointers into msg) in presentation form with its
// final dot, and returns the offset in data just after it.
func decodeName(msg, data []byte, off int) (string, int, error) {
	var b strings.Builder
	buf, pos, end, hops := data, off, -1, 0
	for {
		if pos >= len(buf) {
			return "", 0, errNAPTR
		}
		c := int(buf[pos])
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				if end < 0 {
					end = pos + 1
				}
				if b.Len() == 0 {
					return ".", end, nil
				}
				return b.String(), end, nil
			}
			if pos+1+c > len(buf) {
				return "", 0, errNAPTR
			}
			for _, ch := range buf[pos+1 : pos+1+c] {
				// A host name's label: no dot, nothing unprintable.
				if ch <= ' ' || ch >= 0x7f || ch == '.' || ch == '\\' {
					return "", 0, errNAPTR
				}
			}
			b.Write(buf[pos+1 : pos+1+c])
			b.WriteByte('.')
			if b.Len() > 254 {
				return "", 0, errNAPTR // RFC 1035 §2.3.4: 255 octets on the wire
			}
			pos += 1 + c
		case 0xC0:
			if pos+1 >= len(buf) {
				return "", 0, errNAPTR
			}
			if end < 0 {
				end = pos + 2
			}
			if hops++; hops > 63 {
				return "", 0, errNAPTR // a pointer loop
			}
			buf, pos = msg, (c&0x3F)<<8|int(buf[pos+1])
		default:
			return "", 0, errNAPTR // RFC 6891's extended label types: obsolete
		}
	}
}
