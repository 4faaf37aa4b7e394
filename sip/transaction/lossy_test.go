package transaction

import (
	"context"
	"math/rand"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transport"
)

// lossyNet connects two Layers over a simulated UDP network that drops a
// fraction of the datagrams in each direction. Delivery is queued and
// pumped between clock steps, so everything is deterministic.
type lossyNet struct {
	mu    sync.Mutex
	rng   *rand.Rand
	loss  float64
	queue []func()
	sent  int
	lost  int
}

type side struct {
	n    *lossyNet
	peer func(sip.Message)
}

func (s *side) Send(_ context.Context, _ transport.Addr, m sip.Message) error {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	s.n.sent++
	if s.n.rng.Float64() < s.n.loss {
		s.n.lost++
		return nil
	}
	// Each hop gets its own copy, as a network would.
	wire, err := sip.ParseMessage([]byte(m.String()))
	if err != nil {
		return err
	}
	s.n.queue = append(s.n.queue, func() { s.peer(wire) })
	return nil
}

func (s *side) Respond(_ *transport.Inbound, res *sip.Response) error {
	return s.Send(context.Background(), transport.Addr{}, res)
}

func (n *lossyNet) pump() {
	for {
		n.mu.Lock()
		q := n.queue
		n.queue = nil
		n.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, f := range q {
			f()
		}
	}
}

func TestLossyNetworkEveryTransactionCompletes(t *testing.T) {
	clk := clock.NewFake(t0)
	sc := sched.New(clk)
	defer sc.Close()
	n := &lossyNet{rng: rand.New(rand.NewSource(42)), loss: 0.30}
	aSide, bSide := &side{n: n}, &side{n: n}
	a := New(Config{}, sc, aSide) // the client
	b := New(Config{}, sc, bSide) // the server, answering everything at once
	peer := transport.Addr{Transport: transport.UDP, AddrPort: netip.MustParseAddrPort("192.0.2.2:5060")}

	// What a sends reaches b, and the other way round.
	bSide.peer = func(m sip.Message) { a.HandleResponse(m.(*sip.Response)) }
	aSide.peer = func(m sip.Message) {
		req := m.(*sip.Request)
		in := &transport.Inbound{Msg: req, Transport: transport.UDP}
		switch req.Method {
		case sip.MethodInvite:
			s, err := b.HandleInvite(in)
			require.NoError(t, err)
			if s != nil {
				require.NoError(t, s.Respond(sip.NewResponse(req, 486, "")))
			}
		case sip.MethodAck:
			b.HandleAck(req)
		default:
			s, err := b.HandleRequest(in)
			require.NoError(t, err)
			if s != nil {
				require.NoError(t, s.Respond(sip.NewResponse(req, 200, "")))
			}
		}
	}

	var clients []*Client
	var invites []*InviteClient
	for i := 0; i < 1000; i++ {
		c, err := a.Request(context.Background(), newRequest(t, "MESSAGE", "z9hG4bKn"+itoa(i+1)), peer)
		require.NoError(t, err)
		clients = append(clients, c)
	}
	for i := 0; i < 200; i++ {
		c, err := a.Invite(context.Background(), newRequest(t, "INVITE", "z9hG4bKv"+itoa(i+1)), peer)
		require.NoError(t, err)
		invites = append(invites, c)
	}
	n.pump()
	for step := 0; step < 6000; step++ { // 60 s of protocol time in 10 ms steps
		clk.Advance(10 * time.Millisecond)
		n.pump()
	}

	final := func(ch <-chan *sip.Response) int {
		for {
			select {
			case r := <-ch:
				if r.StatusCode >= 200 {
					return r.StatusCode
				}
			default:
				return 0
			}
		}
	}
	for i, c := range clients {
		require.NoError(t, c.Err(), "MESSAGE %d", i)
		require.Equal(t, 200, final(c.Responses()), "MESSAGE %d", i)
	}
	for i, c := range invites {
		require.NoError(t, c.Err(), "INVITE %d", i)
		require.Equal(t, 486, final(c.Responses()), "INVITE %d", i)
	}
	cl, sv := a.Len()
	assert.Equal(t, 0, cl+sv, "every client transaction has ended")
	cl, sv = b.Len()
	assert.Equal(t, 0, cl+sv, "every server transaction has ended")
	t.Logf("%d datagrams sent, %d dropped (%.1f%%)", n.sent, n.lost, 100*float64(n.lost)/float64(n.sent))
	assert.InDelta(t, 0.30, float64(n.lost)/float64(n.sent), 0.03)
}
