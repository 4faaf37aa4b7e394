package presence

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
)

func TestDefaultRefreshAfter(t *testing.T) {
	for granted, want := range map[time.Duration]time.Duration{
		600 * time.Second:  540 * time.Second,
		3600 * time.Second: 3240 * time.Second,
		30 * time.Second:   25 * time.Second,
		10 * time.Second:   5 * time.Second,
		3 * time.Second:    0,
	} {
		assert.Equal(t, want, DefaultRefreshAfter(granted), granted)
	}
}

// AT-P2-1: the initial PUBLISH and the state it leaves.
func TestPublicationInitial(t *testing.T) {
	fc := clock.NewFake(t0)
	srv := newPeer(t, fc)
	cli := newUA(t, fc)
	ev := &events{}
	p := newPub(t, cli, srv.target, ev)
	assert.Equal(t, Unpublished, p.State())

	done := async(func() error { return p.Publish(context.Background(), pidf(pidfOnThePhone)) })
	x := srv.next(t)
	assert.Equal(t, Publishing, p.State())
	r := x.req
	assert.Equal(t, "PUBLISH", r.Method)
	assert.Equal(t, "sip:alice@example.test", r.URI.String())
	assert.Equal(t, "presence", r.Get("Event"))
	assert.Equal(t, "600", r.Get("Expires"))
	assert.Equal(t, "application/pidf+xml", r.Get("Content-Type"))
	assert.False(t, r.Has("SIP-If-Match"))
	assert.Equal(t, pidfOnThePhone, string(r.Body()))
	assert.Contains(t, string(r.Body()), "<rpid:on-the-phone/>")
	assert.Contains(t, string(r.Body()), "display-name")
	assert.Equal(t, "sip:alice@example.test", r.From().URI.String())
	assert.NotEmpty(t, r.From().Tag())
	assert.Equal(t, "sip:alice@example.test", r.To().URI.String())

	x.ok("2545777538-1-1", 600)
	require.NoError(t, result(t, done))
	assert.Equal(t, Published, p.State())
	assert.Equal(t, "2545777538-1-1", p.ETag())
	assert.Equal(t, t0.Add(600*time.Second), p.ExpiresAt())
	assert.Equal(t, []string{"Unpublished>Publishing", "Publishing>Published"}, ev.strings())
}

// AT-P2-3: refresh at 540 s, no body, newest entity-tag, a server that
// replaces the entity-tag every time.
func TestPublicationRefresh(t *testing.T) {
	fc, srv, p, ev := setup(t, "etag-0")
	var callID string
	var cseq uint32
	for i := 1; i <= 3; i++ {
		fc.Advance(539 * time.Second)
		srv.none(t, 50*time.Millisecond)
		fc.Advance(time.Second) // 540 s after the last 2xx
		x := srv.next(t)
		r := x.req
		assert.Equal(t, "etag-"+itoa(i-1), r.Get("SIP-If-Match"), "refresh %d", i)
		assert.Equal(t, "600", r.Get("Expires"))
		assert.Equal(t, "presence", r.Get("Event"))
		assert.Empty(t, r.Body(), "a refresh has no body")
		assert.False(t, r.Has("Content-Type"), "a refresh has no Content-Type")
		if callID != "" {
			assert.Equal(t, callID, r.CallID(), "one Call-ID for the publication")
			assert.Greater(t, r.CSeq().Seq, cseq)
		}
		callID, cseq = r.CallID(), r.CSeq().Seq
		assert.Equal(t, Refreshing, p.State())
		x.ok("etag-"+itoa(i), 600)
		require.Eventually(t, func() bool { return p.ETag() == "etag-"+itoa(i) }, wait5s, time.Millisecond)
		assert.Equal(t, Published, p.State())
		assert.Equal(t, fc.Now().Add(600*time.Second), p.ExpiresAt())
	}
	assert.Equal(t, []string{"Published>Refreshing", "Refreshing>Published", "Published>Refreshing",
		"Refreshing>Published", "Published>Refreshing", "Refreshing>Published"}, ev.strings())
}

func itoa(i int) string { return string(rune('0' + i)) }

