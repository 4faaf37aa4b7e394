// Command presence-publisher publishes a user's presence (RFC 3903 PUBLISH
// with a PIDF + RPID document) through a SIP server, as a desk phone does:
// it publishes, refreshes before the state expires, publishes a new state
// on SIGUSR1 (toggling between the -activity given and plain "available"),
// and removes the state (PUBLISH with Expires: 0) when it exits (SIGINT,
// SIGTERM, or after -duration). Digest challenges (401/407) are answered
// with -password. It does not register: the server only needs to accept
// PUBLISH for the user.
//
//	go run ./examples/presence-publisher -server 127.0.0.1:5070 \
//	    -user sip:alice@example.test -password alice123 \
//	    -activity on-the-phone -note "in a call" -expires 600 -duration 30s -trace
//
// Every line it prints starts with what happened: "published", "refreshed",
// "modified", "removed", "recovered" or "failed", then the state and the
// entity-tag the server assigned.
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

	"github.com/sipua-go/sipua/presence"
	"github.com/sipua-go/sipua/presence/pidf"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/transport"
	"github.com/sipua-go/sipua/sip/ua"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "presence-publisher:", err)
		os.Exit(1)
	}
}

// printer serialises the output of the event hooks and the main flow.
type printer struct {
	mu  sync.Mutex
	out io.Writer
}

func (p *printer) printf(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format+"\n", a...)
}

func (p *printer) trace() *transport.Trace {
	show := func(dir string) func(transport.Event) {
		return func(e transport.Event) {
			p.printf("----- %s %s %s → %s\n%s", dir, e.Transport, e.Local, e.Remote, strings.TrimRight(string(e.Data), "\r\n"))
		}
	}
	return &transport.Trace{Sent: show("sent"), Received: show("received")}
}

