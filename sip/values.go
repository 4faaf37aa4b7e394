package sip

import (
	"strconv"
	"strings"
)

// Via is one Via header value (RFC 3261 §20.42): the transport, the
// sent-by host and port, and the parameters (branch, received, rport,
// maddr, ttl, ...). The protocol is SIP/2.0.
type Via struct {
	Transport string // "UDP", "TCP", "TLS", "SCTP", "WS", "WSS", as written
	Host      string // without brackets for IPv6
	Port      int    // 0 when absent
	Params    Params
}

// Branch returns the branch parameter.
func (v Via) Branch() string { return v.Params.Value("branch") }

// Received returns the received parameter.
func (v Via) Received() string { return v.Params.Value("received") }

// RPort returns the rport parameter: present reports whether the parameter
// is there at all, and port is its value (0 for a bare "rport").
func (v Via) RPort() (port int, present bool) {
	s, ok := v.Params.Get("rport")
	if !ok {
		return 0, false
	}
	n, _ := atoiDigits(s)
	return n, true
}

// MAddr returns the maddr parameter.
func (v Via) MAddr() string { return v.Params.Value("maddr") }

// TTL returns the ttl parameter and whether it is present and valid.
func (v Via) TTL() (int, bool) {
	s, ok := v.Params.Get("ttl")
	if !ok {
		return 0, false
	}
	n, ok := atoiDigits(s)
	return n, ok && n <= 255
}

// String returns the wire form: "SIP/2.0/UDP host:port;params".
func (v Via) String() string {
	return string(v.AppendTo(make([]byte, 0, 64)))
}

// AppendTo appends the wire form of v to b.
func (v *Via) AppendTo(b []byte) []byte {
	b = append(b, "SIP/2.0/"...)
	b = append(b, v.Transport...)
	b = append(b, ' ')
	if strings.IndexByte(v.Host, ':') >= 0 {
		b = append(b, '[')
		b = append(b, v.Host...)
		b = append(b, ']')
	} else {
		b = append(b, v.Host...)
	}
	if v.Port != 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(v.Port), 10)
	}
	if v.Params != "" {
		b = append(b, ';')
		b = append(b, v.Params...)
	}
	return b
}

// ParseVia parses one Via value (not a comma-separated list).
func ParseVia(s string) (Via, error) {
	v, msg := parseVia(s)
	if msg != "" {
		return Via{}, syntaxErr("Via", msg)
	}
	return v, nil
}

func parseVia(s string) (Via, string) {
	var v Via
	msg := parseViaInto(&v, s)
	return v, msg
}

// parseViaInto parses `SIP / 2.0 / UDP host[:port] *(;param)` into *v,
// which must be zero; on failure *v is zero again.
func parseViaInto(v *Via, s string) string {
	msg := parseViaFields(v, s)
	if msg != "" {
		*v = Via{}
	}
	return msg
}

func parseViaFields(v *Via, s string) string {
	// The usual form, "SIP/2.0/transport host[:port][;params]", in one
	// scan; anything else takes the general path below.
	if len(s) > 8 && s[:8] == "SIP/2.0/" {
		j := span(s, 8, cToken)
		if j > 8 && j < len(s) && s[j] == ' ' {
			if host, port, end := hostPortPrefix(s[j+1:]); end > 0 && (j+1+end == len(s) || s[j+1+end] == ';') {
				end += j + 1
				v.Transport, v.Host, v.Port = s[8:j], host, port
				if end < len(s) {
					p, ok := parseParams(s[end+1:], false)
					if !ok {
						return "bad Via parameter"
					}
					v.Params = p
				}
				return ""
			}
		}
	}
	return parseViaSlow(v, s)
}

// parseViaSlow is parseViaFields for any form of Via.
func parseViaSlow(v *Via, s string) string {
	// sent-protocol: three tokens separated by '/', LWS allowed around '/'.
	i := 0
	var parts [3]string
	for k := 0; k < 3; k++ {
		i = skipLWS(s, i)
		j := span(s, i, cToken) // tokenChars
		if j == i {
			return "bad sent-protocol"
		}
		parts[k] = s[i:j]
		i = skipLWS(s, j)
		if k < 2 {
			if i >= len(s) || s[i] != '/' {
				return "bad sent-protocol"
			}
			i++
		}
	}
	if parts[0] != "SIP" && !strings.EqualFold(parts[0], "SIP") {
		return "sent-protocol is not SIP"
	}
	v.Transport = parts[2]
	// sent-by
	if i >= len(s) || (s[i-1] != ' ' && s[i-1] != '\t') {
		return "missing sent-by"
	}
	end := strings.IndexByte(s[i:], ';')
	if end < 0 {
		end = len(s)
	} else {
		end += i
	}
	hp := trimLWS(s[i:end])
	var msg string
	if v.Host, v.Port, msg = parseHostPort(hp); msg != "" {
		// COLON = SWS ":" SWS (RFC 3261 §25.1): white space may surround
		// the port's colon, nowhere else; parseHostPort rejects the rest.
		c := strings.LastIndexByte(hp, ':')
		if c < 0 || strings.LastIndexByte(hp, ']') > c || !strings.ContainsAny(hp, " \t") {
			return msg
		}
		if v.Host, v.Port, msg = parseHostPort(trimLWS(hp[:c]) + ":" + trimLWS(hp[c+1:])); msg != "" {
			return msg
		}
	}
	if end < len(s) {
		p, ok := parseParams(s[end+1:], false)
		if !ok {
			return "bad Via parameter"
		}
		v.Params = p
	}
	return ""
}

