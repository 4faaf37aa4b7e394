package presence

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// recorder is a ResponseWriter that keeps the final response.
type recorder struct {
	req *sip.Request
	res *sip.Response
}

func (w *recorder) NewResponse(code int, reason string) *sip.Response {
	return sip.NewResponse(w.req, code, reason)
}

func (w *recorder) Respond(res *sip.Response) error { w.res = res; return nil }

// publishReq builds a PUBLISH; headers are name/value pairs.
func publishReq(uri string, body string, kv ...string) *sip.Request {
	u, err := sip.ParseURI(uri)
	if err != nil {
		panic(err)
	}
	r := sip.NewRequest(sip.MethodPublish, u)
	r.Set("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1")
	r.Set("From", "<sip:alice@example.test>;tag=1")
	r.Set("To", "<"+uri+">")
	r.Set("Call-ID", "c1")
	r.Set("CSeq", "1 PUBLISH")
	for i := 0; i+1 < len(kv); i += 2 {
		r.Add(kv[i], kv[i+1])
	}
	if body != "" {
		r.Set("Content-Type", "application/pidf+xml")
		r.SetBody([]byte(body))
	}
	return r
}

// serve runs a request through the compositor and returns the response.
func serve(c *Compositor, r *sip.Request) *sip.Response {
	w := &recorder{req: r}
	c.ServeSIP(w, &ua.Request{Request: r})
	return w.res
}

// changes counts OnChange calls per resource/event.
type changes struct {
	mu sync.Mutex
	n  map[string]int
}

func watch(c *Compositor) *changes {
	ch := &changes{n: map[string]int{}}
	c.OnChange(func(resource, event string) {
		ch.mu.Lock()
		ch.n[resource+" "+event]++
		ch.mu.Unlock()
	})
	return ch
}

func (c *changes) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

func newCompositor(t *testing.T, cfg CompositorConfig) (*clock.Fake, *Compositor) {
	fc := clock.NewFake(t0)
	return fc, NewCompositor(newUA(t, fc), cfg)
}

const alice = "sip:alice@example.test"

func TestCompositorLifecycle(t *testing.T) {
	_, c := newCompositor(t, CompositorConfig{})
	ch := watch(c)
	key := alice + " presence"

	res := serve(c, publishReq(alice, pidfOnThePhone, "Event", "presence", "Expires", "600"))
	require.Equal(t, 200, res.StatusCode)
	e1 := res.SIPETag()
	assert.GreaterOrEqual(t, len(e1), 20, "an unguessable entity-tag")
	assert.Equal(t, "600", res.Get("Expires"))
	st := c.State(alice, "presence")
	require.Len(t, st, 1)
	assert.Equal(t, e1, st[0].ETag)
	assert.Equal(t, pidfOnThePhone, string(st[0].Body))
	assert.Equal(t, "application/pidf+xml", st[0].ContentType)
	assert.Equal(t, t0.Add(600*time.Second), st[0].Expires)
	assert.Equal(t, "sip:alice@example.test", st[0].Publisher.URI.String())
	assert.Equal(t, 1, ch.get(key))

	// Refresh: no body, state kept, a new entity-tag, no change reported.
	res = serve(c, publishReq(alice, "", "Event", "presence", "Expires", "600", "SIP-If-Match", e1))
	require.Equal(t, 200, res.StatusCode)
	e2 := res.SIPETag()
	assert.NotEqual(t, e1, e2)
	st = c.State(alice, "presence")
	require.Len(t, st, 1)
	assert.Equal(t, e2, st[0].ETag)
	assert.Equal(t, pidfOnThePhone, string(st[0].Body))
	assert.Equal(t, 1, ch.get(key))

	// The replaced entity-tag is no longer valid.
	res = serve(c, publishReq(alice, "", "Event", "presence", "SIP-If-Match", e1))
	assert.Equal(t, 412, res.StatusCode)

	// Modify replaces the body.
	res = serve(c, publishReq(alice, pidfAvailable, "Event", "presence", "Expires", "600", "SIP-If-Match", e2))
	require.Equal(t, 200, res.StatusCode)
	e3 := res.SIPETag()
	assert.NotEqual(t, e2, e3)
	st = c.State(alice, "presence")
	require.Len(t, st, 1)
	assert.Equal(t, pidfAvailable, string(st[0].Body))
	assert.Equal(t, 2, ch.get(key))

	// A second publisher for the same resource: composed, oldest first.
	res = serve(c, publishReq(alice, pidfOnThePhone, "Event", "presence"))
	require.Equal(t, 200, res.StatusCode)
	other := res.SIPETag()
	assert.Equal(t, "3600", res.Get("Expires"), "the default lifetime")
	st = c.State(alice, "presence")
	require.Len(t, st, 2)
	assert.Equal(t, e3, st[0].ETag)
	assert.Equal(t, other, st[1].ETag)
	assert.Equal(t, 2, c.Len())

	// Remove.
	res = serve(c, publishReq(alice, "", "Event", "presence", "Expires", "0", "SIP-If-Match", e3))
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "0", res.Get("Expires"))
	st = c.State(alice, "presence")
	require.Len(t, st, 1)
	assert.Equal(t, other, st[0].ETag)
	assert.Equal(t, 4, ch.get(key))
	res = serve(c, publishReq(alice, "", "Event", "presence", "Expires", "0", "SIP-If-Match", e3))
	assert.Equal(t, 412, res.StatusCode, "removed state cannot be removed again")

	// Another resource and the resource key: port and parameters ignored.
	res = serve(c, publishReq("sip:bob@EXAMPLE.test:5070;transport=tcp", pidfAvailable, "Event", "presence"))
	require.Equal(t, 200, res.StatusCode)
	assert.Len(t, c.State("sip:bob@example.test", "presence"), 1)
	assert.Empty(t, c.State("sip:bob@example.test", "dialog"))
}

