package sip

import (
	"strconv"
	"strings"
	"time"
)

// This file has the typed accessors for the header fields that are not
// parsed eagerly. Each parses the raw value when called; a missing header
// returns ErrNoHeader, a malformed one a *ParseError naming the header.

func noHeader() error { return ErrNoHeader }

// deltaSeconds parses delta-seconds, optionally followed by parameters,
// and returns the number and the raw parameters.
func deltaSeconds(header, v string) (int, Params, error) {
	end := strings.IndexByte(v, ';')
	if end < 0 {
		end = len(v)
	}
	d := trimLWS(v[:end])
	n, ok := atoiDigits(d)
	if !ok {
		if len(d) > 9 && strings.Trim(d, "0123456789") == "" {
			// RFC 3261 §20.19: a value beyond 2**32-1 is taken as that; keep
			// it within int on every platform.
			n, ok = 1<<31-1, true
		}
	}
	if !ok {
		return 0, "", syntaxErr(header, "bad delta-seconds")
	}
	var p Params
	if end < len(v) {
		if p, ok = parseParams(v[end+1:], false); !ok {
			return 0, "", syntaxErr(header, "bad parameter")
		}
	}
	return n, p, nil
}

func (h *Header) intHeader(name string) (int, error) {
	v := h.Get(name)
	if v == "" {
		if h.Has(name) {
			return 0, syntaxErr(name, "empty value")
		}
		return 0, noHeader()
	}
	n, _, err := deltaSeconds(name, v)
	return n, err
}

// Expires returns the Expires value in seconds (RFC 3261 §20.19).
func (h *Header) Expires() (int, error) { return h.intHeader("Expires") }

// MinExpires returns the Min-Expires value in seconds (RFC 3261 §20.23).
func (h *Header) MinExpires() (int, error) { return h.intHeader("Min-Expires") }

// MinSE returns the Min-SE value in seconds (RFC 4028 §5).
func (h *Header) MinSE() (int, error) { return h.intHeader("Min-SE") }

// RSeq returns the RSeq value (RFC 3262 §7.1).
func (h *Header) RSeq() (uint32, error) {
	v := h.Get("RSeq")
	if v == "" {
		return 0, noHeader()
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return 0, syntaxErr("RSeq", "bad response number")
	}
	return uint32(n), nil
}

// Allow returns the methods listed in Allow.
func (h *Header) Allow() []string { return h.Elements("Allow") }

// Supported returns the option tags in Supported.
func (h *Header) Supported() []string { return h.Elements("Supported") }

// Require returns the option tags in Require.
func (h *Header) Require() []string { return h.Elements("Require") }

// ProxyRequire returns the option tags in Proxy-Require.
func (h *Header) ProxyRequire() []string { return h.Elements("Proxy-Require") }

// Unsupported returns the option tags in Unsupported.
func (h *Header) Unsupported() []string { return h.Elements("Unsupported") }

// AllowEvents returns the event packages in Allow-Events.
func (h *Header) AllowEvents() []string { return h.Elements("Allow-Events") }

// ContentEncoding returns the content codings in Content-Encoding.
func (h *Header) ContentEncoding() []string { return h.Elements("Content-Encoding") }

// AddToken adds token to the list header called name unless it is already
// there (case-insensitively): appended to the first such field, or as a
// new field. AddToken("Require", "timer") on `Require: 100rel` gives
// `Require: 100rel, timer`; called twice it still lists timer once.
func (h *Header) AddToken(name, token string) {
	if h.HasToken(name, token) {
		return
	}
	id := lookupHID(name)
	for i := range h.fields {
		if h.matchField(&h.fields[i], id, name) {
			_, token = sanitize(name, token)
			if v := h.fvalue(&h.fields[i]); v == "" {
				h.setValue(&h.fields[i], token)
			} else {
				h.setValue(&h.fields[i], v+", "+token)
			}
			h.refresh(id)
			return
		}
	}
	h.Add(name, token)
}

