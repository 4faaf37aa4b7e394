package presence

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/presence/rlmi"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// subStart is where the fake clocks of the subscription tests start.
var subStart = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

const subWait = 5 * time.Second

func subUA(t testing.TB, fc *clock.Fake, cfg ua.Config) *ua.UA {
	t.Helper()
	cfg.Clock = fc
	u, err := ua.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = u.Close(context.Background()) })
	return u
}

// subRecorder records the events of a subscription.
type subRecorder struct {
	mu  sync.Mutex
	evs []SubscriptionEvent
}

func (r *subRecorder) on(ev SubscriptionEvent) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *subRecorder) all() []SubscriptionEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]SubscriptionEvent(nil), r.evs...)
}

func (r *subRecorder) reset() {
	r.mu.Lock()
	r.evs = nil
	r.mu.Unlock()
}

// strings renders the events compactly for assertions.
func (r *subRecorder) strings() []string {
	var out []string
	for _, ev := range r.all() {
		out = append(out, subEventString(ev))
	}
	return out
}

func subEventString(ev SubscriptionEvent) string {
	switch e := ev.(type) {
	case SubscriptionStateChanged:
		s := e.From.String() + "->" + e.To.String()
		if e.Cause != nil {
			s += fmt.Sprintf("{%s %d}", e.Cause.Reason, e.Cause.StatusCode)
		}
		return s
	case NotifyReceived:
		s := "notify:" + e.State.State
		if e.Piggybacked {
			s = "piggyback"
		}
		return s
	case ResourceStateChanged:
		r := e.Resource
		s := "res:" + r.URI + ":" + e.From.String() + "->" + r.State.String()
		if r.Reason != "" || r.StatusCode != 0 {
			s += fmt.Sprintf("{%s %d}", r.Reason, r.StatusCode)
		}
		return s
	}
	return fmt.Sprintf("%T", ev)
}

// subX is one SUBSCRIBE held by a scripted notifier until the test
// answers it.
type subX struct {
	req  *ua.Request
	w    ua.ResponseWriter
	once sync.Once
	done chan struct{}
	res  *sip.Response
}

// respond answers with code, header pairs and an optional body (the last
// two strings: content type and body when kv has odd length... see
// respondBody).
func (x *subX) respond(code int, kv ...string) *sip.Response {
	return x.respondBody(code, "", nil, kv...)
}

func (x *subX) respondBody(code int, ctype string, body []byte, kv ...string) *sip.Response {
	res := x.w.NewResponse(code, "")
	for i := 0; i+1 < len(kv); i += 2 {
		res.Set(kv[i], kv[i+1])
	}
	if len(body) > 0 {
		res.Set("Content-Type", ctype)
		res.SetBody(body)
	}
	x.once.Do(func() {
		x.res = res
		_ = x.w.Respond(res)
		close(x.done)
	})
	return res
}

// ok answers 200 with Expires and Contact.
func (x *subX) ok(p *subPeer, expires int) *sip.Response {
	return x.respond(200, "Expires", fmt.Sprint(expires), "Contact", p.contact())
}

// subPeer is a scripted notifier: every SUBSCRIBE, initial or in a
// dialog, is handed to the test.
type subPeer struct {
	u  *ua.UA
	ch chan *subX
}

func newSubPeer(t *testing.T, fc *clock.Fake, cfg ua.Config) *subPeer {
	t.Helper()
	p := &subPeer{u: subUA(t, fc, cfg), ch: make(chan *subX, 64)}
	p.u.Support("eventlist", "adhoclist")
	h := func(w ua.ResponseWriter, r *ua.Request) {
		x := &subX{req: r, w: w, done: make(chan struct{})}
		select {
		case p.ch <- x:
		case <-r.Context().Done():
			return
		}
		select {
		case <-x.done:
		case <-r.Context().Done():
		}
	}
	p.u.HandleFunc(sip.MethodSubscribe, h)
	p.u.AddRouter(subPeerRouter(h))
	return p
}

type subPeerRouter func(w ua.ResponseWriter, r *ua.Request)

func (f subPeerRouter) RouteRequest(req *sip.Request) ua.Handler {
	if req.Method == sip.MethodSubscribe {
		return ua.HandlerFunc(f)
	}
	return nil
}

func (p *subPeer) target() ua.Target { return p.u.Addrs()[0] }

