package sdpneg

import (
	"strconv"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
	"github.com/stretchr/testify/require"
)

// sdpLines joins lines with CRLF and a final CRLF.
func sdpLines(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

// remoteOffer is a typical peer offer: PCMA, PCMU, G729, dynamic
// telephone-event 96, sendrecv.
var remoteOffer = sdpLines(
	"v=0",
	"o=peer 1000 1 IN IP4 192.0.2.10",
	"s=call",
	"c=IN IP4 192.0.2.10",
	"t=0 0",
	"m=audio 40000 RTP/AVP 8 0 18 96",
	"a=rtpmap:8 PCMA/8000",
	"a=rtpmap:0 PCMU/8000",
	"a=rtpmap:18 G729/8000",
	"a=rtpmap:96 telephone-event/8000",
	"a=fmtp:96 0-15",
	"a=ptime:20",
	"a=sendrecv",
)

func newTest(t testing.TB, media ...Media) *Negotiator {
	t.Helper()
	if len(media) == 0 {
		media = []Media{Audio(5004)}
	}
	n, err := New(Capabilities{Address: "198.51.100.1", SessionID: 4242, Media: media})
	require.NoError(t, err)
	return n
}

func parse(t testing.TB, b []byte) *sdp.SessionDescription {
	t.Helper()
	d, err := Parse(b)
	require.NoError(t, err, "%s", b)
	return d
}

// mline returns the m= line i of body as text, e.g. "audio 5004 RTP/AVP 8 0".
func mline(t testing.TB, body []byte, i int) string {
	t.Helper()
	d := parse(t, body)
	require.Greater(t, len(d.MediaDescriptions), i)
	return d.MediaDescriptions[i].MediaName.String()
}

func attr(t testing.TB, body []byte, i int, key string) []string {
	t.Helper()
	d := parse(t, body)
	var out []string
	for _, a := range d.MediaDescriptions[i].Attributes {
		if a.Key == key {
			out = append(out, a.Value)
		}
	}
	return out
}

func dir(t testing.TB, body []byte, i int) Direction {
	t.Helper()
	d := parse(t, body)
	return directionOfDesc(d, d.MediaDescriptions[i])
}

func version(t testing.TB, body []byte) uint64 {
	t.Helper()
	return parse(t, body).Origin.SessionVersion
}

// answerTo builds a plain answer to offer as a peer would: same m= lines,
// the given format list per line (nil rejects it with port 0), direction d.
func answerTo(t testing.TB, offer []byte, ver int, d string, formats ...[]string) []byte {
	t.Helper()
	o := parse(t, offer)
	lines := []string{"v=0", "o=peer 2000 " + itoa(ver) + " IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0"}
	for i, md := range o.MediaDescriptions {
		f := formats[i]
		port := "30000"
		if f == nil {
			port, f = "0", md.MediaName.Formats
		}
		lines = append(lines, "m="+md.MediaName.Media+" "+port+" "+strings.Join(md.MediaName.Protos, "/")+" "+strings.Join(f, " "))
		for _, a := range md.Attributes {
			if a.Key == "rtpmap" || a.Key == "fmtp" {
				pt, _, _ := strings.Cut(a.Value, " ")
				if contains(f, pt) {
					lines = append(lines, "a="+a.Key+":"+a.Value)
				}
			}
		}
		lines = append(lines, "a="+d)
	}
	return sdpLines(lines...)
}

func itoa(i int) string { return strconv.Itoa(i) }