// Addresses parses every field called name as a comma-separated list of
// addresses: Route, Record-Route, Path, Service-Route, P-Asserted-Identity.
func (h *Header) Addresses(name string) ([]Address, error) {
	id := lookupHID(name)
	var out []Address
	for i := range h.fields {
		if !h.matchField(&h.fields[i], id, name) {
			continue
		}
		list, err := ParseAddressList(h.fvalue(&h.fields[i]))
		if err != nil {
			return nil, syntaxErr(name, err.(*ParseError).Msg)
		}
		out = append(out, list...)
	}
	if out == nil {
		return nil, noHeader()
	}
	return out, nil
}

// Route returns the Route set, topmost first.
func (h *Header) Route() ([]Address, error) { return h.Addresses("Route") }

// RecordRoute returns the Record-Route values, topmost first.
func (h *Header) RecordRoute() ([]Address, error) { return h.Addresses("Record-Route") }

// PAssertedIdentity returns the P-Asserted-Identity values (RFC 3325).
func (h *Header) PAssertedIdentity() ([]Address, error) {
	return h.Addresses("P-Asserted-Identity")
}

func (h *Header) address(name string) (Address, error) {
	v := h.Get(name)
	if v == "" {
		return Address{}, noHeader()
	}
	a, msg := parseAddress(v)
	if msg != "" {
		return Address{}, syntaxErr(name, msg)
	}
	return a, nil
}

// ReferTo returns the Refer-To address (RFC 3515 §2.1).
func (h *Header) ReferTo() (Address, error) { return h.address("Refer-To") }

// ReferredBy returns the Referred-By address (RFC 3892).
func (h *Header) ReferredBy() (Address, error) { return h.address("Referred-By") }

// SIPETag returns the SIP-ETag entity-tag (RFC 3903 §11.3.1), or "".
func (h *Header) SIPETag() string { return h.Get("SIP-ETag") }

// SIPIfMatch returns the SIP-If-Match entity-tag (RFC 3903 §11.3.2), or "".
func (h *Header) SIPIfMatch() string { return h.Get("SIP-If-Match") }

// ContentID returns the Content-ID without its angle brackets (RFC 2045).
func (h *Header) ContentID() string {
	v := h.Get("Content-ID")
	if len(v) >= 2 && v[0] == '<' && v[len(v)-1] == '>' {
		return v[1 : len(v)-1]
	}
	return v
}

// UserAgent returns the User-Agent value, or "".
func (h *Header) UserAgent() string { return h.Get("User-Agent") }

// Server returns the Server value, or "".
func (h *Header) Server() string { return h.Get("Server") }

// Accept returns the media types listed in Accept.
func (h *Header) Accept() ([]MediaType, error) {
	if !h.Has("Accept") {
		return nil, noHeader()
	}
	var out []MediaType
	for _, e := range h.Elements("Accept") {
		m, msg := parseMediaType(e)
		if msg != "" {
			return nil, syntaxErr("Accept", msg)
		}
		out = append(out, m)
	}
	return out, nil
}

// Date returns the Date value (RFC 3261 §20.17, RFC 1123 format in GMT).
func (h *Header) Date() (time.Time, error) {
	v := h.Get("Date")
	if v == "" {
		return time.Time{}, noHeader()
	}
	t, err := time.Parse(time.RFC1123, v)
	if err != nil {
		return time.Time{}, syntaxErr("Date", "bad date")
	}
	return t, nil
}

// Timestamp is the Timestamp header value (RFC 3261 §20.38).
type Timestamp struct {
	Value string // the requester's time stamp, as sent
	Delay string // the answerer's delay, "" when absent
}

// Timestamp returns the Timestamp value.
func (h *Header) Timestamp() (Timestamp, error) {
	v := h.Get("Timestamp")
	if v == "" {
		return Timestamp{}, noHeader()
	}
	f := strings.Fields(v)
	if len(f) > 2 || !isDecimal(f[0]) || len(f) == 2 && !isDecimal(f[1]) {
		return Timestamp{}, syntaxErr("Timestamp", "bad value")
	}
	t := Timestamp{Value: f[0]}
	if len(f) == 2 {
		t.Delay = f[1]
	}
	return t, nil
}

func isDecimal(s string) bool {
	whole, frac, _ := strings.Cut(s, ".")
	if _, ok := atoiDigits(whole); !ok && whole != "" {
		return false
	}
	if frac != "" {
		if _, ok := atoiDigits(frac); !ok {
			return false
		}
	}
	return whole != "" || frac != ""
}

