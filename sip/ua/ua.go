package ua

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/transaction"
	"github.com/sipua-go/sipua/sip/transport"
)

// Config configures a UA. The zero value of every field is documented.
type Config struct {
	// Listen lists where to receive, as "udp:127.0.0.1:5060",
	// "tcp:127.0.0.1:5060" or "tls:127.0.0.1:5061" (port 0 picks one).
	// Zero: "udp:127.0.0.1:0".
	Listen []string
	// TLS holds the certificates of a tls listener and the roots that
	// verify the peers this UA connects to (nil: the system roots).
	// Verification is always on.
	TLS *tls.Config
	// UserAgent is sent as User-Agent in requests and Server in responses.
	// Zero: "sipua".
	UserAgent string
	// Timers are T1, T2 and T4. Zero: RFC 3261's 500 ms, 4 s, 5 s.
	Timers transaction.Config
	// Clock drives every timer. Zero: the system clock.
	Clock clock.Clock
	// Limits bounds every message received. Zero: sip's defaults.
	Limits sip.Limits
	// Logger receives what goes wrong; nil discards it.
	Logger *slog.Logger
	// Trace sees every message sent, received and dropped; nil sees none.
	Trace *transport.Trace
	// Credentials answers digest challenges to requests sent with Do.
	// Nil: a 401 or 407 is returned as a *StatusError.
	Credentials func(realm string) (auth.Credentials, bool)
	// Supported lists the option tags this UA supports, for Supported in
	// OPTIONS answers and for checking Require (420). Zero: none.
	Supported []string
	// Resolver does the DNS lookups of RFC 3263 target resolution
	// (NAPTR, SRV, A/AAAA). Nil: transport.DefaultResolver().
	Resolver transport.Resolver
}

// UA is a SIP user agent core.
type UA struct {
	cfg   Config
	log   *slog.Logger
	sched *sched.Scheduler
	tp    *transport.Layer
	tx    *transaction.Layer
	auth  auth.Client
	addrs []transport.Addr

	mu       sync.RWMutex
	handlers map[string]Handler
	routers  []Router
	sharedMu sync.Mutex
	shared   map[any]any                                           // Shared
	invites  map[*transaction.InviteServer]context.CancelCauseFunc // INVITEs being handled
	closed   bool
	wg       sync.WaitGroup     // running handlers and idle handler goroutines
	workers  workers            // the goroutines that run handlers
	ctx      context.Context    // canceled by Close: the handlers' requests' context
	cancel   context.CancelFunc // cancels ctx
}

// New starts a UA listening on cfg.Listen.
func New(cfg Config) (*UA, error) {
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{"udp:127.0.0.1:0"}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "sipua"
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	u := &UA{cfg: cfg, log: cfg.Logger, handlers: make(map[string]Handler),
		invites: make(map[*transaction.InviteServer]context.CancelCauseFunc)}
	u.ctx, u.cancel = context.WithCancel(context.Background())
	u.workers.idleFor = workerIdle
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	u.sched = sched.New(cfg.Clock, sched.WithLogger(u.log))
	u.tp = transport.New(transport.Config{Limits: cfg.Limits, Logger: cfg.Logger, Trace: cfg.Trace, TLS: cfg.TLS,
		// A broken connection fails its transactions at once (§17.1.4).
		ConnClosed: func(a transport.Addr, err error) { u.tx.ConnClosed(a, err) }}, u.receive)
	u.tx = transaction.New(cfg.Timers, u.sched, u.tp)
	for _, l := range cfg.Listen {
		network, addr, ok := strings.Cut(l, ":")
		if !ok {
			u.tp.Close()
			u.sched.Close()
			u.cancel()
			return nil, fmt.Errorf("ua: bad listen address %q (want udp:, tcp:, tls:, ws: or wss:host:port)", l)
		}
		var ap netip.AddrPort
		var err error
		switch strings.ToLower(network) {
		case "udp":
			ap, err = u.tp.ListenUDP(addr)
		case "tcp":
			ap, err = u.tp.ListenTCP(addr)
		case "tls":
			ap, err = u.tp.ListenTLS(addr)
		case "ws":
			ap, err = u.tp.ListenWS(addr)
		case "wss":
			ap, err = u.tp.ListenWSS(addr)
		default:
			err = fmt.Errorf("ua: unsupported transport %q", network)
		}
		if err != nil {
			u.tp.Close()
			u.sched.Close()
			u.cancel()
			return nil, err
		}
		u.addrs = append(u.addrs, transport.Addr{Transport: strings.ToUpper(network), AddrPort: ap})
	}
	return u, nil
}

// Scheduler returns the UA's timer scheduler. The layers above (dialog,
// timer, presence) arm their timers on it so that a UA runs all of its
// protocol timers on one heap and one clock (the Config's).
func (u *UA) Scheduler() *sched.Scheduler { return u.sched }

// Clock returns the clock every timer of the UA runs on.
func (u *UA) Clock() clock.Clock { return u.cfg.Clock }

