package conversation_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/conversation"
	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/im"
	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

var aliceAOR = sip.Address{Display: "Alice", URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.test"}}

type party struct {
	u  *ua.UA
	ep dialog.Static
	l  *dialog.Layer
}

func newParty(t *testing.T, clk clock.Clock) *party {
	t.Helper()
	u, err := ua.New(ua.Config{Clock: clk})
	require.NoError(t, err)
	p := &party{u: u, ep: dialog.Static{Agent: u, Identity: aliceAOR}}
	p.l, err = dialog.New(p.ep, dialog.Config{})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = p.l.Close(ctx)
		_ = u.Close(ctx)
	})
	return p
}

func fakeClock() *clock.Fake { return clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) }

func tctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// recorder collects conversation events.
type recorder struct {
	mu  sync.Mutex
	evs []conversation.Event
	ch  chan conversation.Event
}

func newRecorder() *recorder { return &recorder{ch: make(chan conversation.Event, 1000)} }

func (r *recorder) on(ev conversation.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
	r.ch <- ev
}

func (r *recorder) all() []conversation.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]conversation.Event(nil), r.evs...)
}

func waitFor[T conversation.Event](t *testing.T, r *recorder, ok func(T) bool) T {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-r.ch:
			if e, is := ev.(T); is && (ok == nil || ok(e)) {
				return e
			}
		case <-deadline:
			var zero T
			t.Fatalf("no %T; events: %#v", zero, r.all())
			return zero
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// AT-P3-1: joining a conference sends an INVITE with m=message to the
// focus URI (the IM MCU leg) and subscribes to its conference events; the
// join completes only once our own participant appears in the roster.
func TestJoinCompletesWhenSelfInRoster(t *testing.T) {
	clk := fakeClock()
	fc := newFocus(t, clk)
	fc.addJoin = false // the focus adds alice later, by hand
	a := newParty(t, clk)
	rec := newRecorder()
	c, err := conversation.New(conversation.Config{Endpoint: a.ep, Layer: a.l, Remote: fc.uri, Conference: true, OnEvent: rec.on})
	require.NoError(t, err)

	joined := make(chan error, 1)
	go func() { joined <- c.Join(tctx(t)) }()

	// The IM leg is up and the roster (bob only) has arrived...
	waitFor(t, rec, func(e conversation.ModalityChanged) bool {
		return e.Modality == conversation.Messaging && e.To == conversation.Connected
	})
	rc := waitFor[conversation.RosterChanged](t, rec, nil)
	require.Len(t, rc.Added, 1)
	assert.Equal(t, "sip:bob@example.test", rc.Added[0].URI)
	// ...but without alice in it the join is not complete.
	select {
	case err := <-joined:
		t.Fatalf("Join returned before our participant was in the roster: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	assert.Equal(t, conversation.Establishing, c.State())

	require.Equal(t, 1, fc.inviteCount())
	inv := fc.invites[0]
	assert.Equal(t, fc.uri.String(), inv.URI.String())
	assert.Contains(t, string(inv.Body()), "m=message")
	assert.Equal(t, "sip:alice@example.test", inv.From().URI.String())

	fc.addUser(conversation.User{Entity: "sip:alice@example.test", DisplayText: "Alice",
		Endpoints: []conversation.Endpoint{{Entity: "sip:alice@127.0.0.1", Status: "connected"}}})
	select {
	case err := <-joined:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Join did not complete after our participant appeared")
	}
	assert.Equal(t, conversation.Established, c.State())
	p, ok := c.Roster().Participant("sip:alice@EXAMPLE.test")
	require.True(t, ok)
	assert.Equal(t, "Alice", p.DisplayName)
	assert.Len(t, c.Roster().Participants(), 2)

	// The completion event comes after the roster event with alice.
	var sawAlice bool
	for _, ev := range rec.all() {
		switch e := ev.(type) {
		case conversation.RosterChanged:
			for _, a := range e.Added {
				sawAlice = sawAlice || a.URI == "sip:alice@example.test"
			}
		case conversation.StateChanged:
			if e.To == conversation.Established {
				assert.True(t, sawAlice, "Established before alice was in the roster")
			}
		}
	}
	assert.Equal(t, 1, fc.inviteCount(), "one INVITE for the whole join")
	require.NoError(t, c.Terminate(tctx(t)))
	assert.Equal(t, conversation.Terminated, c.State())
}

// AT-P3-2: messages the focus relays on the IM leg are answered 200 and
// reported with the participant as sender; those that arrive before the
// application attaches its handler are delivered, in order, once it
// does. Our messages go through the focus leg.
func TestConferenceMessagesBufferedUntilHandler(t *testing.T) {
	clk := fakeClock()
	fc := newFocus(t, clk)
	a := newParty(t, clk)
	c, err := conversation.New(conversation.Config{Endpoint: a.ep, Layer: a.l, Remote: fc.uri, Conference: true})
	require.NoError(t, err) // no OnEvent: events wait
	require.NoError(t, c.Join(tctx(t)))

	focusLeg := <-fc.flowCh
	for i := range 3 {
		body := "From: Bob <sip:bob@example.test>\r\nTo: <" + fc.uri.String() + ">\r\n\r\nContent-Type: text/plain\r\n\r\nhello " + strconv.Itoa(i)
		require.NoError(t, focusLeg.Send(tctx(t), im.CPIMType, []byte(body)))
	}
	rec := newRecorder()
	c.OnEvent(rec.on) // attached after the messages arrived
	for i := range 3 {
		m := waitFor[conversation.MessageReceived](t, rec, nil).Message
		assert.Equal(t, "hello "+strconv.Itoa(i), m.Text())
		assert.Equal(t, "sip:bob@example.test", m.From.URI.String())
		assert.Equal(t, "text/plain", m.ContentType)
	}

	got := make(chan im.FlowEvent, 10)
	focusLeg.OnEvent(func(ev im.FlowEvent) { got <- ev })
	require.NoError(t, c.Messaging().SendText(tctx(t), "hi all"))
	select {
	case ev := <-got:
		require.IsType(t, im.MessageReceived{}, ev)
		assert.Equal(t, "hi all", ev.(im.MessageReceived).Message.Text())
	case <-time.After(5 * time.Second):
		t.Fatal("the focus did not get our message")
	}
}

// AT-P3-3: concurrent AddMessaging calls while one is in flight send one
// INVITE and all get the same flow.
func TestAddMessagingSingleFlight(t *testing.T) {
	clk := fakeClock()
	fc := newFocus(t, clk)
	gate := make(chan struct{})
	fc.gate = gate
	a := newParty(t, clk)
	c, err := conversation.New(conversation.Config{Endpoint: a.ep, Layer: a.l, Remote: fc.uri})
	require.NoError(t, err)

	const callers = 8
	flows := make([]*im.Flow, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			flows[i], errs[i] = c.AddMessaging(tctx(t))
		}()
	}
	eventually(t, "the INVITE", func() bool { return fc.inviteCount() == 1 })
	assert.True(t, c.InFlight("messaging"))
	assert.Equal(t, conversation.Connecting, c.Modality(conversation.Messaging))
	time.Sleep(100 * time.Millisecond) // let every caller join
	close(gate)
	wg.Wait()
	for i := range callers {
		require.NoError(t, errs[i])
		assert.Same(t, flows[0], flows[i])
	}
	assert.Equal(t, 1, fc.inviteCount(), "never a second INVITE")
	assert.Equal(t, conversation.Connected, c.Modality(conversation.Messaging))
	assert.Equal(t, conversation.Established, c.State())
	// Connected: a further call returns the flow at once.
	f, err := c.AddMessaging(tctx(t))
	require.NoError(t, err)
	assert.Same(t, flows[0], f)
	assert.Equal(t, 1, fc.inviteCount())
}

// AT-P3-3 (fail fast): with FailFast a second call fails at once with a
// typed ErrOperationInProgress carrying a retry delay.
func TestAddMessagingFailFast(t *testing.T) {
	clk := fakeClock()
	fc := newFocus(t, clk)
	gate := make(chan struct{})
	fc.gate = gate
	a := newParty(t, clk)
	c, err := conversation.New(conversation.Config{Endpoint: a.ep, Layer: a.l, Remote: fc.uri, FailFast: true})
	require.NoError(t, err)
	first := make(chan error, 1)
	go func() { _, err := c.AddMessaging(tctx(t)); first <- err }()
	eventually(t, "the INVITE", func() bool { return fc.inviteCount() == 1 })

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, err := c.AddMessaging(tctx(t))
			assert.Less(t, time.Since(start), time.Second, "fails at once")
			assert.ErrorIs(t, err, conversation.ErrOperationInProgress)
			var ip *conversation.OperationInProgressError
			if assert.ErrorAs(t, err, &ip) {
				assert.Equal(t, "messaging", ip.Op)
				assert.Equal(t, conversation.DefaultTimeout, ip.RetryAfter)
			}
		}()
	}
	wg.Wait()
	close(gate)
	require.NoError(t, <-first)
	assert.Equal(t, 1, fc.inviteCount())
}

