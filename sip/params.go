package sip

import "strings"

// Params is a list of semicolon-separated parameters in wire form, without
// the leading ';': for example `branch=z9hG4bK776asdhds;rport` or
// `tag=1928301774`. Keeping the wire form means parsing a header costs no
// allocation, and a parameter the library does not know survives a round
// trip unchanged. Names compare case-insensitively.
//
// Values returned by Get are unquoted; With quotes a value when it is not a
// token.
type Params string

// Get returns the value of the first parameter called name and whether it is
// present. A parameter without a value (like `lr` or `rport`) is present
// with the value "".
func (p Params) Get(name string) (string, bool) {
	s := string(p)
	for s != "" {
		var n, v string
		n, v, s = nextParam(s)
		if strings.EqualFold(n, name) {
			return unquote(v), true
		}
	}
	return "", false
}

// Value returns the value of parameter name, or "" if it is absent.
func (p Params) Value(name string) string {
	v, _ := p.Get(name)
	return v
}

// Has reports whether parameter name is present.
func (p Params) Has(name string) bool {
	_, ok := p.Get(name)
	return ok
}

// Len returns the number of parameters.
func (p Params) Len() int {
	n := 0
	for s := string(p); s != ""; n++ {
		_, _, s = nextParam(s)
	}
	return n
}

// Each calls fn for every parameter in order with its name and unquoted value.
func (p Params) Each(fn func(name, value string)) {
	for s := string(p); s != ""; {
		var n, v string
		n, v, s = nextParam(s)
		fn(n, unquote(v))
	}
}

// With returns p with parameter name set to value, replacing the first
// parameter of that name or appending a new one. An empty value writes a
// bare `name`; a value that is not a token (nor a host) is quoted.
func (p Params) With(name, value string) Params {
	entry := name
	if value != "" {
		entry = name + "=" + quoteIfNeeded(value)
	}
	return p.replace(name, entry, true)
}

// Without returns p without any parameter called name.
func (p Params) Without(name string) Params {
	return p.replace(name, "", false)
}

func (p Params) replace(name, entry string, add bool) Params {
	var b strings.Builder
	done := false
	for s := string(p); s != ""; {
		start := s
		var n string
		n, _, s = nextParam(s)
		raw := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(start[:len(start)-len(s)]), ";"))
		if strings.EqualFold(n, name) {
			if !add || done {
				continue
			}
			raw, done = entry, true
		}
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(raw)
	}
	if add && !done {
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(entry)
	}
	return Params(b.String())
}

// nextParam splits off the first parameter of s (in Params wire form). It
// returns the trimmed name, the raw (possibly quoted) value and the rest
// after the separating ';'. It never fails: Params values are validated when
// they are parsed.
func nextParam(s string) (name, value, rest string) {
	i := 0
	for i < len(s) && s[i] != ';' && s[i] != '=' {
		i++
	}
	name = trimLWS(s[:i])
	if i < len(s) && s[i] == '=' {
		i++
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		j := i
		if j < len(s) && s[j] == '"' {
			if j = skipQuoted(s, j); j < 0 { // only in a Params built by hand
				j = len(s)
			}
		}
		for j < len(s) && s[j] != ';' {
			j++
		}
		value = trimLWS(s[i:j])
		i = j
	}
	if i < len(s) {
		i++ // ';'
	}
	return name, value, s[i:]
}

// parseParams validates the parameters that follow a ';' in s (s excludes
// that first ';') and returns them as Params. The grammar is the generic-param
// of RFC 3261 §25.1: token [ EQUAL ( token / host / quoted-string ) ], with
// optional linear white space around ';' and '='. uriParams selects the more
// liberal character set of URI parameters (paramchar, with escapes).
func parseParams(s string, uriParams bool) (Params, bool) {
	if uriParams {
		return parseURIParams(s)
	}
	s = trimLWS(s)
	i := 0
	for {
		// name
		j := span(s, i, cToken) // tokenChars
		if j == i {
			return "", false
		}
		k := j
		if k < len(s) && (s[k] == ' ' || s[k] == '\t') {
			k = skipLWS(s, k)
		}
		if k < len(s) && s[k] == '=' {
			k++
			if k < len(s) && (s[k] == ' ' || s[k] == '\t') {
				k = skipLWS(s, k)
			}
			if k < len(s) && s[k] == '"' {
				e := skipQuoted(s, k)
				if e < 0 {
					return "", false
				}
				k = e
			} else { // an IPv6 reference is made of valSet bytes too
				v := k
				if k = span(s, k, cLenient); k == v { // lenientValueChars
					return "", false
				}
			}
			if k < len(s) && (s[k] == ' ' || s[k] == '\t') {
				k = skipLWS(s, k)
			}
		}
		if k == len(s) {
			return Params(s), true
		}
		if s[k] != ';' {
			return "", false
		}
		i = k + 1
		if i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i = skipLWS(s, i)
		}
	}
}

