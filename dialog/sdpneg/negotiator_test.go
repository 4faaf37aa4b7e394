package sdpneg

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInitialOffer(t *testing.T) {
	n := newTest(t)
	assert.Equal(t, StateIdle, n.State())
	offer, err := n.CreateOffer()
	require.NoError(t, err)
	assert.Equal(t, StateLocalOffer, n.State())
	want := "v=0\r\n" +
		"o=- 4242 1 IN IP4 198.51.100.1\r\n" +
		"s=-\r\n" +
		"c=IN IP4 198.51.100.1\r\n" +
		"t=0 0\r\n" +
		"m=audio 5004 RTP/AVP 0 8 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\n" +
		"a=rtpmap:8 PCMA/8000\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n" +
		"a=fmtp:101 0-16\r\n" +
		"a=sendrecv\r\n"
	assert.Equal(t, want, string(offer))

	res, err := n.ReceiveAnswer(answerTo(t, offer, 1, "sendrecv", []string{"8", "101"}))
	require.NoError(t, err)
	assert.True(t, res.Changed)
	assert.Equal(t, StateDone, n.State())
	st := res.Session.Streams[0]
	assert.Equal(t, []string{"PCMA", "telephone-event"}, []string{st.Codecs[0].Name, st.Codecs[1].Name})
	assert.Equal(t, "192.0.2.20", st.RemoteAddr)
	assert.True(t, res.Session.LocalOffered)
	assert.Equal(t, offer, n.LocalSDP())
}

func TestRandomSessionID(t *testing.T) {
	a, err := New(AudioOnly("192.0.2.1", 4000))
	require.NoError(t, err)
	b, err := New(AudioOnly("192.0.2.1", 4000))
	require.NoError(t, err)
	oa, _ := a.CreateOffer()
	ob, _ := b.CreateOffer()
	ia, ib := parse(t, oa).Origin.SessionID, parse(t, ob).Origin.SessionID
	assert.NotZero(t, ia)
	assert.NotEqual(t, ia, ib)
	assert.Less(t, ia, uint64(1)<<63)
}

func TestVersionBump(t *testing.T) {
	type step struct {
		name   string
		do     func(t *testing.T, n *Negotiator) []byte // returns the SDP we produced
		bump   uint64                                   // expected version delta vs previous SDP
		change bool                                     // expected Result.Changed after completion
	}
	// Each step produces an offer that the peer answers with the same
	// answer (version fixed), or an answer to a peer offer.
	peerAnswer := func(t *testing.T, n *Negotiator, offer []byte, ver int) Result {
		res, err := n.ReceiveAnswer(answerTo(t, offer, ver, "sendrecv", []string{"0"}))
		require.NoError(t, err)
		return res
	}
	var lastRes Result
	reoffer := func(t *testing.T, n *Negotiator) []byte {
		o, err := n.CreateOffer()
		require.NoError(t, err)
		lastRes = peerAnswer(t, n, o, 1)
		return o
	}
	steps := []step{
		{"initial offer", reoffer, 0, true},
		{"refresh re-offer, unchanged", reoffer, 0, false},
		{"second refresh, unchanged", reoffer, 0, false},
		{"hold changes the SDP", func(t *testing.T, n *Negotiator) []byte {
			o, err := n.Hold()
			require.NoError(t, err)
			lastRes = peerAnswer(t, n, o, 1)
			return o
		}, 1, true},
		{"refresh while held keeps version", reoffer, 0, false},
		{"resume", func(t *testing.T, n *Negotiator) []byte {
			o, err := n.Resume()
			require.NoError(t, err)
			lastRes = peerAnswer(t, n, o, 1)
			return o
		}, 1, true},
		{"new port", func(t *testing.T, n *Negotiator) []byte {
			c := n.Capabilities()
			c.Media[0].Port = 6000
			require.NoError(t, n.SetCapabilities(c))
			return reoffer(t, n)
		}, 1, true},
		{"answer to an unchanged peer offer keeps version", func(t *testing.T, n *Negotiator) []byte {
			a, res, err := n.AnswerOffer(sdpLines("v=0", "o=peer 2000 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
				"m=audio 30000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=sendrecv"))
			require.NoError(t, err)
			lastRes = res
			return a
		}, 0, true}, // our SDP is unchanged but roles swap: a new exchange
	}
	n := newTest(t)
	var prev []byte
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			got := s.do(t, n)
			if prev != nil {
				assert.Equal(t, version(t, prev)+s.bump, version(t, got))
				assert.Equal(t, s.bump == 0, bytes.Equal(prev, got), "same version ⇔ same bytes")
			}
			assert.Equal(t, s.change, lastRes.Changed)
			prev = got
		})
	}
}

