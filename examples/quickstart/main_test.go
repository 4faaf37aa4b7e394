package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's first command: the whole demo runs and every step shows in
// the timeline, in order.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), nil, &out), out.String())
	text := out.String()
	steps := []string{
		"alice   registration Registered",
		"bob     sees sip:alice@example.test: open (\"available\")",
		"alice   call progress: 302 Moved Temporarily",
		"bob     incoming call from sip:alice@example.test",
		"alice   call established: session timer 1m30s",
		"on-the-phone",
		"alice   session refreshed by UPDATE",
		"alice   session refreshed by UPDATE",
		"bob     received message: \"Hi Bob",
		"alice   call ended: dialog: session ended: local BYE",
		"demo    all steps done",
		"alice   unregistered",
	}
	at := 0
	for _, s := range steps {
		i := strings.Index(text[at:], s)
		require.GreaterOrEqual(t, i, 0, "missing %q after position %d in:\n%s", s, at, text)
		at += i + len(s)
	}
}

func TestQuickstartTraceAndHelp(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-trace"}, &out))
	assert.Contains(t, out.String(), "SIP/2.0 401 Unauthorized", "the trace shows the digest challenge")
	assert.Contains(t, out.String(), "Session-Expires: 90;refresher=uac")
	out.Reset()
	assert.Error(t, run(context.Background(), []string{"-h"}, &out))
	assert.Contains(t, out.String(), "usage: quickstart")
}
