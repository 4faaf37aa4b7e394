package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/dialog/sdpneg"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transport"
	"github.com/sipua-go/sipua/sip/ua"
	"github.com/sipua-go/sipua/timer"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The example answers a call from a sipua caller, negotiates a session
// timer and SDP, and hangs up every call with BYE when stopped.
func TestAutoanswerAnswersAndHangsUpOnExit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	ready := make(chan []transport.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-session-expires", "600", "-refresher", "uas"}, &out, ready)
	}()
	var addrs []transport.Addr
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatal(err)
	}

	u, err := ua.New(ua.Config{})
	require.NoError(t, err)
	defer u.Close(context.Background())
	caps := sdpneg.AudioOnly("127.0.0.1", 4000)
	from, _ := sip.ParseAddress("<sip:caller@example.test>")
	caller, err := dialog.New(dialog.Static{Agent: u, Identity: from}, dialog.Config{Media: &caps,
		SessionTimer: timer.Config{Interval: 600 * time.Second}})
	require.NoError(t, err)
	s, err := caller.Invite(context.Background(), sip.URI{Scheme: "sip", User: "x", Host: "127.0.0.1", Port: int(addrs[0].AddrPort.Port())}, dialog.InviteOptions{})
	require.NoError(t, err)
	assert.Contains(t, string(s.RemoteSDP()), "m=audio 40000 RTP/AVP 0 8")
	assert.Equal(t, 600*time.Second, s.SessionTimer().Interval())
	assert.Equal(t, "remote", s.SessionTimer().Refresher().String(), "the answerer prefers to refresh")

	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Established") }, 2*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no BYE")
	}
	assert.Equal(t, dialog.RemoteBye, s.Err().Cause)
	text := out.String()
	assert.Contains(t, text, "call 1: Accepting → Established")
	assert.Contains(t, text, "session timer 10m0s")
	assert.Contains(t, text, "1 calls answered, 1 ended")
}

func TestFlags(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-h"}, &out, nil)
	assert.ErrorContains(t, err, "help")
	assert.Contains(t, out.String(), "-session-expires")
	assert.Contains(t, out.String(), "no media flows")
	for _, bad := range [][]string{{"-refresher", "x"}, {"-refresh-method", "x"}, {"-session-expires", "30"}, {"-listen", "nope"}} {
		err := run(context.Background(), bad, &out, nil)
		assert.Error(t, err, strings.Join(bad, " "))
	}
	assert.Equal(t, []string{"-session-expires", "1800s", "-min-se=90s"}, secondsArgs([]string{"-session-expires", "1800", "-min-se=90"}, "session-expires", "min-se"))
}
