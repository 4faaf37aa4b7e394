// Command sipuamessage is the sipua side of the capped MESSAGE throughput
// comparison (throughput_capped_test.go): a sip/ua server on UDP that
// answers every MESSAGE with 200, exactly like the in-process server of
// TestMessageThroughput, run as its own process so that it can be pinned
// to a core and given a CPU quota. Other methods get sip/ua's default
// answer (the test's readiness probe sends OPTIONS). It runs until SIGINT
// or SIGTERM and then prints how many MESSAGEs it answered.
//
//	go run ./cmd/sipuamessage -listen 127.0.0.1:5090
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sipua-go/sipua/sip/ua"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:5090", "UDP address to listen on")
	flag.Parse()
	if err := run(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "sipuamessage:", err)
		os.Exit(1)
	}
}

func run(listen string) error {
	// sip/ua sets a 4 MiB socket receive buffer on UDP listeners itself.
	srv, err := ua.New(ua.Config{Listen: []string{"udp:" + listen}, UserAgent: "sipuamessage"})
	if err != nil {
		return err
	}
	var answered atomic.Int64
	srv.HandleFunc("MESSAGE", func(w ua.ResponseWriter, r *ua.Request) {
		_ = w.Respond(w.NewResponse(200, ""))
		answered.Add(1)
	})
	fmt.Printf("answering on udp %s\n", srv.Addrs()[0].AddrPort)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Close(cctx)
	fmt.Printf("%d MESSAGE answered\n", answered.Load())
	return nil
}