// SessionExpires is the Session-Expires value (RFC 4028 §4).
type SessionExpires struct {
	Delta     int    // the session interval in seconds
	Refresher string // "uac", "uas" or ""
	Params    Params // every parameter, refresher included
}

// String returns the wire form, for example "1800;refresher=uac".
func (s SessionExpires) String() string {
	v := strconv.Itoa(s.Delta)
	p := s.Params
	if s.Refresher != "" {
		p = p.With("refresher", s.Refresher)
	}
	if p != "" {
		v += ";" + string(p)
	}
	return v
}

// SessionExpires returns the Session-Expires value (compact form x).
func (h *Header) SessionExpires() (SessionExpires, error) {
	v := h.Get("Session-Expires")
	if v == "" {
		return SessionExpires{}, noHeader()
	}
	n, p, err := deltaSeconds("Session-Expires", v)
	if err != nil {
		return SessionExpires{}, err
	}
	s := SessionExpires{Delta: n, Params: p}
	if r, ok := p.Get("refresher"); ok {
		r = strings.ToLower(r)
		if r != "uac" && r != "uas" {
			return SessionExpires{}, syntaxErr("Session-Expires", "refresher is neither uac nor uas")
		}
		s.Refresher = r
	}
	return s, nil
}

// Event is the Event header value (RFC 6665 §8.2.1): a package name with
// optional template suffixes and an id parameter.
type Event struct {
	Type   string // "presence", "dialog", "refer", "presence.winfo", ...
	Params Params
}

// ID returns the id parameter.
func (e Event) ID() string { return e.Params.Value("id") }

// String returns the wire form.
func (e Event) String() string {
	if e.Params == "" {
		return e.Type
	}
	return e.Type + ";" + string(e.Params)
}

// Event returns the Event value (compact form o).
func (h *Header) Event() (Event, error) {
	v := h.Get("Event")
	if v == "" {
		return Event{}, noHeader()
	}
	return parseEvent(v)
}

// ParseEvent parses an Event value.
func ParseEvent(v string) (Event, error) { return parseEvent(v) }

func parseEvent(v string) (Event, error) {
	end := strings.IndexByte(v, ';')
	if end < 0 {
		end = len(v)
	}
	e := Event{Type: trimLWS(v[:end])}
	if !isToken(e.Type) {
		return Event{}, syntaxErr("Event", "bad event package")
	}
	if end < len(v) {
		p, ok := parseParams(v[end+1:], false)
		if !ok {
			return Event{}, syntaxErr("Event", "bad parameter")
		}
		e.Params = p
	}
	return e, nil
}

// Subscription states and reasons (RFC 6665 §4.1.3, §8.2.3).
const (
	SubStateActive     = "active"
	SubStatePending    = "pending"
	SubStateTerminated = "terminated"

	ReasonDeactivated = "deactivated"
	ReasonProbation   = "probation"
	ReasonRejected    = "rejected"
	ReasonTimeout     = "timeout"
	ReasonGiveUp      = "giveup"
	ReasonNoResource  = "noresource"
	ReasonInvariant   = "invariant"
)

// SubscriptionState is the Subscription-State value (RFC 6665 §8.2.3).
type SubscriptionState struct {
	State      string // "active", "pending", "terminated" (lower case) or an extension
	Reason     string // lower case; "" when absent
	Expires    int    // -1 when absent
	RetryAfter int    // -1 when absent
	Params     Params
}

// String returns the wire form.
func (s SubscriptionState) String() string {
	p := s.Params
	if s.Reason != "" {
		p = p.With("reason", s.Reason)
	}
	if s.Expires >= 0 {
		p = p.With("expires", strconv.Itoa(s.Expires))
	}
	if s.RetryAfter >= 0 {
		p = p.With("retry-after", strconv.Itoa(s.RetryAfter))
	}
	if p == "" {
		return s.State
	}
	return s.State + ";" + string(p)
}