func TestCompositorExpiry(t *testing.T) {
	fc, c := newCompositor(t, CompositorConfig{})
	ch := watch(c)
	res := serve(c, publishReq(alice, pidfOnThePhone, "Event", "presence", "Expires", "600"))
	require.Equal(t, 200, res.StatusCode)
	e1 := res.SIPETag()
	fc.Advance(500 * time.Second)
	res = serve(c, publishReq(alice, "", "Event", "presence", "Expires", "600", "SIP-If-Match", e1))
	require.Equal(t, 200, res.StatusCode)
	e2 := res.SIPETag()
	fc.Advance(599 * time.Second) // t = 1099
	assert.Len(t, c.State(alice, "presence"), 1, "refreshed at 500 for 600 s")
	assert.Equal(t, 1, ch.get(alice+" presence"))
	fc.Advance(time.Second) // t = 1100
	assert.Empty(t, c.State(alice, "presence"))
	assert.Equal(t, 0, c.Len())
	assert.Equal(t, 2, ch.get(alice+" presence"), "expiry is a change")
	res = serve(c, publishReq(alice, "", "Event", "presence", "SIP-If-Match", e2))
	assert.Equal(t, 412, res.StatusCode, "expired")
}

func TestCompositorRefusals(t *testing.T) {
	_, c := newCompositor(t, CompositorConfig{
		Events:     map[string][]string{"presence": {"application/pidf+xml"}, "dialog": nil},
		MinExpires: 900 * time.Second,
		MaxExpires: 7200 * time.Second,
		Resource: func(u sip.URI) (string, bool) {
			return ResourceKey(u), u.Host == "example.test"
		},
		Authorize: func(w ua.ResponseWriter, r *ua.Request, resource, event string) bool {
			if r.From().URI.User == "mallory" {
				_ = w.Respond(w.NewResponse(403, ""))
				return false
			}
			return true
		},
	})
	res := serve(c, publishReq(alice, pidfOnThePhone, "Event", "presence", "Expires", "1000"))
	require.Equal(t, 200, res.StatusCode)
	good := res.SIPETag()

	for _, tc := range []struct {
		name string
		req  *sip.Request
		code int
		hdr  [2]string
	}{
		{"no Event", publishReq(alice, pidfOnThePhone), 489, [2]string{"Allow-Events", "dialog, presence"}},
		{"unsupported Event", publishReq(alice, pidfOnThePhone, "Event", "message-summary"), 489, [2]string{"Allow-Events", "dialog, presence"}},
		{"too brief", publishReq(alice, pidfOnThePhone, "Event", "presence", "Expires", "600"), 423, [2]string{"Min-Expires", "900"}},
		{"too brief refresh", publishReq(alice, "", "Event", "presence", "Expires", "60", "SIP-If-Match", good), 423, [2]string{"Min-Expires", "900"}},
		{"initial without body", publishReq(alice, "", "Event", "presence", "Expires", "1000"), 400, [2]string{}},
		{"unknown entity-tag", publishReq(alice, "", "Event", "presence", "SIP-If-Match", "guess"), 412, [2]string{}},
		{"entity-tag of another package", publishReq(alice, "", "Event", "dialog", "SIP-If-Match", good), 412, [2]string{}},
		{"two entity-tags", publishReq(alice, "", "Event", "presence", "SIP-If-Match", good, "SIP-If-Match", "x"), 400, [2]string{}},
		{"bad Expires", publishReq(alice, pidfOnThePhone, "Event", "presence", "Expires", "soon"), 400, [2]string{}},
		{"unknown resource", publishReq("sip:alice@elsewhere.test", pidfOnThePhone, "Event", "presence"), 404, [2]string{}},
		{"not authorized", func() *sip.Request {
			r := publishReq(alice, pidfOnThePhone, "Event", "presence")
			r.Set("From", "<sip:mallory@example.test>;tag=2")
			return r
		}(), 403, [2]string{}},
	} {
		res := serve(c, tc.req)
		assert.Equal(t, tc.code, res.StatusCode, tc.name)
		if tc.hdr[0] != "" {
			assert.Equal(t, tc.hdr[1], res.Get(tc.hdr[0]), tc.name)
		}
	}
	bad := publishReq(alice, "", "Event", "presence")
	bad.Set("Content-Type", "text/plain")
	bad.SetBody([]byte("hi"))
	res = serve(c, bad)
	assert.Equal(t, 415, res.StatusCode)
	assert.Equal(t, "application/pidf+xml", res.Get("Accept"))

	// Any body for a package without a type list; Expires capped.
	res = serve(c, publishReq(alice, "<x/>", "Event", "dialog", "Expires", "100000"))
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "7200", res.Get("Expires"))
	// The entry refused above changed nothing.
	st := c.State(alice, "presence")
	require.Len(t, st, 1)
	assert.Equal(t, good, st[0].ETag)
}