// AT-P2-4: a modify carries SIP-If-Match and the full body, and
// reschedules the refresh.
func TestPublicationModify(t *testing.T) {
	fc, srv, p, ev := setup(t, "e1")
	fc.Advance(100 * time.Second)
	done := async(func() error { return p.Publish(context.Background(), pidf(pidfAvailable)) })
	x := srv.next(t)
	assert.Equal(t, Modifying, p.State())
	assert.Equal(t, "e1", x.req.Get("SIP-If-Match"))
	assert.Equal(t, "application/pidf+xml", x.req.Get("Content-Type"))
	assert.Equal(t, pidfAvailable, string(x.req.Body()))
	x.ok("e2", 600)
	require.NoError(t, result(t, done))
	assert.Equal(t, "e2", p.ETag())
	assert.Equal(t, t0.Add(700*time.Second), p.ExpiresAt())

	fc.Advance(539 * time.Second) // t = 639: the old schedule (540) has passed
	srv.none(t, 50*time.Millisecond)
	fc.Advance(time.Second) // t = 640 = 100 + 540
	x = srv.next(t)
	assert.Equal(t, "e2", x.req.Get("SIP-If-Match"))
	assert.Empty(t, x.req.Body())
	x.ok("e3", 600)
	require.Eventually(t, func() bool { return p.ETag() == "e3" }, wait5s, time.Millisecond)
	assert.Equal(t, []string{"Published>Modifying", "Modifying>Published", "Published>Refreshing", "Refreshing>Published"}, ev.strings())
}

// AT-P2-5: remove at call end.
func TestPublicationRemove(t *testing.T) {
	fc, srv, p, ev := setup(t, "e1")
	done := async(func() error { return p.Remove(context.Background()) })
	x := srv.next(t)
	assert.Equal(t, Removing, p.State())
	assert.Equal(t, "0", x.req.Get("Expires"))
	assert.Equal(t, "e1", x.req.Get("SIP-If-Match"))
	assert.Empty(t, x.req.Body())
	assert.False(t, x.req.Has("Content-Type"))
	x.ok("e1", 0)
	require.NoError(t, result(t, done))
	assert.Equal(t, Removed, p.State())
	assert.Empty(t, p.ETag())
	assert.True(t, p.ExpiresAt().IsZero())
	assert.Equal(t, []string{"Published>Removing", "Removing>Removed", "Removed"}, ev.strings())
	p.mu.Lock()
	assert.False(t, p.timer.Stop(), "no refresh timer pending")
	p.mu.Unlock()
	fc.Advance(10 * time.Hour)
	srv.none(t, 50*time.Millisecond)

	// Published again afterwards: an initial PUBLISH.
	done = async(func() error { return p.Publish(context.Background(), pidf(pidfAvailable)) })
	x = srv.next(t)
	assert.False(t, x.req.Has("SIP-If-Match"))
	x.ok("e9", 600)
	require.NoError(t, result(t, done))
	assert.Equal(t, Published, p.State())
}

// Removing what was never published sends nothing.
func TestPublicationRemoveNothing(t *testing.T) {
	fc := clock.NewFake(t0)
	srv := newPeer(t, fc)
	p := newPub(t, newUA(t, fc), srv.target, &events{})
	require.NoError(t, p.Remove(context.Background()))
	srv.none(t, 50*time.Millisecond)
	assert.Equal(t, Unpublished, p.State())
}

// AT-P2-5: a remove requested while a refresh is outstanding goes out
// after its response, with the entity-tag from it.
func TestPublicationRemoveQueuedBehindRefresh(t *testing.T) {
	fc, srv, p, ev := setup(t, "e1")
	fc.Advance(540 * time.Second)
	refresh := srv.next(t)
	assert.Equal(t, "e1", refresh.req.Get("SIP-If-Match"))
	done := async(func() error { return p.Remove(context.Background()) })
	srv.none(t, 100*time.Millisecond) // queued, not sent
	pending(t, done)
	assert.EqualValues(t, 1, srv.maxInflight.Load())
	refresh.ok("e2", 600)
	rm := srv.next(t)
	assert.Equal(t, "0", rm.req.Get("Expires"))
	assert.Equal(t, "e2", rm.req.Get("SIP-If-Match"), "the then-latest entity-tag")
	rm.ok("e2", 0)
	require.NoError(t, result(t, done))
	assert.Equal(t, Removed, p.State())
	assert.Equal(t, []string{"Published>Refreshing", "Refreshing>Published", "Published>Removing", "Removing>Removed", "Removed"}, ev.strings())
	assert.EqualValues(t, 1, srv.maxInflight.Load(), "one outstanding transaction")
	fc.Advance(10 * time.Hour)
	srv.none(t, 50*time.Millisecond)
}