// AT-P1-3: a re-INVITE refresh with the same SDP (same o= version) is
// answered with the same SDP and version, and reports no media change.
func TestRefreshReinviteUnchanged(t *testing.T) {
	n := newTest(t)
	ans1, res1, err := n.AnswerOffer(remoteOffer)
	require.NoError(t, err)
	require.True(t, res1.Changed)

	ans2, err := n.ReceiveOffer(remoteOffer)
	require.NoError(t, err)
	assert.Equal(t, ans1, ans2)
	res2, err := n.CommitAnswer()
	require.NoError(t, err)
	assert.False(t, res2.Changed)
	assert.False(t, res2.RemoteChanged)
	assert.False(t, res2.LocalChanged)
	assert.Equal(t, res1.Session.Streams, res2.Session.Streams)
}

func TestRemoteChangeDetection(t *testing.T) {
	base := string(remoteOffer)
	tests := []struct {
		name    string
		offer   string
		changed bool
	}{
		{"same body", base, false},
		{"version bumped, content same", strings.Replace(base, "1000 1 IN", "1000 2 IN", 1), false},
		{"new port, version bumped", strings.Replace(strings.Replace(base, "1000 1 IN", "1000 2 IN", 1), "40000", "40010", 1), true},
		{"new port, version not bumped (broken peer)", strings.Replace(base, "40000", "40010", 1), true},
		{"hold", strings.Replace(strings.Replace(base, "1000 1 IN", "1000 2 IN", 1), "a=sendrecv", "a=sendonly", 1), true},
		{"new session id", strings.Replace(base, "1000 1 IN", "1001 1 IN", 1), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newTest(t)
			_, _, err := n.AnswerOffer(remoteOffer)
			require.NoError(t, err)
			_, res, err := n.AnswerOffer([]byte(tc.offer))
			require.NoError(t, err)
			assert.Equal(t, tc.changed, res.RemoteChanged)
			assert.Equal(t, tc.changed, res.Changed)
		})
	}
}

func TestGlareAndMisuse(t *testing.T) {
	t.Run("remote offer crosses ours: 491", func(t *testing.T) {
		n := newTest(t)
		_, err := n.CreateOffer()
		require.NoError(t, err)
		_, err = n.ReceiveOffer(remoteOffer)
		require.ErrorIs(t, err, ErrOfferPending)
		assert.Equal(t, 491, StatusCode(err))
		assert.Equal(t, StateLocalOffer, n.State(), "our offer is still pending")
	})
	t.Run("second local offer", func(t *testing.T) {
		n := newTest(t)
		_, err := n.CreateOffer()
		require.NoError(t, err)
		_, err = n.CreateOffer()
		require.ErrorIs(t, err, ErrOfferPending)
		_, err = n.Hold()
		require.ErrorIs(t, err, ErrOfferPending)
		assert.False(t, n.OnHold())
	})
	t.Run("offer while we owe an answer: 500", func(t *testing.T) {
		n := newTest(t)
		_, err := n.ReceiveOffer(remoteOffer)
		require.NoError(t, err)
		_, err = n.ReceiveOffer(remoteOffer)
		require.ErrorIs(t, err, ErrAnswerPending)
		assert.Equal(t, 500, StatusCode(err))
		_, err = n.CreateOffer()
		require.ErrorIs(t, err, ErrAnswerPending)
	})
	t.Run("answer without offer", func(t *testing.T) {
		n := newTest(t)
		_, err := n.ReceiveAnswer(remoteOffer)
		require.ErrorIs(t, err, ErrNoOffer)
		_, err = n.CommitAnswer()
		require.ErrorIs(t, err, ErrNoOffer)
		require.ErrorIs(t, n.RejectOffer(), ErrNoOffer)
		require.ErrorIs(t, n.CancelOffer(), ErrNoOffer)
		assert.Equal(t, 0, StatusCode(ErrNoOffer))
	})
	t.Run("answer after we answered their offer", func(t *testing.T) {
		n := newTest(t)
		_, _, err := n.AnswerOffer(remoteOffer)
		require.NoError(t, err)
		_, err = n.ReceiveAnswer(remoteOffer)
		require.ErrorIs(t, err, ErrNoOffer)
	})
}

