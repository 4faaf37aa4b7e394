// Package imtest is an in-process instant-messaging peer for tests and
// examples: a UA on 127.0.0.1 with a pager-mode inbox (im.Pager) and a
// dialog layer that accepts IM sessions (im.Flow), as httptest.Server is
// for net/http.
package imtest

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/im"
	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transaction"
	"github.com/sipua-go/sipua/sip/ua"
)

// Config configures a Peer. The zero value is a UDP-only peer "bob" on
// the system clock that takes every message and session.
type Config struct {
	// User is the user part of the peer's URI. Zero: "bob".
	User string
	// Clock drives the UA's timers. Nil: the system clock.
	Clock clock.Clock
	// Timers are the UA's T1/T2/T4. Zero: RFC 3261's.
	Timers transaction.Config
	// TCP adds a TCP listener on the UDP listener's port, so that requests
	// over 1300 bytes switch to it (RFC 3428 §9).
	TCP bool
	// Hold leaves the pager without a handler: messages wait in its
	// buffer until the test calls Pager.OnMessage.
	Hold bool
	// MaxSize and Accept configure the pager (see im.PagerConfig).
	MaxSize int
	Accept  []string
	// RejectSessions answers IM INVITEs with this code instead of
	// accepting them (zero: accept).
	RejectSessions int
}

// Peer is an in-process IM peer.
type Peer struct {
	UA       *ua.UA
	Layer    *dialog.Layer
	Pager    *im.Pager
	Identity sip.Address
	// URI is where the peer is reached: sip:user@127.0.0.1:port.
	URI sip.URI
	// Messages receives pager-mode messages (unless Hold).
	Messages chan *im.Message
	// Flows receives the IM sessions the peer accepted.
	Flows chan *im.Flow
}

// New starts a peer; it is closed when the test ends.
func New(t testing.TB, cfg Config) *Peer {
	t.Helper()
	if cfg.User == "" {
		cfg.User = "bob"
	}
	u := newUA(t, cfg)
	p := &Peer{UA: u, Messages: make(chan *im.Message, 4096), Flows: make(chan *im.Flow, 16)}
	port := u.Addrs()[0].AddrPort.Port()
	p.URI = sip.URI{Scheme: "sip", User: cfg.User, Host: "127.0.0.1", Port: int(port)}
	p.Identity = sip.Address{URI: sip.URI{Scheme: "sip", User: cfg.User, Host: "example.test"}}
	pc := im.PagerConfig{UA: u, From: p.Identity, MaxSize: cfg.MaxSize, Accept: cfg.Accept}
	if !cfg.Hold {
		pc.OnMessage = func(m *im.Message) { p.Messages <- m }
	}
	var err error
	if p.Pager, err = im.NewPager(pc); err != nil {
		t.Fatal(err)
	}
	p.Layer, err = dialog.New(dialog.Static{Agent: u, Identity: p.Identity}, dialog.Config{
		OnInvite: func(s *dialog.Session) {
			if cfg.RejectSessions != 0 {
				_ = s.Reject(context.Background(), cfg.RejectSessions, "")
				return
			}
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				f, err := im.Accept(ctx, s, im.FlowConfig{UA: u})
				if err == nil {
					p.Flows <- f
				}
			}()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Layer.Close(ctx)
		_ = u.Close(ctx)
	})
	return p
}

// newUA listens on a free UDP port of 127.0.0.1 (and TCP on the same
// port with cfg.TCP), trying a few ports.
func newUA(t testing.TB, cfg Config) *ua.UA {
	var last error
	for range 20 {
		listen := []string{"udp:127.0.0.1:0"}
		if cfg.TCP {
			port, err := freePort()
			if err != nil {
				last = err
				continue
			}
			p := strconv.Itoa(port)
			listen = []string{"udp:127.0.0.1:" + p, "tcp:127.0.0.1:" + p}
		}
		u, err := ua.New(ua.Config{Listen: listen, Clock: cfg.Clock, Timers: cfg.Timers})
		if err == nil {
			return u
		}
		last = err
	}
	t.Fatalf("imtest: no free port: %v", last)
	return nil
}

func freePort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// Target returns the peer's UDP address as a ua.Target.
func (p *Peer) Target() ua.Target { return p.UA.Addrs()[0] }

// Next returns the next pager message, failing the test after d.
func (p *Peer) Next(t testing.TB, d time.Duration) *im.Message {
	t.Helper()
	select {
	case m := <-p.Messages:
		return m
	case <-time.After(d):
		t.Fatalf("imtest: no message within %v", d)
		return nil
	}
}

// NextFlow returns the next accepted IM session, failing after d.
func (p *Peer) NextFlow(t testing.TB, d time.Duration) *im.Flow {
	t.Helper()
	select {
	case f := <-p.Flows:
		return f
	case <-time.After(d):
		t.Fatalf("imtest: no IM session within %v", d)
		return nil
	}
}
