// Command watcher watches the presence of contacts through a SIP server
// (RFC 6665 SUBSCRIBE/NOTIFY, Event: presence) and prints every change of
// every contact: its subscription state (subscribing, pending, active,
// terminated with the reason and status code) and its presence (basic
// status, RPID activities, note). With -list each -watch URI is a resource
// list (RFC 4662, Supported: eventlist), and every member of the list is
// printed with its own state. Digest challenges (401/407) are answered
// with -password.
//
//	go run ./examples/watcher -server 127.0.0.1:5070 -user sip:bob@example.test \
//	    -password bob123 -watch sip:alice@example.test,sip:carol@example.test -duration 30s
//	go run ./examples/watcher -server 127.0.0.1:5070 -user sip:bob@example.test \
//	    -password bob123 -watch sip:buddies@example.test -list -duration 30s
//
// It unsubscribes and exits after -duration, or on SIGINT/SIGTERM. Lines:
//
//	sip:alice@example.test: active, open, on-the-phone ("in a call")
//	sip:carol@example.test: terminated reason=rejected
//	sip:buddies@example.test sip:dave@example.test: terminated reason=rejected
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
		fmt.Fprintln(os.Stderr, "watcher:", err)
		os.Exit(1)
	}
}

type printer struct {
	mu     sync.Mutex
	out    io.Writer
	closed bool
}

func (p *printer) printf(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		fmt.Fprintf(p.out, format+"\n", a...)
	}
}

func (p *printer) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

func (p *printer) trace() *transport.Trace {
	show := func(dir string) func(transport.Event) {
		return func(e transport.Event) {
			p.printf("----- %s %s %s → %s\n%s", dir, e.Transport, e.Local, e.Remote, strings.TrimRight(string(e.Data), "\r\n"))
		}
	}
	return &transport.Trace{Sent: show("sent"), Received: show("received")}
}

