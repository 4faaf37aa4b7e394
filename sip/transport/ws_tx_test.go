package transport_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transaction"
	"github.com/sipua-go/sipua/sip/transport"
)

// A WebSocket that breaks fails at once the client transaction sent over
// it (RFC 3261 §17.1.4), through Config.ConnClosed and the transaction
// layer, instead of waiting for Timer F (32 s).
func TestWSBrokenConnectionFailsTransaction(t *testing.T) {
	got := make(chan *transport.Inbound, 1)
	srv := transport.New(transport.Config{}, func(in *transport.Inbound) { got <- in })
	defer srv.Close()
	addr, err := srv.ListenWS("127.0.0.1:0")
	require.NoError(t, err)

	sc := sched.New(clock.Real())
	defer sc.Close()
	var tx *transaction.Layer
	cli := transport.New(transport.Config{ConnClosed: func(a transport.Addr, err error) { tx.ConnClosed(a, err) }},
		func(in *transport.Inbound) {
			if res, ok := in.Msg.(*sip.Response); ok {
				tx.HandleResponse(res)
			}
		})
	defer cli.Close()
	tx = transaction.New(transaction.Config{}, sc, cli)

	m, err := sip.ParseMessage([]byte("MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/WS " + transport.InvalidHost() + ";branch=z9hG4bKbroken\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n" +
		"Call-ID: broken@example.com\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"))
	require.NoError(t, err)
	c, err := tx.Request(context.Background(), m.(*sip.Request), transport.Addr{Transport: transport.WS, AddrPort: addr})
	require.NoError(t, err)
	select {
	case <-got: // the server has it and never answers
	case <-time.After(5 * time.Second):
		t.Fatal("request not received")
	}

	start := time.Now()
	require.NoError(t, srv.Close())
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the transaction outlived its connection")
	}
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.ErrorIs(t, c.Err(), transaction.ErrConnClosed)
}
