// Command quickstart shows sipua end to end on loopback, with nothing to
// install: it starts an embedded registrar and presence server built from
// the library's own server pieces, then two user endpoints, alice and bob,
// that register with digest authentication. Bob watches alice's presence;
// alice calls bob with an SDP offer and a session timer; alice's presence
// goes to on-the-phone during the call and back after; the session timer
// refreshes twice; alice sends bob an instant message; alice hangs up and
// everything is torn down.
//
//	go run ./examples/quickstart          # the timeline
//	go run ./examples/quickstart -trace   # and every SIP message
//
// The demo's clock runs 20 times faster than real time, so the session
// timer can keep RFC 4028's smallest interval (90 s) and still refresh
// twice within seconds; times in the timeline are demo time. It exits 0
// within 30 seconds, or non-zero with the step that failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/dialog/sdpneg"
	"github.com/sipua-go/sipua/im"
	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/presence"
	"github.com/sipua-go/sipua/presence/pidf"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/transport"
	"github.com/sipua-go/sipua/sip/ua"
	"github.com/sipua-go/sipua/timer"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "quickstart failed:", err)
		os.Exit(1)
	}
}

const (
	domain  = "example.test"
	speedup = 20
)

var passwords = map[string]string{"alice": "alice-pw", "bob": "bob-pw"}

// demo holds what every step needs: the shared clock, the output, and
// the events the steps wait for.
type demo struct {
	out    io.Writer
	clk    clock.Clock
	start  time.Time
	mu     sync.Mutex
	trace  bool
	closed bool // run has returned: late events are not printed

	presence  chan pidf.Summary // what bob's watcher saw of alice
	refreshes chan dialog.Refreshed
	messages  chan string
	incoming  chan *dialog.Session
}

func (d *demo) logf(who, format string, a ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	at := d.clk.Now().Sub(d.start).Seconds()
	fmt.Fprintf(d.out, "[%6.1fs] %-7s %s\n", at, who, fmt.Sprintf(format, a...))
}