// AT-P2-6: 412 to a refresh, a modify and a remove.
func TestPublication412(t *testing.T) {
	t.Run("refresh", func(t *testing.T) {
		fc, srv, p, ev := setup(t, "e1")
		fc.Advance(540 * time.Second)
		x := srv.next(t)
		assert.Equal(t, "e1", x.req.Get("SIP-If-Match"))
		x.reply(412)
		x = srv.next(t) // at once: the fake clock has not moved
		assert.False(t, x.req.Has("SIP-If-Match"), "an initial PUBLISH")
		assert.Equal(t, pidfOnThePhone, string(x.req.Body()), "the last full body")
		assert.Equal(t, "application/pidf+xml", x.req.Get("Content-Type"))
		x.ok("e2", 600)
		require.Eventually(t, func() bool { return p.State() == Published }, wait5s, time.Millisecond)
		assert.Equal(t, "e2", p.ETag())
		assert.Equal(t, []string{"Published>Refreshing", "Refreshing>Publishing!", "Publishing>Published", "Recovered"}, ev.strings())
		rec := ev.list()[3].(PublicationRecovered)
		assert.Equal(t, "e2", rec.ETag)
		var se *ua.StatusError
		require.ErrorAs(t, rec.Cause, &se)
		assert.Equal(t, 412, se.StatusCode())
	})
	t.Run("modify", func(t *testing.T) {
		_, srv, p, ev := setup(t, "e1")
		done := async(func() error { return p.Publish(context.Background(), pidf(pidfAvailable)) })
		x := srv.next(t)
		assert.Equal(t, "e1", x.req.Get("SIP-If-Match"))
		x.reply(412)
		x = srv.next(t)
		assert.False(t, x.req.Has("SIP-If-Match"))
		assert.Equal(t, pidfAvailable, string(x.req.Body()), "the new body")
		x.ok("e2", 600)
		require.NoError(t, result(t, done))
		assert.Equal(t, "e2", p.ETag())
		assert.Equal(t, []string{"Published>Modifying", "Modifying>Publishing!", "Publishing>Published", "Recovered"}, ev.strings())
	})
	t.Run("remove", func(t *testing.T) {
		fc, srv, p, ev := setup(t, "e1")
		done := async(func() error { return p.Remove(context.Background()) })
		srv.next(t).reply(412)
		require.NoError(t, result(t, done), "nothing left to remove is success")
		assert.Equal(t, Removed, p.State())
		assert.Equal(t, []string{"Published>Removing", "Removing>Removed", "Removed"}, ev.strings())
		rm := ev.list()[2].(PublicationRemoved)
		var se *ua.StatusError
		require.ErrorAs(t, rm.Cause, &se)
		assert.Equal(t, 412, se.StatusCode())
		fc.Advance(time.Hour)
		srv.none(t, 50*time.Millisecond)
	})
}