// AT-P3-3 (SIP level): 491 is retried after RFC 3261 §14.1's 2.1–4 s and
// 503 with Retry-After after its delay, on the UA's clock; the caller
// sees success.
func TestAddMessagingRetries491And503(t *testing.T) {
	clk := fakeClock()
	rf := newRawFocus(t, clk, rawAnswer{code: 491}, rawAnswer{code: 503, retryAfter: "5"})
	a := newParty(t, clk)
	rec := newRecorder()
	c, err := conversation.New(conversation.Config{Endpoint: a.ep, Layer: a.l, Remote: rf.uri, OnEvent: rec.on})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := c.AddMessaging(tctx(t)); done <- err }()

	r1 := waitFor[conversation.RetryScheduled](t, rec, nil)
	assert.Equal(t, 1, r1.Attempt)
	assert.GreaterOrEqual(t, r1.Delay, 2100*time.Millisecond)
	assert.LessOrEqual(t, r1.Delay, 4*time.Second)
	var se *ua.StatusError
	require.ErrorAs(t, r1.Cause, &se)
	assert.Equal(t, 491, se.StatusCode())
	clk.Advance(r1.Delay - 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, 1, rf.inviteCount(), "not before the delay")
	clk.Advance(10 * time.Millisecond)

	r2 := waitFor[conversation.RetryScheduled](t, rec, nil)
	assert.Equal(t, 2, r2.Attempt)
	assert.Equal(t, 5*time.Second, r2.Delay)
	assert.Equal(t, 2, rf.inviteCount())
	clk.Advance(5 * time.Second)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("AddMessaging did not complete")
	}
	assert.Equal(t, 3, rf.inviteCount())
}