// CSeq is the CSeq header value (RFC 3261 §20.16).
type CSeq struct {
	Seq    uint32
	Method string
}

// String returns the wire form "1 INVITE".
func (c CSeq) String() string {
	return strconv.FormatUint(uint64(c.Seq), 10) + " " + c.Method
}

func parseCSeq(s string) (CSeq, string) {
	i := 0
	var n uint64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if i == 10 {
			return CSeq{}, "bad CSeq number"
		}
		n = n*10 + uint64(s[i]-'0')
	}
	if i == 0 {
		return CSeq{}, "bad CSeq number"
	}
	if n > 1<<32-1 {
		return CSeq{}, "CSeq number out of range"
	}
	j := skipLWS(s, i)
	if j == i || j == len(s) || span(s, j, cToken) != len(s) {
		return CSeq{}, "bad CSeq method"
	}
	return CSeq{Seq: uint32(n), Method: s[j:]}, ""
}

// MediaType is a Content-Type or Accept value: type/subtype and parameters.
type MediaType struct {
	Type    string // as written, e.g. "application"
	Subtype string // as written, e.g. "sdp"
	Params  Params
}

// ParseMediaType parses "type/subtype *(;param)".
func ParseMediaType(s string) (MediaType, error) {
	m, msg := parseMediaType(s)
	if msg != "" {
		return MediaType{}, syntaxErr("Content-Type", msg)
	}
	return m, nil
}

func parseMediaType(s string) (MediaType, string) {
	var m MediaType
	msg := parseMediaTypeInto(&m, s)
	return m, msg
}

func parseMediaTypeInto(m *MediaType, s string) string {
	// The usual form, "type/subtype[;params]" without white space, in one
	// scan; anything else takes the general path below.
	if t := span(s, 0, cToken); t > 0 && t < len(s) && s[t] == '/' {
		if e := span(s, t+1, cToken); e > t+1 && (e == len(s) || s[e] == ';') {
			var p Params
			if e < len(s) {
				var ok bool
				if p, ok = parseParams(s[e+1:], false); !ok {
					return "bad media type parameter"
				}
			}
			m.Type, m.Subtype, m.Params = s[:t], s[t+1:e], p
			return ""
		}
	}
	return parseMediaTypeSlow(m, s)
}

// parseMediaTypeSlow is parseMediaTypeInto for any form of media type.
func parseMediaTypeSlow(m *MediaType, s string) string {
	slash := strings.IndexByte(s, '/')
	if slash < 0 {
		return "media type without '/'"
	}
	t := trimLWS(s[:slash])
	rest := s[slash+1:]
	end := strings.IndexByte(rest, ';')
	if end < 0 {
		end = len(rest)
	}
	st := trimLWS(rest[:end])
	if !isToken(t) || !isToken(st) {
		return "bad media type"
	}
	var p Params
	if end < len(rest) {
		var ok bool
		if p, ok = parseParams(rest[end+1:], false); !ok {
			return "bad media type parameter"
		}
	}
	m.Type, m.Subtype, m.Params = t, st, p
	return ""
}

// Is reports whether the media type is typ/sub (case-insensitively), where
// sub may be "*". Is("application/sdp") is the usual call.
func (m MediaType) Is(typesub string) bool {
	slash := strings.IndexByte(typesub, '/')
	if slash < 0 {
		return false
	}
	return strings.EqualFold(m.Type, typesub[:slash]) &&
		(typesub[slash+1:] == "*" || strings.EqualFold(m.Subtype, typesub[slash+1:]))
}

// IsZero reports whether m is the zero MediaType (no Content-Type).
func (m MediaType) IsZero() bool { return m.Type == "" }

// Value returns "type/subtype" without parameters.
func (m MediaType) Value() string { return m.Type + "/" + m.Subtype }

// String returns the wire form with parameters.
func (m MediaType) String() string {
	if m.Params == "" {
		return m.Value()
	}
	return m.Value() + ";" + string(m.Params)
}