// AT-P2-7: 423 with and without Min-Expires.
func TestPublication423(t *testing.T) {
	t.Run("initial", func(t *testing.T) {
		fc := clock.NewFake(t0)
		srv := newPeer(t, fc)
		p := newPub(t, newUA(t, fc), srv.target, &events{})
		done := async(func() error { return p.Publish(context.Background(), pidf(pidfOnThePhone)) })
		x := srv.next(t)
		x.reply(423, "Min-Expires", "900")
		x = srv.next(t)
		assert.Equal(t, "900", x.req.Get("Expires"))
		assert.False(t, x.req.Has("SIP-If-Match"))
		assert.Equal(t, pidfOnThePhone, string(x.req.Body()))
		x.ok("e1", 900)
		require.NoError(t, result(t, done))
		fc.Advance(809 * time.Second)
		srv.none(t, 50*time.Millisecond)
		fc.Advance(time.Second) // 0.9 × 900
		x = srv.next(t)
		assert.Equal(t, "900", x.req.Get("Expires"), "Min-Expires is kept")
		x.ok("e2", 900)
	})
	t.Run("refresh", func(t *testing.T) {
		fc, srv, p, _ := setup(t, "e1")
		fc.Advance(540 * time.Second)
		x := srv.next(t)
		x.reply(423, "Min-Expires", "1200")
		x = srv.next(t)
		assert.Equal(t, "1200", x.req.Get("Expires"))
		assert.Equal(t, "e1", x.req.Get("SIP-If-Match"), "same entity-tag")
		assert.Empty(t, x.req.Body(), "still a refresh")
		x.ok("e2", 1200)
		require.Eventually(t, func() bool { return p.ETag() == "e2" }, wait5s, time.Millisecond)
	})
	t.Run("missing Min-Expires", func(t *testing.T) {
		fc := clock.NewFake(t0)
		srv := newPeer(t, fc)
		ev := &events{}
		p := newPub(t, newUA(t, fc), srv.target, ev)
		done := async(func() error { return p.Publish(context.Background(), pidf(pidfOnThePhone)) })
		srv.next(t).reply(423)
		err := result(t, done)
		require.ErrorIs(t, err, ErrPublishProtocol)
		var pe *ProtocolError
		require.ErrorAs(t, err, &pe)
		var se *ua.StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 423, se.StatusCode())
		assert.Equal(t, Failed, p.State())
		assert.Equal(t, []string{"Unpublished>Publishing", "Publishing>Failed!"}, ev.strings())
		srv.none(t, 50*time.Millisecond)
	})
	t.Run("Min-Expires not above what was asked", func(t *testing.T) {
		fc := clock.NewFake(t0)
		srv := newPeer(t, fc)
		p := newPub(t, newUA(t, fc), srv.target, &events{})
		done := async(func() error { return p.Publish(context.Background(), pidf(pidfOnThePhone)) })
		srv.next(t).reply(423, "Min-Expires", "600")
		var se *ua.StatusError
		require.ErrorAs(t, result(t, done), &se, "no retry loop")
		assert.Equal(t, 423, se.StatusCode())
		srv.none(t, 50*time.Millisecond)
	})
}

// AT-P2-8: two Publish calls within one round trip make one outstanding
// transaction; the later ones are coalesced and go out with the entity-tag
// of the first response.
func TestPublicationCoalescing(t *testing.T) {
	fc := clock.NewFake(t0)
	srv := newPeer(t, fc)
	p := newPub(t, newUA(t, fc), srv.target, &events{})
	first := async(func() error { return p.Publish(context.Background(), pidf(pidfOnThePhone)) })
	x := srv.next(t)
	second := async(func() error { return p.Publish(context.Background(), pidf(pidfAvailable)) })
	require.Eventually(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.queue) == 1 }, wait5s, time.Millisecond)
	third := async(func() error { return p.Publish(context.Background(), pidf(pidfOnThePhone+"<!-- 3 -->")) })
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.queue) == 1 && len(p.queue[0].waiters) == 2
	}, wait5s, time.Millisecond)
	srv.none(t, 100*time.Millisecond)
	assert.EqualValues(t, 1, srv.maxInflight.Load())
	x.ok("e1", 600)
	require.NoError(t, result(t, first))
	x = srv.next(t)
	assert.Equal(t, "e1", x.req.Get("SIP-If-Match"), "the entity-tag of the first response")
	assert.Equal(t, pidfOnThePhone+"<!-- 3 -->", string(x.req.Body()), "the last body")
	pending(t, second)
	x.ok("e2", 600)
	require.NoError(t, result(t, second))
	require.NoError(t, result(t, third))
	srv.none(t, 100*time.Millisecond)
	assert.EqualValues(t, 1, srv.maxInflight.Load(), "never two outstanding transactions")
	assert.Equal(t, "e2", p.ETag())
}

