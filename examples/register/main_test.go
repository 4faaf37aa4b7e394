package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	assert.NoError(t, run(context.Background(), []string{"-h"}, &out), "-h prints usage and succeeds")
	assert.Contains(t, out.String(), "Usage: register")
	assert.Error(t, run(context.Background(), nil, &out), "-registrar and -user are required")
	assert.ErrorContains(t, run(context.Background(), []string{"-registrar", "127.0.0.1:5060", "-user", "sip:alice@example.test", "-fallback", "sometimes"}, &out), "-fallback")
}

// The example registers with digest at an in-process registrar after
// failing over from a primary that refuses connections, prints the state
// changes, and unregisters when its context ends.
func TestRegisterFailsOverAndUnregisters(t *testing.T) {
	srv, err := ua.New(ua.Config{})
	require.NoError(t, err)
	defer srv.Close(context.Background())
	digest, err := auth.NewServer(auth.ServerConfig{Realm: "example.test"})
	require.NoError(t, err)
	reg := ua.NewRegistrar(srv, ua.RegistrarConfig{Auth: digest,
		Password: func(user, _ string) (string, bool) { return "alice123", user == "alice" }})
	srv.Handle(sip.MethodRegister, reg)

	closed, err := net.Listen("tcp", "127.0.0.1:0") // a primary that refuses: listen, then close
	require.NoError(t, err)
	dead := closed.Addr().String()
	closed.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var out lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-registrar", "sip:" + dead + ";transport=tcp," + srv.Addrs()[0].AddrPort.String(),
			"-user", "sip:alice@example.test", "-password", "alice123", "-expires", "120", "-listen", "udp:127.0.0.1:0,tcp:127.0.0.1:0"}, &out)
	}()
	aor, _ := sip.ParseURI("sip:alice@example.test")
	require.Eventually(t, func() bool { return len(reg.Lookup(aor)) == 1 }, 10*time.Second, 10*time.Millisecond, out.String())
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "registered; Ctrl-C") }, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	assert.Empty(t, reg.Lookup(aor), "unregistered on exit")
	text := out.String()
	assert.Contains(t, text, "failed over")
	assert.Contains(t, text, "Registered for 2m0s")
	assert.Contains(t, text, "endpoint Terminating -> Terminated")
}
