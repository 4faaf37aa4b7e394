package sdpneg

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// MaxSize is the largest SDP body Parse accepts.
const MaxSize = 64 << 10

var (
	errEmpty    = errors.New("empty body")
	errTooLarge = errors.New("body larger than MaxSize")
	errNoOrigin = errors.New("missing o= line")
)

// Parse parses an SDP body (RFC 4566) with github.com/pion/sdp/v3. It is
// more tolerant than pion's Unmarshal in two ways that matter for SIP: a
// body without a final line break is accepted, and m= lines whose media or
// proto pion does not know (for example T.38's "m=image 0 udptl t38") are
// kept instead of failing the whole body, so that such streams can be
// rejected one by one. Errors are [*ParseError]; Parse never panics.
func Parse(body []byte) (*sdp.SessionDescription, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &ParseError{Err: errEmpty}
	}
	if len(body) > MaxSize {
		return nil, &ParseError{Err: errTooLarge}
	}
	text, saved := rewriteMediaLines(body)
	desc := new(sdp.SessionDescription)
	if err := unmarshal(desc, text); err != nil {
		return nil, &ParseError{Err: err}
	}
	if desc.Origin.NetworkType == "" {
		return nil, &ParseError{Err: errNoOrigin}
	}
	for i, s := range saved {
		if i >= len(desc.MediaDescriptions) {
			break
		}
		if s.media != "" {
			md := desc.MediaDescriptions[i]
			md.MediaName.Media = s.media
			md.MediaName.Protos = strings.Split(s.proto, "/")
		}
	}
	return desc, nil
}

func unmarshal(desc *sdp.SessionDescription, text string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sdp parser panic: %v", r)
		}
	}()
	return desc.UnmarshalString(text)
}

type savedMedia struct{ media, proto string }

var (
	pionMedia  = []string{"audio", "video", "text", "application", "message"}
	pionProtos = []string{"UDP", "RTP", "AVP", "SAVP", "SAVPF", "TLS", "DTLS", "SCTP", "AVPF", "TCP", "MSRP", "BFCP", "UDT", "IX", "MRCPv2", "FEC"}
)

