package dialog

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// party is one endpoint of the transfer tests: its layer, its URI and its
// incoming sessions.
type party struct {
	layer    *Layer
	uri      sip.URI
	incoming chan *Session
}

func newParty(t *testing.T, user string, cfg Config) *party {
	u := newUA(t, ua.Config{})
	p := &party{incoming: make(chan *Session, 4)}
	if cfg.OnInvite == nil {
		cfg.OnInvite = func(s *Session) { p.incoming <- s }
	}
	p.layer = mustLayer(t, endpoint(t, u, user), cfg)
	p.uri, _ = u.ContactURI("")
	p.uri.User = user
	return p
}

// call sets up a call from a to b and returns both sessions.
func call(t *testing.T, a, b *party) (out, in *Session) {
	t.Helper()
	done := make(chan *Session, 1)
	go func() {
		s, err := a.layer.Invite(context.Background(), b.uri, InviteOptions{SDP: []byte(offerSDP)})
		assert.NoError(t, err)
		done <- s
	}()
	in = wait(t, b.incoming)
	require.NoError(t, in.Accept(context.Background(), []byte(answerSDP)))
	return wait(t, done), in
}

// Attended transfer (RFC 3891, RFC 5589): alice calls bob, then carol;
// she refers bob to carol replacing her call with carol. Bob's INVITE
// carries Replaces and reaches carol, who sees which session it replaces
// and accepts; carol ends her call with alice (BYE), alice hangs up bob.
func TestAttendedTransfer(t *testing.T) {
	alice := newParty(t, "alice", Config{})
	bob := newParty(t, "bob", Config{OnRefer: func(*Session, sip.URI, *sip.Request) bool { return true }})
	carol := newParty(t, "carol", Config{})

	ab, ba := call(t, alice, bob)
	ac, ca := call(t, alice, carol)
	bobEv := newRecorder()
	ba.OnEvent(bobEv.on)

	refer := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		refer <- ab.ReferReplaces(ctx, ac)
	}()
	cb := wait(t, carol.incoming)
	assert.Same(t, ca, cb.Replaces(), "carol knows which call the new one replaces")
	rp, err := cb.Request().Replaces()
	require.NoError(t, err)
	id := ca.Dialog().ID()
	assert.Equal(t, sip.Replaces{CallID: id.CallID, ToTag: id.LocalTag, FromTag: id.RemoteTag, Params: rp.Params}, rp,
		"to-tag is carol's tag, from-tag alice's")
	assert.True(t, cb.Request().HasToken("Require", "replaces"))
	assert.Empty(t, cb.Request().URI.Headers, "the Refer-To headers are not in the Request-URI")
	require.NoError(t, cb.Accept(context.Background(), []byte(answerSDP)))

	require.NoError(t, wait(t, refer), "the transfer succeeded")
	wait(t, ca.Done())
	assert.Equal(t, Replaced, ca.Err().Cause, "carol's call with alice is replaced...")
	wait(t, ac.Done())
	assert.Equal(t, RemoteBye, ac.Err().Cause, "...and ended by carol's BYE")
	require.NoError(t, ab.Hangup(context.Background()))
	wait(t, ba.Done())
	require.Eventually(t, func() bool {
		return bobEv.count(func(ev Event) bool {
			tr, ok := ev.(Transferred)
			return ok && tr.Session.State() == Established
		}) == 1
	}, 2*time.Second, time.Millisecond, "bob and carol are talking")
	assert.Equal(t, Established, cb.State())
	assert.Equal(t, 0, alice.layer.Len(), "both of alice's calls ended")
	assert.Equal(t, 1, carol.layer.Len())
}

