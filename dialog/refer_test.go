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

// Blind transfer (RFC 3515): alice refers bob to carol; bob accepts (202),
// calls carol, and reports 100 then 200 in NOTIFYs; a refusal and a
// failed target come back as errors.
func TestReferBlindTransfer(t *testing.T) {
	carolUA := newUA(t, ua.Config{})
	carolAnswer := make(chan int, 4)
	mustLayer(t, endpoint(t, carolUA, "carol"), Config{OnInvite: func(s *Session) {
		if code := <-carolAnswer; code != 200 {
			_ = s.Reject(context.Background(), code, "")
			return
		}
		_ = s.Accept(context.Background(), []byte(answerSDP))
	}})
	carol, _ := carolUA.ContactURI("")
	carol.User = "carol"

	accept := make(chan bool, 4)
	p := newPair(t, ua.Config{}, Config{OnRefer: func(s *Session, target sip.URI, _ *sip.Request) bool {
		return <-accept
	}})
	aliceEv := newRecorder()
	out, in := establish(t, p, InviteOptions{SDP: []byte(offerSDP), OnEvent: aliceEv.on})
	bobEv := newRecorder()
	in.OnEvent(bobEv.on)

	accept <- true
	carolAnswer <- 200
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, out.Refer(ctx, carol))
	require.Eventually(t, func() bool {
		return bobEv.count(func(ev Event) bool { tr, ok := ev.(Transferred); return ok && tr.Session.State() == Established }) == 1
	}, 2*time.Second, time.Millisecond, "bob's new call to carol is up")
	codes := func() []int {
		var cs []int
		aliceEv.mu.Lock()
		defer aliceEv.mu.Unlock()
		for _, ev := range aliceEv.events {
			if tp, ok := ev.(TransferProgress); ok {
				cs = append(cs, tp.StatusCode)
			}
		}
		return cs
	}
	require.Eventually(t, func() bool { return len(codes()) == 2 }, 2*time.Second, time.Millisecond)
	assert.Equal(t, []int{100, 200}, codes())

	// The target refuses: the transfer fails with its status.
	accept <- true
	carolAnswer <- 486
	err := out.Refer(ctx, carol)
	var te *TransferError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 486, te.StatusCode)
	assert.ErrorIs(t, err, ErrTransferFailed)

	// Bob declines the REFER itself.
	accept <- false
	err = out.Refer(ctx, carol)
	var se *ua.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 603, se.StatusCode())
}