func TestCancelOffer(t *testing.T) {
	n := newTest(t)
	_, _, err := n.AnswerOffer(remoteOffer)
	require.NoError(t, err)
	active := n.LocalSDP()
	sess := n.Session()

	hold, err := n.Hold()
	require.NoError(t, err)
	assert.True(t, n.OnHold())
	assert.Equal(t, version(t, active)+1, version(t, hold))

	// 491: back to the active session, hold undone.
	require.NoError(t, n.CancelOffer())
	assert.Equal(t, StateDone, n.State())
	assert.False(t, n.OnHold())
	assert.Equal(t, active, n.LocalSDP())
	assert.Same(t, sess, n.Session())

	// The retry after the 491 backoff repeats the same hold offer.
	again, err := n.Hold()
	require.NoError(t, err)
	assert.Equal(t, hold, again)

	// An initial offer cancelled (CANCEL / non-2xx) goes back to Idle.
	m := newTest(t)
	_, err = m.CreateOffer()
	require.NoError(t, err)
	require.NoError(t, m.CancelOffer())
	assert.Equal(t, StateIdle, m.State())
	assert.Nil(t, m.Session())
}

func TestRejectOfferRestoresVersion(t *testing.T) {
	n := newTest(t)
	a1, _, err := n.AnswerOffer(remoteOffer)
	require.NoError(t, err)
	changed := strings.Replace(string(remoteOffer), "1000 1 IN", "1000 2 IN", 1)
	changed = strings.Replace(changed, "m=audio 40000 RTP/AVP 8 0 18 96", "m=audio 40000 RTP/AVP 0 96", 1)
	a2, err := n.ReceiveOffer([]byte(changed))
	require.NoError(t, err)
	assert.Equal(t, version(t, a1)+1, version(t, a2))
	require.NoError(t, n.RejectOffer()) // e.g. the application refused the re-INVITE
	assert.Equal(t, StateDone, n.State())
	assert.Equal(t, a1, n.LocalSDP())
	a3, _, err := n.AnswerOffer(remoteOffer) // a refresh with the old offer
	require.NoError(t, err)
	assert.Equal(t, a1, a3, "the rejected answer was never sent")
	a4, _, err := n.AnswerOffer([]byte(changed))
	require.NoError(t, err)
	assert.Equal(t, a2, a4)
}