// AT-P2-8: a 401 is answered with credentials and the same entity-tag.
func TestPublicationDigestKeepsETag(t *testing.T) {
	fc := clock.NewFake(t0)
	first, err := auth.NewServer(auth.ServerConfig{Realm: "example.test"})
	require.NoError(t, err)
	var server atomic.Pointer[auth.Server]
	server.Store(first)
	challenged := make(chan string, 8)
	srv := newPeer(t, fc, func(w ua.ResponseWriter, r *ua.Request) bool {
		as := server.Load()
		res := as.Verify(r.Request, func(user, realm string) (string, bool) { return "secret", user == "alice" })
		if res.OK() {
			return false
		}
		challenged <- r.Get("SIP-If-Match")
		ch := w.NewResponse(401, "")
		as.Challenge(ch, res.Reason == auth.ReasonStale)
		_ = w.Respond(ch)
		return true
	})
	cli, err := ua.New(ua.Config{Clock: fc, Credentials: func(realm string) (auth.Credentials, bool) {
		return auth.Credentials{Username: "alice", Password: "secret"}, true
	}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close(context.Background()) })
	p := newPub(t, cli, srv.target, &events{})

	done := async(func() error { return p.Publish(context.Background(), pidf(pidfOnThePhone)) })
	assert.Equal(t, "", <-challenged)
	x := srv.next(t)
	assert.True(t, x.req.Has("Authorization"))
	x.ok("e1", 600)
	require.NoError(t, result(t, done))

	// Each request is challenged anew (a server whose nonces are single
	// use): the refresh's retry keeps SIP-If-Match.
	second, err := auth.NewServer(auth.ServerConfig{Realm: "example.test"})
	require.NoError(t, err)
	server.Store(second) // nonces of the first server are unknown to this one
	fc.Advance(540 * time.Second)
	select {
	case etag := <-challenged:
		assert.Equal(t, "e1", etag)
	case <-time.After(wait5s):
		t.Fatal("refresh not challenged")
	}
	x = srv.next(t)
	assert.True(t, x.req.Has("Authorization"))
	assert.Equal(t, "e1", x.req.Get("SIP-If-Match"), "same entity-tag after the challenge")
	assert.Empty(t, x.req.Body())
	x.ok("e2", 600)
	require.Eventually(t, func() bool { return p.ETag() == "e2" }, wait5s, time.Millisecond)

	// The next request continues the CSeq space after the retries.
	done = async(func() error { return p.Remove(context.Background()) })
	x = srv.next(t) // challenged first or not, as the digest client decides
	assert.Greater(t, x.req.CSeq().Seq, uint32(4))
	x.ok("e2", 0)
	require.NoError(t, result(t, done))
}

// AT-P2-8: a 2xx without SIP-ETag or Expires is an ErrPublishProtocol.
func TestPublicationProtocolErrors(t *testing.T) {
	for name, kv := range map[string][]string{
		"no SIP-ETag": {"Expires", "600"},
		"no Expires":  {"SIP-ETag", "e1"},
		"Expires: 0":  {"SIP-ETag", "e1", "Expires", "0"},
	} {
		t.Run(name, func(t *testing.T) {
			fc := clock.NewFake(t0)
			srv := newPeer(t, fc)
			ev := &events{}
			p := newPub(t, newUA(t, fc), srv.target, ev)
			done := async(func() error { return p.Publish(context.Background(), pidf(pidfOnThePhone)) })
			srv.next(t).reply(200, kv...)
			err := result(t, done)
			require.ErrorIs(t, err, ErrPublishProtocol)
			var pe *ProtocolError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, 200, pe.Response.StatusCode)
			assert.Equal(t, Failed, p.State())
			assert.Equal(t, []string{"Unpublished>Publishing", "Publishing>Failed!"}, ev.strings())
			fc.Advance(time.Hour)
			srv.none(t, 50*time.Millisecond) // no refresh of a broken publication
		})
	}
	t.Run("refresh", func(t *testing.T) {
		fc, srv, p, _ := setup(t, "e1")
		fc.Advance(540 * time.Second)
		srv.next(t).reply(200, "Expires", "600")
		require.Eventually(t, func() bool { return p.State() == Failed }, wait5s, time.Millisecond)
		fc.Advance(time.Hour)
		srv.none(t, 50*time.Millisecond)
	})
}

