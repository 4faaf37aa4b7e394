package auth

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
)

func TestNCTable(t *testing.T) {
	const life = 100
	tab := ncTable{max: 3}
	assert.Equal(t, ReasonOK, tab.use("a", 10, 1, 10, life))
	assert.Equal(t, ReasonReplayedNC, tab.use("a", 10, 1, 11, life))
	assert.Equal(t, ReasonOK, tab.use("a", 10, 5, 12, life))
	assert.Equal(t, ReasonReplayedNC, tab.use("a", 10, 4, 12, life))
	assert.Equal(t, ReasonOK, tab.use("b", 20, 1, 20, life))
	assert.Equal(t, ReasonOK, tab.use("c", 30, 1, 30, life))
	assert.Equal(t, 3, len(tab.m))

	// Full: "a" (first used longest ago) is forgotten, and with it
	// every unremembered nonce issued at or before it.
	assert.Equal(t, ReasonOK, tab.use("d", 40, 1, 40, life))
	assert.Equal(t, 3, len(tab.m))
	assert.True(t, tab.evicted)
	assert.Equal(t, int64(10), tab.floor)
	assert.Equal(t, ReasonStale, tab.use("a", 10, 6, 41, life))
	assert.Equal(t, ReasonStale, tab.use("old", 5, 1, 41, life))
	assert.Equal(t, ReasonReplayedNC, tab.use("b", 20, 1, 41, life))

	// Expired nonces are pruned as the table is used.
	assert.Equal(t, ReasonOK, tab.use("e", 125, 1, 125, life))
	_, ok := tab.m["b"]
	assert.False(t, ok, "b expired at 120")
	assert.Equal(t, 3, tab.n)
	assert.Equal(t, ReasonOK, tab.use("f", 300, 1, 300, life))
	assert.Equal(t, 1, tab.n)
	assert.Equal(t, len(tab.m), tab.n)
}

func TestNCTableChurn(t *testing.T) {
	tab := ncTable{max: 8}
	for i := 0; i < 1000; i++ {
		now := int64(i)
		assert.Equal(t, ReasonOK, tab.use(fmt.Sprint(i), now, 1, now, 50))
		require.LessOrEqual(t, len(tab.m), 8)
		require.Equal(t, len(tab.m), tab.n)
	}
}

func TestClientSessionsBounded(t *testing.T) {
	var c Client
	for i := 0; i < 3*maxSessions; i++ {
		u, _ := sip.ParseURI("sip:bob@example.com")
		req := sip.NewRequest("INVITE", u)
		res := &sip.Response{StatusCode: 401}
		res.Add("WWW-Authenticate", fmt.Sprintf(`Digest realm="r%d", nonce="n", qop="auth"`, i))
		require.NoError(t, c.Authorize(req, res, Credentials{Username: "u"}))
		require.LessOrEqual(t, len(c.sessions), maxSessions)
	}
	// The most recent realms are kept.
	_, ok := c.sessions[sessionKey{false, fmt.Sprintf("r%d", 3*maxSessions-1)}]
	assert.True(t, ok)
	_, ok = c.sessions[sessionKey{false, "r0"}]
	assert.False(t, ok)
}

func TestAnswerRing(t *testing.T) {
	var s session
	for i := 0; i < answerRing+5; i++ {
		s.remember(answer{response: fmt.Sprint(i)})
	}
	_, ok := s.answerOf("0")
	assert.False(t, ok)
	_, ok = s.answerOf(fmt.Sprint(answerRing + 4))
	assert.True(t, ok)
	_, ok = s.answerOf("")
	assert.False(t, ok)
}

func TestParseNC(t *testing.T) {
	for in, want := range map[string]uint32{"00000001": 1, "0000000a": 10, "FFFFFFFF": 0xffffffff, "0000abCD": 0xabcd} {
		got, ok := parseNC(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "1", "000000001", "0000000g", "-0000001", "0x000001"} {
		_, ok := parseNC(in)
		assert.False(t, ok, in)
	}
	assert.Equal(t, "deadbeef", string(appendNC(nil, 0xdeadbeef)))
}