// InviteOptions.Replaces builds the header; a Replaces that matches no
// dialog gets 481, early-only against a confirmed dialog 486, and an
// early dialog the recipient did not originate 481 (RFC 3891 §3).
func TestReplacesRefused(t *testing.T) {
	alice := newParty(t, "alice", Config{})
	carol := newParty(t, "carol", Config{})
	ac, ca := call(t, alice, carol)

	status := func(opts InviteOptions) int {
		opts.SDP = []byte(offerSDP)
		_, err := alice.layer.Invite(context.Background(), carol.uri, opts)
		var te *TerminatedError
		require.ErrorAs(t, err, &te)
		return te.StatusCode
	}
	assert.Equal(t, 481, status(InviteOptions{Prepare: func(req *sip.Request) {
		req.Set("Replaces", "nobody@nowhere;to-tag=a;from-tag=b")
	}}), "no such dialog")
	v, err := ac.ReplacesHeader(true)
	require.NoError(t, err)
	assert.Equal(t, 486, status(InviteOptions{Prepare: func(req *sip.Request) {
		req.Set("Replaces", v)
	}}), "early-only and a confirmed dialog")
	assert.Equal(t, Established, ca.State(), "the call is unaffected")

	// An incoming call of carol's, still ringing: not hers to replace.
	ringing := make(chan *Session, 1)
	go func() {
		s, _ := alice.layer.Invite(context.Background(), carol.uri, InviteOptions{SDP: []byte(offerSDP), OnEvent: func(s *Session, ev Event) {
			if sc, ok := ev.(StateChanged); ok && sc.To == Ringing {
				ringing <- s
			}
		}})
		_ = s
	}()
	early := wait(t, carol.incoming)
	require.NoError(t, early.Progress(context.Background(), 180, nil))
	out := wait(t, ringing)
	assert.Equal(t, 481, status(InviteOptions{Replaces: out}), "an early dialog carol did not originate")
	assert.Equal(t, Ringing, early.State())
	require.NoError(t, early.Reject(context.Background(), 486, ""))

	// The same header with the call confirmed, without early-only: taken.
	go func() {
		in := wait(t, carol.incoming)
		assert.Same(t, ca, in.Replaces())
		assert.NoError(t, in.Accept(context.Background(), []byte(answerSDP)))
	}()
	s, err := alice.layer.Invite(context.Background(), carol.uri, InviteOptions{SDP: []byte(offerSDP), Replaces: ac})
	require.NoError(t, err)
	assert.Equal(t, Established, s.State())
	wait(t, ca.Done())
	assert.Equal(t, Replaced, ca.Err().Cause)
	wait(t, ac.Done())
}

func TestReplacesEscaping(t *testing.T) {
	v := "12345@192.168.118.3;to-tag=12345;from-tag=5FFE-3994"
	esc := escapeHeaderValue(v)
	assert.Equal(t, "12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994", esc, "RFC 3891 §6.1's example")
	a, err := sip.ParseAddress("<sips:bob@biloxi.example.com?Replaces=" + esc + ">")
	require.NoError(t, err)
	got, ok := uriHeader(a.URI, "replaces")
	require.True(t, ok)
	assert.Equal(t, v, got)
}

// An INVITE that replaces an outgoing call still ringing (call pickup):
// accepting it cancels the replaced INVITE, which ends with Replaced.
func TestReplacesEarlyOutgoingCall(t *testing.T) {
	alice := newParty(t, "alice", Config{})
	carol := newParty(t, "carol", Config{})
	dave := newParty(t, "dave", Config{})
	ringing := make(chan *Session, 1)
	outcome := make(chan error, 1)
	go func() {
		_, err := carol.layer.Invite(context.Background(), dave.uri, InviteOptions{SDP: []byte(offerSDP), OnEvent: func(s *Session, ev Event) {
			if sc, ok := ev.(StateChanged); ok && sc.To == Ringing {
				ringing <- s
			}
		}})
		outcome <- err
	}()
	dr := wait(t, dave.incoming)
	require.NoError(t, dr.Progress(context.Background(), 180, nil))
	cd := wait(t, ringing)
	id := cd.Dialog().ID()
	go func() {
		in := wait(t, carol.incoming)
		assert.Same(t, cd, in.Replaces())
		assert.NoError(t, in.Accept(context.Background(), []byte(answerSDP)))
	}()
	_, err := alice.layer.Invite(context.Background(), carol.uri, InviteOptions{SDP: []byte(offerSDP), Prepare: func(req *sip.Request) {
		req.Set("Replaces", id.CallID+";to-tag="+id.LocalTag+";from-tag="+id.RemoteTag)
	}})
	require.NoError(t, err)
	err = wait(t, outcome)
	var te *TerminatedError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, Replaced, te.Cause)
	assert.Equal(t, 487, te.StatusCode, "the replaced INVITE was canceled")
	wait(t, dr.Done())
	assert.Equal(t, Canceled, dr.Err().Cause)
}
