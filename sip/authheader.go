package sip

import "strings"

// AuthParam is one auth-param of a challenge or credentials
// (RFC 3261 §25.1, RFC 7616 §3.3): name=value, the value unquoted.
type AuthParam struct {
	Name   string
	Value  string
	Quoted bool // the value was (or is to be) written as a quoted-string
}

// Challenge is one WWW-Authenticate or Proxy-Authenticate value.
type Challenge struct {
	Scheme string // "Digest"
	Params []AuthParam
}

// Get returns the value of the parameter called name (case-insensitively).
func (c Challenge) Get(name string) string { return authGet(c.Params, name) }

// String returns the wire form.
func (c Challenge) String() string { return authString(c.Scheme, c.Params) }

// Credentials is one Authorization or Proxy-Authorization value.
type Credentials struct {
	Scheme string
	Params []AuthParam
}

// Get returns the value of the parameter called name (case-insensitively).
func (c Credentials) Get(name string) string { return authGet(c.Params, name) }

// String returns the wire form.
func (c Credentials) String() string { return authString(c.Scheme, c.Params) }

func authGet(ps []AuthParam, name string) string {
	for _, p := range ps {
		if strings.EqualFold(p.Name, name) {
			return p.Value
		}
	}
	return ""
}

func authString(scheme string, ps []AuthParam) string {
	var b strings.Builder
	b.WriteString(scheme)
	for i, p := range ps {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(p.Name)
		b.WriteByte('=')
		if p.Quoted || !isToken(p.Value) {
			b.WriteString(quote(p.Value))
		} else {
			b.WriteString(p.Value)
		}
	}
	return b.String()
}

// ParseChallenges parses a WWW-Authenticate or Proxy-Authenticate value,
// which may hold several challenges (`Digest realm="a", ..., Digest ...`).
func ParseChallenges(v string) ([]Challenge, error) {
	list, err := parseAuthList("WWW-Authenticate", v)
	if err != nil {
		return nil, err
	}
	out := make([]Challenge, len(list))
	for i, a := range list {
		out[i] = Challenge(a)
	}
	return out, nil
}

// ParseCredentials parses an Authorization or Proxy-Authorization value.
func ParseCredentials(v string) (Credentials, error) {
	list, err := parseAuthList("Authorization", v)
	if err != nil {
		return Credentials{}, err
	}
	if len(list) != 1 {
		return Credentials{}, syntaxErr("Authorization", "more than one credentials value")
	}
	return Credentials(list[0]), nil
}

type authValue struct {
	Scheme string
	Params []AuthParam
}

// parseAuthList parses `scheme param=value, param="value", ... [, scheme ...]`.
func parseAuthList(header, v string) ([]authValue, error) {
	var out []authValue
	s := trimLWS(v)
	for s != "" {
		// scheme
		i := 0
		for i < len(s) && tokenChars[s[i]] {
			i++
		}
		if i == 0 {
			return nil, syntaxErr(header, "missing auth scheme")
		}
		cur := authValue{Scheme: s[:i]}
		s = trimLWS(s[i:])
		for s != "" {
			// auth-param = token LWS "=" LWS ( token / quoted-string )
			j := 0
			for j < len(s) && tokenChars[s[j]] {
				j++
			}
			if j == 0 {
				return nil, syntaxErr(header, "bad auth-param")
			}
			name := s[:j]
			k := skipLWS(s, j)
			if k >= len(s) || s[k] != '=' {
				if len(cur.Params) > 0 && (k == len(s) || s[k] == ' ' || s[k] == '\t' || tokenChars[s[k]]) {
					break // a new challenge starts with its scheme
				}
				return nil, syntaxErr(header, "auth-param without '='")
			}
			k = skipLWS(s, k+1)
			var p AuthParam
			p.Name = name
			if k < len(s) && s[k] == '"' {
				e := skipQuoted(s, k)
				if e < 0 {
					return nil, syntaxErr(header, "unterminated quoted string")
				}
				p.Value, p.Quoted = unquote(s[k:e]), true
				k = e
			} else {
				e := k
				for e < len(s) && s[e] != ',' && s[e] != ' ' && s[e] != '\t' {
					if c := s[e]; c < ' ' || c == 0x7f || c == '"' {
						return nil, syntaxErr(header, "bad auth-param value")
					}
					e++
				}
				p.Value = s[k:e]
				k = e
			}
			cur.Params = append(cur.Params, p)
			k = skipLWS(s, k)
			if k < len(s) && s[k] != ',' {
				return nil, syntaxErr(header, "expected ','")
			}
			if k < len(s) {
				k = skipLWS(s, k+1)
			}
			s = s[k:]
		}
		out = append(out, cur)
	}
	if out == nil {
		return nil, noHeader()
	}
	return out, nil
}

func (h *Header) challenges(name string) ([]Challenge, error) {
	vals := h.Values(name)
	if vals == nil {
		return nil, noHeader()
	}
	var out []Challenge
	for _, v := range vals {
		list, err := parseAuthList(name, v)
		if err != nil {
			return nil, err
		}
		for _, a := range list {
			out = append(out, Challenge(a))
		}
	}
	return out, nil
}

func (h *Header) credentials(name string) ([]Credentials, error) {
	vals := h.Values(name)
	if vals == nil {
		return nil, noHeader()
	}
	out := make([]Credentials, 0, len(vals))
	for _, v := range vals {
		list, err := parseAuthList(name, v)
		if err != nil {
			return nil, err
		}
		for _, a := range list {
			out = append(out, Credentials(a))
		}
	}
	return out, nil
}

// WWWAuthenticate returns every challenge in WWW-Authenticate fields.
func (h *Header) WWWAuthenticate() ([]Challenge, error) { return h.challenges("WWW-Authenticate") }

// ProxyAuthenticate returns every challenge in Proxy-Authenticate fields.
func (h *Header) ProxyAuthenticate() ([]Challenge, error) {
	return h.challenges("Proxy-Authenticate")
}

// Authorization returns the credentials in Authorization fields.
func (h *Header) Authorization() ([]Credentials, error) { return h.credentials("Authorization") }

// ProxyAuthorization returns the credentials in Proxy-Authorization fields.
func (h *Header) ProxyAuthorization() ([]Credentials, error) {
	return h.credentials("Proxy-Authorization")
}

// AuthenticationInfo returns the parameters of Authentication-Info
// (RFC 3261 §20.6: nextnonce, qop, rspauth, cnonce, nc), which has no scheme.
func (h *Header) AuthenticationInfo() ([]AuthParam, error) {
	v := h.Get("Authentication-Info")
	if v == "" {
		return nil, noHeader()
	}
	// Parse as if it had a scheme, so one parser serves all auth headers.
	list, err := parseAuthList("Authentication-Info", "X "+v)
	if err != nil {
		return nil, err
	}
	if len(list) != 1 {
		return nil, syntaxErr("Authentication-Info", "bad value")
	}
	return list[0].Params, nil
}