func known(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// rewriteMediaLines returns body as a string, ending in a line break, with
// every m= line that pion would refuse for its media or proto token
// rewritten to "m=application <port> UDP <fmt>...". saved[i] holds the
// original tokens of the i-th m= line ("" when untouched).
func rewriteMediaLines(body []byte) (string, []savedMedia) {
	var (
		saved   []savedMedia
		out     []byte
		last    int // start of the part of body not yet copied to out
		mIndex  int
		rewrote bool
	)
	for pos := 0; pos < len(body); {
		end := bytes.IndexByte(body[pos:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += pos
		}
		ln := bytes.TrimRight(body[pos:end], "\r")
		if len(ln) > 2 && ln[0] == 'm' && ln[1] == '=' {
			f := strings.Fields(string(ln[2:]))
			if len(f) >= 3 && (!known(pionMedia, f[0]) || !knownProto(f[2])) {
				if saved == nil {
					saved = make([]savedMedia, mIndex, mIndex+1)
				}
				for len(saved) < mIndex {
					saved = append(saved, savedMedia{})
				}
				saved = append(saved, savedMedia{media: f[0], proto: f[2]})
				out = append(out, body[last:pos]...)
				out = append(out, "m=application "...)
				out = append(out, f[1]...)
				out = append(out, " UDP"...)
				for _, t := range f[3:] {
					out = append(out, ' ')
					out = append(out, t...)
				}
				out = append(out, body[pos+len(ln):end]...) // keep the "\r" of the line ending
				last = end
				rewrote = true
			}
			mIndex++
		}
		pos = end + 1
	}
	var s string
	if rewrote {
		out = append(out, body[min(last, len(body)):]...)
		s = string(out)
	} else {
		s = string(body)
	}
	if !strings.HasSuffix(s, "\n") {
		s += "\r\n"
	}
	return s, saved
}

func knownProto(p string) bool {
	for _, t := range strings.Split(p, "/") {
		if !known(pionProtos, t) {
			return false
		}
	}
	return true
}

// Helpers reading a parsed description.

func protoOf(md *sdp.MediaDescription) string { return strings.Join(md.MediaName.Protos, "/") }

func isRTPProto(p string) bool { return strings.Contains(strings.ToUpper(p), "RTP") }

// directionOfDesc returns the direction of md: the media-level attribute,
// else the session-level one, else sendrecv (RFC 4566 §6).
func directionOfDesc(s *sdp.SessionDescription, md *sdp.MediaDescription) Direction {
	for _, a := range md.Attributes {
		if d, ok := ParseDirection(a.Key); ok {
			return d
		}
	}
	for _, a := range s.Attributes {
		if d, ok := ParseDirection(a.Key); ok {
			return d
		}
	}
	return SendRecv
}

// connAddr returns the connection address that applies to md ("" if none).
func connAddr(s *sdp.SessionDescription, md *sdp.MediaDescription) string {
	ci := md.ConnectionInformation
	if ci == nil {
		ci = s.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return ""
	}
	a := ci.Address.Address
	if i := strings.IndexByte(a, '/'); i >= 0 { // multicast TTL / count
		a = a[:i]
	}
	return a
}

// legacyHold reports the RFC 2543 hold form, c=0.0.0.0 (RFC 3264 §8.4).
func legacyHold(s *sdp.SessionDescription, md *sdp.MediaDescription) bool {
	return connAddr(s, md) == "0.0.0.0"
}

// staticCodecs are the RFC 3551 static payload types used when an offer
// lists one without an rtpmap.
var staticCodecs = [35]Codec{
	0:  {Name: "PCMU", ClockRate: 8000},
	3:  {Name: "GSM", ClockRate: 8000},
	4:  {Name: "G723", ClockRate: 8000},
	5:  {Name: "DVI4", ClockRate: 8000},
	6:  {Name: "DVI4", ClockRate: 16000},
	7:  {Name: "LPC", ClockRate: 8000},
	8:  {Name: "PCMA", ClockRate: 8000},
	9:  {Name: "G722", ClockRate: 8000},
	10: {Name: "L16", ClockRate: 44100, Channels: 2},
	11: {Name: "L16", ClockRate: 44100},
	12: {Name: "QCELP", ClockRate: 8000},
	13: {Name: "CN", ClockRate: 8000},
	14: {Name: "MPA", ClockRate: 90000},
	15: {Name: "G728", ClockRate: 8000},
	16: {Name: "DVI4", ClockRate: 11025},
	17: {Name: "DVI4", ClockRate: 22050},
	18: {Name: "G729", ClockRate: 8000},
	25: {Name: "CelB", ClockRate: 90000},
	26: {Name: "JPEG", ClockRate: 90000},
	28: {Name: "nv", ClockRate: 90000},
	31: {Name: "H261", ClockRate: 90000},
	32: {Name: "MPV", ClockRate: 90000},
	33: {Name: "MP2T", ClockRate: 90000},
	34: {Name: "H263", ClockRate: 90000},
}

// mediaCodecs returns the RTP formats of md in m= line order, resolved
// through rtpmap/fmtp attributes of that m= line only (pion's GetCodecMap
// merges all m= lines, which breaks when audio and video reuse a number).
// Formats that are not numbers, or dynamic numbers without rtpmap, are
// skipped.
func mediaCodecs(md *sdp.MediaDescription) []Codec {
	out := make([]Codec, 0, len(md.MediaName.Formats))
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 8)
		if err != nil || pt > 127 {
			continue
		}
		c := Codec{PayloadType: uint8(pt)}
		if int(pt) < len(staticCodecs) {
			s := staticCodecs[pt]
			c.Name, c.ClockRate, c.Channels = s.Name, s.ClockRate, s.Channels
		}
		prefix := f + " "
		for _, a := range md.Attributes {
			switch a.Key {
			case "rtpmap":
				if v, ok := strings.CutPrefix(a.Value, prefix); ok {
					parseRtpmap(strings.TrimSpace(v), &c)
				}
			case "fmtp":
				if v, ok := strings.CutPrefix(a.Value, prefix); ok && line(v) {
					c.Fmtp = strings.TrimSpace(v)
				}
			}
		}
		if c.Name == "" || c.ClockRate == 0 {
			continue
		}
		out = append(out, c)
	}
	return out
}

// parseRtpmap fills c from "<encoding name>/<clock rate>[/<channels>]";
// c is left alone when the value is malformed.
func parseRtpmap(v string, c *Codec) {
	name, rest, ok := strings.Cut(v, "/")
	if !ok || !token(name) {
		return
	}
	rate, chans, _ := strings.Cut(rest, "/")
	r, err := strconv.ParseUint(rate, 10, 32)
	if err != nil || r == 0 {
		return
	}
	var ch uint64
	if chans != "" {
		if ch, err = strconv.ParseUint(chans, 10, 16); err != nil {
			return
		}
	}
	c.Name, c.ClockRate, c.Channels = name, uint32(r), uint16(ch)
}
