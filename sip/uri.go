package sip

import (
	"net/netip"
	"strconv"
	"strings"
)

// URI is a SIP or SIPS URI (RFC 3261 §19.1), a tel URI (RFC 3966), or any
// other absolute URI, which is kept verbatim in Opaque.
//
// User and Password hold unescaped text: String escapes them again as
// RFC 3261 §19.1.2 requires. Params and Headers keep their wire form.
type URI struct {
	// Scheme is lower case: "sip", "sips", "tel", or another scheme.
	Scheme string
	// User is the user part of a sip/sips URI, or the telephone-subscriber
	// number of a tel URI (for example "+1-201-555-0123").
	User string
	// Password is the (deprecated) password of a sip/sips URI.
	Password string
	// Host is a host name, an IPv4 address or an IPv6 address without
	// brackets. Empty for tel and other URIs.
	Host string
	// Port is 0 when the URI has none.
	Port int
	// Params are the uri-parameters (sip, sips, tel) in wire form.
	Params Params
	// Headers are the raw URI headers after '?', without the '?'.
	Headers string
	// Opaque is everything after "scheme:" for schemes other than sip,
	// sips and tel.
	Opaque string
}

// ParseURI parses a SIP, SIPS, tel or other absolute URI.
func ParseURI(s string) (URI, error) {
	if len(s) > DefaultMaxURILength {
		return URI{}, &ParseError{Offset: -1, Msg: "URI too long", Err: ErrURITooLong}
	}
	u, msg := parseURI(s)
	if msg != "" {
		return URI{}, syntaxErr("", msg)
	}
	return u, nil
}

// IsSIP reports whether the scheme is sip or sips.
func (u URI) IsSIP() bool { return u.Scheme == "sip" || u.Scheme == "sips" }

// HostPort returns the host, bracketed if IPv6, with ":port" when the URI
// has a port.
func (u URI) HostPort() string {
	h := u.Host
	if strings.IndexByte(h, ':') >= 0 {
		h = "[" + h + "]"
	}
	if u.Port == 0 {
		return h
	}
	return h + ":" + strconv.Itoa(u.Port)
}

// String returns the wire form of the URI.
func (u URI) String() string {
	return string(u.AppendTo(make([]byte, 0, 48)))
}

// AppendTo appends the wire form of the URI to b.
func (u *URI) AppendTo(b []byte) []byte {
	if u.Scheme == "" {
		return b
	}
	b = append(b, u.Scheme...)
	b = append(b, ':')
	switch u.Scheme {
	case "sip", "sips":
		if u.User != "" {
			b = appendEscaped(b, u.User, &userChars)
			if u.Password != "" {
				b = append(b, ':')
				b = appendEscaped(b, u.Password, &passwordChars)
			}
			b = append(b, '@')
		}
		if strings.IndexByte(u.Host, ':') >= 0 {
			b = append(b, '[')
			b = append(b, u.Host...)
			b = append(b, ']')
		} else {
			b = append(b, u.Host...)
		}
		if u.Port != 0 {
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(u.Port), 10)
		}
	case "tel":
		b = appendEscaped(b, u.User, &telChars)
	default:
		return append(b, u.Opaque...)
	}
	if u.Params != "" {
		b = append(b, ';')
		b = append(b, u.Params...)
	}
	if u.Headers != "" {
		b = append(b, '?')
		b = append(b, u.Headers...)
	}
	return b
}

// Equal compares two URIs by the rules of RFC 3261 §19.1.4 for sip and
// sips: the user part and password case-sensitively, the host
// case-insensitively, the port, and the user, ttl, method, maddr and
// transport parameters (which must match when either URI has them); any
// other parameter must match only when both URIs have it. Headers must
// match as sets. Other schemes compare their wire forms case-sensitively,
// except the scheme.
func (u URI) Equal(v URI) bool {
	if u.Scheme != v.Scheme {
		return false
	}
	if !u.IsSIP() && u.Scheme != "tel" {
		return u.Opaque == v.Opaque
	}
	if u.User != v.User || u.Password != v.Password || !strings.EqualFold(u.Host, v.Host) || u.Port != v.Port {
		return false
	}
	for _, name := range [...]string{"user", "ttl", "method", "maddr", "transport"} {
		a, aok := u.Params.Get(name)
		b, bok := v.Params.Get(name)
		if aok != bok || !equalEscaped(a, b) {
			return false
		}
	}
	equal := true
	u.Params.Each(func(name, _ string) {
		// Get, not Each's value: a repeated parameter counts once, by its
		// first value, on both sides.
		a, _ := u.Params.Get(name)
		if b, ok := v.Params.Get(name); ok && !equalEscaped(a, b) {
			equal = false
		}
	})
	if !equal {
		return false
	}
	return sameHeaderSet(u.Headers, v.Headers)
}

