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
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "register:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
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
	if err := fs.Parse(os.Args[1:]); err != nil {
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
		OnEvent:          printEvent,
	})
	if err != nil {
		return err
	}
	// Ctrl-C ends the program at any point: during Establish too.
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sigCtx, 2*time.Minute)
	err = e.Establish(ctx)
	cancel()
	if err != nil {
		return err
	}
	fmt.Println("registered; Ctrl-C unregisters and exits")
	<-sigCtx.Done()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = e.Terminate(ctx)
	time.Sleep(50 * time.Millisecond) // let the last events print
	return err
}

func printEvent(ev ua.Event) {
	now := time.Now().Format("15:04:05.000")
	switch ev := ev.(type) {
	case *ua.StateChanged:
		fmt.Printf("%s endpoint %s -> %s%s\n", now, ev.From, ev.To, cause(ev.Cause))
	case *ua.RegistrationStateChanged:
		extra := ""
		if ev.State == ua.Registered {
			extra = fmt.Sprintf(" for %s (%d binding(s))", ev.Expires, len(ev.Contacts))
		}
		fmt.Printf("%s registration at %s: %s%s%s\n", now, ev.Target, ev.State, extra, cause(ev.Cause))
	case *ua.FailedOver:
		fmt.Printf("%s failed over %s -> %s%s\n", now, ev.From, ev.To, cause(ev.Cause))
	case *ua.FellBack:
		fmt.Printf("%s fell back %s -> %s (%s)\n", now, ev.From, ev.To, ev.Mode)
	}
}

func cause(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}