func TestHoldResume(t *testing.T) {
	t.Run("as offerer", func(t *testing.T) {
		n := newTest(t)
		o, err := n.CreateOffer()
		require.NoError(t, err)
		_, err = n.ReceiveAnswer(answerTo(t, o, 1, "sendrecv", []string{"0"}))
		require.NoError(t, err)

		h, err := n.Hold()
		require.NoError(t, err)
		assert.Equal(t, SendOnly, dir(t, h, 0))
		res, err := n.ReceiveAnswer(answerTo(t, h, 2, "recvonly", []string{"0"}))
		require.NoError(t, err)
		assert.Equal(t, SendOnly, res.Session.Streams[0].Direction)
		assert.False(t, res.Session.Streams[0].Held)

		// While held, our answers to the peer's offers stay sendonly.
		a, _, err := n.AnswerOffer(answerTo(t, h, 3, "sendrecv", []string{"0"}))
		require.NoError(t, err)
		assert.Equal(t, SendOnly, dir(t, a, 0))

		r, err := n.Resume()
		require.NoError(t, err)
		assert.Equal(t, SendRecv, dir(t, r, 0))
		res, err = n.ReceiveAnswer(answerTo(t, r, 4, "sendrecv", []string{"0"}))
		require.NoError(t, err)
		assert.Equal(t, SendRecv, res.Session.Streams[0].Direction)
		assert.False(t, n.OnHold())
	})
	t.Run("recvonly stream goes inactive", func(t *testing.T) {
		m := Audio(5004)
		m.Direction = RecvOnly
		n := newTest(t, m)
		h, err := n.Hold()
		require.NoError(t, err)
		assert.Equal(t, Inactive, dir(t, h, 0))
	})
	t.Run("held by the peer", func(t *testing.T) {
		n := newTest(t)
		_, _, err := n.AnswerOffer(remoteOffer)
		require.NoError(t, err)
		held := strings.Replace(string(remoteOffer), "a=sendrecv", "a=sendonly", 1)
		held = strings.Replace(held, "1000 1 IN", "1000 2 IN", 1)
		a, res, err := n.AnswerOffer([]byte(held))
		require.NoError(t, err)
		assert.Equal(t, RecvOnly, dir(t, a, 0))
		assert.True(t, res.Session.Streams[0].Held)
		assert.True(t, res.Changed)
		resumed := strings.Replace(string(remoteOffer), "1000 1 IN", "1000 3 IN", 1)
		a, res, err = n.AnswerOffer([]byte(resumed))
		require.NoError(t, err)
		assert.Equal(t, SendRecv, dir(t, a, 0))
		assert.False(t, res.Session.Streams[0].Held)
	})
	t.Run("message streams are not held", func(t *testing.T) {
		n := newTest(t, Audio(5004), MSRP(2855, "msrp://198.51.100.1:2855/a;tcp"))
		h, err := n.Hold()
		require.NoError(t, err)
		assert.Equal(t, SendOnly, dir(t, h, 0))
		assert.Equal(t, SendRecv, dir(t, h, 1))
	})
}

// Late offer: INVITE without SDP, offer in the 2xx, answer in the ACK.
func TestLateOffer(t *testing.T) {
	uac := newTest(t, Audio(5004))
	uasCaps := AudioOnly("192.0.2.20", 30000)
	uasCaps.Media[0].Codecs = []Codec{PCMA, {PayloadType: 96, Name: "telephone-event", ClockRate: 8000, Fmtp: "0-15"}}
	uas, err := New(uasCaps)
	require.NoError(t, err)

	// ← INVITE (no body). UAS: the 2xx carries our offer.
	offer, err := uas.CreateOffer()
	require.NoError(t, err)
	// → 200 OK. UAC: receives the offer, answers in the ACK.
	answer, err := uac.ReceiveOffer(offer)
	require.NoError(t, err)
	assert.Equal(t, "audio 5004 RTP/AVP 8 96", mline(t, answer, 0))
	uacRes, err := uac.CommitAnswer() // the ACK is sent
	require.NoError(t, err)
	// ← ACK with answer. UAS: done.
	uasRes, err := uas.ReceiveAnswer(answer)
	require.NoError(t, err)

	assert.Equal(t, StateDone, uac.State())
	assert.Equal(t, StateDone, uas.State())
	assert.Equal(t, "PCMA", uacRes.Session.Streams[0].Codecs[0].Name)
	assert.Equal(t, "PCMA", uasRes.Session.Streams[0].Codecs[0].Name)
	assert.Equal(t, 30000, uacRes.Session.Streams[0].RemotePort)
	assert.Equal(t, 5004, uasRes.Session.Streams[0].RemotePort)

	// Re-INVITE from the UAC now: it must keep payload type 96 for
	// telephone-event (RFC 3264 §8.3.2) although its own default is 101.
	reoffer, err := uac.CreateOffer()
	require.NoError(t, err)
	assert.Equal(t, "audio 5004 RTP/AVP 0 8 96", mline(t, reoffer, 0))
	_, err = uas.ReceiveOffer(reoffer)
	require.NoError(t, err)
}