func sameHeaderSet(a, b string) bool {
	if a == b {
		return true
	}
	as, bs := strings.Split(a, "&"), strings.Split(b, "&")
	if len(as) != len(bs) {
		return false
	}
outer:
	for _, x := range as {
		for _, y := range bs {
			if equalEscaped(x, y) {
				continue outer
			}
		}
		return false
	}
	return true
}

// equalEscaped compares two parameter values or URI headers
// case-insensitively with their %XX escapes resolved: RFC 3261 §19.1.4
// makes an escaped character equal to itself (the reserved characters that
// must stay escaped cannot appear unescaped in a valid value).
func equalEscaped(a, b string) bool {
	if strings.IndexByte(a, '%') < 0 && strings.IndexByte(b, '%') < 0 {
		return strings.EqualFold(a, b)
	}
	return strings.EqualFold(unescapeAll(a), unescapeAll(b))
}

// unescapeAll resolves every valid %XX escape of s.
func unescapeAll(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0 {
			b = append(b, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// parseURI parses s; on failure it returns a message saying why.
func parseURI(s string) (URI, string) {
	var u URI
	msg := parseURIInto(&u, s)
	return u, msg
}

// parseURIInto parses s into *u, which must be zero; on failure *u is left
// zero.
func parseURIInto(u *URI, s string) string {
	msg := parseURIFields(u, s)
	if msg != "" {
		*u = URI{}
	}
	return msg
}

func parseURIFields(u *URI, s string) string {
	if len(s) > 4 && s[:4] == "sip:" {
		return parseSIPURI(u, "sip", s[4:])
	}
	// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':'
	colon := 0
	for colon < len(s) && schemeChars[s[colon]] {
		colon++
	}
	if colon == len(s) || s[colon] != ':' {
		if strings.IndexByte(s, ':') < 0 {
			return "URI without scheme"
		}
		return "bad URI scheme"
	}
	if colon == 0 || s[0]|0x20 < 'a' || s[0]|0x20 > 'z' {
		return "bad URI scheme"
	}
	scheme := s[:colon]
	if scheme != "sip" {
		scheme = lowerASCII(scheme)
	}
	rest := s[colon+1:]
	switch scheme {
	case "sip", "sips":
		return parseSIPURI(u, scheme, rest)
	case "tel":
		return parseTelURI(u, rest)
	}
	if rest == "" {
		return "empty URI"
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' {
			return "bad character in URI"
		}
	}
	u.Scheme, u.Opaque = scheme, rest
	return ""
}

func parseSIPURI(u *URI, scheme, s string) string {
	u.Scheme = scheme
	// The usual user part, user characters up to '@' (no password, no
	// escape), or none at all, in one scan; else the search for '@'.
	if j := span(s, 0, cUser); j < len(s) && s[j] == '@' && j > 0 {
		u.User, s = s[:j], s[j+1:]
	} else if j == len(s) {
		// no '@': no user part
	} else if at := strings.IndexByte(s, '@'); at >= 0 {
		userinfo := s[:at]
		s = s[at+1:]
		user, pass := userinfo, ""
		hasPass := false
		if c := strings.IndexByte(userinfo, ':'); c >= 0 {
			user, pass, hasPass = userinfo[:c], userinfo[c+1:], true
		}
		if user == "" {
			return "empty user part in URI"
		}
		var ok bool
		if u.User, ok = unescapeSet(user, &userChars); !ok {
			return "bad character or escape in URI user part"
		}
		if hasPass {
			if u.Password, ok = unescapeSet(pass, &passwordChars); !ok {
				return "bad character or escape in URI password"
			}
		}
	}
	// hostport
	if host, port, end := hostPortPrefix(s); end > 0 {
		u.Host, u.Port, s = host, port, s[end:] // the usual name or IPv4 address
	} else {
		end := len(s)
		// Host characters, ':' and digits are neither ';' nor '?': start
		// the search after the usual host[:port].
		j := span(s, 0, cHost)
		if j < len(s) && s[j] == ':' {
			j = span(s, j+1, cDigit)
		}
		for i := j; i < len(s); i++ {
			if s[i] == ';' || s[i] == '?' {
				end = i
				break
			}
		}
		hostport := s[:end]
		s = s[end:]
		if hostport == "" {
			return "URI without host"
		}
		var msg string
		if u.Host, u.Port, msg = parseHostPort(hostport); msg != "" {
			return msg
		}
	}
	if s != "" && s[0] == ';' {
		end := strings.IndexByte(s, '?')
		if end < 0 {
			end = len(s)
		}
		p, ok := parseParams(s[1:end], true)
		if !ok {
			return "bad URI parameter"
		}
		u.Params = p
		s = s[end:]
	}
	if s != "" { // '?'
		h := s[1:]
		if h == "" {
			return "empty URI headers"
		}
		for i := 0; i < len(h); i++ {
			if !uriHeaderChars[h[i]] {
				return "bad character in URI headers"
			}
		}
		if !validEscapes(h) {
			return "bad escape in URI headers"
		}
		u.Headers = h
	}
	return ""
}

func parseTelURI(u *URI, s string) string {
	end := strings.IndexByte(s, ';')
	if end < 0 {
		end = len(s)
	}
	num := s[:end]
	if num == "" {
		return "empty tel URI"
	}
	u.Scheme = "tel"
	var ok bool
	if u.User, ok = unescapeSet(num, &telChars); !ok {
		return "bad character in tel URI"
	}
	if end < len(s) {
		p, ok := parseParams(s[end+1:], true)
		if !ok {
			return "bad tel URI parameter"
		}
		u.Params = p
	}
	return ""
}

// hostPortPrefix parses the common form of a sip URI's hostport in one
// scan: host characters, optionally ':' and a port of one to five digits,
// ending s or followed by ';' or '?'. It returns end == 0, leaving s to
// parseHostPort, for anything else (an IPv6 reference, a bad port, a bad
// character), so what it accepts parseHostPort accepts alike.
func hostPortPrefix(s string) (host string, port, end int) {
	j := span(s, 0, cHost)
	if j == 0 {
		return "", 0, 0
	}
	if j < len(s) && s[j] == ':' {
		k := span(s, j+1, cDigit)
		if k == j+1 || k > j+6 || k < len(s) && s[k] != ';' && s[k] != '?' {
			return "", 0, 0
		}
		for i := j + 1; i < k; i++ {
			port = port*10 + int(s[i]-'0')
		}
		if port == 0 || port > 65535 {
			return "", 0, 0
		}
		return s[:j], port, k
	}
	if j < len(s) && s[j] != ';' && s[j] != '?' {
		return "", 0, 0
	}
	return s[:j], 0, j
}

// parseHostPort parses host [":" port] with IPv6 references in brackets.
func parseHostPort(s string) (host string, port int, msg string) {
	if s == "" {
		return "", 0, "empty host"
	}
	var rest string
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, "unterminated IPv6 reference"
		}
		host = s[1:end]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", 0, "bad IPv6 reference"
		}
		rest = s[end+1:]
	} else {
		end := span(s, 0, cHost) // hostChars
		host, rest = s[:end], s[end:]
		if host == "" {
			return "", 0, "empty host"
		}
		if rest != "" && rest[0] != ':' {
			return "", 0, "bad character in host"
		}
	}
	if rest == "" {
		return host, 0, ""
	}
	if rest[0] != ':' || len(rest) == 1 || len(rest) > 6 {
		return "", 0, "bad port"
	}
	p, ok := atoiDigits(rest[1:])
	if !ok || p == 0 || p > 65535 {
		return "", 0, "bad port"
	}
	return host, p, ""
}

