package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/im"
	"github.com/sipua-go/sipua/im/imtest"
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

func TestUsage(t *testing.T) {
	var out syncBuffer
	require.NoError(t, run(context.Background(), []string{"-h"}, strings.NewReader(""), &out))
	assert.Contains(t, out.String(), "Usage: chat")
	assert.Contains(t, out.String(), "-session")
	assert.Error(t, run(context.Background(), nil, strings.NewReader(""), io.Discard), "-to is required")
}

// Pager mode: lines typed reach the in-process peer as MESSAGE requests.
func TestChatPager(t *testing.T) {
	bob := imtest.New(t, imtest.Config{})
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := run(ctx, []string{"-user", "sip:alice@example.test", "-to", bob.URI.String()},
		strings.NewReader("hello bob\n\nsecond line\n"), &out)
	require.NoError(t, err)
	m := bob.Next(t, 5*time.Second)
	assert.Equal(t, "hello bob", m.Text())
	assert.Equal(t, "sip:alice@example.test", m.From.URI.String())
	assert.Equal(t, "second line", bob.Next(t, 5*time.Second).Text())
	assert.NotContains(t, out.String(), "not delivered")
}

// Session mode: an IM session with the peer; what it sends is printed,
// what is typed goes as in-dialog MESSAGE.
func TestChatSession(t *testing.T) {
	bob := imtest.New(t, imtest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-user", "sip:alice@example.test", "-to", bob.URI.String(), "-session"}, pr, &out)
	}()
	bf := bob.NextFlow(t, 10*time.Second)
	got := make(chan im.FlowEvent, 10)
	bf.OnEvent(func(ev im.FlowEvent) { got <- ev })
	require.NoError(t, bf.SendText(ctx, "hi alice"))
	assert.Eventually(t, func() bool { return strings.Contains(out.String(), bob.URI.String()+": hi alice") }, 5*time.Second, 10*time.Millisecond)
	_, err := pw.Write([]byte("hi bob\n"))
	require.NoError(t, err)
	select {
	case ev := <-got:
		require.IsType(t, im.MessageReceived{}, ev)
		assert.Equal(t, "hi bob", ev.(im.MessageReceived).Message.Text())
	case <-time.After(5 * time.Second):
		t.Fatal("bob did not get the line")
	}
	require.NoError(t, pw.Close()) // EOF: chat hangs up and exits
	require.NoError(t, <-done)
	select {
	case <-bf.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no BYE")
	}
}