// Addrs returns the addresses the UA listens on.
func (u *UA) Addrs() []transport.Addr { return append([]transport.Addr(nil), u.addrs...) }

// Close shuts the UA down within ctx: new requests get 503, running
// handlers see their request's context canceled and are waited for (they
// answer their requests), then every socket closes, live transactions end
// with transaction.ErrLayerClosed and the timers stop. It returns ctx's
// error when the deadline cut the wait for handlers short. The graceful
// part of a shutdown that involves the network (BYE, unPUBLISH,
// unSUBSCRIBE, unREGISTER) belongs to the endpoints' Terminate and the
// layers' Close, which run before.
func (u *UA) Close(ctx context.Context) error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	u.mu.Unlock()
	u.cancel() // handlers see their request's context canceled
	u.closeWorkers()
	done := make(chan struct{})
	go func() { u.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	err = errors.Join(u.tp.Close(), err)
	// Transactions still live end now with transaction.ErrLayerClosed:
	// whoever waits on one (Do, an INVITE's Timer M reader) returns.
	u.tx.Close()
	u.sched.Close()
	return err
}

// localAddr returns the listening address for a transport.
func (u *UA) localAddr(t string) (transport.Addr, bool) {
	for _, a := range u.addrs {
		if strings.EqualFold(a.Transport, t) {
			return a, true
		}
	}
	return transport.Addr{}, false
}

