// Command softphone is an interactive terminal softphone over sipua: it
// registers, calls, answers, hangs up, holds, transfers, sends and
// receives instant messages, and publishes and watches presence. Commands
// are typed one per line at the prompt ("help" lists them); a status line
// follows every command and every event:
//
//	[alice@example.test | registered | call: established with bob 00:42 | watching 2]
//
//	go run ./examples/softphone -server 127.0.0.1:5060 -user sip:alice@example.test -password secret
//
// No media flows: the library negotiates SDP (offer/answer, hold and
// resume) only, so the audio ports announced carry nothing.
//
// Requests to the user's own domain go through -server (the registrar,
// which is also the outbound proxy; a 302 from it is followed); requests to
// any other host, such as sip:autoanswer@127.0.0.1:5080, go straight to
// that host (RFC 3263).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/dialog/sdpneg"
	"github.com/sipua-go/sipua/presence"
	"github.com/sipua-go/sipua/presence/pidf"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/transport"
	"github.com/sipua-go/sipua/sip/ua"
	"github.com/sipua-go/sipua/timer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "softphone:", err)
		os.Exit(1)
	}
}

// Bounds of what one command may take; asynchronous ones (call,
// transfer) run until they end or the softphone quits.
const (
	commandTimeout  = 40 * time.Second
	shutdownTimeout = 10 * time.Second
)

const usageText = `usage: softphone [flags]

An interactive SIP softphone over the sipua library. Type commands at the
prompt, one per line; "help" lists them. A status line follows every
command and event.

No media flows: the library negotiates SDP only (offer/answer, hold and
resume), so the audio ports the SDP announces carry nothing.

Requests to your own domain go through -server; requests to other hosts
(sip:autoanswer@127.0.0.1:5080) go straight there.

flags:`

const helpText = `commands:
  register                  register with -server (digest with -password)
  unregister                remove the registration (ends presence too)
  call <uri>                call sip:bob@example.test, bob, or sip:x@host:port
  answer                    answer the incoming call
  reject [code]             reject the incoming call (default 486)
  hangup                    hang up, or cancel a call that is not answered yet
  hold                      put the call on hold (re-INVITE, sendonly)
  resume                    take the call off hold
  transfer <uri>            blind transfer of the call (REFER), then hang up
  msg <uri> <text>          send an instant message (pager-mode MESSAGE)
  say <text>                send a message inside the current call
  status                    show the call and the watched contacts
  publish <available|busy|away|on-the-phone> [note]
                            publish your presence
  watch <uri>               watch a contact's presence
  unwatch <uri>             stop watching a contact
  help                      this list
  quit                      hang up, unregister and exit
no media flows: SIP signalling and SDP negotiation only`

// config is what the flags say.
type config struct {
	server, password string
	user             sip.Address
	listen           string
	expires          time.Duration
	sessionTimer     timer.Config
	trace            bool
}

