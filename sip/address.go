package sip

import "strings"

// Address is a name-addr or addr-spec with header parameters, as used by
// From, To, Contact, Route, Record-Route, Refer-To, Referred-By,
// Reply-To and P-Asserted-Identity (RFC 3261 §20, §25.1).
type Address struct {
	// Display is the unquoted display name, "" when absent.
	Display string
	// URI is the address.
	URI URI
	// Params are the header parameters (tag, expires, q, +sip.instance,
	// reg-id, ...) in wire form. In addr-spec form (no angle brackets)
	// every ';' parameter after the URI is a header parameter
	// (RFC 3261 §20.10).
	Params Params
	// Wildcard is true for the Contact value "*" (RFC 3261 §10.2.2).
	Wildcard bool
}

// ParseAddress parses one name-addr or addr-spec with its parameters.
func ParseAddress(s string) (Address, error) {
	a, msg := parseAddress(s)
	if msg != "" {
		return Address{}, syntaxErr("", msg)
	}
	return a, nil
}

// ParseAddressList parses a comma-separated list of addresses, as in a
// Contact or Route header value.
func ParseAddressList(s string) ([]Address, error) {
	var out []Address
	for s != "" {
		elem, rest, ok := nextElem(s)
		if !ok {
			return nil, syntaxErr("", "unbalanced quotes or angle brackets")
		}
		a, msg := parseAddress(elem)
		if msg != "" {
			return nil, syntaxErr("", msg)
		}
		out = append(out, a)
		s = rest
	}
	if out == nil {
		return nil, syntaxErr("", "empty address list")
	}
	return out, nil
}

// Tag returns the tag parameter.
func (a Address) Tag() string { return a.Params.Value("tag") }

// String returns the wire form: a name-addr with angle brackets (and the
// display name quoted when present), or "*".
func (a Address) String() string {
	return string(a.AppendTo(make([]byte, 0, 64)))
}

// AppendTo appends the wire form of the address to b.
func (a *Address) AppendTo(b []byte) []byte {
	if a.Wildcard {
		return append(b, '*')
	}
	if a.Display != "" {
		b = append(b, quote(a.Display)...)
		b = append(b, ' ')
	}
	b = append(b, '<')
	b = a.URI.AppendTo(b)
	b = append(b, '>')
	if a.Params != "" {
		b = append(b, ';')
		b = append(b, a.Params...)
	}
	return b
}

func parseAddress(s string) (Address, string) {
	var a Address
	_, msg := parseAddressInto(&a, s)
	return a, msg
}

// parseAddressInto parses an address into *dst, which must be zero, and
// returns the length of its URI. On failure *dst is zero again.
func parseAddressInto(dst *Address, s string) (int, string) {
	n, msg := parseAddressFields(dst, s)
	if msg != "" {
		*dst = Address{}
	}
	return n, msg
}

func parseAddressFields(a *Address, s string) (int, string) {
	s = trimLWS(s)
	if s == "" {
		return 0, "empty address"
	}
	if s == "*" {
		a.Wildcard = true
		return 0, ""
	}
	var uri string
	i := 0
	quoted := false
	lt0 := -1 // the first '<' of s, when s does not start with '"'
	if s[0] == '<' {
		lt0 = 0
	} else if s[0] != '"' {
		lt0 = strings.IndexByte(s, '<')
	}
sw:
	switch {
	case s[0] == '"':
		e := skipQuoted(s, 0)
		if e < 0 {
			return 0, "unterminated display name"
		}
		a.Display = unquote(s[:e])
		quoted = true
		i = skipLWS(s, e)
		if i >= len(s) || s[i] != '<' {
			return 0, "display name not followed by <URI>"
		}
		fallthrough
	case lt0 >= 0:
		// Quoted, s[i] is the '<' just checked; else lt0 is the first.
		lt := i
		if !quoted {
			lt = lt0
		}
		if !quoted && lt > 0 {
			d := trimLWS(s[:lt])
			for j := 0; j < len(d); j++ {
				// token LWS; UTF-8 is tolerated as many stacks send it unquoted
				if c := d[j]; !tokenChars[c] && c != ' ' && c != '\t' && c < 0x80 {
					if strings.IndexByte(d, '"') < 0 {
						return 0, "bad character in display name"
					}
					// A '"' before the first '<': not a display name but an
					// addr-spec whose parameters quote a '<', as in
					// sip:a@b;+sip.instance="<urn:uuid:...>".
					var msg string
					if uri, i, msg = splitAddrSpec(s); msg != "" {
						return 0, msg
					}
					break sw
				}
			}
			a.Display = d
		}
		gt := strings.IndexByte(s[lt:], '>')
		if gt < 0 {
			return 0, "missing >"
		}
		uri = s[lt+1 : lt+gt]
		i = skipLWS(s, lt+gt+1)
	default:
		var msg string
		if uri, i, msg = splitAddrSpec(s); msg != "" {
			return 0, msg
		}
	}
	if msg := parseURIInto(&a.URI, uri); msg != "" {
		return 0, msg
	}
	if i < len(s) {
		if s[i] != ';' {
			return 0, "unexpected text after address"
		}
		p, ok := parseParams(s[i+1:], false)
		if !ok {
			return 0, "bad header parameter"
		}
		a.Params = p
	}
	return len(uri), ""
}

// splitAddrSpec returns the URI of the addr-spec s and the index of its
// header parameters: the URI ends at the first ';' (RFC 3261 §20.10).
func splitAddrSpec(s string) (uri string, end int, msg string) {
	end = strings.IndexByte(s, ';')
	if end < 0 {
		end = len(s)
	}
	uri = trimLWS(s[:end])
	if strings.ContainsAny(uri, " \t") {
		return "", 0, "white space in URI"
	}
	return uri, end, ""
}