// An initial PUBLISH with Expires: 0 is answered and stores nothing.
func TestCompositorInitialExpiresZero(t *testing.T) {
	_, c := newCompositor(t, CompositorConfig{})
	ch := watch(c)
	res := serve(c, publishReq(alice, pidfOnThePhone, "Event", "presence", "Expires", "0"))
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "0", res.Get("Expires"))
	assert.Zero(t, c.Len())
	assert.Zero(t, ch.get(alice+" presence"))
}

func TestCompositorETagsUnique(t *testing.T) {
	_, c := newCompositor(t, CompositorConfig{})
	seen := map[string]bool{}
	etag := ""
	for i := range 2000 {
		var r *sip.Request
		if i%2 == 0 {
			r = publishReq(alice, pidfOnThePhone, "Event", "presence")
		} else {
			r = publishReq(alice, "", "Event", "presence", "SIP-If-Match", etag)
		}
		res := serve(c, r)
		require.Equal(t, 200, res.StatusCode)
		etag = res.SIPETag()
		require.False(t, seen[etag], "duplicate entity-tag %s", etag)
		seen[etag] = true
	}
	assert.Equal(t, 1000, c.Len())
}

func TestCompositorOnChangeRemove(t *testing.T) {
	_, c := newCompositor(t, CompositorConfig{})
	n := 0
	remove := c.OnChange(func(string, string) { n++ })
	serve(c, publishReq(alice, pidfOnThePhone, "Event", "presence"))
	remove()
	serve(c, publishReq(alice, pidfOnThePhone, "Event", "presence"))
	assert.Equal(t, 1, n)
}

// A Publication against a Compositor over loopback UDP, on one fake clock.
func TestPublicationAgainstCompositor(t *testing.T) {
	fc := clock.NewFake(t0)
	srv := newUA(t, fc)
	c := NewCompositor(srv, CompositorConfig{})
	srv.Handle(sip.MethodPublish, c)
	ch := watch(c)
	cli := newUA(t, fc)
	ev := &events{}
	p := newPub(t, cli, srv.Addrs()[0], ev)
	ctx := context.Background()

	require.NoError(t, p.Publish(ctx, pidf(pidfOnThePhone)))
	st := c.State(alice, "presence")
	require.Len(t, st, 1)
	assert.Equal(t, p.ETag(), st[0].ETag)
	assert.Equal(t, p.ExpiresAt(), st[0].Expires)

	for i := range 5 {
		old := p.ETag()
		fc.Advance(540 * time.Second)
		require.Eventually(t, func() bool { return p.ETag() != old && p.State() == Published }, wait5s, time.Millisecond, "refresh %d", i)
		st = c.State(alice, "presence")
		require.Len(t, st, 1)
		assert.Equal(t, p.ETag(), st[0].ETag)
		assert.Equal(t, pidfOnThePhone, string(st[0].Body))
	}
	assert.Equal(t, 1, ch.get(alice+" presence"), "refreshes are not changes")

	require.NoError(t, p.Publish(ctx, pidf(pidfAvailable)))
	assert.Equal(t, pidfAvailable, string(c.State(alice, "presence")[0].Body))

	// The compositor loses the state (expired while the client was away):
	// the next refresh gets 412 and the client recovers.
	c.mu.Lock()
	for _, m := range c.pubs {
		for _, pub := range m {
			c.drop(pub)
		}
	}
	c.mu.Unlock()
	fc.Advance(540 * time.Second)
	require.Eventually(t, func() bool {
		for _, e := range ev.list() {
			if _, ok := e.(PublicationRecovered); ok {
				return true
			}
		}
		return false
	}, wait5s, time.Millisecond)
	st = c.State(alice, "presence")
	require.Len(t, st, 1)
	assert.Equal(t, pidfAvailable, string(st[0].Body))
	assert.Equal(t, p.ETag(), st[0].ETag)

	require.NoError(t, p.Remove(ctx))
	assert.Empty(t, c.State(alice, "presence"))
	assert.Equal(t, Removed, p.State())
	assert.Equal(t, 4, ch.get(alice+" presence"), "initial, modify, recovery, remove")
}
