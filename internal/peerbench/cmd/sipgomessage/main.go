// Command sipgomessage is the github.com/emiago/sipgo v1.7.2 side of the
// capped MESSAGE throughput comparison (throughput_capped_test.go): a
// sipgo server on UDP that answers every MESSAGE with 200, exactly like
// the in-process server of TestMessageThroughput, run as its own process
// so that it can be pinned to a core and given a CPU quota. Methods
// without a handler get sipgo's default answer (the test's readiness probe
// sends OPTIONS). It runs until SIGINT or SIGTERM and then prints how many
// MESSAGEs it answered.
//
// sipgo leaves the UDP socket's receive buffer at the system default
// (212,992 bytes here) while sip/ua asks for 4 MiB; under a CPU quota the
// server is descheduled for most of each period and the socket must hold
// the datagrams that arrive meanwhile, so -rcvbuf (default 4 MiB, like
// sip/ua) makes the socket itself and serves it with Server.ServeUDP;
// -rcvbuf 0 leaves it to sipgo.
//
//	go run ./cmd/sipgomessage -listen 127.0.0.1:5090
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:5090", "UDP address to listen on")
	rcvbuf := flag.Int("rcvbuf", 4<<20, "UDP socket receive and send buffer in bytes (0: system default)")
	flag.Parse()
	// sipgo logs through slog's default logger: errors only.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err := run(*listen, *rcvbuf); err != nil {
		fmt.Fprintln(os.Stderr, "sipgomessage:", err)
		os.Exit(1)
	}
}

func run(listen string, rcvbuf int) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("sipgomessage"), sipgo.WithUserAgentHostname(host))
	if err != nil {
		return err
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		return err
	}
	var answered atomic.Int64
	srv.OnMessage(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		answered.Add(1)
	})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	if rcvbuf > 0 {
		laddr, err := net.ResolveUDPAddr("udp", listen)
		if err != nil {
			return err
		}
		conn, err := net.ListenUDP("udp", laddr)
		if err != nil {
			return err
		}
		_ = conn.SetReadBuffer(rcvbuf)
		_ = conn.SetWriteBuffer(rcvbuf)
		go func() { <-ctx.Done(); _ = conn.Close() }()
		fmt.Printf("answering on udp %s\n", conn.LocalAddr())
		go func() { errc <- srv.ServeUDP(conn) }()
	} else {
		ready := context.WithValue(ctx, sipgo.ListenReadyCtxKey, sipgo.ListenReadyFuncCtxValue(func(network, addr string) {
			fmt.Printf("answering on %s %s\n", network, addr)
		}))
		go func() { errc <- srv.ListenAndServe(ready, "udp", listen) }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if ctx.Err() == nil {
			return err
		}
	}
	fmt.Printf("%d MESSAGE answered\n", answered.Load())
	return nil
}
