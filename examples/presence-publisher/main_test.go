package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/presence"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
)

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-h"}, &out)
	assert.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, out.String(), "usage: presence-publisher")
	assert.Contains(t, out.String(), "-activity")
	assert.Error(t, run(context.Background(), nil, &out), "-server and -user are required")
	assert.ErrorContains(t, run(context.Background(), []string{"-server", "127.0.0.1:5060", "-user", "alice"}, &out), "SIP URI")
}

// lines is an io.Writer for run's output that the test reads as it grows.
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

// presenceServer is an in-process event state compositor that challenges
// every PUBLISH with digest (alice / alice-pw).
func presenceServer(t *testing.T) (*ua.UA, *presence.Compositor) {
	t.Helper()
	srv, err := ua.New(ua.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	digest, err := auth.NewServer(auth.ServerConfig{Realm: "example.test"})
	require.NoError(t, err)
	comp := presence.NewCompositor(srv, presence.CompositorConfig{
		Authorize: func(w ua.ResponseWriter, r *ua.Request, resource, _ string) bool {
			res := digest.Verify(r.Request, func(user, _ string) (string, bool) { return "alice-pw", user == "alice" })
			if res.OK() && res.Username == "alice" && resource == "sip:alice@example.test" {
				return true
			}
			ch := w.NewResponse(sip.StatusUnauthorized, "")
			digest.Challenge(ch, false)
			_ = w.Respond(ch)
			return false
		}})
	srv.Handle(sip.MethodPublish, comp)
	return srv, comp
}

// The publisher publishes alice's state with digest authentication,
// refreshes it (with -refresh 300ms; each refresh gets a new entity-tag
// from the compositor), toggles the activity on SIGUSR1 and removes the
// state (Expires: 0) when its context ends.
func TestPublishRefreshModifyRemove(t *testing.T) {
	srv, comp := presenceServer(t)
	out := &lines{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-server", srv.Addrs()[0].AddrPort.String(), "-user", "sip:alice@example.test",
			"-password", "alice-pw", "-activity", "on-the-phone", "-note", "in a call", "-display-name", "Alice",
			"-expires", "600", "-refresh", "300ms", "-trace"}, out)
	}()
	state := func() string {
		es := comp.State("sip:alice@example.test", "presence")
		if len(es) != 1 {
			return ""
		}
		return string(es[0].Body)
	}
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "published open") }, 10*time.Second, 20*time.Millisecond, "%s", out)
	assert.Contains(t, state(), "on-the-phone")
	assert.Contains(t, state(), "in a call")
	assert.Contains(t, state(), "Alice")
	assert.Contains(t, out.String(), "SIP/2.0 401 Unauthorized", "the first PUBLISH was challenged")
	assert.Contains(t, out.String(), `published open, on-the-phone ("in a call") etag=`)

	etag := comp.State("sip:alice@example.test", "presence")[0].ETag
	require.Eventually(t, func() bool { return strings.Count(out.String(), "\nrefreshed etag=") >= 2 }, 10*time.Second, 20*time.Millisecond, "%s", out)
	assert.NotEqual(t, etag, comp.State("sip:alice@example.test", "presence")[0].ETag, "refreshes replaced the entity-tag")

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "modified open") }, 10*time.Second, 20*time.Millisecond, "%s", out)
	assert.Contains(t, out.String(), `modified open ("available") etag=`)
	assert.NotContains(t, state(), "on-the-phone")
	assert.Contains(t, state(), "available")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "%s", out)
	case <-time.After(10 * time.Second):
		t.Fatalf("run did not return:\n%s", out)
	}
	assert.Contains(t, out.String(), "\nremoved\n")
	assert.Contains(t, out.String(), "Expires: 0")
	assert.Zero(t, comp.Len(), "the state was removed")
}

// -duration ends the publisher by itself, with the state removed.
func TestDuration(t *testing.T) {
	srv, comp := presenceServer(t)
	out := &lines{}
	start := time.Now()
	err := run(context.Background(), []string{"-server", srv.Addrs()[0].AddrPort.String(), "-user", "sip:alice@example.test",
		"-password", "alice-pw", "-duration", "300ms"}, out)
	require.NoError(t, err, "%s", out)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Contains(t, out.String(), "published open etag=")
	assert.Contains(t, out.String(), "\nremoved\n")
	assert.Zero(t, comp.Len())

	// A wrong password fails the initial PUBLISH with the status code.
	err = run(context.Background(), []string{"-server", srv.Addrs()[0].AddrPort.String(), "-user", "sip:alice@example.test",
		"-password", "nope", "-duration", "300ms"}, out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401")
}