// randomTag returns 48 random bits in hex, as randomToken(6) does, without
// allocating.
func randomTag() [12]byte {
	var raw [6]byte
	_, _ = rand.Read(raw[:])
	var tag [12]byte
	hex.Encode(tag[:], raw[:])
	return tag
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// StatusError is a final non-2xx response to a request sent with Do.
type StatusError struct {
	Response *sip.Response
}

func (e *StatusError) Error() string {
	return "sip: " + strconv.Itoa(e.Response.StatusCode) + " " + e.Response.Reason
}

// StatusCode returns the response's status code.
func (e *StatusError) StatusCode() int { return e.Response.StatusCode }

// RetryAfter returns the delay the server advised (Retry-After), if any.
func (e *StatusError) RetryAfter() (time.Duration, bool) {
	ra, err := e.Response.RetryAfter()
	if err != nil {
		return 0, false
	}
	return time.Duration(ra.Seconds) * time.Second, true
}

// Temporary reports a failure worth retrying later: 408, 480, 486, 491,
// 409, and 500/503 with Retry-After.
func (e *StatusError) Temporary() bool {
	switch e.Response.StatusCode {
	case 408, 409, 480, 486, 491:
		return true
	case 500, 503:
		_, ok := e.RetryAfter()
		return ok
	}
	return false
}

// Target is where Do sends a request: the address and transport.
type Target = transport.Addr

// Do sends an out-of-dialog non-INVITE request and waits for its final
// response. It fills what the request lacks (a topmost Via with a new
// branch and rport, Max-Forwards, Call-ID, CSeq, a From tag, User-Agent);
// sends it to to, or when to is zero to the host and port of the first
// Route or else of the Request-URI; answers 401/407 with cfg.Credentials
// (a new CSeq and branch for each retry). It returns the 2xx response, a
// *StatusError for any other final response, a *transaction.TimeoutError
// (Timeout() is true) when no final response came, or ctx's error.
func (u *UA) Do(ctx context.Context, req *sip.Request, to Target) (*sip.Response, error) {
	return u.send(ctx, req, to, u.cfg.Credentials, &u.auth)
}

// send is Do with the credentials and the digest client given: endpoints
// answer challenges with their own account. Failover (failover.go) calls
// it once per target, each time as a new transaction.
func (u *UA) send(ctx context.Context, req *sip.Request, to Target,
	credentials func(realm string) (auth.Credentials, bool), ac *auth.Client) (*sip.Response, error) {
	if req.Method == sip.MethodInvite || req.Method == sip.MethodAck {
		return nil, errors.New("ua: INVITE and ACK belong to a dialog, not Do")
	}
	if to == (Target{}) {
		var err error
		if to, err = u.target(ctx, req); err != nil {
			return nil, err
		}
	}
	local, ok := u.localAddr(to.Transport)
	if !ok && !strings.EqualFold(to.Transport, transport.UDP) && len(u.addrs) > 0 {
		// Over TCP or TLS the response comes back on the connection: a UA
		// without a listener of that transport puts its address, without a
		// port, in Via.
		local, ok = transport.Addr{Transport: strings.ToUpper(to.Transport),
			AddrPort: netip.AddrPortFrom(u.addrs[0].AddrPort.Addr(), 0)}, true
	}
	if !ok {
		return nil, fmt.Errorf("ua: no %s listener", to.Transport)
	}
	u.complete(req, local)
	// RFC 3261 §18.1.1: a request within 200 bytes of the path MTU (1,500)
	// goes over a congestion-controlled transport when the UA has one.
	if strings.EqualFold(to.Transport, transport.UDP) && len(req.AppendTo(nil)) > 1300 {
		if tcp, ok := u.localAddr(transport.TCP); ok {
			to.Transport, local = transport.TCP, tcp
			u.newBranch(req, local)
		}
	}
	ac.Reauthorize(req)
	for attempt := 0; ; attempt++ {
		c, err := u.tx.Request(ctx, req, to)
		if err != nil {
			return nil, err
		}
		res, err := waitFinal(ctx, c)
		if err != nil {
			return nil, err
		}
		switch {
		case res.StatusCode < 300:
			return res, nil
		case (res.StatusCode == 401 || res.StatusCode == 407) && credentials != nil && attempt < 4:
			realm := challengeRealm(res)
			cred, ok := credentials(realm)
			if !ok {
				return res, &StatusError{Response: res}
			}
			if err := ac.Authorize(req, res, cred); err != nil {
				return res, errors.Join(&StatusError{Response: res}, err)
			}
			// §8.1.3.5: the retry is a new transaction with CSeq + 1.
			cs := req.CSeq()
			req.Set("CSeq", sip.CSeq{Seq: cs.Seq + 1, Method: cs.Method}.String())
			u.newBranch(req, local)
		default:
			return res, &StatusError{Response: res}
		}
	}
}

func challengeRealm(res *sip.Response) string {
	chs, err := res.WWWAuthenticate()
	if err != nil {
		chs, _ = res.ProxyAuthenticate()
	}
	if len(chs) > 0 {
		return chs[0].Get("realm")
	}
	return ""
}

func waitFinal(ctx context.Context, c *transaction.Client) (*sip.Response, error) {
	for {
		select {
		case res := <-c.Responses():
			if res.StatusCode >= 200 {
				return res, nil
			}
		case <-c.Done():
			select {
			case res := <-c.Responses():
				if res.StatusCode >= 200 {
					return res, nil
				}
			default:
			}
			if err := c.Err(); err != nil {
				return nil, err
			}
			return nil, transaction.ErrTerminated
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// complete fills in what RFC 3261 §8.1.1 requires and the request lacks.
func (u *UA) complete(req *sip.Request, local transport.Addr) {
	if len(req.Via()) == 0 {
		u.newBranch(req, local)
	}
	if _, ok := req.MaxForwards(); !ok {
		req.Set("Max-Forwards", "70")
	}
	if req.CallID() == "" {
		req.Set("Call-ID", randomToken(12)+"@"+local.AddrPort.Addr().String())
	}
	if req.CSeq().Method == "" {
		req.Set("CSeq", sip.CSeq{Seq: 1, Method: req.Method}.String())
	}
	if !req.Has("From") {
		req.Set("From", "<sip:anonymous@anonymous.invalid>;tag="+randomToken(6))
	} else if req.From().Tag() == "" {
		req.Set("From", req.Get("From")+";tag="+randomToken(6))
	}
	if !req.Has("To") {
		req.Set("To", "<"+req.URI.String()+">")
	}
	if !req.Has("User-Agent") {
		req.Set("User-Agent", u.cfg.UserAgent)
	}
}

// newBranch replaces the topmost Via with ours and a fresh branch.
func (u *UA) newBranch(req *sip.Request, local transport.Addr) {
	v := sip.Via{Transport: local.Transport, Host: local.AddrPort.Addr().String(), Port: int(local.AddrPort.Port()),
		Params: sip.Params("branch=z9hG4bK" + randomToken(10) + ";rport")}
	if len(req.Via()) > 0 {
		req.RemoveFirst("Via")
	}
	req.Insert("Via", v.String())
}

// target finds where a request goes: the first Route (loose routing) or
// the Request-URI, resolved as RFC 3263 §4 does with Config.Resolver
// (transport=udp|tcp|tls|ws|wss, sips: TLS or WSS); the first target.
func (u *UA) target(ctx context.Context, req *sip.Request) (Target, error) {
	return firstTarget(ctx, u.cfg.Resolver, req)
}

func firstTarget(ctx context.Context, r transport.Resolver, req *sip.Request) (Target, error) {
	uri := req.URI
	if routes, err := req.Route(); err == nil && len(routes) > 0 {
		uri = routes[0].URI
	}
	ts, err := targets(ctx, r, uri)
	if err != nil {
		return Target{}, err
	}
	return ts[0], nil
}

// Targets resolves a sip or sips URI to the targets to try in order, a
// failed one giving way to the next (RFC 3263 §4; transport.Locator.Locate
// documents the rules), with Config.Resolver.
func (u *UA) Targets(ctx context.Context, uri sip.URI) ([]Target, error) {
	return targets(ctx, u.cfg.Resolver, uri)
}

func targets(ctx context.Context, r transport.Resolver, uri sip.URI) ([]Target, error) {
	if !uri.IsSIP() {
		return nil, fmt.Errorf("ua: cannot send to a %s URI", uri.Scheme)
	}
	loc := transport.Locator{Resolver: r}
	ts, err := loc.Locate(ctx, uri)
	if err != nil {
		return nil, fmt.Errorf("ua: resolving %s: %w", uri.Host, err)
	}
	return ts, nil
}
