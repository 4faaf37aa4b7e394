package sip

import (
	"bytes"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// ptFastLimits are the limits the fast path is compared under: the
// defaults, and tight ones that the seeds cross.
var ptFastLimits = []Limits{
	defaultLimits,
	Limits{MaxMessageSize: 300, MaxHeaders: 5, MaxHeaderLength: 40, MaxURILength: 20, MaxBodySize: 10}.resolved(),
	ptNoLimits.resolved(),
}

// ptCheckFast checks that parseHeadFast, when it accepts data, returns what
// parseHeadSlow returns.
func ptCheckFast(t *testing.T, data []byte) {
	t.Helper()
	for i := range ptFastLimits {
		lim := &ptFastLimits[i]
		fm, frest, ok := parseHeadFast(data, lim)
		sm, srest, err := parseHeadSlow(data, lim)
		if !ok {
			continue
		}
		if err != nil {
			t.Fatalf("limits %d: fast path accepts what the slow path refuses (%v): %q", i, err, data)
		}
		if !reflect.DeepEqual(fm, sm) {
			t.Fatalf("limits %d: fast and slow paths differ:\n%#v\n%#v\n%q", i, fm, sm, data)
		}
		if !bytes.Equal(frest, srest) {
			t.Fatalf("limits %d: rest differs: %q vs %q", i, frest, srest)
		}
		if fh, sh := fm.Headers(), sm.Headers(); cap(fh.fields) != len(fh.fields) || cap(fh.via) != len(fh.via) || cap(fh.contact) != len(fh.contact) || len(fh.raw) != len(sh.raw) {
			t.Fatalf("limits %d: slices not capped or raw differs", i)
		}
	}
}

func TestParseHeadFastMatchesSlow(t *testing.T) {
	seeds := ptFuzzSeeds()
	accepted := 0
	for _, s := range seeds {
		ptCheckFast(t, []byte(s))
		if _, _, ok := parseHeadFast([]byte(s), &defaultLimits); ok {
			accepted++
		}
	}
	if accepted < 10 {
		t.Fatalf("fast path accepts only %d seeds", accepted)
	}
	// Mutations: bytes the parser cares about, inserted, replaced and
	// deleted at random places.
	special := []byte("\r\n \t:;,<>\"@=/\\%[]?\x00\x7f\x80\xffABzZ-.0123456789")
	r := rand.New(rand.NewSource(1))
	for _, s := range seeds {
		for k := 0; k < 300; k++ {
			b := []byte(s)
			if len(b) == 0 {
				break
			}
			for m := r.Intn(3) + 1; m > 0; m-- {
				i := r.Intn(len(b))
				c := special[r.Intn(len(special))]
				switch r.Intn(3) {
				case 0:
					b[i] = c
				case 1:
					b = append(b[:i], append([]byte{c}, b[i:]...)...)
				default:
					b = append(b[:i], b[i+1:]...)
				}
				if len(b) == 0 {
					break
				}
			}
			ptCheckFast(t, b)
		}
	}
}

// TestHidAtMatchesLookup compares the parser's header name lookup with
// lookupHID on every known name in several spellings and on near misses.
func TestHidAtMatchesLookup(t *testing.T) {
	var names []string
	for id := hid(1); id < numHIDs; id++ {
		c := canonicalNames[id]
		up, low, mixed := []byte(c), []byte(c), []byte(c)
		for i := range up {
			if up[i] >= 'a' && up[i] <= 'z' {
				up[i] -= 0x20
			}
			if low[i] >= 'A' && low[i] <= 'Z' {
				low[i] += 0x20
			}
			if i%2 == 0 {
				mixed[i] = up[i]
			} else {
				mixed[i] = low[i]
			}
		}
		names = append(names, c, string(up), string(low), string(mixed), c[1:], c[:len(c)-1], c+"x", "x"+c)
		for i := range c {
			for _, x := range []byte{'\r', '_', '\x00', c[i] ^ 0x20, c[i] ^ 0x01, c[i] | 0x80} {
				m := []byte(c)
				m[i] = x
				names = append(names, string(m))
			}
		}
	}
	for c := 0; c < 256; c++ {
		names = append(names, string([]byte{byte(c)}))
	}
	names = append(names, "", "X-Custom", "Content-Typ", "Via-", "ViaX", "P-Preferred-Identity-")
	for _, name := range names {
		for pad := 0; pad < 10; pad++ {
			// in the middle of a buffer and at its very end
			buf := append(bytes.Repeat([]byte{'#'}, pad), name...)
			if got, want := hidAt(buf, pad, len(name)), lookupHID(name); got != want {
				t.Fatalf("hidAt(%q) = %d, lookupHID = %d", name, got, want)
			}
			buf = append(buf, ": value\r\n\r\n"...)
			if got, want := hidAt(buf, pad, len(name)), lookupHID(name); got != want {
				t.Fatalf("hidAt(%q) = %d, lookupHID = %d (padded)", name, got, want)
			}
		}
	}
}

func TestIndexCtlColon(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for k := 0; k < 20000; k++ {
		b := make([]byte, r.Intn(40))
		for i := range b {
			b[i] = byte(0x20 + r.Intn(0x5f))
			if r.Intn(10) == 0 {
				b[i] = byte(r.Intn(256))
			}
		}
		from := 0
		if len(b) > 0 {
			from = r.Intn(len(b) + 1)
		}
		wantCtl, wantColon := len(b), -1
		for i := len(b) - 1; i >= from; i-- {
			if b[i] < 0x20 || b[i] >= 0x7f {
				wantCtl = i
			}
			if b[i] == ':' {
				wantColon = i
			}
		}
		if got := indexCtl(b, from); got != wantCtl {
			t.Fatalf("indexCtl(%q, %d) = %d, want %d", b, from, got, wantCtl)
		}
		if got := indexColon(b, from); got != wantColon {
			t.Fatalf("indexColon(%q, %d) = %d, want %d", b, from, got, wantColon)
		}
	}
}

// FuzzParseHeadFast checks the one-pass parser against the two-pass one.
func FuzzParseHeadFast(f *testing.F) {
	for _, s := range ptFuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ptCheckFast(t, data)
	})
}

