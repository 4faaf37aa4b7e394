package sdpneg

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Direction is a stream's direction attribute (RFC 4566 §6, RFC 3264 §5.1),
// always seen from the side that wrote it. The zero value is SendRecv, the
// SDP default when no direction attribute is present.
type Direction uint8

const (
	SendRecv Direction = iota // a=sendrecv (the default)
	SendOnly                  // a=sendonly
	RecvOnly                  // a=recvonly
	Inactive                  // a=inactive
)

func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

// Sends reports whether d includes sending.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether d includes receiving.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

// Reverse returns the direction as seen from the other side: sendonly
// becomes recvonly and vice versa.
func (d Direction) Reverse() Direction {
	return directionOf(d.Receives(), d.Sends())
}

// Intersect returns the direction allowing only what both d and e allow.
func (d Direction) Intersect(e Direction) Direction {
	return directionOf(d.Sends() && e.Sends(), d.Receives() && e.Receives())
}

// Answer returns the direction an answerer willing to do local uses for an
// offered direction (RFC 3264 §6.1): sendonly → recvonly, recvonly →
// sendonly, inactive → inactive, sendrecv → local.
func (d Direction) Answer(local Direction) Direction {
	return d.Reverse().Intersect(local)
}

func directionOf(send, recv bool) Direction {
	switch {
	case send && recv:
		return SendRecv
	case send:
		return SendOnly
	case recv:
		return RecvOnly
	}
	return Inactive
}

// ParseDirection converts a direction attribute name; ok is false for
// anything else.
func ParseDirection(s string) (d Direction, ok bool) {
	switch s {
	case "sendrecv":
		return SendRecv, true
	case "sendonly":
		return SendOnly, true
	case "recvonly":
		return RecvOnly, true
	case "inactive":
		return Inactive, true
	}
	return SendRecv, false
}

// Codec is an RTP payload format (RFC 4566 §6 rtpmap/fmtp, RFC 3551).
// Codecs match when Name (case-insensitive), ClockRate and Channels are
// equal; Fmtp and PayloadType do not take part in matching.
type Codec struct {
	// PayloadType is the number used when we offer. When answering, the
	// offer's number is used instead (RFC 3264 §6.1).
	PayloadType uint8
	Name        string // encoding name, e.g. "PCMU", "telephone-event"
	ClockRate   uint32 // e.g. 8000
	Channels    uint16 // 0 means 1
	// Fmtp is the format parameter string without "PT ", e.g. "0-16". When
	// answering, an empty Fmtp echoes the offer's parameters.
	Fmtp string
}

// Matches reports whether c and o describe the same format (RFC 3264 §6.1).
func (c Codec) Matches(o Codec) bool {
	return c.ClockRate == o.ClockRate && channels(c.Channels) == channels(o.Channels) &&
		strings.EqualFold(c.Name, o.Name)
}

func (c Codec) String() string {
	s := strconv.Itoa(int(c.PayloadType)) + " " + c.Name + "/" + strconv.FormatUint(uint64(c.ClockRate), 10)
	if c.Channels > 1 {
		s += "/" + strconv.Itoa(int(c.Channels))
	}
	return s
}

func channels(c uint16) uint16 {
	if c == 0 {
		return 1
	}
	return c
}

// auxiliary reports whether c is a format that cannot carry a stream on its
// own (RFC 4733 events, RFC 3389 comfort noise): a stream whose only common
// formats are auxiliary is rejected.
func (c Codec) auxiliary() bool {
	return strings.EqualFold(c.Name, "telephone-event") || strings.EqualFold(c.Name, "CN")
}

// Common codecs (RFC 3551 static payload types, RFC 4733 events).
var (
	PCMU = Codec{PayloadType: 0, Name: "PCMU", ClockRate: 8000}
	PCMA = Codec{PayloadType: 8, Name: "PCMA", ClockRate: 8000}
	G722 = Codec{PayloadType: 9, Name: "G722", ClockRate: 8000}
	// TelephoneEvent is RFC 4733 DTMF on the usual dynamic payload type 101.
	TelephoneEvent = Codec{PayloadType: 101, Name: "telephone-event", ClockRate: 8000, Fmtp: "0-16"}
)

// Media is one local stream capability; it becomes one m= line of our
// offers and answers one offered m= line of the same Type and Proto.
type Media struct {
	Type  string // "audio", "video", "text", "application", "message", ...
	Port  int    // 0 disables the stream (offered and answered with port 0)
	Proto string // "RTP/AVP", "RTP/SAVP", "TCP/MSRP", "TCP/TLS/MSRP", ...
	// Codecs lists the RTP payload formats in order of preference. It is
	// used when Proto contains "RTP".
	Codecs []Codec
	// Formats lists the <fmt> tokens of a non-RTP stream, e.g. "*" for MSRP
	// (RFC 4975 §8.1). Empty or containing "*" accepts any offered formats.
	Formats []string
	// Direction is the local preference; the zero value is SendRecv.
	Direction Direction
	// Address overrides Capabilities.Address for this stream (media-level c=).
	Address string
	// Attributes are copied into every offer and accepted answer for this
	// stream, e.g. ptime, or path and accept-types for MSRP.
	Attributes []sdp.Attribute
}

