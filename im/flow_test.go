package im_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/im"
	"github.com/sipua-go/sipua/im/imtest"
	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

func aliceLayer(t *testing.T, u *ua.UA) *dialog.Layer {
	t.Helper()
	l, err := dialog.New(dialog.Static{Agent: u, Identity: sip.Address{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.test"}}}, dialog.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

func nextEvent[T im.FlowEvent](t *testing.T, ch <-chan im.FlowEvent) T {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-ch:
			if e, ok := ev.(T); ok {
				return e
			}
		case <-deadline:
			var zero T
			t.Fatalf("no %T", zero)
			return zero
		}
	}
}

// An IM session: INVITE with m=message, messages both ways as in-dialog
// MESSAGE; messages that arrive before the application attaches its
// handler are buffered and delivered in order (AT-P3-2); BYE ends it.
func TestFlowSessionAndBuffering(t *testing.T) {
	bob := imtest.New(t, imtest.Config{})
	u := newUA(t, ua.Config{})
	l := aliceLayer(t, u)

	f, err := im.Dial(ctx(t), l, bob.URI, im.FlowConfig{UA: u})
	require.NoError(t, err)
	assert.Contains(t, string(f.Session().Request().Body()), "m=message")
	assert.Contains(t, string(f.Session().RemoteSDP()), "m=message")
	bf := bob.NextFlow(t, 5*time.Second)

	// Bob has not attached a handler yet.
	for i := range 3 {
		require.NoError(t, f.SendText(ctx(t), "early "+strconv.Itoa(i)))
	}
	bobEv := make(chan im.FlowEvent, 100)
	bf.OnEvent(func(ev im.FlowEvent) { bobEv <- ev })
	for i := range 3 {
		m := nextEvent[im.MessageReceived](t, bobEv)
		assert.Equal(t, "early "+strconv.Itoa(i), m.Message.Text())
		assert.Equal(t, "sip:alice@example.test", m.Message.From.URI.String())
	}

	aliceEv := make(chan im.FlowEvent, 100)
	f.OnEvent(func(ev im.FlowEvent) { aliceEv <- ev })
	require.NoError(t, bf.SendText(ctx(t), "hi alice"))
	assert.Equal(t, "hi alice", nextEvent[im.MessageReceived](t, aliceEv).Message.Text())

	require.NoError(t, f.Close(ctx(t)))
	te := nextEvent[im.FlowTerminated](t, bobEv)
	assert.Equal(t, dialog.RemoteBye, te.Err.Cause)
	select {
	case <-bf.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("bob's flow did not end")
	}
	assert.ErrorIs(t, f.SendText(ctx(t), "late"), dialog.ErrTerminated)
}

// A message relayed by a conference focus in message/cpim (RFC 3862)
// names the participant who sent it.
func TestFlowCPIMSender(t *testing.T) {
	bob := imtest.New(t, imtest.Config{})
	u := newUA(t, ua.Config{})
	f, err := im.Dial(ctx(t), aliceLayer(t, u), bob.URI, im.FlowConfig{UA: u})
	require.NoError(t, err)
	ev := make(chan im.FlowEvent, 10)
	f.OnEvent(func(e im.FlowEvent) { ev <- e })
	bf := bob.NextFlow(t, 5*time.Second)
	cpim := "From: Carol <sip:carol@example.test>\r\nTo: <sip:conf@example.test>\r\nDateTime: 2026-01-02T03:04:05Z\r\n\r\n" +
		"Content-Type: text/plain\r\n\r\nhello all"
	require.NoError(t, bf.Send(ctx(t), im.CPIMType, []byte(cpim)))
	m := nextEvent[im.MessageReceived](t, ev).Message
	assert.Equal(t, "sip:carol@example.test", m.From.URI.String())
	assert.Equal(t, "Carol", m.From.Display)
	assert.Equal(t, "text/plain", m.ContentType)
	assert.Equal(t, "hello all", m.Text())
	assert.Equal(t, 2026, m.Time.Year())
}

// RFC 3994 on the fake clock: Typing sends "active" (the peer sees
// ComposingChanged Active); 15 s without typing sends "idle"; a message
// ends the active state without a status message; an active state is
// refreshed before its interval lapses at the receiver; a receiver whose
// active state gets no refresh reverts to idle after the interval.
func TestFlowComposing(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	bob := imtest.New(t, imtest.Config{Clock: fake})
	u := newUA(t, ua.Config{Clock: fake})
	f, err := im.Dial(ctx(t), aliceLayer(t, u), bob.URI, im.FlowConfig{UA: u, ComposingRefresh: 60 * time.Second, ComposingIdle: 15 * time.Second})
	require.NoError(t, err)
	bf := bob.NextFlow(t, 5*time.Second)
	ev := make(chan im.FlowEvent, 100)
	bf.OnEvent(func(e im.FlowEvent) { ev <- e })

	f.Typing()
	c := nextEvent[im.ComposingChanged](t, ev)
	assert.Equal(t, im.Active, c.State)
	assert.Equal(t, "text/plain", c.ContentType)
	f.Typing() // still active: nothing new is sent
	fake.Advance(14 * time.Second)
	f.Typing()
	fake.Advance(14 * time.Second) // 14 s after the last keystroke
	select {
	case e := <-ev:
		t.Fatalf("unexpected event %#v", e)
	case <-time.After(100 * time.Millisecond):
	}
	fake.Advance(time.Second) // idle timeout
	c = nextEvent[im.ComposingChanged](t, ev)
	assert.Equal(t, im.Idle, c.State)
	assert.Equal(t, fake.Now().Add(-15*time.Second).Unix(), c.LastActive.Unix())

	// Typing then sending: the message itself turns the peer idle.
	f.Typing()
	assert.Equal(t, im.Active, nextEvent[im.ComposingChanged](t, ev).State)
	require.NoError(t, f.SendText(ctx(t), "done typing"))
	assert.Equal(t, im.Idle, nextEvent[im.ComposingChanged](t, ev).State)
	assert.Equal(t, "done typing", nextEvent[im.MessageReceived](t, ev).Message.Text())

	// Refresh: with a long idle timeout, typing once keeps the peer active
	// past the 60 s interval because the status is refreshed at 54 s.
	f2, err := im.Dial(ctx(t), aliceLayer(t, u), bob.URI, im.FlowConfig{UA: u, ComposingRefresh: 60 * time.Second, ComposingIdle: 10 * time.Minute})
	require.NoError(t, err)
	bf2 := bob.NextFlow(t, 5*time.Second)
	ev2 := make(chan im.FlowEvent, 100)
	bf2.OnEvent(func(e im.FlowEvent) { ev2 <- e })
	f2.Typing()
	assert.Equal(t, im.Active, nextEvent[im.ComposingChanged](t, ev2).State)
	fake.Advance(54 * time.Second) // alice refreshes
	time.Sleep(200 * time.Millisecond)
	fake.Advance(10 * time.Second) // 64 s: without the refresh bob would be idle
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, im.Active, bf2.RemoteComposing())

	// Receiver lapse (§3.3): an active status with refresh 30 and nothing
	// after it reverts to idle after 30 s.
	active := im.Composing{State: im.Active, Refresh: 30 * time.Second}.Marshal()
	_, err = bf.Session().Message(ctx(t), sip.MethodMessage, im.ComposingType, active)
	require.NoError(t, err)
	aliceEv := make(chan im.FlowEvent, 10)
	f.OnEvent(func(e im.FlowEvent) { aliceEv <- e })
	assert.Equal(t, im.Active, nextEvent[im.ComposingChanged](t, aliceEv).State)
	fake.Advance(29 * time.Second)
	assert.Equal(t, im.Active, f.RemoteComposing())
	fake.Advance(time.Second)
	assert.Equal(t, im.Idle, nextEvent[im.ComposingChanged](t, aliceEv).State)
}

func TestComposingCodec(t *testing.T) {
	c := im.Composing{State: im.Active, ContentType: "text/plain", Refresh: 90 * time.Second,
		LastActive: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	got, err := im.ParseComposing(c.Marshal())
	require.NoError(t, err)
	assert.Equal(t, c, got)
	// RFC 3994 §6 example.
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="urn:ietf:params:xml:ns:im-composing iscomposing.xsd">
  <state>idle</state>
  <lastactive>2003-01-27T10:43:00Z</lastactive>
  <contenttype>audio</contenttype>
</isComposing>`
	got, err = im.ParseComposing([]byte(doc))
	require.NoError(t, err)
	assert.Equal(t, im.Idle, got.State)
	assert.Equal(t, "audio", got.ContentType)
	for _, bad := range []string{"", "<x/>", `<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"><state>busy</state></isComposing>`,
		`<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"><state>active</state><refresh>-1</refresh></isComposing>`} {
		_, err := im.ParseComposing([]byte(bad))
		assert.ErrorIs(t, err, im.ErrComposing, bad)
	}
}

func FuzzParseComposing(f *testing.F) {
	f.Add([]byte(im.Composing{State: im.Active, Refresh: time.Minute, ContentType: "text/plain"}.Marshal()))
	f.Add([]byte(`<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"><state>idle</state></isComposing>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := im.ParseComposing(b)
		if err != nil {
			return
		}
		c2, err := im.ParseComposing(c.Marshal())
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if c2.State != c.State || c2.Refresh != c.Refresh || c2.LastActive.Unix() != c.LastActive.Unix() {
			t.Fatalf("round trip changed %+v to %+v", c, c2)
		}
	})
}