// run publishes until ctx ends or -duration passes, then removes the
// state. SIGUSR1 toggles the activity.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("presence-publisher", flag.ContinueOnError)
	fs.SetOutput(out)
	server := fs.String("server", "", "the SIP server (outbound proxy) as host:port or a SIP URI (required)")
	user := fs.String("user", "", "the presentity, e.g. sip:alice@example.test (required)")
	password := fs.String("password", "", "digest password (the username is the user part of -user)")
	username := fs.String("auth-user", "", "digest username if not the user part of -user")
	listen := fs.String("listen", "udp:127.0.0.1:0", "local listener, udp:IP:PORT or tcp:IP:PORT")
	activity := fs.String("activity", "", "RPID activity, e.g. on-the-phone, away, busy, meeting (empty: none)")
	note := fs.String("note", "", "presence note")
	displayName := fs.String("display-name", "", "CIPID display-name")
	closed := fs.Bool("closed", false, "publish <basic>closed</basic> instead of open")
	expires := fs.Int("expires", 600, "publication lifetime asked for, in seconds")
	refresh := fs.Duration("refresh", 0, "refresh this long after each 2xx (0: before expiry, max(0, min(E-5s, 0.9E)))")
	duration := fs.Duration("duration", 0, "remove the state and exit after this long (0: run until SIGINT/SIGTERM)")
	legacy := fs.Bool("legacy", false, "write the legacy AudioCodes RPID form")
	trace := fs.Bool("trace", false, "print every SIP message sent and received")
	fs.Usage = func() {
		fmt.Fprintln(out, `usage: presence-publisher -server HOST:PORT -user SIP-URI [-password PW] [options]

Publishes PIDF presence (RFC 3903) through a SIP server, refreshes it before
it expires, publishes again with the activity toggled on SIGUSR1, and removes
it (Expires: 0) on exit.

options:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *server == "" || *user == "" {
		fs.Usage()
		return errors.New("-server and -user are required")
	}
	if *expires <= 0 {
		return errors.New("-expires must be positive")
	}
	aor, err := sip.ParseURI(*user)
	if err != nil || !aor.IsSIP() || aor.User == "" {
		return fmt.Errorf("-user %q is not a SIP URI with a user part", *user)
	}
	p := &printer{out: out}
	cfg := ua.Config{Listen: []string{*listen}, UserAgent: "sipua-presence-publisher"}
	if *trace {
		cfg.Trace = p.trace()
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
	ep, err := ua.NewUserEndpoint(u, ua.UserEndpointConfig{AOR: aor.String(), Registrars: []string{*server},
		Credentials: auth.Credentials{Username: *username, Password: *password}})
	if err != nil {
		return err
	}

	var pub *presence.Publication
	pcfg := presence.PublicationConfig{UA: u, Sender: ep, Resource: aor, Expires: time.Duration(*expires) * time.Second,
		OnEvent: func(ev presence.PublicationEvent) {
			switch ev := ev.(type) {
			case presence.PublicationStateChanged:
				switch {
				case ev.To == presence.Published && ev.From == presence.Refreshing:
					p.printf("refreshed etag=%s expires=%s", pub.ETag(), time.Until(pub.ExpiresAt()).Round(time.Second))
				case ev.To == presence.Failed:
					p.printf("failed (%s): %v", ev.From, ev.Cause)
				case ev.To == presence.Published && ev.From == presence.Modifying && ev.Cause != nil:
					p.printf("modify failed, the previous state holds: %v", ev.Cause)
				}
			case presence.PublicationRecovered:
				p.printf("recovered after %v: etag=%s", ev.Cause, ev.ETag)
			case presence.PublicationRemoved:
				if ev.Cause != nil {
					p.printf("removed (nothing left to remove: %v)", ev.Cause)
				} else {
					p.printf("removed")
				}
			}
		}}
	if *refresh > 0 {
		pcfg.RefreshAfter = func(time.Duration) time.Duration { return *refresh }
	}
	pub, err = presence.NewPublication(pcfg)
	if err != nil {
		return err
	}

	withActivity := *activity != ""
	document := func() ([]byte, string) {
		doc := pidf.New(aor.String())
		if *closed {
			doc.Closed()
		} else {
			doc.Open()
		}
		if *displayName != "" {
			doc.DisplayName(*displayName)
		}
		n := *note
		if withActivity {
			doc.Activity(pidf.Activity(*activity))
		} else if *activity != "" {
			n = "available" // toggled off
		}
		if n != "" {
			doc.Note(n)
		}
		b, err := doc.Encode(pidf.EncodeOptions{Legacy: *legacy})
		if err != nil {
			return nil, ""
		}
		d, _ := pidf.Parse(b)
		return b, describe(d.Summary())
	}
	publish := func(what string) error {
		body, summary := document()
		if body == nil {
			return fmt.Errorf("cannot encode the document (activity %q)", *activity)
		}
		if err := pub.Publish(ctx, presence.Body{ContentType: pidf.ContentType, Data: body}); err != nil {
			return err
		}
		p.printf("%s %s etag=%s expires=%s", what, summary, pub.ETag(), time.Until(pub.ExpiresAt()).Round(time.Second))
		return nil
	}

	// SIGUSR1 toggles the activity; registered before the first PUBLISH.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)

	p.printf("publishing %s via %s", aor, *server)
	if err := publish("published"); err != nil {
		return fmt.Errorf("initial PUBLISH: %w", err)
	}
	var done <-chan time.Time
	if *duration > 0 {
		done = time.After(*duration)
	}
	var runErr error
loop:
	for {
		select {
		case <-usr1:
			if *activity != "" {
				withActivity = !withActivity
			}
			if err := publish("modified"); err != nil {
				p.printf("modify failed: %v", err)
			}
		case <-done:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	// Remove the state even though ctx may be done.
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.Close(rctx); err != nil {
		runErr = fmt.Errorf("remove: %w", err)
	}
	return runErr
}

// describe renders a summary as "open, on-the-phone (\"in a call\")".
func describe(s pidf.Summary) string {
	var b strings.Builder
	b.WriteString(string(s.Basic))
	for _, a := range s.Activities {
		b.WriteString(", " + string(a))
	}
	if s.Note != "" {
		fmt.Fprintf(&b, " (%q)", s.Note)
	}
	return b.String()
}
