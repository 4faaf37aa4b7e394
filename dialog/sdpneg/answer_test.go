package sdpneg

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAnswerCodecIntersection(t *testing.T) {
	g722First := Audio(5004)
	g722First.Codecs = []Codec{G722, PCMU, PCMA, TelephoneEvent}
	tests := []struct {
		name    string
		local   Media
		offer   []byte
		mline   string
		rtpmaps []string
		fmtps   []string
	}{
		{
			name:    "offerer order and offer payload types",
			local:   Audio(5004),
			offer:   remoteOffer,
			mline:   "audio 5004 RTP/AVP 8 0 96",
			rtpmaps: []string{"8 PCMA/8000", "0 PCMU/8000", "96 telephone-event/8000"},
			fmtps:   []string{"96 0-16"},
		},
		{
			name:  "local preference does not reorder",
			local: g722First,
			offer: sdpLines("v=0", "o=a 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
				"m=audio 4000 RTP/AVP 0 9 8"),
			mline:   "audio 5004 RTP/AVP 0 9 8",
			rtpmaps: []string{"0 PCMU/8000", "9 G722/8000", "8 PCMA/8000"},
		},
		{
			name: "dynamic payload type mapped by name case-insensitively",
			local: Media{Type: "audio", Port: 5004, Proto: "RTP/AVP", Codecs: []Codec{
				{PayloadType: 111, Name: "opus", ClockRate: 48000, Channels: 2, Fmtp: "useinbandfec=1"},
				{PayloadType: 101, Name: "telephone-event", ClockRate: 8000},
			}},
			offer: sdpLines("v=0", "o=a 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
				"m=audio 4000 RTP/AVP 120 0 97 98",
				"a=rtpmap:120 OPUS/48000/2", "a=rtpmap:97 opus/48000", "a=rtpmap:98 TELEPHONE-EVENT/8000", "a=fmtp:98 0-15"),
			mline:   "audio 5004 RTP/AVP 120 98",
			rtpmaps: []string{"120 OPUS/48000/2", "98 TELEPHONE-EVENT/8000"},
			fmtps:   []string{"120 useinbandfec=1", "98 0-15"},
		},
		{
			name:  "static payload type without rtpmap",
			local: Audio(5004),
			offer: sdpLines("v=0", "o=a 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
				"m=audio 4000 RTP/AVP 18 8"),
			mline:   "audio 5004 RTP/AVP 8",
			rtpmaps: []string{"8 PCMA/8000"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newTest(t, tc.local)
			ans, err := n.ReceiveOffer(tc.offer)
			require.NoError(t, err)
			assert.Equal(t, tc.mline, mline(t, ans, 0))
			assert.Equal(t, tc.rtpmaps, attr(t, ans, 0, "rtpmap"))
			assert.Equal(t, tc.fmtps, attr(t, ans, 0, "fmtp"))
			assert.Equal(t, StateRemoteOffer, n.State())
			res, err := n.CommitAnswer()
			require.NoError(t, err)
			assert.True(t, res.Changed)
			assert.Equal(t, StateDone, n.State())
		})
	}
}

func TestAnswerSessionResult(t *testing.T) {
	n := newTest(t)
	_, res, err := n.AnswerOffer(remoteOffer)
	require.NoError(t, err)
	require.Len(t, res.Session.Streams, 1)
	st := res.Session.Streams[0]
	assert.False(t, st.Rejected)
	assert.Equal(t, "192.0.2.10", st.RemoteAddr)
	assert.Equal(t, 40000, st.RemotePort)
	assert.Equal(t, 5004, st.LocalPort)
	assert.Equal(t, SendRecv, st.Direction)
	assert.False(t, st.Held)
	require.Len(t, st.Codecs, 3)
	assert.Equal(t, "PCMA", st.Codecs[0].Name)
	assert.Equal(t, uint8(96), st.Codecs[2].PayloadType)
	assert.Same(t, res.Session, n.Session())
	assert.False(t, res.Session.LocalOffered)
}