// parseURIParams is parseParams for uri-parameters: name[=value] pairs of
// paramchar (escapes included) separated by ';', with no white space and
// no quoted strings.
func parseURIParams(s string) (Params, bool) {
	for i := 0; ; {
		j, ok := spanEscaped(s, i)
		if !ok || j == i {
			return "", false
		}
		if j < len(s) && s[j] == '=' {
			v := j + 1
			if j, ok = spanEscaped(s, v); !ok || j == v {
				return "", false
			}
		}
		if j == len(s) {
			return Params(s), true
		}
		if s[j] != ';' {
			return "", false
		}
		i = j + 1
	}
}

// skipQuoted returns the index just after the quoted string that starts at
// s[i] == '"', or -1 if it is not terminated or holds a control character
// (RFC 3261 qdtext and quoted-pair exclude CR, LF, NUL and the other
// controls but HT).
func skipQuoted(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		j = span(s, j, cQdtext) // qdtextChars
		if j == len(s) {
			return -1
		}
		switch s[j] {
		case '"':
			return j + 1
		case '\\':
			j++ // quoted-pair: any byte but a control character
			if j == len(s) || s[j] < ' ' && s[j] != '\t' || s[j] == 0x7f {
				return -1
			}
		default:
			return -1 // a control character
		}
	}
	return -1
}

// qdtextChars marks the bytes a quoted string holds as they are: all but
// '"', '\\' and the control characters other than HT (UTF-8 included).
var qdtextChars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= ' ' && c != 0x7f && c != '"' && c != '\\' || c == '\t'
	}
	return t
}()

// unquote removes the quotes of a quoted-string and resolves quoted-pairs.
// A value that is not quoted is returned unchanged.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	v = v[1 : len(v)-1]
	if strings.IndexByte(v, '\\') < 0 {
		return v
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b = append(b, v[i])
	}
	return string(b)
}

// quote returns v as a quoted-string.
func quote(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
		case c < ' ' && c != '\t' || c == 0x7f:
			c = ' ' // no quoted-pair may hold a control character
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}

func quoteIfNeeded(v string) string {
	for i := 0; i < len(v); i++ {
		if !paramValueChars[v[i]] {
			if isIPv6Ref(v) {
				return v
			}
			return quote(v)
		}
	}
	return v
}

// isIPv6Ref reports whether v looks like an IPv6 reference: "[" followed
// by hex digits, ':' and '.' and "]".
func isIPv6Ref(v string) bool {
	if len(v) < 3 || v[0] != '[' || v[len(v)-1] != ']' {
		return false
	}
	for i := 1; i < len(v)-1; i++ {
		if c := v[i]; unhex(c) < 0 && c != ':' && c != '.' {
			return false
		}
	}
	return true
}

func trimLWS(s string) string {
	if s == "" || s[0] > ' ' && s[len(s)-1] > ' ' {
		return s // the usual value, trimmed already
	}
	i, j := 0, len(s)
	for i < j && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == '\t') {
		j--
	}
	return s[i:j]
}

func skipLWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// nextElem splits a comma-separated header value: it returns the first
// element (trimmed) and the rest after the comma. Commas inside quoted
// strings and angle brackets do not split.
func nextElem(s string) (elem, rest string, ok bool) {
	angle := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			e := skipQuoted(s, i)
			if e < 0 {
				return "", "", false
			}
			i = e - 1
		case '<':
			angle = true
		case '>':
			angle = false
		case ',':
			if !angle {
				return trimLWS(s[:i]), s[i+1:], true
			}
		}
	}
	if angle {
		return "", "", false
	}
	return trimLWS(s), "", true
}

// paramValueChars: the token characters; a value made only of these is
// written without quotes.
var paramValueChars = tokenChars

// lenientValueChars: what an unquoted generic-param value may hold when
// parsed. RFC 3261 allows token / host / quoted-string; deployed stacks
// also send unquoted URIs and paths, so ':', '/', '@', '?', '&', '$' and
// '[', ']' are accepted too. ',', ';', '<', '>', '"' and white space end a
// value.
var lenientValueChars = makeSet("-.!%*_+`'~:/@?&$[]", true)

// uriParamChars: paramchar of RFC 3261 §25.1 (param-unreserved / unreserved
// / escaped): unreserved marks plus "[]/:&+$" and '%' for escapes.
var uriParamChars = makeSet("-_.!~*'()[]/:&+$%", true)