func parseFlags(args []string, out io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("softphone", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.server, "server", "", "registrar and outbound proxy, host:port (UDP) or a SIP URI; empty: no registration, direct calls only")
	user := fs.String("user", "sip:alice@example.test", "your address of record")
	fs.StringVar(&c.password, "password", "", "digest password (the username is the AOR's user)")
	listen := fs.String("listen", "udp:127.0.0.1:0", "where to listen: [udp:|tcp:]host:port (port 0 picks one)")
	fs.DurationVar(&c.expires, "expires", 3600*time.Second, "registration interval asked for (a bare number is seconds)")
	se := fs.Duration("session-expires", 1800*time.Second, "session timer interval (RFC 4028); 0 disables session timers (a bare number is seconds)")
	fs.BoolVar(&c.trace, "trace", false, "print every SIP message sent and received")
	fs.Usage = func() {
		fmt.Fprintln(out, usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(secondsArgs(args, "expires", "session-expires")); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q (commands are typed at the prompt)", fs.Args())
	}
	var err error
	if c.user, err = sip.ParseAddress(*user); err != nil || !c.user.URI.IsSIP() || c.user.URI.User == "" {
		return c, fmt.Errorf("-user: want a SIP address of record such as sip:alice@example.test, not %q", *user)
	}
	if c.listen, err = listenAddr(*listen); err != nil {
		return c, err
	}
	if c.expires <= 0 {
		return c, errors.New("-expires: must be positive")
	}
	if *se == 0 {
		c.sessionTimer.Disabled = true
	} else {
		c.sessionTimer.Interval = *se
		if err := c.sessionTimer.Validate(); err != nil {
			return c, fmt.Errorf("-session-expires: %w", err)
		}
	}
	return c, nil
}

// listenAddr turns "127.0.0.1:0" or "udp:127.0.0.1:0" into the UA's
// "transport:host:port" form.
func listenAddr(s string) (string, error) {
	tr, hp := "udp", s
	if t, rest, ok := strings.Cut(s, ":"); ok {
		switch strings.ToLower(t) {
		case "udp", "tcp":
			tr, hp = strings.ToLower(t), rest
		}
	}
	if _, err := netip.ParseAddrPort(hp); err != nil {
		return "", fmt.Errorf("-listen: want [udp:|tcp:]ip:port, not %q", s)
	}
	return tr + ":" + hp, nil
}

// secondsArgs lets duration flags take a bare number of seconds.
func secondsArgs(args []string, names ...string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		for _, n := range names {
			switch {
			case (a == "-"+n || a == "--"+n) && i+1 < len(out) && isDigits(out[i+1]):
				out[i+1] += "s"
			case (strings.HasPrefix(a, "-"+n+"=") || strings.HasPrefix(a, "--"+n+"=")) && isDigits(a[strings.Index(a, "=")+1:]):
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

// console is the one writer every line goes through: command output and
// asynchronous events alike, under one mutex, and nothing once run has
// returned.
type console struct {
	mu      sync.Mutex
	out     io.Writer
	closed  bool
	prompt  bool // interactive: a "> " prompt follows the status line
	pending bool // a prompt is on screen without a newline
}

func (c *console) print(lines ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.pending {
		fmt.Fprintln(c.out)
		c.pending = false
	}
	for _, l := range lines {
		fmt.Fprintln(c.out, l)
	}
}

// status prints the status line (and the prompt when interactive).
func (c *console) status(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.pending {
		fmt.Fprintln(c.out)
	}
	fmt.Fprintln(c.out, line)
	c.pending = c.prompt
	if c.prompt {
		fmt.Fprint(c.out, "> ")
	}
}

func (c *console) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending {
		fmt.Fprintln(c.out)
		c.pending = false
	}
	c.closed = true
}

// isTerminal reports whether in is an interactive terminal (a prompt is
// shown only then, so that piped sessions stay line-oriented).
func isTerminal(in io.Reader) bool {
	f, ok := in.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// run is the program: it reads commands from in until "quit", the end of
// in, or the end of ctx, and then hangs up, unregisters and returns. The
// goroutine reading in stops at "quit" or the end of in; when ctx ends
// first it stays blocked in in.Read until in ends (os.Stdin: process exit).
func run(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	cfg, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	con := &console{out: out, prompt: isTerminal(in)}
	defer con.close()
	p, err := newPhone(ctx, cfg, con)
	if err != nil {
		return err
	}
	defer p.shutdown()

	lines := make(chan string)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			line := sc.Text()
			select {
			case lines <- line:
			case <-stop:
				return
			}
			if f := strings.Fields(line); len(f) > 0 && (f[0] == "quit" || f[0] == "exit") {
				return
			}
		}
	}()

	con.print(fmt.Sprintf("softphone %s listening on %s; type help for commands (no media: SDP negotiation only)", p.aor(), p.u.Addrs()[0]))
	con.status(p.statusLine())
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			if f[0] == "quit" || f[0] == "exit" {
				return nil
			}
			p.command(f[0], f[1:], strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), f[0])))
			con.status(p.statusLine())
		}
	}
}

// phone is the softphone's state: one UA, one user endpoint (replaced
// after unregister, since a terminated endpoint stays terminated), one
// dialog layer, at most one call, a presence publication and a watcher.
type phone struct {
	ctx    context.Context // ends when the softphone shuts down
	cancel context.CancelFunc
	cfg    config
	con    *console
	u      *ua.UA
	layer  *dialog.Layer
	wg     sync.WaitGroup // calls and transfers in progress

	mu        sync.Mutex
	ep        *ua.UserEndpoint
	reg       string // registration state for the status line
	regBusy   bool   // register/unregister running: it reports itself
	closing   bool
	call      *call
	pub       *presence.Publication
	published string
	watcher   *presence.Watcher
	watched   []string
}

// call is the current call: its session once there is one, the peer,
// and for an outgoing call not yet answered the cancel of its INVITE.
type call struct {
	s          *dialog.Session
	peer       sip.URI
	outgoing   bool
	cancel     context.CancelFunc
	since      time.Time // established at
	remoteHold bool
}