// AT-P3-3: retries are bounded; the error surfaces only when they are
// exhausted, typed, with the last response; 500 without Retry-After is
// not retried.
func TestAddMessagingRetriesExhausted(t *testing.T) {
	clk := fakeClock()
	rf := newRawFocus(t, clk, rawAnswer{code: 503, retryAfter: "1"}, rawAnswer{code: 503, retryAfter: "1"}, rawAnswer{code: 503, retryAfter: "1"})
	a := newParty(t, clk)
	rec := newRecorder()
	c, err := conversation.New(conversation.Config{Endpoint: a.ep, Layer: a.l, Remote: rf.uri, Retries: 2, OnEvent: rec.on})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := c.AddMessaging(tctx(t)); done <- err }()
	for range 2 {
		waitFor[conversation.RetryScheduled](t, rec, nil)
		clk.Advance(time.Second)
	}
	var err2 error
	select {
	case err2 = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no result")
	}
	var oe *conversation.OperationError
	require.ErrorAs(t, err2, &oe)
	assert.Equal(t, 3, oe.Attempts)
	var se *ua.StatusError
	require.ErrorAs(t, err2, &se)
	assert.Equal(t, 503, se.StatusCode())
	assert.Equal(t, 3, rf.inviteCount())
	assert.Equal(t, conversation.Disconnected, c.Modality(conversation.Messaging))

	rf2 := newRawFocus(t, clk, rawAnswer{code: 500})
	c2, err := conversation.New(conversation.Config{Endpoint: a.ep, Layer: a.l, Remote: rf2.uri})
	require.NoError(t, err)
	_, err = c2.AddMessaging(tctx(t))
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, 1, oe.Attempts)
	assert.Equal(t, 1, rf2.inviteCount())
}

