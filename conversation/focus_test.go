package conversation_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/conversation"
	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/im"
	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/presence"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// focus is an in-process conference focus: a dialog.Layer that answers
// INVITEs with an m=message answer (the IM MCU leg) and a presence.Notifier
// for the "conference" event package serving conference-info documents.
type focus struct {
	t   *testing.T
	u   *ua.UA
	l   *dialog.Layer
	n   *presence.Notifier
	uri sip.URI

	mu       sync.Mutex
	invites  []*sip.Request
	sessions []*dialog.Session
	flows    []*im.Flow
	users    []conversation.User
	version  uint32
	gate     chan struct{} // when set, INVITEs wait for it to close
	ringOnly bool          // answer 180 and nothing else
	addJoin  bool          // a joiner appears in the roster once its IM leg is up
	flowCh   chan *im.Flow
}

func newFocus(t *testing.T, clk clock.Clock) *focus {
	t.Helper()
	u, err := ua.New(ua.Config{Clock: clk})
	require.NoError(t, err)
	f := &focus{t: t, u: u, addJoin: true, flowCh: make(chan *im.Flow, 16),
		users: []conversation.User{{Entity: "sip:bob@example.test", DisplayText: "Bob",
			Endpoints: []conversation.Endpoint{{Entity: "sip:bob@198.51.100.2", Status: "connected",
				Media: []conversation.MediaInfo{{ID: "1", Type: "message", Status: "sendrecv"}}}}}}}
	f.uri = sip.URI{Scheme: "sip", User: "conf1", Host: "127.0.0.1", Port: int(u.Addrs()[0].AddrPort.Port())}
	f.l, err = dialog.New(dialog.Static{Agent: u, Identity: sip.Address{URI: f.uri}}, dialog.Config{OnInvite: f.onInvite})
	require.NoError(t, err)
	f.n = presence.NewNotifier(u, presence.NotifierConfig{Event: "conference", State: presence.StateFunc(f.state)})
	u.Handle(sip.MethodSubscribe, f.n)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = f.n.Close(ctx)
		_ = f.l.Close(ctx)
		_ = u.Close(ctx)
	})
	return f
}

func (f *focus) onInvite(s *dialog.Session) {
	f.mu.Lock()
	f.invites = append(f.invites, s.Request())
	f.sessions = append(f.sessions, s)
	gate, ring := f.gate, f.ringOnly
	f.mu.Unlock()
	if ring {
		_ = s.Progress(context.Background(), 180, nil)
		return
	}
	go func() {
		if gate != nil {
			<-gate
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		fl, err := im.Accept(ctx, s, im.FlowConfig{UA: f.u})
		if err != nil {
			return
		}
		f.mu.Lock()
		f.flows = append(f.flows, fl)
		add := f.addJoin
		f.mu.Unlock()
		f.flowCh <- fl
		if add {
			from := s.Request().From()
			f.addUser(conversation.User{Entity: from.URI.String(), DisplayText: from.Display,
				Endpoints: []conversation.Endpoint{{Entity: from.URI.String(), Status: "connected"}}})
		}
	}()
}

func (f *focus) inviteCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.invites)
}

// addUser adds a participant: a new version goes to every subscriber.
func (f *focus) addUser(u conversation.User) {
	f.mu.Lock()
	f.users = append(f.users, u)
	f.mu.Unlock()
	f.n.Changed(presence.ResourceKey(f.uri))
}

func (f *focus) state(resource, event string) (string, []byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	ci := conversation.ConferenceInfo{Entity: f.uri.String(), State: "full", Version: f.version,
		Subject: "Weekly sync", Users: append([]conversation.User(nil), f.users...)}
	b, err := ci.Marshal()
	if err != nil {
		return "", nil, false
	}
	return conversation.ConferenceInfoType, b, true
}

// rawFocus answers INVITEs from a script of status codes (with
// Retry-After where given) and then with 200 and an m=message answer;
// it is a bare ua handler because dialog.Session.Reject cannot add
// Retry-After.
type rawFocus struct {
	u   *ua.UA
	uri sip.URI

	mu      sync.Mutex
	script  []rawAnswer
	invites int
}

type rawAnswer struct {
	code       int
	retryAfter string
}

func newRawFocus(t *testing.T, clk clock.Clock, script ...rawAnswer) *rawFocus {
	t.Helper()
	u, err := ua.New(ua.Config{Clock: clk})
	require.NoError(t, err)
	t.Cleanup(func() { _ = u.Close(context.Background()) })
	r := &rawFocus{u: u, script: script}
	r.uri = sip.URI{Scheme: "sip", User: "conf2", Host: "127.0.0.1", Port: int(u.Addrs()[0].AddrPort.Port())}
	u.HandleFunc(sip.MethodInvite, func(w ua.ResponseWriter, req *ua.Request) {
		r.mu.Lock()
		r.invites++
		var a rawAnswer
		if len(r.script) > 0 {
			a, r.script = r.script[0], r.script[1:]
		}
		r.mu.Unlock()
		if a.code != 0 {
			res := w.NewResponse(a.code, "")
			if a.retryAfter != "" {
				res.Set("Retry-After", a.retryAfter)
			}
			_ = w.Respond(res)
			return
		}
		res := w.NewResponse(200, "")
		res.Set("Contact", "<"+r.uri.String()+">")
		res.Set("Content-Type", "application/sdp")
		res.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
			"m=message 5060 sip null\r\na=accept-types:text/plain\r\n"))
		_ = w.Respond(res)
	})
	return r
}

func (r *rawFocus) inviteCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.invites
}