func newPhone(ctx context.Context, cfg config, con *console) (*phone, error) {
	ctx, cancel := context.WithCancel(ctx)
	p := &phone{ctx: ctx, cancel: cancel, cfg: cfg, con: con, reg: "unregistered"}
	ucfg := ua.Config{Listen: []string{cfg.listen}, UserAgent: "sipua-softphone"}
	if cfg.trace {
		show := func(dir string) func(transport.Event) {
			return func(e transport.Event) {
				con.print(fmt.Sprintf("----- %s %s %s %s\n%s", dir, e.Transport, e.Local, e.Remote, strings.TrimRight(string(e.Data), "\r\n")))
			}
		}
		ucfg.Trace = &transport.Trace{Sent: show("sent"), Received: show("received")}
	}
	u, err := ua.New(ucfg)
	if err != nil {
		cancel()
		return nil, err
	}
	p.u = u
	if p.ep, err = p.newEndpoint(); err != nil {
		p.closeUA()
		return nil, err
	}
	// The library negotiates SDP only: these ports carry nothing.
	media := sdpneg.AudioOnly(u.Addrs()[0].AddrPort.Addr().String(), 40000)
	p.layer, err = dialog.New(identity{p}, dialog.Config{
		Media:        &media,
		SessionTimer: cfg.sessionTimer,
		OnInvite:     p.onInvite,
		OnRefer:      p.onRefer,
	})
	if err != nil {
		p.closeUA()
		return nil, err
	}
	u.HandleFunc(sip.MethodMessage, p.onMessage)
	return p, nil
}

func (p *phone) closeUA() {
	p.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	_ = p.u.Close(ctx)
}

func (p *phone) newEndpoint() (*ua.UserEndpoint, error) {
	var regs []string
	if p.cfg.server != "" {
		regs = []string{p.cfg.server}
	}
	return ua.NewUserEndpoint(p.u, ua.UserEndpointConfig{
		AOR:         p.cfg.user.String(),
		Credentials: auth.Credentials{Username: p.cfg.user.URI.User, Password: p.cfg.password},
		Registrars:  regs,
		Expires:     p.cfg.expires,
		OnEvent:     p.onEndpointEvent,
	})
}

// identity is the dialog layer's endpoint. The layer outlives the user
// endpoint (which is replaced after unregister), so it asks the current
// one for the contact and the outbound proxy.
type identity struct{ p *phone }

func (i identity) UA() *ua.UA           { return i.p.u }
func (i identity) Address() sip.Address { return i.p.cfg.user }
func (i identity) Contact() sip.Address { return i.p.endpoint().Contact() }

// Target is where INVITEs without an explicit target go (calls the
// layer places for a transfer): the proxy when there is one, else the
// Request-URI.
func (i identity) Target(ctx context.Context) (ua.Target, error) {
	if i.p.cfg.server == "" {
		return ua.Target{}, nil
	}
	return i.p.endpoint().Target(ctx)
}

func (p *phone) endpoint() *ua.UserEndpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ep
}

func (p *phone) aor() string {
	u := p.cfg.user.URI
	return u.User + "@" + u.Host
}

// event prints lines about something that happened, then the status line.
func (p *phone) event(format string, a ...any) {
	p.con.print(fmt.Sprintf(format, a...))
	p.con.status(p.statusLine())
}

func (p *phone) printf(format string, a ...any) { p.con.print(fmt.Sprintf(format, a...)) }

// statusLine is "[alice@example.test | registered | call: established
// with bob 00:42 | presence: busy | watching 2]".
func (p *phone) statusLine() string {
	now := p.u.Clock().Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	parts := []string{p.aor(), p.reg, callStatus(p.call, now)}
	if p.published != "" {
		parts = append(parts, "presence: "+p.published)
	}
	parts = append(parts, fmt.Sprintf("watching %d", len(p.watched)))
	return "[" + strings.Join(parts, " | ") + "]"
}

// callStatus describes the call for the status line; p.mu is held.
func callStatus(c *call, now time.Time) string {
	if c == nil {
		return "no call"
	}
	peer := shortName(c.peer)
	if c.s == nil {
		return "call: calling " + peer
	}
	switch st := c.s.State(); st {
	case dialog.Calling:
		return "call: calling " + peer
	case dialog.Ringing:
		if c.outgoing {
			return "call: ringing " + peer
		}
		return "call: incoming from " + peer
	case dialog.Incoming:
		return "call: incoming from " + peer
	case dialog.Accepting:
		return "call: answering " + peer
	case dialog.Established:
		if c.since.IsZero() { // the Established event is on its way
			c.since = now
		}
		since := " " + clockText(now.Sub(c.since))
		switch {
		case c.s.OnHold():
			return "call: on hold with " + peer + since
		case c.remoteHold:
			return "call: held by " + peer + since
		}
		return "call: established with " + peer + since
	case dialog.Terminating:
		return "call: hanging up " + peer
	default:
		return "no call"
	}
}