// SDP in an unreliable 18x, then the same (or an updated) answer in the 2xx.
func TestRepeatedAnswer(t *testing.T) {
	n := newTest(t)
	offer, err := n.CreateOffer()
	require.NoError(t, err)
	early := answerTo(t, offer, 1, "sendrecv", []string{"0"})
	res, err := n.ReceiveAnswer(early)
	require.NoError(t, err)
	require.True(t, res.Changed)

	res, err = n.ReceiveAnswer(early) // 200 OK repeats it
	require.NoError(t, err)
	assert.False(t, res.Changed)

	final := answerTo(t, offer, 2, "sendrecv", []string{"8"}) // a different fork or an update
	res, err = n.ReceiveAnswer(final)
	require.NoError(t, err)
	assert.True(t, res.RemoteChanged)
	assert.Equal(t, "PCMA", res.Session.Streams[0].Codecs[0].Name)
}

func TestInvalidAnswers(t *testing.T) {
	n := newTest(t, Audio(5004), MSRP(2855, "msrp://198.51.100.1:2855/a;tcp"))
	tests := []struct {
		name   string
		answer func(offer []byte) []byte
	}{
		{"fewer m= lines", func(o []byte) []byte {
			return sdpLines("v=0", "o=p 1 1 IN IP4 192.0.2.2", "s=-", "c=IN IP4 192.0.2.2", "t=0 0", "m=audio 3000 RTP/AVP 0")
		}},
		{"media type changed", func(o []byte) []byte {
			return sdpLines("v=0", "o=p 1 1 IN IP4 192.0.2.2", "s=-", "c=IN IP4 192.0.2.2", "t=0 0", "m=audio 3000 RTP/AVP 0", "m=video 3002 RTP/AVP 0")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := n.CreateOffer()
			require.NoError(t, err)
			_, err = n.ReceiveAnswer(tc.answer(o))
			require.ErrorIs(t, err, ErrInvalidAnswer)
			assert.Equal(t, StateIdle, n.State())
		})
	}
	t.Run("answer rejecting a stream", func(t *testing.T) {
		o, err := n.CreateOffer()
		require.NoError(t, err)
		res, err := n.ReceiveAnswer(answerTo(t, o, 1, "sendrecv", []string{"0"}, nil))
		require.NoError(t, err)
		assert.False(t, res.Session.Streams[0].Rejected)
		assert.True(t, res.Session.Streams[1].Rejected)
		assert.Equal(t, Inactive, res.Session.Streams[1].Direction)
	})
}

func TestReofferKeepsMLines(t *testing.T) {
	n := newTest(t, Audio(5004))
	head := "v=0\r\no=peer 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
	offer := head + "m=audio 40000 RTP/AVP 0\r\nm=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" + msrpOffer
	_, _, err := n.AnswerOffer([]byte(offer))
	require.NoError(t, err)

	// Our re-offer keeps the three m= lines in place; the rejected ones
	// stay at port 0. Adding MSRP locally does not fill the old slot's
	// place twice: it answers there.
	c := n.Capabilities()
	c.Media = append(c.Media, MSRP(2855, "msrp://198.51.100.1:2855/a;tcp"))
	require.NoError(t, n.SetCapabilities(c))
	re, err := n.CreateOffer()
	require.NoError(t, err)
	d := parse(t, re)
	require.Len(t, d.MediaDescriptions, 4)
	assert.Equal(t, "audio 5004 RTP/AVP 0 8 101", mline(t, re, 0))
	assert.Equal(t, "video 0 RTP/AVP 96", mline(t, re, 1))
	assert.Equal(t, "message 0 TCP/MSRP *", mline(t, re, 2))
	assert.Equal(t, "message 2855 TCP/MSRP *", mline(t, re, 3))
	require.NoError(t, n.CancelOffer())

	// The same peer may not drop m= lines in its re-offer (RFC 3264 §8).
	_, err = n.ReceiveOffer([]byte(strings.Replace(head, "1 1 IN", "1 2 IN", 1) + "m=audio 40000 RTP/AVP 0\r\n"))
	require.ErrorIs(t, err, ErrInvalidOffer)
	assert.Equal(t, 488, StatusCode(err))
	assert.Equal(t, StateDone, n.State())
}
