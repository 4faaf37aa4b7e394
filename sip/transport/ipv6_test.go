package transport

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
)

// The transports work over IPv6 (bracketed references in Via included).
func TestIPv6(t *testing.T) {
	if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		c.Close()
	}
	for _, tr := range []string{UDP, TCP} {
		t.Run(tr, func(t *testing.T) {
			srvIn, cliIn := newInbox(), newInbox()
			srv := New(Config{}, srvIn.handle)
			defer srv.Close()
			cli := New(Config{}, cliIn.handle)
			defer cli.Close()
			listen := srv.ListenUDP
			if tr == TCP {
				listen = srv.ListenTCP
			}
			addr, err := listen("[::1]:0")
			require.NoError(t, err)
			require.True(t, addr.Addr().Is6())
			_, err = cli.ListenUDP("[::1]:0")
			require.NoError(t, err)

			req := request(t, "OPTIONS", "SIP/2.0/"+tr+" [::1]:9;branch=z9hG4bKv6;rport")
			require.NoError(t, cli.Send(context.Background(), Addr{Transport: tr, AddrPort: addr}, req))
			in := srvIn.next(t)
			assert.True(t, in.Remote.Addr().Is6())
			top, _ := in.Msg.(*sip.Request).TopVia()
			assert.Equal(t, "::1", top.Host)
			require.NoError(t, srv.Respond(in, sip.NewResponse(in.Msg.(*sip.Request), 200, "")))
			assert.Equal(t, 200, cliIn.next(t).Msg.(*sip.Response).StatusCode)
		})
	}
}
