// Command sipgoanswer is the github.com/emiago/sipgo v1.7.2 counterpart of
// examples/autoanswer for the call-rate comparison (callrate_test.go): it
// answers every INVITE on UDP with 200 and an SDP answer through sipgo's
// DialogServerCache, confirms the dialog on ACK and ends it on BYE. It
// has no session timers and no SDP negotiation (the answer is fixed), so
// it does less per call than autoanswer. It runs until SIGINT or SIGTERM
// and then prints how many calls it answered and how many ended.
//
//	go run ./cmd/sipgoanswer -listen 127.0.0.1:5090
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

const answerSDP = "v=0\r\n" +
	"o=sipgoanswer 1 1 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"c=IN IP4 127.0.0.1\r\n" +
	"t=0 0\r\n" +
	"m=audio 40000 RTP/AVP 0\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=sendrecv\r\n"

func main() {
	listen := flag.String("listen", "127.0.0.1:5090", "UDP address to listen on")
	flag.Parse()
	// sipgo logs through slog's default logger: errors only, like
	// autoanswer -quiet.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err := run(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "sipgoanswer:", err)
		os.Exit(1)
	}
}

func run(listen string) error {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return err
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("sipgoanswer"), sipgo.WithUserAgentHostname(host))
	if err != nil {
		return err
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		return err
	}
	cli, err := sipgo.NewClient(ua)
	if err != nil {
		return err
	}
	dialogs := sipgo.NewDialogServerCache(cli, sip.ContactHeader{
		Address: sip.Uri{Scheme: "sip", User: "sipgoanswer", Host: host, Port: port},
	})
	var answered, ended atomic.Int64
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		dlg, err := dialogs.ReadInvite(req, tx)
		if err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, err.Error(), nil))
			return
		}
		defer dlg.Close()
		answered.Add(1)
		// RespondSDP retransmits the 200 until the ACK comes (RFC 3261
		// §13.3.1.4) and returns then.
		if err := dlg.RespondSDP([]byte(answerSDP)); err != nil {
			return
		}
		<-dlg.Context().Done() // BYE
		ended.Add(1)
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = dialogs.ReadAck(req, tx)
	})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := dialogs.ReadBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		}
	})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ready := context.WithValue(ctx, sipgo.ListenReadyCtxKey, sipgo.ListenReadyFuncCtxValue(func(network, addr string) {
		fmt.Printf("answering on %s %s\n", network, addr)
	}))
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(ready, "udp", listen) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if ctx.Err() == nil {
			return err
		}
	}
	fmt.Printf("%d calls answered, %d ended\n", answered.Load(), ended.Load())
	return nil
}
