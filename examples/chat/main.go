// Command chat is an interactive instant-messaging client: lines typed are
// sent to -to, messages received are printed. By default it uses
// pager-mode MESSAGE (RFC 3428); with -session it holds an IM session (an
// INVITE with m=message whose messages travel as in-dialog MESSAGE, with
// is-composing indications, RFC 3994), as enterprise UC servers do.
//
//	go run ./examples/chat -server 127.0.0.1:5070 -user sip:alice@example.test \
//	    -password alice123 -to sip:bob@example.test [-session]
//
// Without -server, requests go straight to the -to URI's host and port.
// With -password the user registers at -server (digest); without it the
// client is an application endpoint that only sends through -server.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/im"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// lockedWriter serializes the printing of the stdin loop and the receivers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, a...)
}

// endpoint is what chat needs of ua.UserEndpoint and ua.ApplicationEndpoint.
type endpoint interface {
	ua.Endpoint
	Terminate(ctx context.Context) error
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stdout)
	server := fs.String("server", "", "proxy (and registrar with -password): host:port or a SIP URI; empty: send straight to -to")
	user := fs.String("user", "sip:chat@example.test", "our address, e.g. sip:alice@example.test")
	password := fs.String("password", "", "digest password; set: register at -server")
	to := fs.String("to", "", "who to chat with, e.g. sip:bob@example.test (required)")
	session := fs.Bool("session", false, "hold an INVITE-based IM session instead of pager-mode MESSAGE")
	listen := fs.String("listen", "udp:127.0.0.1:0", "listeners, comma-separated (udp:, tcp:host:port)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: chat -to sip:bob@example.test [-server host:port -user sip:alice@example.test -password SECRET] [-session]\n\n"+
			"Lines typed are sent; messages received are printed. EOF (Ctrl-D) or Ctrl-C ends.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *to == "" {
		fs.Usage()
		return errors.New("-to is required")
	}
	peer, err := sip.ParseURI(*to)
	if err != nil {
		return fmt.Errorf("-to: %w", err)
	}
	if *password != "" && *server == "" {
		return errors.New("-password needs -server")
	}
	out := &lockedWriter{w: stdout}

	u, err := ua.New(ua.Config{Listen: strings.Split(*listen, ",")})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = u.Close(cctx)
	}()
	var ep endpoint
	if *password != "" {
		ep, err = ua.NewUserEndpoint(u, ua.UserEndpointConfig{AOR: *user, Credentials: auth.Credentials{Password: *password},
			Registrars: []string{*server}})
	} else {
		var proxies []string
		if *server != "" {
			proxies = []string{*server}
		}
		ep, err = ua.NewApplicationEndpoint(u, ua.ApplicationEndpointConfig{Identity: *user, Proxies: proxies})
	}
	if err != nil {
		return err
	}
	if e, ok := ep.(interface{ Establish(context.Context) error }); ok {
		ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := e.Establish(ectx)
		cancel()
		if err != nil {
			return fmt.Errorf("establishing %s: %w", *user, err)
		}
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ep.Terminate(cctx)
	}()

	show := func(m *im.Message) {
		if strings.HasPrefix(m.ContentType, im.ComposingType) {
			return
		}
		out.printf("%s: %s\n", m.From.URI.String(), m.Text())
	}
	flows := make(chan *im.Flow, 1)
	fcfg := im.FlowConfig{UA: u, OnEvent: func(ev im.FlowEvent) {
		switch e := ev.(type) {
		case im.MessageReceived:
			show(e.Message)
		case im.ComposingChanged:
			if e.State == im.Active {
				out.printf("[%s is typing]\n", peer.String())
			}
		case im.FlowTerminated:
			out.printf("[session ended: %v]\n", e.Err)
		}
	}}
	// Without a server, INVITEs go straight to the Request-URI: a Static
	// endpoint (an application endpoint would resolve its own domain).
	var dep dialog.Endpoint = ep
	if *server == "" {
		dep = dialog.Static{Agent: u, Identity: ep.Address()}
	}
	layer, err := dialog.New(dep, dialog.Config{OnInvite: func(s *dialog.Session) {
		go func() {
			actx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if f, err := im.Accept(actx, s, fcfg); err == nil {
				select {
				case flows <- f:
				default:
				}
			}
		}()
	}})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = layer.Close(cctx)
	}()
	out.printf("chat: %s on %s; talking to %s (%s). Type a line and press Enter.\n",
		ep.Address().URI.String(), u.Addrs()[0].AddrPort, peer.String(), map[bool]string{true: "session", false: "pager"}[*session])

	var flow *im.Flow
	if *session {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		flow, err = im.Dial(dctx, layer, peer, fcfg)
		cancel()
		if err != nil {
			return fmt.Errorf("IM session with %s: %w", peer.String(), err)
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = flow.Close(cctx)
		}()
	}
	pager, err := im.NewPager(im.PagerConfig{Endpoint: ep, OnMessage: show})
	if err != nil {
		return err
	}

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-flows:
			if flow == nil {
				flow = f
			}
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, 32*time.Second)
			if flow != nil {
				err = flow.SendText(sctx, line)
			} else {
				_, err = pager.SendText(sctx, peer, line)
			}
			cancel()
			if err != nil {
				out.printf("[not delivered: %v]\n", err)
			}
		}
	}
}