func (m *Media) isRTP() bool { return strings.Contains(strings.ToUpper(m.Proto), "RTP") }

// Capabilities is the local side of a session: what [Negotiator] offers and
// what it accepts when answering.
type Capabilities struct {
	// Address is the local media address, used in o= and the session c=
	// line. IPv4 or IPv6 literal; required.
	Address string
	// Username is the o= user name; empty means "-".
	Username string
	// SessionName is the s= value; empty means "-".
	SessionName string
	// SessionID is the o= session id; 0 picks a random 63-bit value.
	SessionID uint64
	// Media lists the local streams in offer order. Keep the order stable
	// across SetCapabilities calls: re-offers map streams by index.
	Media []Media
}

// Audio returns the usual single audio stream: PCMU, PCMA and
// telephone-event over RTP/AVP on port, sendrecv.
func Audio(port int) Media {
	return Media{
		Type:   "audio",
		Port:   port,
		Proto:  "RTP/AVP",
		Codecs: []Codec{PCMU, PCMA, TelephoneEvent},
	}
}

// MSRP returns an MSRP message stream (RFC 4975) on port with the given
// a=path URL and accepted content types (default "text/plain").
func MSRP(port int, path string, acceptTypes ...string) Media {
	if len(acceptTypes) == 0 {
		acceptTypes = []string{"text/plain"}
	}
	return Media{
		Type:    "message",
		Port:    port,
		Proto:   "TCP/MSRP",
		Formats: []string{"*"},
		Attributes: []sdp.Attribute{
			{Key: "accept-types", Value: strings.Join(acceptTypes, " ")},
			{Key: "path", Value: path},
		},
	}
}

// AudioOnly returns Capabilities for one audio stream (see [Audio]), enough
// to answer any offer that includes PCMU or PCMA audio.
func AudioOnly(address string, port int) Capabilities {
	return Capabilities{Address: address, Media: []Media{Audio(port)}}
}

func (c *Capabilities) validate() error {
	if _, err := addrType(c.Address); err != nil {
		return err
	}
	for i := range c.Media {
		m := &c.Media[i]
		bad := func(why string) error {
			return fmt.Errorf("%w: media %d: %s", ErrInvalidCapabilities, i, why)
		}
		if !token(m.Type) || !token(m.Proto) {
			return bad("type and proto must be non-empty tokens")
		}
		if m.Port < 0 || m.Port > 65535 {
			return bad("port out of range")
		}
		if m.Address != "" {
			if _, err := addrType(m.Address); err != nil {
				return bad(err.Error())
			}
		}
		if m.Direction > Inactive {
			return bad("unknown direction")
		}
		if m.isRTP() {
			if len(m.Codecs) == 0 {
				return bad("RTP stream without codecs")
			}
			for _, cd := range m.Codecs {
				if !token(cd.Name) || strings.Contains(cd.Name, "/") || cd.ClockRate == 0 || cd.PayloadType > 127 || !line(cd.Fmtp) {
					return bad("invalid codec " + cd.String())
				}
			}
		}
		for _, f := range m.Formats {
			if !token(f) {
				return bad("invalid format")
			}
		}
		for _, a := range m.Attributes {
			if !token(a.Key) || strings.Contains(a.Key, ":") || !line(a.Value) {
				return bad("invalid attribute")
			}
		}
	}
	if !line(c.Username) || strings.ContainsAny(c.Username, " \t") || !line(c.SessionName) {
		return fmt.Errorf("%w: username or session name", ErrInvalidCapabilities)
	}
	return nil
}

func addrType(a string) (string, error) {
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return "", fmt.Errorf("%w: address %q is not an IP literal", ErrInvalidCapabilities, a)
	}
	if ip.Is4() || ip.Is4In6() {
		return "IP4", nil
	}
	return "IP6", nil
}

// token reports whether s is non-empty and free of whitespace and control
// characters (safe as one SDP field).
func token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// line reports whether s can be written on one SDP line.
func line(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' || s[i] == 0 {
			return false
		}
	}
	return true
}

func (c *Capabilities) clone() Capabilities {
	out := *c
	out.Media = make([]Media, len(c.Media))
	for i, m := range c.Media {
		m.Codecs = append([]Codec(nil), m.Codecs...)
		m.Formats = append([]string(nil), m.Formats...)
		m.Attributes = append([]sdp.Attribute(nil), m.Attributes...)
		out.Media[i] = m
	}
	return out
}
