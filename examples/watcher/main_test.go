package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/presence"
	"github.com/sipua-go/sipua/presence/pidf"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
)

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-h"}, &out)
	assert.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, out.String(), "usage: watcher")
	assert.Contains(t, out.String(), "-list")
	assert.Error(t, run(context.Background(), []string{"-server", "127.0.0.1:5060", "-user", "sip:bob@example.test"}, &out), "-watch is required")
	assert.ErrorContains(t, run(context.Background(), []string{"-server", "127.0.0.1:5060", "-user", "bob", "-watch", "sip:a@b"}, &out), "SIP URI")
}

type lines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// server is an in-process presence server: a compositor for PUBLISH and
// a notifier for SUBSCRIBE that challenges initial SUBSCRIBEs with digest
// (bob / bob-pw), serves the list sip:buddies@example.test (alice, carol,
// dave, erin), refuses dave (403, or a terminated instance with reason
// rejected in the list) and keeps erin pending.
type server struct {
	ua   *ua.UA
	comp *presence.Compositor
	addr string
}

func newServer(t *testing.T) *server {
	t.Helper()
	u, err := ua.New(ua.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = u.Close(context.Background()) })
	digest, err := auth.NewServer(auth.ServerConfig{Realm: "example.test"})
	require.NoError(t, err)
	comp := presence.NewCompositor(u, presence.CompositorConfig{})
	u.Handle(sip.MethodPublish, comp)
	n := presence.NewNotifier(u, presence.NotifierConfig{Compositor: comp,
		Lists: func(resource string) ([]string, bool) {
			if resource != "sip:buddies@example.test" {
				return nil, false
			}
			return []string{"sip:alice@example.test", "sip:carol@example.test", "sip:dave@example.test", "sip:erin@example.test"}, true
		},
		Authenticate: func(w ua.ResponseWriter, r *ua.Request) bool {
			if r.To().Tag() != "" {
				return true // in the dialog the initial SUBSCRIBE set up
			}
			res := digest.Verify(r.Request, func(user, _ string) (string, bool) { return "bob-pw", user == "bob" })
			if res.OK() && res.Username == r.From().URI.User {
				return true
			}
			ch := w.NewResponse(sip.StatusUnauthorized, "")
			digest.Challenge(ch, false)
			_ = w.Respond(ch)
			return false
		},
		Authorize: func(_ *ua.Request, resource string) presence.Authorization {
			switch resource {
			case "sip:dave@example.test":
				return presence.AuthorizeReject
			case "sip:erin@example.test":
				return presence.AuthorizePending
			}
			return presence.AuthorizeAllow
		}})
	u.Handle(sip.MethodSubscribe, n)
	return &server{ua: u, comp: comp, addr: u.Addrs()[0].AddrPort.String()}
}

// publish sets a presentity's state in the server's compositor through a
// real PUBLISH.
func (s *server) publish(t *testing.T, who string, doc *pidf.Document) *presence.Publication {
	t.Helper()
	uri, err := sip.ParseURI("sip:" + who + "@example.test")
	require.NoError(t, err)
	c, err := ua.New(ua.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	pub, err := presence.NewPublication(presence.PublicationConfig{UA: c, Sender: presence.UASender(c, s.ua.Addrs()[0]), Resource: uri})
	require.NoError(t, err)
	b, err := doc.Marshal()
	require.NoError(t, err)
	require.NoError(t, pub.Publish(context.Background(), presence.Body{ContentType: pidf.ContentType, Data: b}))
	return pub
}

func waitOutput(t *testing.T, out *lines, want string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), want) }, 10*time.Second, 20*time.Millisecond,
		"no %q in:\n%s", want, out)
}

// Bob watches alice and dave: alice's changes are printed as they come,
// dave's refusal with its status code; -duration ends the watcher, which
// unsubscribes.
func TestWatchContacts(t *testing.T) {
	s := newServer(t)
	alice := s.publish(t, "alice", pidf.New("sip:alice@example.test").Open().Note("available"))
	out := &lines{}
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"-server", s.addr, "-user", "sip:bob@example.test", "-password", "bob-pw",
			"-watch", "sip:alice@example.test, sip:dave@example.test", "-duration", "2s"}, out)
	}()
	waitOutput(t, out, `sip:alice@example.test: active, open ("available")`)
	waitOutput(t, out, "sip:dave@example.test: terminated code=403")

	b, err := pidf.New("sip:alice@example.test").Open().Activity(pidf.OnThePhone).Note("in a call").Marshal()
	require.NoError(t, err)
	require.NoError(t, alice.Publish(context.Background(), presence.Body{ContentType: pidf.ContentType, Data: b}))
	waitOutput(t, out, `sip:alice@example.test: active, open, on-the-phone ("in a call")`)
	require.NoError(t, alice.Remove(context.Background()))
	waitOutput(t, out, "sip:alice@example.test: active, closed")

	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("run did not return:\n%s", out)
	}
	assert.True(t, strings.HasSuffix(out.String(), "done\n"), "%s", out)
}

// With -list, bob subscribes to the resource list and every member is
// printed with its own state: alice active with her presence, carol
// active (closed: no publication), dave terminated with reason rejected,
// erin pending; a change of alice's follows.
func TestWatchList(t *testing.T) {
	s := newServer(t)
	alice := s.publish(t, "alice", pidf.New("sip:alice@example.test").Open().Note("available"))
	out := &lines{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-server", s.addr, "-user", "sip:bob@example.test", "-password", "bob-pw",
			"-watch", "sip:buddies@example.test", "-list"}, out)
	}()
	waitOutput(t, out, "sip:buddies@example.test (list): active")
	waitOutput(t, out, `sip:buddies@example.test sip:alice@example.test: active, open ("available")`)
	waitOutput(t, out, "sip:buddies@example.test sip:carol@example.test: active, closed")
	waitOutput(t, out, "sip:buddies@example.test sip:dave@example.test: terminated reason=rejected")
	waitOutput(t, out, "sip:buddies@example.test sip:erin@example.test: pending")

	b, err := pidf.New("sip:alice@example.test").Open().Activity(pidf.Away).Marshal()
	require.NoError(t, err)
	require.NoError(t, alice.Publish(context.Background(), presence.Body{ContentType: pidf.ContentType, Data: b}))
	waitOutput(t, out, "sip:buddies@example.test sip:alice@example.test: active, open, away")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("run did not return:\n%s", out)
	}
	assert.Contains(t, out.String(), "sip:buddies@example.test (list): terminated")
	assert.True(t, strings.HasSuffix(out.String(), "done\n"), "%s", out)
}
