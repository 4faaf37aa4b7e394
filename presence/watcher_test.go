package presence

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pidfdoc "github.com/sipua-go/sipua/presence/pidf"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

type contactRecorder struct {
	mu  sync.Mutex
	evs []ContactEvent
}

func (r *contactRecorder) on(ev ContactEvent) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *contactRecorder) all() []ContactEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ContactEvent(nil), r.evs...)
}

// waitContact waits for an event of uri matching f and returns it.
func (r *contactRecorder) waitContact(t *testing.T, uri string, f func(ContactEvent) bool) ContactEvent {
	t.Helper()
	var got ContactEvent
	require.Eventually(t, func() bool {
		for _, ev := range r.all() {
			if ev.URI == uri && f(ev) {
				got = ev
				return true
			}
		}
		return false
	}, subWait, time.Millisecond, "events %+v", r.all())
	return got
}

func TestWatcher(t *testing.T) {
	e := newNotifierEnv(t, nil)
	e.states.set(e.key("alice"), "open")
	rec := &contactRecorder{}
	w, err := NewWatcher(WatcherConfig{UA: e.cli, Target: e.srv.Addrs()[0], From: bob, OnEvent: rec.on})
	require.NoError(t, err)
	alice, carol := e.uri("alice"), e.uri("carol")
	require.NoError(t, w.Add(context.Background(), alice, carol))
	ev := rec.waitContact(t, alice.String(), func(ev ContactEvent) bool { return ev.Presence.Basic == pidfdoc.Open })
	assert.Equal(t, Active, ev.State)
	require.NotNil(t, ev.Document)
	rec.waitContact(t, carol.String(), func(ev ContactEvent) bool { return ev.Presence.Basic == pidfdoc.Closed })
	require.Eventually(t, func() bool { return e.n.Len() == 2 }, subWait, time.Millisecond)

	e.states.set(e.key("alice"), "closed")
	e.n.Changed(e.key("alice"))
	rec.waitContact(t, alice.String(), func(ev ContactEvent) bool { return ev.Presence.Basic == pidfdoc.Closed })

	// Order: every alice event comes in the order it happened.
	var states []string
	for _, ev := range rec.all() {
		if ev.URI == alice.String() {
			states = append(states, ev.State.String()+"/"+string(ev.Presence.Basic))
		}
	}
	assert.Equal(t, "Active/closed", states[len(states)-1])

	require.NoError(t, w.Remove(context.Background(), carol))
	require.Eventually(t, func() bool { return e.n.Len() == 1 }, subWait, time.Millisecond)
	cs := w.Contacts()
	require.Len(t, cs, 1)
	assert.Equal(t, alice.String(), cs[0].URI)
	require.NoError(t, w.Close(context.Background()))
	require.Eventually(t, func() bool { return e.n.Len() == 0 }, subWait, time.Millisecond)
}

// TestWatcherBatch: one ad hoc list SUBSCRIBE for the contacts of an Add;
// a member the notifier refuses is Terminated with the reason while the
// others are watched.
func TestWatcherBatch(t *testing.T) {
	e := newNotifierEnv(t, func(c *NotifierConfig) {
		c.Authorize = func(r *ua.Request, resource string) Authorization {
			if strings.HasPrefix(resource, "sip:mallory@") {
				return AuthorizeReject
			}
			return AuthorizeAllow
		}
	})
	e.states.set(e.key("alice"), "open")
	rec := &contactRecorder{}
	w, err := NewWatcher(WatcherConfig{UA: e.cli, Target: e.srv.Addrs()[0], From: bob, Batch: true, Self: e.uri("bob"), OnEvent: rec.on})
	require.NoError(t, err)
	alice, mallory := e.uri("alice"), e.uri("mallory")
	require.NoError(t, w.Add(context.Background(), alice, mallory))
	rec.waitContact(t, alice.String(), func(ev ContactEvent) bool { return ev.State == Active && ev.Presence.Basic == pidfdoc.Open })
	m := rec.waitContact(t, mallory.String(), func(ev ContactEvent) bool { return ev.State == Terminated })
	assert.Equal(t, sip.ReasonRejected, m.Reason)
	assert.Equal(t, 1, e.n.Len())
	require.NoError(t, w.Remove(context.Background(), mallory))
	assert.Equal(t, 1, e.n.Len(), "the batch still serves alice")
	require.NoError(t, w.Remove(context.Background(), alice))
	require.Eventually(t, func() bool { return e.n.Len() == 0 }, subWait, time.Millisecond)
}
