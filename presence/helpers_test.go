package presence

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// t0 is where every fake clock starts.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// pidfOnThePhone is the AT-P2-1 body: open, RPID on-the-phone, display-name.
const pidfOnThePhone = `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"
 xmlns:c="urn:ietf:params:xml:ns:pidf:cipid" entity="sip:alice@example.test">
 <tuple id="t1"><status><basic>open</basic></status></tuple>
 <dm:person xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" id="p1">
  <rpid:activities><rpid:on-the-phone/></rpid:activities>
  <c:display-name>Alice</c:display-name>
 </dm:person>
</presence>`

const pidfAvailable = `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.test">
 <tuple id="t1"><status><basic>open</basic></status></tuple>
</presence>`

func pidf(s string) Body { return Body{ContentType: "application/pidf+xml", Data: []byte(s)} }

// wait bounds every real-time wait of a test.
const wait5s = 5 * time.Second

func newUA(t testing.TB, fc *clock.Fake, listen ...string) *ua.UA {
	t.Helper()
	u, err := ua.New(ua.Config{Clock: fc, Listen: listen})
	require.NoError(t, err)
	t.Cleanup(func() { _ = u.Close(context.Background()) })
	return u
}

// exchange is one PUBLISH held by a scripted peer until the test answers.
type exchange struct {
	req  *sip.Request
	w    ua.ResponseWriter
	peer *peer
	once sync.Once
	done chan struct{}
}

// reply answers with code and header name/value pairs.
func (x *exchange) reply(code int, kv ...string) {
	res := x.w.NewResponse(code, "")
	for i := 0; i+1 < len(kv); i += 2 {
		res.Set(kv[i], kv[i+1])
	}
	x.once.Do(func() {
		x.peer.inflight.Add(-1) // before the response can reach the client
		_ = x.w.Respond(res)
		close(x.done)
	})
}

func (x *exchange) ok(etag string, expires int) {
	x.reply(200, "SIP-ETag", etag, "Expires", fmt.Sprint(expires))
}

// peer is a scripted ESC: every PUBLISH is handed to the test.
type peer struct {
	u           *ua.UA
	target      ua.Target
	ch          chan *exchange
	inflight    atomic.Int32
	maxInflight atomic.Int32
	// before, when set, may answer a request itself (returning true).
	before func(w ua.ResponseWriter, r *ua.Request) bool
}

// newPeer returns a scripted ESC; before, if given, sees every PUBLISH
// first and may answer it itself (returning true).
func newPeer(t *testing.T, fc *clock.Fake, before ...func(w ua.ResponseWriter, r *ua.Request) bool) *peer {
	t.Helper()
	p := &peer{u: newUA(t, fc), ch: make(chan *exchange, 16)}
	if len(before) > 0 {
		p.before = before[0]
	}
	p.target = p.u.Addrs()[0]
	p.u.HandleFunc(sip.MethodPublish, func(w ua.ResponseWriter, r *ua.Request) {
		if p.before != nil && p.before(w, r) {
			return
		}
		n := p.inflight.Add(1)
		for {
			m := p.maxInflight.Load()
			if n <= m || p.maxInflight.CompareAndSwap(m, n) {
				break
			}
		}
		x := &exchange{req: r.Request, w: w, peer: p, done: make(chan struct{})}
		select {
		case p.ch <- x:
		case <-r.Context().Done():
			return
		}
		select {
		case <-x.done:
		case <-r.Context().Done():
		}
	})
	return p
}

// next returns the next PUBLISH.
func (p *peer) next(t *testing.T) *exchange {
	t.Helper()
	select {
	case x := <-p.ch:
		return x
	case <-time.After(wait5s):
		t.Fatal("no PUBLISH arrived")
		return nil
	}
}

// none asserts that no PUBLISH arrives within d (real time).
func (p *peer) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case x := <-p.ch:
		t.Fatalf("unexpected PUBLISH:\n%s", x.req)
	case <-time.After(d):
	}
}

// events records a publication's events as short strings.
type events struct {
	mu  sync.Mutex
	all []PublicationEvent
}

func (e *events) add(ev PublicationEvent) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) list() []PublicationEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]PublicationEvent(nil), e.all...)
}

// strings renders the events: "Publishing>Published", "Recovered",
// "Removed", with "!" after a transition that has a cause.
func (e *events) strings() []string {
	var out []string
	for _, ev := range e.list() {
		switch ev := ev.(type) {
		case PublicationStateChanged:
			s := ev.From.String() + ">" + ev.To.String()
			if ev.Cause != nil {
				s += "!"
			}
			out = append(out, s)
		case PublicationRecovered:
			out = append(out, "Recovered")
		case PublicationRemoved:
			out = append(out, "Removed")
		}
	}
	return out
}

func (e *events) reset() {
	e.mu.Lock()
	e.all = nil
	e.mu.Unlock()
}

// newPub returns a publication of sip:alice@example.test sending to the
// peer's address.
func newPub(t *testing.T, cli *ua.UA, to ua.Target, ev *events, mod ...func(*PublicationConfig)) *Publication {
	t.Helper()
	res, err := sip.ParseURI("sip:alice@example.test")
	require.NoError(t, err)
	cfg := PublicationConfig{UA: cli, Target: to, Resource: res, OnEvent: ev.add}
	for _, m := range mod {
		m(&cfg)
	}
	p, err := NewPublication(cfg)
	require.NoError(t, err)
	return p
}

// async runs f in a goroutine and returns its result channel.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func result(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(wait5s):
		t.Fatal("call did not return")
		return nil
	}
}

// pending asserts the call has not returned yet.
func pending(t *testing.T, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("call returned early: %v", err)
	default:
	}
}

// setup gives a fake clock, a scripted peer, a client UA and a
// publication that has done the initial PUBLISH (answered with etag and
// 600 s).
func setup(t *testing.T, etag string) (*clock.Fake, *peer, *Publication, *events) {
	t.Helper()
	fc := clock.NewFake(t0)
	srv := newPeer(t, fc)
	cli := newUA(t, fc)
	ev := &events{}
	p := newPub(t, cli, srv.target, ev)
	done := async(func() error { return p.Publish(context.Background(), pidf(pidfOnThePhone)) })
	srv.next(t).ok(etag, 600)
	require.NoError(t, result(t, done))
	ev.reset()
	return fc, srv, p, ev
}