const msrpOffer = "m=message 7394 TCP/MSRP *\r\na=accept-types:text/plain message/cpim\r\na=path:msrp://192.0.2.10:7394/kjhd37s2s20w2a;tcp\r\n"

func TestRejectedStreams(t *testing.T) {
	head := "v=0\r\no=peer 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
	audio := "m=audio 40000 RTP/AVP 0\r\n"
	tests := []struct {
		name   string
		local  []Media
		offer  string
		mlines []string
		err    error
	}{
		{
			name:   "unsupported video rejected, offered formats kept",
			local:  []Media{Audio(5004)},
			offer:  head + audio + "m=video 40002 RTP/AVP 96 97\r\na=rtpmap:96 H264/90000\r\na=rtpmap:97 VP8/90000\r\n",
			mlines: []string{"audio 5004 RTP/AVP 0", "video 0 RTP/AVP 96 97"},
		},
		{
			name:   "no common codec",
			local:  []Media{Audio(5004)},
			offer:  head + audio + "m=audio 40002 RTP/AVP 18 96\r\na=rtpmap:96 telephone-event/8000\r\n",
			mlines: []string{"audio 5004 RTP/AVP 0", "audio 0 RTP/AVP 18 96"},
		},
		{
			name:   "MSRP not supported",
			local:  []Media{Audio(5004)},
			offer:  head + audio + msrpOffer,
			mlines: []string{"audio 5004 RTP/AVP 0", "message 0 TCP/MSRP *"},
		},
		{
			name:   "MSRP supported",
			local:  []Media{Audio(5004), MSRP(2855, "msrp://198.51.100.1:2855/abc;tcp")},
			offer:  head + audio + msrpOffer,
			mlines: []string{"audio 5004 RTP/AVP 0", "message 2855 TCP/MSRP *"},
		},
		{
			name:   "MSRP only, as an IM conference leg",
			local:  []Media{MSRP(2855, "msrp://198.51.100.1:2855/abc;tcp")},
			offer:  head + msrpOffer,
			mlines: []string{"message 2855 TCP/MSRP *"},
		},
		{
			name:   "proto mismatch (SRTP not configured)",
			local:  []Media{Audio(5004)},
			offer:  head + audio + "m=audio 40002 RTP/SAVP 0\r\n",
			mlines: []string{"audio 5004 RTP/AVP 0", "audio 0 RTP/SAVP 0"},
		},
		{
			name:   "T.38 image stream unknown to pion",
			local:  []Media{Audio(5004)},
			offer:  head + audio + "m=image 40004 udptl t38\r\na=T38FaxVersion:0\r\n",
			mlines: []string{"audio 5004 RTP/AVP 0", "image 0 udptl t38"},
		},
		{
			name:   "offered port 0 stays rejected",
			local:  []Media{Audio(5004)},
			offer:  head + "m=audio 0 RTP/AVP 0\r\n" + audio,
			mlines: []string{"audio 0 RTP/AVP 0", "audio 5004 RTP/AVP 0"},
		},
		{
			name:  "only telephone-event in common",
			local: []Media{Audio(5004)},
			offer: head + "m=audio 40000 RTP/AVP 18 101\r\na=rtpmap:101 telephone-event/8000\r\n",
			err:   ErrNoCommonMedia,
		},
		{
			name:  "nothing in common",
			local: []Media{Audio(5004)},
			offer: head + "m=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n",
			err:   ErrNoCommonMedia,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newTest(t, tc.local...)
			ans, err := n.ReceiveOffer([]byte(tc.offer))
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Equal(t, 488, StatusCode(err))
				assert.Equal(t, StateIdle, n.State())
				return
			}
			require.NoError(t, err)
			d := parse(t, ans)
			require.Len(t, d.MediaDescriptions, len(tc.mlines))
			for i, want := range tc.mlines {
				assert.Equal(t, want, mline(t, ans, i))
			}
			res, err := n.CommitAnswer()
			require.NoError(t, err)
			for i, st := range res.Session.Streams {
				assert.Equal(t, d.MediaDescriptions[i].MediaName.Port.Value == 0, st.Rejected, "stream %d", i)
			}
		})
	}
}