// run watches until ctx ends or -duration passes, then unsubscribes.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("watcher", flag.ContinueOnError)
	fs.SetOutput(out)
	server := fs.String("server", "", "the SIP server (outbound proxy) as host:port or a SIP URI (required)")
	user := fs.String("user", "", "the watcher's address, e.g. sip:bob@example.test (required)")
	password := fs.String("password", "", "digest password (the username is the user part of -user)")
	username := fs.String("auth-user", "", "digest username if not the user part of -user")
	listen := fs.String("listen", "udp:127.0.0.1:0", "local listener, udp:IP:PORT or tcp:IP:PORT")
	watch := fs.String("watch", "", "comma-separated URIs to watch (required)")
	list := fs.Bool("list", false, "each -watch URI is a resource list (RFC 4662): print every member")
	expires := fs.Int("expires", 600, "subscription duration asked for, in seconds")
	duration := fs.Duration("duration", 0, "unsubscribe and exit after this long (0: run until SIGINT/SIGTERM)")
	trace := fs.Bool("trace", false, "print every SIP message sent and received")
	fs.Usage = func() {
		fmt.Fprintln(out, `usage: watcher -server HOST:PORT -user SIP-URI [-password PW] -watch URI[,URI...] [-list] [options]

Subscribes to the presence of each -watch URI (with -list: to each resource
list) and prints every state change of every contact, including failures with
their reason and status code.

options:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *server == "" || *user == "" || *watch == "" {
		fs.Usage()
		return errors.New("-server, -user and -watch are required")
	}
	self, err := sip.ParseURI(*user)
	if err != nil || !self.IsSIP() || self.User == "" {
		return fmt.Errorf("-user %q is not a SIP URI with a user part", *user)
	}
	var targets []sip.URI
	for _, s := range strings.Split(*watch, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		t, err := sip.ParseURI(s)
		if err != nil {
			return fmt.Errorf("-watch %q: %w", s, err)
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return errors.New("-watch names no URI")
	}

	p := &printer{out: out}
	defer p.close()
	cfg := ua.Config{Listen: []string{*listen}, UserAgent: "sipua-watcher"}
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
	ep, err := ua.NewUserEndpoint(u, ua.UserEndpointConfig{AOR: self.String(), Registrars: []string{*server},
		Credentials: auth.Credentials{Username: *username, Password: *password}})
	if err != nil {
		return err
	}
	exp := time.Duration(*expires) * time.Second

	var stop func(context.Context)
	if *list {
		stop = watchLists(ctx, p, u, ep, targets, exp)
	} else {
		stop = watchContacts(ctx, p, u, ep, targets, exp)
	}
	if *duration > 0 {
		select {
		case <-time.After(*duration):
		case <-ctx.Done():
		}
	} else {
		<-ctx.Done()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stop(sctx)
	p.printf("done")
	return nil
}

// watchContacts subscribes to each contact with a presence.Watcher.
func watchContacts(ctx context.Context, p *printer, u *ua.UA, ep *ua.UserEndpoint, targets []sip.URI, exp time.Duration) func(context.Context) {
	w, err := presence.NewWatcher(presence.WatcherConfig{UA: u, Sender: ep, Expires: exp,
		OnEvent: func(ev presence.ContactEvent) {
			p.printf("%s: %s", ev.URI, contactLine(ev.State, ev.Presence, ev.Document != nil, ev.ContentType, ev.Reason, ev.StatusCode, ev.Err))
		}})
	if err != nil {
		p.printf("watcher: %v", err)
		return func(context.Context) {}
	}
	// Failures are reported as events too; Add's error adds nothing.
	_ = w.Add(ctx, targets...)
	return func(ctx context.Context) { _ = w.Close(ctx) }
}

// watchLists subscribes to each resource list (RFC 4662).
func watchLists(ctx context.Context, p *printer, u *ua.UA, ep *ua.UserEndpoint, lists []sip.URI, exp time.Duration) func(context.Context) {
	var subs []*presence.Subscription
	var ended []chan struct{} // closed once a list's Terminated event was printed
	for _, l := range lists {
		l := l
		end := make(chan struct{})
		var once sync.Once
		sub, err := presence.NewSubscription(presence.SubscriptionConfig{UA: u, Sender: ep, Resource: l, EventList: true, Expires: exp,
			OnEvent: func(ev presence.SubscriptionEvent) {
				switch ev := ev.(type) {
				case presence.SubscriptionStateChanged:
					line := strings.ToLower(ev.To.String())
					if ev.Cause != nil {
						line += causeText(ev.Cause.Reason, ev.Cause.StatusCode, ev.Cause.Err)
					}
					p.printf("%s (list): %s", l, line)
					if ev.To == presence.Terminated {
						once.Do(func() { close(end) })
					}
				case presence.ResourceStateChanged:
					r := ev.Resource
					var s pidf.Summary
					var hasDoc bool
					if len(r.Body) > 0 && isPIDF(r.ContentType) {
						if d, err := pidf.Parse(r.Body); err == nil {
							s, hasDoc = d.Summary(), true
						}
					}
					p.printf("%s %s: %s", l, r.URI, contactLine(r.State, s, hasDoc, r.ContentType, r.Reason, r.StatusCode, r.Err))
				}
			}})
		if err != nil {
			p.printf("%s (list): %v", l, err)
			continue
		}
		subs = append(subs, sub)
		ended = append(ended, end)
		if err := sub.Subscribe(ctx); err != nil {
			// also reported as a Terminated event
			continue
		}
	}
	return func(ctx context.Context) {
		for i, s := range subs {
			_ = s.Close(ctx)
			select { // let the last event be printed
			case <-ended[i]:
			case <-ctx.Done():
			}
		}
	}
}

func isPIDF(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), pidf.ContentType)
}

// contactLine renders "active, open, on-the-phone (\"in a call\")" or
// "terminated reason=rejected code=403".
func contactLine(st presence.SubscriptionState, s pidf.Summary, hasDoc bool, ct, reason string, code int, err error) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(st.String()))
	switch {
	case st == presence.Terminated || st == presence.WaitingToRetry:
		b.WriteString(causeText(reason, code, err))
		return b.String()
	case hasDoc && s.Basic != "":
		b.WriteString(", " + string(s.Basic))
	case hasDoc:
		b.WriteString(", no status")
	case ct != "":
		b.WriteString(", " + ct)
	}
	for _, a := range s.Activities {
		b.WriteString(", " + string(a))
	}
	if s.Note != "" {
		fmt.Fprintf(&b, " (%q)", s.Note)
	}
	return b.String()
}

func causeText(reason string, code int, err error) string {
	var b strings.Builder
	if reason != "" {
		b.WriteString(" reason=" + reason)
	}
	if code != 0 {
		fmt.Fprintf(&b, " code=%d", code)
	}
	if reason == "" && code == 0 && err != nil {
		fmt.Fprintf(&b, " (%v)", err)
	}
	return b.String()
}