func (p *subPeer) contact() string {
	uri, _ := p.u.ContactURI("")
	uri.User = "notifier"
	return "<" + uri.String() + ">"
}

func (p *subPeer) uri(user string) sip.URI {
	a := p.target().AddrPort
	return sip.URI{Scheme: "sip", User: user, Host: a.Addr().String(), Port: int(a.Port())}
}

func (p *subPeer) next(t *testing.T) *subX {
	t.Helper()
	select {
	case x := <-p.ch:
		return x
	case <-time.After(subWait):
		t.Fatal("no SUBSCRIBE arrived")
		return nil
	}
}

func (p *subPeer) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case x := <-p.ch:
		t.Fatalf("unexpected SUBSCRIBE: %s", x.req.StartLine())
	case <-time.After(d):
	}
}

// dialogOf returns the notifier's dialog for a SUBSCRIBE answered with
// the given To tag.
func (p *subPeer) dialogOf(t *testing.T, x *subX, tag string) *dialog.Dialog {
	t.Helper()
	d, err := dialog.NewUAS(p.u, x.req.Request, tag)
	require.NoError(t, err)
	d.Confirm()
	return d
}

// notify sends a NOTIFY in d and returns the subscriber's response code.
func (p *subPeer) notify(t *testing.T, d *dialog.Dialog, state, ctype string, body []byte) int {
	t.Helper()
	req := d.NewRequest(sip.MethodNotify)
	req.Set("Event", "presence")
	req.Set("Subscription-State", state)
	req.Set("Contact", p.contact())
	if len(body) > 0 {
		req.Set("Content-Type", ctype)
		req.SetBody(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), subWait)
	defer cancel()
	res, err := d.Do(ctx, req)
	if res == nil {
		require.NoError(t, err)
	}
	return res.StatusCode
}

func subPIDF(entity, basic string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="` + entity + `"><tuple id="t1"><status><basic>` + basic + `</basic></status></tuple></presence>`)
}

// rlmiRes is one resource of a scripted RLMI body.
type rlmiRes struct {
	uri, state, reason string
	attrs              map[string]string
	pidf               string // basic status for a PIDF part; "" for none
}

// rlmiBody builds a multipart/related RLMI body.
func rlmiBody(t *testing.T, list string, version uint32, full bool, rs ...rlmiRes) (string, []byte) {
	t.Helper()
	l := &rlmi.List{URI: list, Version: version, FullState: full}
	var parts []sip.Part
	for i, r := range rs {
		res := rlmi.Resource{URI: r.uri}
		if r.state != "" {
			in := rlmi.Instance{ID: fmt.Sprintf("i%d", i), State: rlmi.State(r.state), Reason: r.reason, Attrs: r.attrs}
			if r.pidf != "" {
				in.CID = fmt.Sprintf("c%d.%d@test", i, version)
				parts = append(parts, rlmi.NewPart(in.CID, "application/pidf+xml", subPIDF(r.uri, r.pidf)))
			}
			res.Instances = []rlmi.Instance{in}
		}
		l.Resources = append(l.Resources, res)
	}
	ct, body, err := rlmi.Encode(l, parts, rlmi.EncodeOptions{})
	require.NoError(t, err)
	return ct.String(), body
}

func waitSubState(t *testing.T, s *Subscription, want SubscriptionState) {
	t.Helper()
	require.Eventually(t, func() bool { return s.State() == want }, subWait, time.Millisecond,
		"state %s, want %s", s.State(), want)
}

// waitFor waits until the recorded events contain all of want (as
// prefixes), in order; other events may be interleaved.
func (r *subRecorder) waitFor(t *testing.T, want ...string) {
	t.Helper()
	require.Eventually(t, func() bool { return containsInOrder(r.strings(), want) }, subWait, time.Millisecond,
		"events %q, want %q", r.strings(), want)
}

func containsInOrder(have, want []string) bool {
	i := 0
	for _, h := range have {
		if i < len(want) && strings.HasPrefix(h, want[i]) {
			i++
		}
	}
	return i == len(want)
}

// subscribeAsync starts s.Subscribe and returns its result channel.
func subscribeAsync(s *Subscription) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- s.Subscribe(context.Background()) }()
	return ch
}

func subResult(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(subWait):
		t.Fatal("Subscribe did not return")
		return nil
	}
}

func hasTokenFold(vals []string, tok string) bool {
	for _, v := range vals {
		if strings.EqualFold(v, tok) {
			return true
		}
	}
	return false
}