func TestMSRPAnswerAttributes(t *testing.T) {
	n := newTest(t, MSRP(2855, "msrp://198.51.100.1:2855/abc;tcp", "text/plain", "message/cpim"))
	ans, err := n.ReceiveOffer([]byte("v=0\r\no=peer 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" + msrpOffer))
	require.NoError(t, err)
	assert.Equal(t, []string{"msrp://198.51.100.1:2855/abc;tcp"}, attr(t, ans, 0, "path"))
	assert.Equal(t, []string{"text/plain message/cpim"}, attr(t, ans, 0, "accept-types"))
	res, err := n.CommitAnswer()
	require.NoError(t, err)
	assert.Equal(t, []string{"*"}, res.Session.Streams[0].Formats)
	assert.Equal(t, "TCP/MSRP", res.Session.Streams[0].Proto)
}

func TestDirectionTable(t *testing.T) {
	tests := []struct {
		offered string // direction attribute in the offer ("" = none)
		conn    string // offer's connection address
		local   Direction
		want    Direction
		held    bool
	}{
		{"", "192.0.2.10", SendRecv, SendRecv, false},
		{"sendrecv", "192.0.2.10", SendRecv, SendRecv, false},
		{"sendonly", "192.0.2.10", SendRecv, RecvOnly, true},
		{"recvonly", "192.0.2.10", SendRecv, SendOnly, false},
		{"inactive", "192.0.2.10", SendRecv, Inactive, true},
		{"sendrecv", "192.0.2.10", SendOnly, SendOnly, false},
		{"sendrecv", "192.0.2.10", RecvOnly, RecvOnly, false},
		{"sendrecv", "192.0.2.10", Inactive, Inactive, false},
		{"sendonly", "192.0.2.10", SendOnly, Inactive, true},
		{"recvonly", "192.0.2.10", RecvOnly, Inactive, false},
		// RFC 2543 hold: c=0.0.0.0 means "do not send to me".
		{"", "0.0.0.0", SendRecv, RecvOnly, true},
		{"sendrecv", "0.0.0.0", SendRecv, RecvOnly, true},
		{"recvonly", "0.0.0.0", SendRecv, Inactive, true},
	}
	for _, tc := range tests {
		t.Run(tc.offered+"/"+tc.conn+"/"+tc.local.String(), func(t *testing.T) {
			m := Audio(5004)
			m.Direction = tc.local
			n := newTest(t, m)
			lines := []string{"v=0", "o=peer 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 " + tc.conn, "t=0 0", "m=audio 40000 RTP/AVP 0"}
			if tc.offered != "" {
				lines = append(lines, "a="+tc.offered)
			}
			ans, res, err := n.AnswerOffer(sdpLines(lines...))
			require.NoError(t, err)
			assert.Equal(t, tc.want, dir(t, ans, 0))
			assert.Equal(t, tc.want, res.Session.Streams[0].Direction)
			assert.Equal(t, tc.held, res.Session.Streams[0].Held)
			// The pure function agrees with the end-to-end result.
			if tc.conn != "0.0.0.0" {
				off, _ := ParseDirection(tc.offered)
				assert.Equal(t, tc.want, off.Answer(tc.local))
			}
		})
	}
}

func TestSessionLevelDirection(t *testing.T) {
	n := newTest(t)
	ans, err := n.ReceiveOffer(sdpLines("v=0", "o=peer 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
		"a=sendonly", "m=audio 40000 RTP/AVP 0"))
	require.NoError(t, err)
	assert.Equal(t, RecvOnly, dir(t, ans, 0))
}