func (d *demo) tracer(who string) *transport.Trace {
	if !d.trace {
		return nil
	}
	show := func(dir string) func(transport.Event) {
		return func(e transport.Event) {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.closed {
				return
			}
			fmt.Fprintf(d.out, "----- %s %s %s %s → %s\n%s\n", who, dir, e.Transport, e.Local, e.Remote, strings.TrimRight(string(e.Data), "\r\n"))
		}
	}
	return &transport.Trace{Sent: show("sent"), Received: show("received")}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(out)
	trace := fs.Bool("trace", false, "print every SIP message sent and received")
	fs.Usage = func() {
		fmt.Fprintln(out, "usage: quickstart [-trace]\n\nA self-contained sipua demo on loopback: registrar and presence server,\ntwo user endpoints, presence, a call with session timers, an instant message.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	clk := clock.Scaled(speedup)
	d := &demo{out: out, clk: clk, start: clk.Now(), trace: *trace,
		presence: make(chan pidf.Summary, 16), refreshes: make(chan dialog.Refreshed, 16),
		messages: make(chan string, 4), incoming: make(chan *dialog.Session, 1)}
	d.logf("demo", "clock runs %d× real time; times are demo seconds", speedup)
	var teardown []func(context.Context)
	defer func() {
		tctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i := len(teardown) - 1; i >= 0; i-- {
			teardown[i](tctx)
		}
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
	}()
	step := func(name string, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}

	// 1. The server: registrar (digest), redirect server, presence.
	server, err := ua.New(ua.Config{Clock: clk, UserAgent: "sipua-quickstart-server", Trace: d.tracer("server")})
	if err != nil {
		return step("server", err)
	}
	teardown = append(teardown, func(ctx context.Context) { _ = server.Close(ctx) })
	digest, err := auth.NewServer(auth.ServerConfig{Realm: domain})
	if err != nil {
		return step("server", err)
	}
	reg := ua.NewRegistrar(server, ua.RegistrarConfig{Auth: digest, Domains: []string{domain},
		Password: func(user, _ string) (string, bool) { p, ok := passwords[user]; return p, ok }})
	server.Handle(sip.MethodRegister, reg)
	server.Handle(sip.MethodInvite, reg.Redirect())
	server.Handle(sip.MethodMessage, reg.Redirect())
	comp := presence.NewCompositor(server, presence.CompositorConfig{})
	server.Handle(sip.MethodPublish, comp)
	notifier := presence.NewNotifier(server, presence.NotifierConfig{Compositor: comp})
	server.Handle(sip.MethodSubscribe, notifier)
	srvAddr := server.Addrs()[0].AddrPort.String()
	d.logf("server", "registrar, redirect and presence server on udp:%s (realm %s)", srvAddr, domain)

	// 2. Two user endpoints register with digest authentication.
	// The library negotiates SDP; no media flows in this demo, so the
	// ports are only what the offer and answer announce.
	aliceMedia := sdpneg.AudioOnly("127.0.0.1", 40000)
	bobMedia := sdpneg.AudioOnly("127.0.0.1", 40002)
	endpoint := func(name string) (*ua.UA, *ua.UserEndpoint, error) {
		u, err := ua.New(ua.Config{Clock: clk, UserAgent: "sipua-quickstart-" + name, Trace: d.tracer(name)})
		if err != nil {
			return nil, nil, err
		}
		teardown = append(teardown, func(ctx context.Context) { _ = u.Close(ctx) })
		ep, err := ua.NewUserEndpoint(u, ua.UserEndpointConfig{
			AOR:         "sip:" + name + "@" + domain,
			Credentials: auth.Credentials{Username: name, Password: passwords[name]},
			Registrars:  []string{srvAddr},
			Expires:     600 * time.Second,
			OnEvent: func(ev ua.Event) {
				if rs, ok := ev.(*ua.RegistrationStateChanged); ok {
					d.logf(name, "registration %s%s", rs.State, expiresText(rs))
				}
			},
		})
		if err != nil {
			return nil, nil, err
		}
		if err := ep.Establish(ctx); err != nil {
			return nil, nil, err
		}
		teardown = append(teardown, func(ctx context.Context) {
			if err := ep.Terminate(ctx); err == nil {
				d.logf(name, "unregistered")
			}
		})
		return u, ep, nil
	}
	aliceUA, alice, err := endpoint("alice")
	if err != nil {
		return step("alice registers", err)
	}
	bobUA, bob, err := endpoint("bob")
	if err != nil {
		return step("bob registers", err)
	}

	// 3. Bob watches alice's presence; alice publishes hers.
	aliceURI := alice.Address().URI
	watcher, err := presence.NewWatcher(presence.WatcherConfig{UA: bobUA, Sender: bob, From: bob.Address(), Contact: bob.Contact(),
		OnEvent: func(ev presence.ContactEvent) {
			if ev.Presence.Basic == "" {
				d.logf("bob", "sees %s: %s", ev.URI, ev.State)
				return
			}
			d.logf("bob", "sees %s: %s", ev.URI, describe(ev.Presence))
			d.presence <- ev.Presence
		}})
	if err != nil {
		return step("bob watches alice", err)
	}
	teardown = append(teardown, func(ctx context.Context) { _ = watcher.Close(ctx) })
	if err := watcher.Add(ctx, aliceURI); err != nil {
		return step("bob watches alice", err)
	}
	pub, err := presence.NewPublication(presence.PublicationConfig{UA: aliceUA, Sender: alice, Resource: aliceURI, From: alice.Address(),
		OnEvent: func(ev presence.PublicationEvent) {
			if sc, ok := ev.(presence.PublicationStateChanged); ok && sc.To == presence.Published {
				d.logf("alice", "presence published")
			}
		}})
	if err != nil {
		return step("alice publishes", err)
	}
	teardown = append(teardown, func(ctx context.Context) {
		if err := pub.Remove(ctx); err == nil {
			d.logf("alice", "presence removed (Expires: 0)")
		}
	})
	publish := func(doc *pidf.Document) error {
		b, err := doc.Marshal()
		if err != nil {
			return err
		}
		return pub.Publish(ctx, presence.Body{ContentType: pidf.ContentType, Data: b})
	}
	if err := publish(pidf.New(aliceURI.String()).Open().DisplayName("Alice").Note("available")); err != nil {
		return step("alice publishes", err)
	}
	if err := d.waitPresence(ctx, func(s pidf.Summary) bool { return s.Basic == pidf.Open && len(s.Activities) == 0 }); err != nil {
		return step("bob sees alice available", err)
	}

	// 4. Alice calls bob with an SDP offer and a 90 s session timer that
	// she refreshes.
	bobLayer, err := dialog.New(bob, dialog.Config{Media: &bobMedia, OnInvite: func(s *dialog.Session) {
		d.logf("bob", "incoming call from %s", s.Request().From().URI)
		d.incoming <- s
		go func() { _ = s.Accept(context.Background(), nil) }()
	}})
	if err != nil {
		return step("bob answers calls", err)
	}
	teardown = append(teardown, func(ctx context.Context) { _ = bobLayer.Close(ctx) })
	// Pager-mode instant messages (RFC 3428): bob's pager receives.
	if _, err := im.NewPager(im.PagerConfig{Endpoint: bob, OnMessage: func(m *im.Message) { d.messages <- m.Text() }}); err != nil {
		return step("bob receives messages", err)
	}
	aliceLayer, err := dialog.New(alice, dialog.Config{Media: &aliceMedia,
		SessionTimer: timer.Config{Interval: 90 * time.Second, Refresher: timer.RefresherUAC}})
	if err != nil {
		return step("alice calls", err)
	}
	teardown = append(teardown, func(ctx context.Context) { _ = aliceLayer.Close(ctx) })
	bobURI := bob.Address().URI
	d.logf("alice", "calls %s", bobURI)
	call, err := aliceLayer.Invite(ctx, bobURI, dialog.InviteOptions{OnEvent: func(s *dialog.Session, ev dialog.Event) {
		switch ev := ev.(type) {
		case dialog.Progress:
			d.logf("alice", "call progress: %d %s", ev.Response.StatusCode, ev.Response.Reason)
		case dialog.Refreshed:
			d.logf("alice", "session refreshed by %s (interval %v, next at +%.0fs)", ev.Method, ev.Interval, ev.NextRefresh.Sub(d.start).Seconds())
			d.refreshes <- ev
		case dialog.StateChanged:
			if ev.To == dialog.Terminated {
				d.logf("alice", "call ended: %v", ev.Err)
			}
		}
	}})
	if err != nil {
		return step("alice calls bob", err)
	}
	st := call.SessionTimer()
	d.logf("alice", "call established: session timer %v, refresher %s (RFC 4028)", st.Interval(), st.Refresher())
	if !strings.Contains(string(call.RemoteSDP()), "m=audio") {
		return step("alice calls bob", errors.New("no audio in the SDP answer"))
	}
	var in *dialog.Session
	select {
	case in = <-d.incoming:
	case <-ctx.Done():
		return step("bob answers", ctx.Err())
	}

	// 5. During the call alice is on the phone.
	if err := publish(pidf.New(aliceURI.String()).Open().DisplayName("Alice").Activity(pidf.OnThePhone).Note("in a call")); err != nil {
		return step("alice publishes on-the-phone", err)
	}
	if err := d.waitPresence(ctx, func(s pidf.Summary) bool { return hasActivity(s, pidf.OnThePhone) }); err != nil {
		return step("bob sees alice on the phone", err)
	}

	// 6. Two session refreshes.
	for i := 0; i < 2; i++ {
		select {
		case <-d.refreshes:
		case <-ctx.Done():
			return step("session refresh", ctx.Err())
		}
	}

	// 7. An instant message (pager mode, RFC 3428) through the server's
	// redirect to bob's registered contact.
	pager, err := im.NewPager(im.PagerConfig{Endpoint: alice})
	if err != nil {
		return step("alice sends an instant message", err)
	}
	if _, err := pager.SendText(ctx, bobURI, "Hi Bob, this call was set up by sipua."); err != nil {
		return step("alice sends an instant message", err)
	}
	d.logf("alice", "sent an instant message to %s", bobURI)
	select {
	case msg := <-d.messages:
		d.logf("bob", "received message: %q", msg)
	case <-ctx.Done():
		return step("bob receives the message", ctx.Err())
	}

	// 8. Alice hangs up; her presence goes back to available.
	if err := call.Hangup(ctx); err != nil {
		return step("alice hangs up", err)
	}
	select {
	case <-in.Done():
		d.logf("bob", "call ended: %v", in.Err())
	case <-ctx.Done():
		return step("bob sees the hang-up", ctx.Err())
	}
	if err := publish(pidf.New(aliceURI.String()).Open().DisplayName("Alice").Note("available")); err != nil {
		return step("alice publishes available", err)
	}
	if err := d.waitPresence(ctx, func(s pidf.Summary) bool { return s.Basic == pidf.Open && len(s.Activities) == 0 }); err != nil {
		return step("bob sees alice available again", err)
	}
	d.logf("demo", "all steps done; tearing down")
	return nil
}

// waitPresence waits until bob's watcher reports a state of alice that ok
// accepts.
func (d *demo) waitPresence(ctx context.Context, ok func(pidf.Summary) bool) error {
	for {
		select {
		case s := <-d.presence:
			if ok(s) {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

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

func hasActivity(s pidf.Summary, a pidf.Activity) bool {
	for _, x := range s.Activities {
		if x == a {
			return true
		}
	}
	return false
}

func expiresText(rs *ua.RegistrationStateChanged) string {
	if rs.Expires > 0 {
		return fmt.Sprintf(" at %s (expires %v)", rs.Target.AddrPort, rs.Expires)
	}
	if rs.Cause != nil {
		return fmt.Sprintf(" (%v)", rs.Cause)
	}
	return ""
}
