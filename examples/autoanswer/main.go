// Command autoanswer is an application endpoint that answers every INVITE
// with an SDP answer and keeps the session, with RFC 4028 session timers
// as configured. It prints one line per session event, runs until SIGINT
// or SIGTERM, and then ends every session with BYE.
//
//	go run ./examples/autoanswer -listen 127.0.0.1:5080 -session-expires 1800 -min-se 90
//
// It listens on UDP and TCP at the same address. -session-expires 0
// disables session timers (no Supported: timer from us; a peer's timer is
// still answered as RFC 4028 §9 requires). The library negotiates SDP; no
// media flows.
//
// Holding many calls, set Go's memory limit: with GOMEMLIMIT=800MiB it held
// 100,000 established calls in 901 MiB (see the README's benchmarks).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/dialog/sdpneg"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transport"
	"github.com/sipua-go/sipua/sip/ua"
	"github.com/sipua-go/sipua/timer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "autoanswer:", err)
		os.Exit(1)
	}
}

// run is the program: it returns when ctx ends (after hanging up every
// call) or on a setup error. ready, when not nil, receives the addresses
// listened on.
func run(ctx context.Context, args []string, out io.Writer, ready chan<- []transport.Addr) error {
	fs := flag.NewFlagSet("autoanswer", flag.ContinueOnError)
	fs.SetOutput(out)
	listen := fs.String("listen", "127.0.0.1:5080", "address to listen on, UDP and TCP")
	se := fs.Duration("session-expires", 1800*time.Second, "session interval (RFC 4028); 0 disables session timers (a bare number is seconds)")
	minSE := fs.Duration("min-se", 90*time.Second, "smallest session interval accepted (Min-SE)")
	refresher := fs.String("refresher", "auto", "preferred refresher: auto, uac or uas")
	method := fs.String("refresh-method", "auto", "refresh with: auto (UPDATE when the peer allows it), update or invite")
	hangup := fs.Duration("hangup-after", 0, "hang up each call after this long (0: never)")
	trace := fs.Bool("trace", false, "print every SIP message sent and received")
	quiet := fs.Bool("quiet", false, "print only a summary at exit (for load tests)")
	fs.Usage = func() {
		fmt.Fprintln(out, "usage: autoanswer [flags]\n\nAn application endpoint that answers every call and keeps it.\nThe library negotiates SDP; no media flows.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(secondsArgs(args, "session-expires", "min-se")); err != nil {
		return err
	}
	tcfg, err := timerConfig(*se, *minSE, *refresher, *method)
	if err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(*listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}

	var pmu sync.Mutex
	printf := func(format string, a ...any) {
		if *quiet {
			return
		}
		pmu.Lock()
		defer pmu.Unlock()
		fmt.Fprintf(out, time.Now().Format("15:04:05.000")+" "+format+"\n", a...)
	}
	cfg := ua.Config{Listen: []string{"udp:" + ap.String(), "tcp:" + ap.String()}, UserAgent: "sipua-autoanswer"}
	if *trace {
		show := func(dir string) func(transport.Event) {
			return func(e transport.Event) {
				pmu.Lock()
				defer pmu.Unlock()
				fmt.Fprintf(out, "%s %s %s %s\n%s\n", dir, e.Transport, e.Local, e.Remote, e.Data)
			}
		}
		cfg.Trace = &transport.Trace{Sent: show("sent"), Received: show("recv")}
	}
	u, err := ua.New(cfg)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = u.Close(cctx)
	}()
	addrs := u.Addrs()
	media := sdpneg.AudioOnly(ap.Addr().String(), 40000)
	ep := dialog.Static{Agent: u, Identity: sip.Address{URI: sip.URI{Scheme: "sip", User: "autoanswer", Host: ap.Addr().String(), Port: int(addrs[0].AddrPort.Port())}}}

	var calls atomic.Int64
	layer, err := dialog.New(ep, dialog.Config{
		SessionTimer: tcfg,
		Media:        &media,
		OnInvite: func(s *dialog.Session) {
			n := calls.Add(1)
			id := fmt.Sprintf("call %d", n)
			printf("%s: INVITE from %s", id, s.Request().From().URI)
			s.OnEvent(func(s *dialog.Session, ev dialog.Event) {
				switch ev := ev.(type) {
				case dialog.StateChanged:
					if ev.To == dialog.Terminated {
						printf("%s: %s → %s (%v)", id, ev.From, ev.To, ev.Err)
						return
					}
					printf("%s: %s → %s", id, ev.From, ev.To)
					if ev.To == dialog.Established {
						if st := s.SessionTimer(); st.Active() {
							printf("%s: session timer %v, refresher %s", id, st.Interval(), st.Refresher())
						}
						if *hangup > 0 {
							u.Scheduler().AfterFunc(*hangup, func() { go s.Hangup(context.Background()) })
						}
					}
				case dialog.Refreshed:
					printf("%s: session refreshed (%v, refresher %s)", id, ev.Interval, ev.Refresher)
				case dialog.RefreshFailed:
					printf("%s: session refresh failed: %d %v", id, ev.StatusCode, ev.Err)
				case dialog.MediaChanged:
					printf("%s: media changed", id)
				}
			})
			go func() { _ = s.Accept(context.Background(), nil) }()
		},
	})
	if err != nil {
		return err
	}
	printf("answering on %v (session timer: %s)", addrs, describe(tcfg))
	if ready != nil {
		ready <- addrs
	}
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = layer.Close(cctx)
	ended := calls.Load() - int64(layer.Len()) // ended sessions leave the layer
	pmu.Lock()
	fmt.Fprintf(out, "%d calls answered, %d ended\n", calls.Load(), ended)
	pmu.Unlock()
	return err
}

// secondsArgs lets duration flags take a bare number of seconds, as
// Session-Expires does on the wire: "-session-expires 1800".
func secondsArgs(args []string, names ...string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		for _, n := range names {
			switch {
			case (a == "-"+n || a == "--"+n) && i+1 < len(out) && isDigits(out[i+1]):
				out[i+1] += "s"
			case len(a) > len(n)+2 && (a[:len(n)+2] == "-"+n+"=") && isDigits(a[len(n)+2:]):
				out[i] += "s"
			}
		}
	}
	return out
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func timerConfig(se, minSE time.Duration, refresher, method string) (timer.Config, error) {
	var c timer.Config
	if se == 0 {
		c.Disabled = true
		return c, nil
	}
	c.Interval, c.MinSE = se, minSE
	switch refresher {
	case "auto":
	case "uac":
		c.Refresher = timer.RefresherUAC
	case "uas":
		c.Refresher = timer.RefresherUAS
	default:
		return c, fmt.Errorf("-refresher: want auto, uac or uas, not %q", refresher)
	}
	switch method {
	case "auto":
	case "update":
		c.Method = timer.MethodUpdate
	case "invite":
		c.Method = timer.MethodInvite
	default:
		return c, fmt.Errorf("-refresh-method: want auto, update or invite, not %q", method)
	}
	return c, c.Validate()
}

func describe(c timer.Config) string {
	if c.Disabled {
		return "off"
	}
	return fmt.Sprintf("%v, Min-SE %v", c.Interval, c.MinSE)
}