func TestMalformedSDP(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"blank", "\r\n\r\n"},
		{"garbage", "hello world"},
		{"no v=", "o=peer 1 1 IN IP4 192.0.2.10\r\ns=-\r\nt=0 0\r\n"},
		{"bad version", "v=1\r\no=peer 1 1 IN IP4 192.0.2.10\r\ns=-\r\nt=0 0\r\n"},
		{"bad origin", "v=0\r\no=peer x 1 IN IP4 192.0.2.10\r\ns=-\r\nt=0 0\r\n"},
		{"bad port", "v=0\r\no=peer 1 1 IN IP4 192.0.2.10\r\ns=-\r\nt=0 0\r\nm=audio 99999 RTP/AVP 0\r\n"},
		{"bad line", "v=0\r\no=peer 1 1 IN IP4 192.0.2.10\r\ns=-\r\nt=0 0\r\nxyz\r\n"},
		{"only v", "v=0\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newTest(t)
			_, err := n.ReceiveOffer([]byte(tc.body))
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMalformed)
			var pe *ParseError
			assert.True(t, errors.As(err, &pe))
			assert.Equal(t, 488, StatusCode(err))
			assert.Equal(t, StateIdle, n.State())
		})
	}
	t.Run("answer", func(t *testing.T) {
		n := newTest(t)
		_, err := n.CreateOffer()
		require.NoError(t, err)
		_, err = n.ReceiveAnswer([]byte("v=0\r\nbogus"))
		require.ErrorIs(t, err, ErrMalformed)
		assert.Equal(t, StateIdle, n.State(), "a failed answer cancels the offer")
	})
}

func TestParseTolerance(t *testing.T) {
	// No final CRLF, LF-only line ends.
	d, err := Parse([]byte("v=0\no=peer 1 1 IN IP4 192.0.2.10\ns=-\nc=IN IP4 192.0.2.10\nt=0 0\nm=audio 4000 RTP/AVP 0\na=sendonly"))
	require.NoError(t, err)
	require.Len(t, d.MediaDescriptions, 1)
	v, ok := d.MediaDescriptions[0].Attribute("sendonly")
	assert.True(t, ok)
	assert.Empty(t, v)
	// Unknown media and proto survive with their original spelling.
	d, err = Parse(sdpLines("v=0", "o=peer 1 1 IN IP4 192.0.2.10", "s=-", "t=0 0", "m=image 4002 udptl t38", "a=T38FaxVersion:0", "m=audio 4000 RTP/AVP 0"))
	require.NoError(t, err)
	require.Len(t, d.MediaDescriptions, 2)
	assert.Equal(t, "image 4002 udptl t38", d.MediaDescriptions[0].MediaName.String())
	assert.Equal(t, "audio 4000 RTP/AVP 0", d.MediaDescriptions[1].MediaName.String())
}

func TestCapabilitiesValidation(t *testing.T) {
	bad := []Capabilities{
		{},
		{Address: "example.com", Media: []Media{Audio(1)}},
		{Address: "192.0.2.1", Media: []Media{{Type: "audio", Port: 1, Proto: "RTP/AVP"}}},
		{Address: "192.0.2.1", Media: []Media{{Type: "audio", Port: 70000, Proto: "RTP/AVP", Codecs: []Codec{PCMU}}}},
		{Address: "192.0.2.1", Media: []Media{{Type: "", Port: 1, Proto: "RTP/AVP", Codecs: []Codec{PCMU}}}},
		{Address: "192.0.2.1", Media: []Media{{Type: "audio", Port: 1, Proto: "RTP/AVP", Codecs: []Codec{{Name: "X", ClockRate: 0}}}}},
		{Address: "192.0.2.1", SessionName: "a\r\nb=1", Media: []Media{Audio(1)}},
	}
	for i, c := range bad {
		_, err := New(c)
		assert.ErrorIs(t, err, ErrInvalidCapabilities, "case %d", i)
	}
	n, err := New(AudioOnly("2001:db8::1", 5004))
	require.NoError(t, err)
	offer, err := n.CreateOffer()
	require.NoError(t, err)
	d := parse(t, offer)
	assert.Equal(t, "IP6", d.Origin.AddressType)
	assert.Equal(t, "IP6", d.ConnectionInformation.AddressType)
}
