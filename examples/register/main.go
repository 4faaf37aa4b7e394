// Command register registers a SIP address of record with one registrar or
// an ordered list of them (the first is the primary, the others
// alternates), keeps the registration fresh, fails over and falls back,
// prints every state change of the endpoint, and unregisters on Ctrl-C.
//
//	go run ./examples/register -registrar 127.0.0.1:5060,127.0.0.1:5070 \
//	    -user sip:alice@example.test -password alice123 -expires 600 -fallback interval:60s
package main

import (
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

	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
)

func main() {
	// Ctrl-C ends the program at any point: during Establish too.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "register:", err)
		os.Exit(1)
	}
}

// run registers until ctx ends, then unregisters; what happens goes to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	fs.SetOutput(out)
	registrars := fs.String("registrar", "", "registrars in order of preference: host:port[,host:port...] (or SIP URIs, e.g. sip:10.0.0.1:5060;transport=tcp)")
	user := fs.String("user", "", "address of record, e.g. sip:alice@example.test")
	authUser := fs.String("auth-user", "", "digest username (default: the user part of -user)")
	password := fs.String("password", "", "digest password")
	expires := fs.Int("expires", 600, "registration interval to ask for, in seconds")
	fallback := fs.String("fallback", "expiry", "when to go back to the primary: interval:DURATION (probe every DURATION), expiry (at the next refresh) or never")
	dual := fs.Bool("dual", false, "keep a binding at the primary and at the first alternate at once")
	listen := fs.String("listen", "udp:127.0.0.1:0", "listeners, comma-separated (udp:, tcp:, tls:host:port)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: register -registrar host:port[,host:port...] -user sip:alice@example.test -password SECRET\n"+
			"                [-expires 600] [-fallback interval:60s|expiry|never] [-dual] [-listen udp:127.0.0.1:0]\n\n"+
			"Registers, prints every state change, and unregisters on Ctrl-C.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *registrars == "" || *user == "" {
		fs.Usage()
		return errors.New("-registrar and -user are required")
	}
	fo := ua.FailoverConfig{}
	switch f := *fallback; {
	case f == "expiry":
		fo.Fallback = ua.FallbackAtExpiry
	case f == "never":
		fo.Fallback = ua.FallbackNever
	case strings.HasPrefix(f, "interval"):
		fo.Fallback = ua.FallbackInterval
		if _, v, ok := strings.Cut(f, ":"); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("-fallback %q: %w", f, err)
			}
			fo.FallbackInterval = d
		}
	default:
		return fmt.Errorf("-fallback %q: want interval:DURATION, expiry or never", f)
	}

	p := &printer{out: out}
	u, err := ua.New(ua.Config{Listen: strings.Split(*listen, ",")})
	if err != nil {
		return err
	}
	defer u.Close(context.Background())
	e, err := ua.NewUserEndpoint(u, ua.UserEndpointConfig{
		AOR:              *user,
		Credentials:      auth.Credentials{Username: *authUser, Password: *password},
		Registrars:       strings.Split(*registrars, ","),
		Expires:          time.Duration(*expires) * time.Second,
		Failover:         fo,
		DualRegistration: *dual,
		OnEvent:          p.event,
	})
	if err != nil {
		return err
	}
	ectx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = e.Establish(ectx)
	cancel()
	if err != nil {
		return err
	}
	p.printf("registered; Ctrl-C unregisters and exits\n")
	<-ctx.Done()
	tctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = e.Terminate(tctx)
	p.wait() // the last events print before run returns
	return err
}

// printer prints the endpoint's events, which arrive on its own goroutine;
// nothing is printed once run has returned.
type printer struct {
	mu     sync.Mutex
	out    io.Writer
	closed bool
}

func (p *printer) printf(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		fmt.Fprintf(p.out, time.Now().Format("15:04:05.000")+" "+format, a...)
	}
}

// wait gives the endpoint's last events (Unregistered, Terminated) a
// moment to arrive after Terminate returned, then closes the output.
func (p *printer) wait() {
	time.Sleep(50 * time.Millisecond)
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

func (p *printer) event(ev ua.Event) {
	switch ev := ev.(type) {
	case *ua.StateChanged:
		p.printf("endpoint %s -> %s%s\n", ev.From, ev.To, cause(ev.Cause))
	case *ua.RegistrationStateChanged:
		extra := ""
		if ev.State == ua.Registered {
			extra = fmt.Sprintf(" for %s (%d binding(s))", ev.Expires, len(ev.Contacts))
		}
		p.printf("registration at %s: %s%s%s\n", ev.Target, ev.State, extra, cause(ev.Cause))
	case *ua.FailedOver:
		p.printf("failed over %s -> %s%s\n", ev.From, ev.To, cause(ev.Cause))
	case *ua.FellBack:
		p.printf("fell back %s -> %s (%s)\n", ev.From, ev.To, ev.Mode)
	}
}

func cause(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}