// SubscriptionState returns the Subscription-State value.
func (h *Header) SubscriptionState() (SubscriptionState, error) {
	v := h.Get("Subscription-State")
	if v == "" {
		return SubscriptionState{}, noHeader()
	}
	end := strings.IndexByte(v, ';')
	if end < 0 {
		end = len(v)
	}
	s := SubscriptionState{State: strings.ToLower(trimLWS(v[:end])), Expires: -1, RetryAfter: -1}
	if !isToken(s.State) {
		return SubscriptionState{}, syntaxErr("Subscription-State", "bad state")
	}
	if end < len(v) {
		p, ok := parseParams(v[end+1:], false)
		if !ok {
			return SubscriptionState{}, syntaxErr("Subscription-State", "bad parameter")
		}
		s.Params = p
		s.Reason = strings.ToLower(p.Value("reason"))
		for _, k := range [...]struct {
			name string
			dst  *int
		}{{"expires", &s.Expires}, {"retry-after", &s.RetryAfter}} {
			if x, ok := p.Get(k.name); ok {
				n, ok := atoiDigits(x)
				if !ok {
					return SubscriptionState{}, syntaxErr("Subscription-State", "bad "+k.name)
				}
				*k.dst = n
			}
		}
	}
	return s, nil
}

// RetryAfter is the Retry-After value (RFC 3261 §20.33).
type RetryAfter struct {
	Seconds  int
	Comment  string // without parentheses
	Duration int    // -1 when absent
	Params   Params
}

// RetryAfter returns the Retry-After value.
func (h *Header) RetryAfter() (RetryAfter, error) {
	v := h.Get("Retry-After")
	if v == "" {
		return RetryAfter{}, noHeader()
	}
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	n, ok := atoiDigits(v[:i])
	if !ok {
		return RetryAfter{}, syntaxErr("Retry-After", "bad delta-seconds")
	}
	r := RetryAfter{Seconds: n, Duration: -1}
	rest := trimLWS(v[i:])
	if rest != "" && rest[0] == '(' {
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return RetryAfter{}, syntaxErr("Retry-After", "unterminated comment")
		}
		r.Comment = rest[1:end]
		rest = trimLWS(rest[end+1:])
	}
	if rest != "" {
		if rest[0] != ';' {
			return RetryAfter{}, syntaxErr("Retry-After", "unexpected text")
		}
		p, ok := parseParams(rest[1:], false)
		if !ok {
			return RetryAfter{}, syntaxErr("Retry-After", "bad parameter")
		}
		r.Params = p
		if d, ok := p.Get("duration"); ok {
			if r.Duration, ok = atoiDigits(d); !ok {
				return RetryAfter{}, syntaxErr("Retry-After", "bad duration")
			}
		}
	}
	return r, nil
}

// Reason is one Reason header value (RFC 3326).
type Reason struct {
	Protocol string // "SIP", "Q.850", ...
	Cause    int    // 0 when absent
	Text     string // unquoted, "" when absent
	Params   Params
}

// String returns the wire form, e.g. `SIP;cause=408;text="Session timeout"`.
func (r Reason) String() string {
	p := r.Params
	if r.Cause != 0 {
		p = p.With("cause", strconv.Itoa(r.Cause))
	}
	if r.Text != "" { // RFC 3326: text is always a quoted-string
		p = p.Without("text")
		if p != "" {
			p += ";"
		}
		p += Params("text=" + quote(r.Text))
	}
	if p == "" {
		return r.Protocol
	}
	return r.Protocol + ";" + string(p)
}

// Reasons returns every Reason value.
func (h *Header) Reasons() ([]Reason, error) {
	els := h.Elements("Reason")
	if els == nil {
		return nil, noHeader()
	}
	out := make([]Reason, 0, len(els))
	for _, e := range els {
		end := strings.IndexByte(e, ';')
		if end < 0 {
			end = len(e)
		}
		r := Reason{Protocol: trimLWS(e[:end])}
		if !isToken(r.Protocol) {
			return nil, syntaxErr("Reason", "bad protocol")
		}
		if end < len(e) {
			p, ok := parseParams(e[end+1:], false)
			if !ok {
				return nil, syntaxErr("Reason", "bad parameter")
			}
			r.Params = p
			if c, ok := p.Get("cause"); ok {
				if r.Cause, ok = atoiDigits(c); !ok {
					return nil, syntaxErr("Reason", "bad cause")
				}
			}
			r.Text = p.Value("text")
		}
		out = append(out, r)
	}
	return out, nil
}