// Failures carry the SIP status; a failed modify leaves the previous
// state published; a timed-out refresh fails the publication.
func TestPublicationFailures(t *testing.T) {
	t.Run("initial 403", func(t *testing.T) {
		fc := clock.NewFake(t0)
		srv := newPeer(t, fc)
		ev := &events{}
		p := newPub(t, newUA(t, fc), srv.target, ev)
		done := async(func() error { return p.Publish(context.Background(), pidf(pidfOnThePhone)) })
		srv.next(t).reply(403)
		err := result(t, done)
		var se *ua.StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 403, se.StatusCode())
		assert.Equal(t, Failed, p.State())
		changed := ev.list()[1].(PublicationStateChanged)
		assert.Equal(t, Failed, changed.To)
		assert.ErrorIs(t, changed.Cause, err)

		done = async(func() error { return p.Publish(context.Background(), pidf(pidfOnThePhone)) })
		x := srv.next(t)
		assert.False(t, x.req.Has("SIP-If-Match"), "after a failed initial PUBLISH, an initial one")
		x.ok("e1", 600)
		require.NoError(t, result(t, done))
	})
	t.Run("modify 400", func(t *testing.T) {
		fc, srv, p, ev := setup(t, "e1")
		done := async(func() error { return p.Publish(context.Background(), pidf(pidfAvailable)) })
		srv.next(t).reply(400)
		var se *ua.StatusError
		require.ErrorAs(t, result(t, done), &se)
		assert.Equal(t, Published, p.State(), "the previous state still holds")
		assert.Equal(t, "e1", p.ETag())
		assert.Equal(t, []string{"Published>Modifying", "Modifying>Published!"}, ev.strings())
		fc.Advance(540 * time.Second)
		x := srv.next(t)
		assert.Equal(t, "e1", x.req.Get("SIP-If-Match"), "the refresh goes on")
		x.reply(412)
		x = srv.next(t)
		assert.Equal(t, pidfOnThePhone, string(x.req.Body()), "the last accepted body")
		x.ok("e2", 600)
	})
	t.Run("refresh timeout", func(t *testing.T) {
		fc, srv, p, ev := setup(t, "e1")
		fc.Advance(540 * time.Second)
		x := srv.next(t) // never answered
		// Timer E retransmissions and Timer F (64·T1 = 32 s) on the fake clock.
		for i := 0; i < 64 && p.State() == Refreshing; i++ {
			fc.Advance(time.Second)
			time.Sleep(time.Millisecond)
		}
		require.Eventually(t, func() bool { return p.State() == Failed }, wait5s, time.Millisecond)
		evs := ev.list()
		cause := evs[len(evs)-1].(PublicationStateChanged).Cause
		var te interface{ Timeout() bool }
		require.True(t, errors.As(cause, &te), "%v", cause)
		assert.Equal(t, "e1", p.ETag(), "kept until it expires, for Remove")
		x.reply(500)

		// Publish before the old state expires: a modify with the old tag.
		done := async(func() error { return p.Publish(context.Background(), pidf(pidfAvailable)) })
		x = srv.next(t)
		assert.Equal(t, "e1", x.req.Get("SIP-If-Match"))
		x.ok("e2", 600)
		require.NoError(t, result(t, done))
	})
}

// RFC 3903 §9: a refresh pushed back with 503 and Retry-After is tried
// again after that delay while the state holds; without Retry-After, or
// past the expiry, the publication fails.
func TestPublicationRefreshRetryAfter(t *testing.T) {
	fc, srv, p, ev := setup(t, "e1")
	fc.Advance(540 * time.Second)
	srv.next(t).reply(503, "Retry-After", "20")
	require.Eventually(t, func() bool { return len(ev.list()) == 2 }, wait5s, time.Millisecond)
	assert.Equal(t, []string{"Published>Refreshing", "Refreshing>Published!"}, ev.strings())
	fc.Advance(19 * time.Second)
	srv.none(t, 50*time.Millisecond)
	fc.Advance(time.Second)
	x := srv.next(t)
	assert.Equal(t, "e1", x.req.Get("SIP-If-Match"))
	x.reply(503, "Retry-After", "60") // t = 560: 620 is past the expiry (600)
	require.Eventually(t, func() bool { return p.State() == Failed }, wait5s, time.Millisecond)
	fc.Advance(time.Hour)
	srv.none(t, 50*time.Millisecond)
}