// atoiDigits parses a non-empty run of at most 9 decimal digits.
func atoiDigits(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// unescapeSet checks that s holds only bytes of set or %XX escapes and
// returns it unescaped (s itself when it has no escape).
func unescapeSet(s string, set *[256]bool) (string, bool) {
	if set == &userChars && span(s, 0, cUser) == len(s) {
		return s, true // no escape, and every byte in the set
	}
	esc := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
				return "", false
			}
			esc = true
			i += 2
			continue
		}
		if !set[c] {
			return "", false
		}
	}
	if !esc {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			b = append(b, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b), true
}

// validEscapes reports whether every '%' in s starts a %XX escape.
func validEscapes(s string) bool {
	for i := strings.IndexByte(s, '%'); i >= 0; {
		if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
			return false
		}
		next := strings.IndexByte(s[i+3:], '%')
		if next < 0 {
			break
		}
		i += 3 + next
	}
	return true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

const hexDigits = "0123456789ABCDEF"

// appendEscaped appends s, escaping every byte outside set as %XX.
func appendEscaped(b []byte, s string, set *[256]bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if set[c] {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}

var (
	// unreserved = alphanum / mark (RFC 3261 §25.1)
	unreservedMarks = "-_.!~*'()"
	// user = 1*( unreserved / escaped / user-unreserved )
	userChars = makeSet(unreservedMarks+"&=+$,;?/", true)
	// password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
	passwordChars = makeSet(unreservedMarks+"&=+$,", true)
	// hostname characters; '_' is not in RFC 3261 but deployed names use it.
	hostChars = makeSet("-._", true)
	// hname / hvalue = *( hnv-unreserved / unreserved / escaped ), with '='
	// and '&' as separators.
	uriHeaderChars = makeSet(unreservedMarks+"[]/?:+$%=&", true)
	// RFC 3966 telephone-subscriber characters, without ';' (parameters).
	telChars = makeSet("+-.()*#", true)
	// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
	schemeChars = makeSet("+-.", true)
)