// RAck is the RAck value (RFC 3262 §7.2).
type RAck struct {
	RSeq   uint32
	CSeq   uint32
	Method string
}

// String returns the wire form "RSeq CSeq METHOD".
func (r RAck) String() string {
	return strconv.FormatUint(uint64(r.RSeq), 10) + " " + strconv.FormatUint(uint64(r.CSeq), 10) + " " + r.Method
}

// RAck returns the RAck value.
func (h *Header) RAck() (RAck, error) {
	v := h.Get("RAck")
	if v == "" {
		return RAck{}, noHeader()
	}
	f := strings.Fields(v)
	if len(f) != 3 {
		return RAck{}, syntaxErr("RAck", "want response-num CSeq-num method")
	}
	r, err1 := strconv.ParseUint(f[0], 10, 32)
	c, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil || !isToken(f[2]) {
		return RAck{}, syntaxErr("RAck", "bad value")
	}
	return RAck{RSeq: uint32(r), CSeq: uint32(c), Method: f[2]}, nil
}

// Replaces is the Replaces value (RFC 3891 §6.1).
type Replaces struct {
	CallID    string
	ToTag     string
	FromTag   string
	EarlyOnly bool
	Params    Params
}

// Replaces returns the Replaces value.
func (h *Header) Replaces() (Replaces, error) {
	v := h.Get("Replaces")
	if v == "" {
		return Replaces{}, noHeader()
	}
	end := strings.IndexByte(v, ';')
	if end < 0 {
		return Replaces{}, syntaxErr("Replaces", "missing to-tag and from-tag")
	}
	r := Replaces{CallID: trimLWS(v[:end])}
	p, ok := parseParams(v[end+1:], false)
	if !ok || !validCallID(r.CallID) {
		return Replaces{}, syntaxErr("Replaces", "bad value")
	}
	r.Params = p
	var hasTo, hasFrom bool
	r.ToTag, hasTo = p.Get("to-tag")
	r.FromTag, hasFrom = p.Get("from-tag")
	if !hasTo || !hasFrom {
		return Replaces{}, syntaxErr("Replaces", "missing to-tag or from-tag")
	}
	r.EarlyOnly = p.Has("early-only")
	return r, nil
}

// Warning is one Warning value (RFC 3261 §20.43).
type Warning struct {
	Code  int
	Agent string
	Text  string // unquoted
}

// Warnings returns every Warning value.
func (h *Header) Warnings() ([]Warning, error) {
	els := h.Elements("Warning")
	if els == nil {
		return nil, noHeader()
	}
	out := make([]Warning, 0, len(els))
	for _, e := range els {
		code, rest, ok1 := strings.Cut(e, " ")
		agent, text, ok2 := strings.Cut(trimLWS(rest), " ")
		n, ok3 := atoiDigits(code)
		text = trimLWS(text)
		if !ok1 || !ok2 || !ok3 || len(code) != 3 || len(text) < 2 || text[0] != '"' || skipQuoted(text, 0) != len(text) {
			return nil, syntaxErr("Warning", "bad value")
		}
		out = append(out, Warning{Code: n, Agent: agent, Text: unquote(text)})
	}
	return out, nil
}

// Diagnostics is an ms-diagnostics (or ms-diagnostics-public) value as
// Microsoft servers send it: `2157;reason="...";source="..."`.
type Diagnostics struct {
	Code   int
	Reason string
	Source string
	Params Params // every parameter, including reason and source
}

// ParseDiagnostics parses an ms-diagnostics value.
func ParseDiagnostics(v string) (Diagnostics, error) {
	n, p, err := deltaSeconds("ms-diagnostics", v)
	if err != nil {
		return Diagnostics{}, err
	}
	return Diagnostics{Code: n, Reason: p.Value("reason"), Source: p.Value("source"), Params: p}, nil
}

// MSDiagnostics returns the ms-diagnostics value, or failing that the
// ms-diagnostics-public value.
func (h *Header) MSDiagnostics() (Diagnostics, error) {
	v := h.Get("ms-diagnostics")
	if v == "" {
		v = h.Get("ms-diagnostics-public")
	}
	if v == "" {
		return Diagnostics{}, noHeader()
	}
	return ParseDiagnostics(v)
}