// TestParseHeadFastManyFields crosses the field block's size.
func TestParseHeadFastManyFields(t *testing.T) {
	for _, n := range []int{19, 20, 21, 22, 39, 40, 41, 100} {
		var b bytes.Buffer
		b.WriteString("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\n")
		for i := 0; i < n; i++ {
			b.WriteString("X-H: v\r\nContact: <sip:c@d>\r\n")
		}
		b.WriteString("Content-Length: 0\r\n\r\n")
		data := b.Bytes()
		if _, _, ok := parseHeadFast(data, &defaultLimits); !ok {
			t.Fatalf("%d: fast path declines", n)
		}
		ptCheckFast(t, data)
		m, err := ParseMessage(data)
		if err != nil || m.Headers().Len() != 2*n+6 || len(m.Headers().Contact()) != n {
			t.Fatalf("%d: %v", n, err)
		}
	}
}

// FuzzValueFastPaths checks the one-scan forms of Via, media type and
// host[:port] against the general parsers: whatever a fast path accepts,
// the general parser accepts alike, and where it declines, the result is
// the general parser's.
func FuzzValueFastPaths(f *testing.F) {
	for _, s := range []string{
		"SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKnashds8;rport",
		"SIP/2.0/TCP proxy.example.com;branch=z9hG4bK1",
		"SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1",
		"SIP / 2.0 / UDP h : 5060 ; branch=x",
		"SIP/2.0/UDP h:0;branch=x", "SIP/2.0/UDP h:65536", "SIP/2.0/UDP h:5060x",
		"application/sdp", "application/pidf+xml;charset=utf-8", "text / plain", "a/b;",
		"host:5060;transport=tcp", "host?x=y", "h:1", "h:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var fast, slow Via
		if m1, m2 := parseViaFields(&fast, s), parseViaSlow(&slow, s); m1 != m2 || m1 == "" && fast != slow {
			t.Fatalf("Via %q: fast %q %+v, slow %q %+v", s, m1, fast, m2, slow)
		}
		var mf, ms MediaType
		if m1, m2 := parseMediaTypeInto(&mf, s), parseMediaTypeSlow(&ms, s); m1 != m2 || m1 == "" && mf != ms {
			t.Fatalf("media type %q: fast %q %+v, slow %q %+v", s, m1, mf, m2, ms)
		}
		if host, port, end := hostPortPrefix(s); end > 0 {
			h, p, msg := parseHostPort(s[:end])
			if msg != "" || h != host || p != port || end < len(s) && s[end] != ';' && s[end] != '?' {
				t.Fatalf("hostport %q: prefix %q %d %d, parseHostPort %q %d %q", s, host, port, end, h, p, msg)
			}
		}
	})
}