func clockText(d time.Duration) string {
	s := int(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

// shortName is what the status line calls a peer: the user part, or the
// host for a URI without one.
func shortName(u sip.URI) string {
	if u.User != "" {
		return u.User
	}
	return u.Host
}

func longName(u sip.URI) string {
	if u.User != "" {
		return u.User + "@" + u.Host
	}
	return u.Host
}

// parseTarget accepts any SIP URI, "bob@host", "host:port" and "bob"
// (a user of the user's own domain).
func (p *phone) parseTarget(s string) (sip.URI, error) {
	switch {
	case strings.HasPrefix(s, "sip:"), strings.HasPrefix(s, "sips:"):
	case strings.Contains(s, "@"), strings.ContainsAny(s, ".:"):
		s = "sip:" + s
	default:
		s = "sip:" + s + "@" + p.cfg.user.URI.Host
	}
	u, err := sip.ParseURI(s)
	if err != nil || !u.IsSIP() || u.Host == "" {
		return sip.URI{}, fmt.Errorf("not a SIP URI: %q", s)
	}
	return u, nil
}

// viaServer reports whether requests to uri go through -server: those to
// the user's own domain do; others go straight to the URI's host.
func (p *phone) viaServer(uri sip.URI) bool {
	return p.cfg.server != "" && strings.EqualFold(uri.Host, p.cfg.user.URI.Host)
}

// directTarget resolves uri for a request that bypasses the proxy.
func (p *phone) directTarget(ctx context.Context, uri sip.URI) (ua.Target, error) {
	ts, err := p.u.Targets(ctx, uri)
	if err != nil {
		return ua.Target{}, err
	}
	if len(ts) == 0 {
		return ua.Target{}, fmt.Errorf("%s does not resolve", uri.Host)
	}
	return ts[0], nil
}

func (p *phone) command(name string, args []string, rest string) {
	ctx, cancel := context.WithTimeout(p.ctx, commandTimeout)
	defer cancel()
	fail := func(err error) { p.printf("%s: %v", name, err) }
	need := func(n int, usage string) bool {
		if len(args) < n {
			p.printf("usage: %s", usage)
			return false
		}
		return true
	}
	switch name {
	case "help", "?":
		p.printf("%s", helpText)
	case "register":
		p.register(ctx)
	case "unregister":
		p.unregister(ctx)
	case "call":
		if need(1, "call <uri>") {
			p.dial(args[0])
		}
	case "answer":
		c, err := p.incoming()
		if err != nil {
			fail(err)
			return
		}
		if err := c.s.Accept(ctx, nil); err != nil {
			fail(err)
		}
	case "reject":
		code := sip.StatusBusyHere
		if len(args) > 0 {
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 300 || n > 699 {
				fail(fmt.Errorf("want a status code from 300 to 699, not %q", args[0]))
				return
			}
			code = n
		}
		c, err := p.incoming()
		if err != nil {
			fail(err)
			return
		}
		if err := c.s.Reject(ctx, code, ""); err != nil {
			fail(err)
		}
	case "hangup":
		p.hangup(ctx)
	case "hold", "resume":
		c, err := p.established()
		if err != nil {
			fail(err)
			return
		}
		if name == "hold" {
			err = c.s.Hold(ctx)
		} else {
			err = c.s.Resume(ctx)
		}
		if err != nil {
			fail(err)
			return
		}
		if name == "hold" {
			p.printf("call with %s on hold", longName(c.peer))
		} else {
			p.printf("call with %s resumed", longName(c.peer))
		}
	case "transfer":
		if need(1, "transfer <uri>") {
			p.transfer(args[0])
		}
	case "msg":
		if !need(2, "msg <uri> <text>") {
			return
		}
		to, err := p.parseTarget(args[0])
		if err != nil {
			fail(err)
			return
		}
		text := strings.TrimSpace(strings.TrimPrefix(rest, args[0]))
		res, err := p.sendMessage(ctx, to, text)
		if err != nil {
			fail(err)
			return
		}
		p.printf("message to %s delivered (%d %s)", longName(to), res.StatusCode, res.Reason)
	case "say":
		if !need(1, "say <text>") {
			return
		}
		c, err := p.established()
		if err != nil {
			fail(err)
			return
		}
		res, err := c.s.Message(ctx, sip.MethodMessage, "text/plain", []byte(rest))
		if err != nil {
			fail(err)
			return
		}
		p.printf("said to %s (%d %s)", longName(c.peer), res.StatusCode, res.Reason)
	case "status":
		p.showStatus()
	case "publish":
		if need(1, "publish <available|busy|away|on-the-phone> [note]") {
			p.publish(ctx, args[0], strings.TrimSpace(strings.TrimPrefix(rest, args[0])))
		}
	case "watch", "unwatch":
		if !need(1, name+" <uri>") {
			return
		}
		uri, err := p.parseTarget(args[0])
		if err != nil {
			fail(err)
			return
		}
		if name == "watch" {
			p.watch(ctx, uri)
		} else {
			p.unwatch(ctx, uri)
		}
	default:
		p.printf("unknown command %q; type help for the list", name)
	}
}

// --- registration ---

func (p *phone) onEndpointEvent(ev ua.Event) {
	rs, ok := ev.(*ua.RegistrationStateChanged)
	if !ok {
		return
	}
	var text string
	switch rs.State {
	case ua.Registering:
		text = "registering"
	case ua.Registered:
		text = "registered"
	case ua.Unregistering:
		text = "unregistering"
	case ua.RegistrationFailed:
		text = "registration failed"
	default:
		text = "unregistered"
	}
	p.mu.Lock()
	changed := p.reg != text
	p.reg = text
	quiet := p.regBusy || p.closing
	p.mu.Unlock()
	if quiet || !changed || rs.State == ua.Registering || rs.State == ua.Unregistering {
		return
	}
	if rs.Cause != nil {
		p.event("%s (%v)", text, rs.Cause)
		return
	}
	p.event("%s", text)
}

func (p *phone) register(ctx context.Context) {
	if p.cfg.server == "" {
		p.printf("register: no -server given")
		return
	}
	p.mu.Lock()
	if p.regBusy {
		p.mu.Unlock()
		p.printf("register: already in progress")
		return
	}
	ep := p.ep
	if ep.State() == ua.EndpointEstablished {
		p.mu.Unlock()
		p.printf("register: already registered")
		return
	}
	p.regBusy = true
	p.mu.Unlock()
	defer p.setRegBusy(false)
	if err := ep.Establish(ctx); err != nil {
		p.mu.Lock()
		p.reg = "registration failed"
		p.mu.Unlock()
		p.printf("register: %v", err)
		return
	}
	p.mu.Lock()
	p.reg = "registered"
	p.mu.Unlock()
	target, _ := ep.Target(ctx)
	p.printf("registered %s at %s (contact %s, expires %v)", p.aor(), target, ep.Contact().URI, p.cfg.expires)
}

func (p *phone) setRegBusy(b bool) {
	p.mu.Lock()
	p.regBusy = b
	p.mu.Unlock()
}

// unregister removes the publication and the subscriptions (which need
// the registration's identity), then the binding; a new endpoint waits
// for the next register.
func (p *phone) unregister(ctx context.Context) {
	p.mu.Lock()
	if p.regBusy {
		p.mu.Unlock()
		p.printf("unregister: register in progress")
		return
	}
	ep := p.ep
	if ep.State() != ua.EndpointEstablished {
		p.mu.Unlock()
		p.printf("unregister: not registered")
		return
	}
	p.regBusy = true
	p.mu.Unlock()
	defer p.setRegBusy(false)
	p.dropPresence(ctx)
	err := ep.Terminate(ctx)
	next, nerr := p.newEndpoint()
	p.mu.Lock()
	p.reg = "unregistered"
	if nerr == nil {
		p.ep = next
	}
	p.mu.Unlock()
	switch {
	case err != nil:
		p.printf("unregister: %v", err)
	case nerr != nil:
		p.printf("unregister: %v", nerr)
	default:
		p.printf("unregistered %s", p.aor())
	}
}

// --- calls ---

func (p *phone) dial(arg string) {
	to, err := p.parseTarget(arg)
	if err != nil {
		p.printf("call: %v", err)
		return
	}
	p.mu.Lock()
	if p.call != nil {
		p.mu.Unlock()
		p.printf("call: already in a call with %s (hang up first)", longName(p.call.peer))
		return
	}
	ctx, cancel := context.WithCancel(p.ctx)
	c := &call{peer: to, outgoing: true, cancel: cancel}
	p.call = c
	p.wg.Add(1)
	p.mu.Unlock()
	var target ua.Target
	if !p.viaServer(to) {
		if target, err = p.directTarget(ctx, to); err != nil {
			p.endCall(c)
			cancel()
			p.wg.Done()
			p.printf("call: %v", err)
			return
		}
	}
	p.printf("calling %s", to)
	go func() {
		defer p.wg.Done()
		defer cancel()
		s, err := p.layer.Invite(ctx, to, dialog.InviteOptions{Target: target, OnEvent: p.sessionEvents(c)})
		if s == nil && err != nil {
			// Refused before a session existed (layer closed, bad config).
			p.endCall(c)
			p.event("call to %s failed: %v", longName(to), err)
		}
	}()
}

// endCall forgets c if it is still the current call.
func (p *phone) endCall(c *call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.call == c {
		p.call = nil
	}
}

func (p *phone) onInvite(s *dialog.Session) {
	from := s.Request().From().URI
	c := &call{s: s, peer: from}
	p.mu.Lock()
	busy := p.call != nil || p.closing
	if !busy {
		p.call = c
	}
	p.mu.Unlock()
	if busy {
		go func() { _ = s.Reject(context.Background(), sip.StatusBusyHere, "") }()
		p.event("missed call from %s (busy)", longName(from))
		return
	}
	s.OnEvent(p.sessionEvents(c))
	p.event("incoming call from %s — type answer or reject", longName(from))
}

// sessionEvents is the event handler of c's session.
func (p *phone) sessionEvents(c *call) func(*dialog.Session, dialog.Event) {
	return func(s *dialog.Session, ev dialog.Event) {
		p.mu.Lock()
		if c.s == nil {
			c.s = s
		}
		p.mu.Unlock()
		switch ev := ev.(type) {
		case dialog.Progress:
			if ev.Response.StatusCode == sip.StatusRinging {
				p.event("%s is ringing", longName(c.peer))
			} else {
				p.event("call progress: %d %s", ev.Response.StatusCode, ev.Response.Reason)
			}
		case dialog.StateChanged:
			switch ev.To {
			case dialog.Established:
				p.mu.Lock()
				if c.since.IsZero() {
					c.since = p.u.Clock().Now()
				}
				p.mu.Unlock()
				timerText := "no session timer"
				if st := s.SessionTimer(); st.Active() {
					timerText = fmt.Sprintf("session timer %v, refresher %s", st.Interval(), st.Refresher())
				}
				p.event("call established with %s (%s)", longName(c.peer), timerText)
			case dialog.Terminated:
				p.endCall(c)
				p.event("call with %s ended: %s", longName(c.peer), endText(ev.Err))
			}
		case dialog.MessageReceived:
			p.event("message from %s (in call): %s", longName(c.peer), ev.Request.Body())
		case dialog.MediaChanged:
			held := remoteHeld(ev.Remote)
			p.mu.Lock()
			was := c.remoteHold
			c.remoteHold = held
			p.mu.Unlock()
			if held != was {
				if held {
					p.event("%s put the call on hold", longName(c.peer))
				} else {
					p.event("%s took the call off hold", longName(c.peer))
				}
			}
		case dialog.TransferProgress:
			p.event("transfer: %d %s", ev.StatusCode, ev.Reason)
		case dialog.Transferred:
			nc := &call{s: ev.Session, peer: ev.Session.Request().URI, outgoing: true, since: p.u.Clock().Now()}
			p.mu.Lock()
			if p.call == c || p.call == nil {
				p.call = nc
			}
			p.mu.Unlock()
			ev.Session.OnEvent(p.sessionEvents(nc))
			p.event("transferred: now in a call with %s", longName(nc.peer))
		case dialog.RefreshFailed:
			p.event("session refresh failed: %d %v", ev.StatusCode, ev.Err)
		}
	}
}

// remoteHeld reports whether the peer's SDP holds the call: every
// stream sendonly or inactive (RFC 3264 §8.4).
func remoteHeld(sdp []byte) bool {
	s := string(sdp)
	return strings.Contains(s, "a=sendonly") || strings.Contains(s, "a=inactive")
}

func endText(e *dialog.TerminatedError) string {
	if e == nil {
		return "ended"
	}
	switch e.Cause {
	case dialog.LocalBye:
		return "you hung up"
	case dialog.RemoteBye:
		return "the peer hung up"
	}
	s := e.Cause.String()
	if e.StatusCode != 0 {
		s += fmt.Sprintf(" (%d %s)", e.StatusCode, e.Reason)
	} else if e.Err != nil && e.Cause != dialog.Canceled {
		s += fmt.Sprintf(" (%v)", e.Err)
	}
	return s
}

func (p *phone) current() (*call, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.call == nil {
		return nil, errors.New("no call")
	}
	return p.call, nil
}

func (p *phone) incoming() (*call, error) {
	c, err := p.current()
	if err != nil || c.outgoing || c.s == nil {
		return nil, errors.New("no incoming call")
	}
	if st := c.s.State(); st != dialog.Incoming && st != dialog.Ringing {
		return nil, fmt.Errorf("the call is %s", strings.ToLower(st.String()))
	}
	return c, nil
}

func (p *phone) established() (*call, error) {
	c, err := p.current()
	if err != nil {
		return nil, err
	}
	if c.s == nil || c.s.State() != dialog.Established {
		return nil, errors.New("the call is not established")
	}
	return c, nil
}

func (p *phone) hangup(ctx context.Context) {
	c, err := p.current()
	if err != nil {
		p.printf("hangup: %v", err)
		return
	}
	p.mu.Lock()
	s := c.s
	p.mu.Unlock()
	if c.outgoing && (s == nil || s.State() == dialog.Calling || s.State() == dialog.Ringing) {
		c.cancel() // CANCEL; the session reports the end
		return
	}
	if err := s.Hangup(ctx); err != nil && !errors.Is(err, dialog.ErrTerminated) {
		p.printf("hangup: %v", err)
	}
}

// transfer asks the peer to call target (RFC 3515) in the background;
// on success the call is hung up.
func (p *phone) transfer(arg string) {
	to, err := p.parseTarget(arg)
	if err != nil {
		p.printf("transfer: %v", err)
		return
	}
	c, err := p.established()
	if err != nil {
		p.printf("transfer: %v", err)
		return
	}
	p.printf("transferring %s to %s", longName(c.peer), to)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(p.ctx, 3*time.Minute)
		defer cancel()
		if err := c.s.Refer(ctx, to); err != nil {
			p.event("transfer to %s failed: %v", longName(to), err)
			return
		}
		p.printf("transfer to %s succeeded; hanging up", longName(to))
		_ = c.s.Hangup(ctx)
	}()
}

// onRefer accepts a transfer of the current call (we are the
// transferee): the layer calls the target and reports Transferred.
func (p *phone) onRefer(s *dialog.Session, target sip.URI, _ *sip.Request) bool {
	p.mu.Lock()
	ok := p.call != nil && p.call.s == s && !p.closing
	p.mu.Unlock()
	if ok {
		p.event("%s transfers the call to %s", longName(s.Request().From().URI), target)
	}
	return ok
}

// --- messages ---

func (p *phone) onMessage(w ua.ResponseWriter, r *ua.Request) {
	_ = w.Respond(w.NewResponse(sip.StatusOK, ""))
	p.event("message from %s: %s", longName(r.From().URI), r.Body())
}

// sendMessage sends a pager-mode MESSAGE (RFC 3428): to the user's
// domain through the proxy, following a 302 to the contact it names;
// elsewhere straight to the URI's host.
func (p *phone) sendMessage(ctx context.Context, to sip.URI, text string) (*sip.Response, error) {
	req := sip.NewRequest(sip.MethodMessage, to)
	req.Set("To", (&sip.Address{URI: to}).String())
	req.Set("Content-Type", "text/plain")
	req.SetBody([]byte(text))
	if !p.viaServer(to) {
		req.Set("From", p.cfg.user.String())
		return p.u.Do(ctx, req, ua.Target{})
	}
	res, err := p.endpoint().Do(ctx, req)
	var se *ua.StatusError
	if !errors.As(err, &se) || se.StatusCode()/100 != 3 || len(se.Response.Contact()) == 0 {
		return res, err
	}
	again := sip.NewRequest(sip.MethodMessage, se.Response.Contact()[0].URI)
	for _, h := range []string{"From", "To", "Call-ID", "Content-Type"} {
		again.Set(h, req.Get(h))
	}
	again.SetBody(req.Body())
	again.Set("CSeq", sip.CSeq{Seq: req.CSeq().Seq + 1, Method: sip.MethodMessage}.String())
	return p.u.Do(ctx, again, ua.Target{})
}

// --- presence ---

var presenceStates = map[string]pidf.Activity{
	"available":    "",
	"busy":         pidf.Busy,
	"away":         pidf.Away,
	"on-the-phone": pidf.OnThePhone,
}

func (p *phone) publish(ctx context.Context, state, note string) {
	act, ok := presenceStates[state]
	if !ok {
		p.printf("publish: want available, busy, away or on-the-phone, not %q", state)
		return
	}
	if p.cfg.server == "" {
		p.printf("publish: no -server given")
		return
	}
	p.mu.Lock()
	pub := p.pub
	ep := p.ep
	p.mu.Unlock()
	if pub == nil {
		var err error
		pub, err = presence.NewPublication(presence.PublicationConfig{UA: p.u, Sender: ep, Resource: p.cfg.user.URI, From: p.cfg.user})
		if err != nil {
			p.printf("publish: %v", err)
			return
		}
		p.mu.Lock()
		p.pub = pub
		p.mu.Unlock()
	}
	doc := pidf.New(p.cfg.user.URI.String()).Open()
	if p.cfg.user.Display != "" {
		doc.DisplayName(p.cfg.user.Display)
	}
	if act != "" {
		doc.Activity(act)
	}
	if note != "" {
		doc.Note(note)
	}
	body, err := doc.Marshal()
	if err == nil {
		err = pub.Publish(ctx, presence.Body{ContentType: pidf.ContentType, Data: body})
	}
	if err != nil {
		p.printf("publish: %v", err)
		return
	}
	text := state
	if note != "" {
		text += fmt.Sprintf(" (%q)", note)
	}
	p.mu.Lock()
	p.published = state
	p.mu.Unlock()
	p.printf("published %s", text)
}

func (p *phone) watch(ctx context.Context, uri sip.URI) {
	if p.cfg.server == "" {
		p.printf("watch: no -server given")
		return
	}
	p.mu.Lock()
	w, ep := p.watcher, p.ep
	for _, x := range p.watched {
		if x == uri.String() {
			p.mu.Unlock()
			p.printf("watch: already watching %s", longName(uri))
			return
		}
	}
	p.mu.Unlock()
	if w == nil {
		var err error
		w, err = presence.NewWatcher(presence.WatcherConfig{UA: p.u, Sender: ep, From: p.cfg.user, Contact: ep.Contact(), OnEvent: p.onPresence})
		if err != nil {
			p.printf("watch: %v", err)
			return
		}
		p.mu.Lock()
		p.watcher = w
		p.mu.Unlock()
	}
	p.mu.Lock()
	p.watched = append(p.watched, uri.String())
	p.mu.Unlock()
	if err := w.Add(ctx, uri); err != nil {
		p.forget(uri.String())
		_ = w.Remove(ctx, uri)
		p.printf("watch: %v", err)
		return
	}
	p.printf("watching %s", longName(uri))
}

func (p *phone) forget(uri string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.watched {
		if x == uri {
			p.watched = append(p.watched[:i], p.watched[i+1:]...)
			return true
		}
	}
	return false
}

func (p *phone) unwatch(ctx context.Context, uri sip.URI) {
	p.mu.Lock()
	w := p.watcher
	p.mu.Unlock()
	if w == nil || !p.forget(uri.String()) {
		p.printf("unwatch: not watching %s", longName(uri))
		return
	}
	if err := w.Remove(ctx, uri); err != nil {
		p.printf("unwatch: %v", err)
		return
	}
	p.printf("stopped watching %s", longName(uri))
}

func (p *phone) isWatched(uri string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, x := range p.watched {
		if x == uri {
			return true
		}
	}
	return false
}

// onPresence prints what a watched contact's presence became.
func (p *phone) onPresence(ev presence.ContactEvent) {
	if !p.isWatched(ev.URI) {
		return
	}
	name := ev.URI
	if u, err := sip.ParseURI(ev.URI); err == nil {
		name = longName(u)
	}
	switch {
	case ev.State == presence.Terminated:
		p.forget(ev.URI)
		reason := ev.Reason
		if ev.Err != nil {
			reason = ev.Err.Error()
		}
		p.event("no longer watching %s (%s)", name, reason)
	case ev.Presence.Basic != "":
		p.event("%s is %s", name, presenceText(ev.Presence))
	case ev.State == presence.Pending:
		p.event("%s: waiting for authorization", name)
	}
}

// presenceText is "available", "busy (\"in a meeting\")", "offline"...
func presenceText(s pidf.Summary) string {
	var text string
	switch {
	case s.Basic == pidf.Closed:
		text = "offline"
	case len(s.Activities) > 0:
		as := make([]string, len(s.Activities))
		for i, a := range s.Activities {
			as[i] = string(a)
		}
		text = strings.Join(as, ", ")
	default:
		text = "available"
	}
	if s.Note != "" {
		text += fmt.Sprintf(" (%q)", s.Note)
	}
	return text
}

// dropPresence ends the publication and the watcher (unregister and
// shutdown).
func (p *phone) dropPresence(ctx context.Context) {
	p.mu.Lock()
	pub, w := p.pub, p.watcher
	p.pub, p.watcher, p.watched, p.published = nil, nil, nil, ""
	p.mu.Unlock()
	if w != nil {
		_ = w.Close(ctx)
	}
	if pub != nil {
		_ = pub.Close(ctx)
	}
}

func (p *phone) showStatus() {
	now := p.u.Clock().Now()
	p.mu.Lock()
	lines := []string{"registration: " + p.reg}
	if p.cfg.server != "" {
		lines[0] += " (server " + p.cfg.server + ")"
	}
	lines = append(lines, callStatus(p.call, now))
	if p.call != nil && p.call.s != nil {
		if st := p.call.s.SessionTimer(); st.Active() {
			lines = append(lines, fmt.Sprintf("session timer %v, refresher %s", st.Interval(), st.Refresher()))
		}
	}
	if p.published != "" {
		lines = append(lines, "presence published: "+p.published)
	}
	w := p.watcher
	p.mu.Unlock()
	if w != nil {
		for _, ce := range w.Contacts() {
			if !p.isWatched(ce.URI) {
				continue
			}
			state := strings.ToLower(ce.State.String())
			if ce.Presence.Basic != "" {
				state = presenceText(ce.Presence)
			}
			lines = append(lines, fmt.Sprintf("watching %s: %s", ce.URI, state))
		}
	}
	p.con.print(lines...)
}

// shutdown hangs up, removes presence, unregisters and closes the UA
// within shutdownTimeout; nothing is printed after it but its own lines.
func (p *phone) shutdown() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	p.cancel() // outgoing calls not yet answered are canceled
	_ = p.layer.Close(ctx)
	p.wg.Wait()
	p.dropPresence(ctx)
	ep := p.endpoint()
	if ep.State() == ua.EndpointEstablished {
		if err := ep.Terminate(ctx); err != nil {
			p.printf("unregister: %v", err)
		} else {
			p.printf("unregistered %s", p.aor())
		}
	}
	_ = p.u.Close(ctx)
	p.printf("bye")
}