// AT-P3-4: a pending invitation fails with a typed timeout after 30 s
// (the INVITE is canceled) instead of staying Connecting; a join whose
// participant never appears in the roster fails the same way.
func TestBoundedWaits(t *testing.T) {
	clk := fakeClock()
	fc := newFocus(t, clk)
	fc.ringOnly = true
	a := newParty(t, clk)
	c, err := conversation.New(conversation.Config{Endpoint: a.ep, Layer: a.l, Remote: fc.uri})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := c.AddMessaging(tctx(t)); done <- err }()
	eventually(t, "the INVITE", func() bool { return fc.inviteCount() == 1 })
	eventually(t, "ringing", func() bool { return fc.sessions[0].State() == dialog.Ringing })
	assert.Equal(t, conversation.Connecting, c.Modality(conversation.Messaging))
	clk.Advance(29 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("failed before the bound: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	clk.Advance(time.Second)
	var err1 error
	select {
	case err1 = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("no timeout")
	}
	var te *conversation.TimeoutError
	require.ErrorAs(t, err1, &te)
	assert.True(t, te.Timeout())
	assert.True(t, errors.Is(err1, context.DeadlineExceeded))
	assert.Equal(t, "messaging", te.Op)
	assert.Equal(t, conversation.Disconnected, c.Modality(conversation.Messaging))
	assert.False(t, c.InFlight("messaging"))
	// The pending INVITE was canceled at the focus.
	eventually(t, "the CANCEL", func() bool { return fc.sessions[0].State() == dialog.Terminated })
	assert.Equal(t, dialog.Canceled, fc.sessions[0].Err().Cause)

	// Join: IM leg up, roster without us → timeout, back to Idle.
	fc2 := newFocus(t, clk)
	fc2.addJoin = false
	c2, err := conversation.New(conversation.Config{Endpoint: a.ep, Layer: a.l, Remote: fc2.uri, Conference: true, Timeout: 20 * time.Second})
	require.NoError(t, err)
	jd := make(chan error, 1)
	go func() { jd <- c2.Join(tctx(t)) }()
	eventually(t, "the roster", func() bool { return len(c2.Roster().Participants()) == 1 })
	clk.Advance(20 * time.Second)
	select {
	case err := <-jd:
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "join", te.Op)
	case <-time.After(5 * time.Second):
		t.Fatal("Join did not time out")
	}
	assert.Equal(t, conversation.Idle, c2.State())
}

// An incoming IM invitation accepted into a conversation.
func TestAcceptMessaging(t *testing.T) {
	clk := fakeClock()
	a := newParty(t, clk)
	bobUA, err := ua.New(ua.Config{Clock: clk})
	require.NoError(t, err)
	defer bobUA.Close(context.Background())
	sessions := make(chan *dialog.Session, 1)
	bobL, err := dialog.New(dialog.Static{Agent: bobUA, Identity: sip.Address{URI: sip.URI{Scheme: "sip", User: "bob", Host: "example.test"}}},
		dialog.Config{OnInvite: func(s *dialog.Session) { sessions <- s }})
	require.NoError(t, err)
	defer bobL.Close(context.Background())
	bobURI := sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: int(bobUA.Addrs()[0].AddrPort.Port())}
	bc, err := conversation.New(conversation.Config{Endpoint: dialog.Static{Agent: bobUA}, Layer: bobL, Remote: aliceAOR.URI})
	require.NoError(t, err)
	rec := newRecorder()
	bc.OnEvent(rec.on)

	ac, err := conversation.New(conversation.Config{Endpoint: a.ep, Layer: a.l, Remote: bobURI})
	require.NoError(t, err)
	dialed := make(chan error, 1)
	go func() { _, err := ac.AddMessaging(tctx(t)); dialed <- err }()
	_, err = bc.AcceptMessaging(tctx(t), <-sessions)
	require.NoError(t, err)
	require.NoError(t, <-dialed)
	require.NoError(t, ac.Messaging().SendText(tctx(t), "hello bob"))
	assert.Equal(t, "hello bob", waitFor[conversation.MessageReceived](t, rec, nil).Message.Text())

	require.NoError(t, ac.Terminate(tctx(t)))
	waitFor(t, rec, func(e conversation.ModalityChanged) bool { return e.To == conversation.Disconnected })
}