// refURIParams is parseParams for uri-parameters as it was before
// parseURIParams: the paramchar class with '%', then every escape checked.
func refURIParams(s string) (Params, bool) {
	for i := 0; ; {
		j := span(s, i, cURIParam)
		if j == i {
			return "", false
		}
		if j < len(s) && s[j] == '=' {
			v := j + 1
			if j = span(s, v, cURIParam); j == v {
				return "", false
			}
		}
		if j == len(s) {
			return Params(s), validEscapes(s)
		}
		if s[j] != ';' {
			return "", false
		}
		i = j + 1
	}
}

func FuzzURIParams(f *testing.F) {
	for _, s := range []string{"transport=tcp", "lr", "a=%41;b", "a=%4", "a=%4;b", "%zz", "a=b=c", ";", "a;", "maddr=[::1];x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p1, ok1 := parseURIParams(s)
		p2, ok2 := refURIParams(s)
		if ok1 != ok2 || ok1 && p1 != p2 {
			t.Fatalf("%q: parseURIParams %q %v, reference %q %v", s, p1, ok1, p2, ok2)
		}
	})
}

// refAbsorbList is absorb for Via and Contact as it was before a value
// that parses whole skipped the search for commas: split first.
func refAbsorbList(h *Header, slot int, v string) string {
	add := func(e string) string {
		if slot == eVia {
			return h.addVia(e)
		}
		return h.addContact(e, defaultLimits.MaxURILength)
	}
	if strings.IndexByte(v, ',') < 0 {
		return add(v)
	}
	n := len(h.via) + len(h.contact)
	for v != "" {
		e, rest, ok := nextElem(v)
		if !ok {
			return "unbalanced"
		}
		if msg := add(e); msg != "" {
			return msg
		}
		v = rest
	}
	if len(h.via)+len(h.contact) == n {
		return "empty"
	}
	return ""
}

func FuzzAbsorbList(f *testing.F) {
	for _, s := range []string{
		`SIP/2.0/UDP h;branch=1, SIP/2.0/TCP g`, `SIP/2.0/UDP h;x="a,b"`, `SIP/2.0/UDP h,`,
		`<sip:a,b@h>;q=1`, `"Doe, J" <sip:j@d>`, `sip:a,b@h`, `<sip:a@b>, <sip:c@d>;expires=1`, `<sip:a@b>;p="x,y"`, `*`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, v string, contact bool) {
		slot := eVia
		if contact {
			slot = eContact
		}
		var got, want Header
		m1 := got.absorb(slot, v, defaultLimits.MaxURILength)
		m2 := refAbsorbList(&want, slot, v)
		if (m1 == "") != (m2 == "") || m1 == "" && (!reflect.DeepEqual(got.via, want.via) || !reflect.DeepEqual(got.contact, want.contact)) {
			t.Fatalf("%q: absorb %q %+v %+v, split first %q %+v %+v", v, m1, got.via, got.contact, m2, want.via, want.contact)
		}
	})
}