func TestPublicationContextAndClose(t *testing.T) {
	_, srv, p, ev := setup(t, "e1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := p.Publish(ctx, pidf(pidfAvailable))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	x := srv.next(t) // the modify still goes out
	assert.Equal(t, pidfAvailable, string(x.req.Body()))
	closed := async(func() error { return p.Close(context.Background()) })
	x.ok("e2", 600)
	x = srv.next(t)
	assert.Equal(t, "0", x.req.Get("Expires"))
	assert.Equal(t, "e2", x.req.Get("SIP-If-Match"))
	x.ok("e2", 0)
	require.NoError(t, result(t, closed))
	assert.Equal(t, Removed, p.State())
	assert.ErrorIs(t, p.Publish(context.Background(), pidf(pidfAvailable)), ErrClosed)
	assert.ErrorIs(t, p.Remove(context.Background()), ErrClosed)
	assert.Contains(t, ev.strings(), "Removed")
	assert.ErrorIs(t, p.Publish(context.Background(), Body{}), ErrNoBody)
}

// Any event package, with its own content type, and Prepare.
func TestPublicationOtherEvent(t *testing.T) {
	fc := clock.NewFake(t0)
	srv := newPeer(t, fc)
	p := newPub(t, newUA(t, fc), srv.target, &events{}, func(c *PublicationConfig) {
		c.Event = "dialog"
		c.ContentType = "application/dialog-info+xml"
		c.Expires = 3600 * time.Second
		c.Prepare = func(r *sip.Request) { r.Set("P-Preferred-Identity", "<sip:alice@example.test>") }
	})
	done := async(func() error { return p.Publish(context.Background(), Body{Data: []byte("<dialog-info/>")}) })
	x := srv.next(t)
	assert.Equal(t, "dialog", x.req.Get("Event"))
	assert.Equal(t, "3600", x.req.Get("Expires"))
	assert.Equal(t, "application/dialog-info+xml", x.req.Get("Content-Type"))
	assert.Equal(t, "<sip:alice@example.test>", x.req.Get("P-Preferred-Identity"))
	x.ok("d1", 3600)
	require.NoError(t, result(t, done))
	fc.Advance(3239 * time.Second)
	srv.none(t, 50*time.Millisecond)
	fc.Advance(time.Second)
	srv.next(t).ok("d2", 3600)
}

// An endpoint-like Sender: UA and From come from it, Close is its drain
// hook.
type fakeEndpoint struct {
	u      *ua.UA
	to     ua.Target
	hook   func(context.Context) error
	unregd bool
}

func (e *fakeEndpoint) UA() *ua.UA { return e.u }
func (e *fakeEndpoint) Address() sip.Address {
	u, _ := sip.ParseURI("sip:bob@example.test")
	return sip.Address{Display: "Bob", URI: u}
}
func (e *fakeEndpoint) Do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	return e.u.Do(ctx, req, e.to)
}
func (e *fakeEndpoint) OnTerminate(f func(context.Context) error) func() {
	e.hook = f
	return func() { e.unregd = true }
}

func TestPublicationWithEndpoint(t *testing.T) {
	fc := clock.NewFake(t0)
	srv := newPeer(t, fc)
	ep := &fakeEndpoint{u: newUA(t, fc), to: srv.target}
	res, _ := sip.ParseURI("sip:bob@example.test")
	p, err := NewPublication(PublicationConfig{Sender: ep, Resource: res})
	require.NoError(t, err)
	done := async(func() error { return p.Publish(context.Background(), pidf(pidfAvailable)) })
	x := srv.next(t)
	assert.Equal(t, "Bob", x.req.From().Display)
	x.ok("b1", 600)
	require.NoError(t, result(t, done))
	require.NotNil(t, ep.hook)
	term := async(func() error { return ep.hook(context.Background()) })
	x = srv.next(t)
	assert.Equal(t, "0", x.req.Get("Expires"))
	x.ok("b1", 0)
	require.NoError(t, result(t, term))
	assert.True(t, ep.unregd)
	assert.Equal(t, Removed, p.State())
}
