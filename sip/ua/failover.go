package ua

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transaction"
)

// FallbackMode says when an endpoint that failed over to an alternate goes
// back to the primary.
type FallbackMode int

const (
	// FallbackAtExpiry tries the primary only when the registration at the
	// alternate is due for refresh: the REGISTER goes to the primary first,
	// and on 2xx the endpoint is back on it. The zero value.
	FallbackAtExpiry FallbackMode = iota
	// FallbackInterval probes the primary with a REGISTER every
	// FallbackInterval while on an alternate; on 2xx the endpoint is back.
	FallbackInterval
	// FallbackNever stays on the alternate.
	FallbackNever
)

func (m FallbackMode) String() string {
	switch m {
	case FallbackAtExpiry:
		return "AtExpiry"
	case FallbackInterval:
		return "Interval"
	case FallbackNever:
		return "Never"
	}
	return "FallbackMode(" + strconv.Itoa(int(m)) + ")"
}

// FailoverConfig says when a request moves to the next proxy or registrar
// and when the endpoint goes back to the primary.
type FailoverConfig struct {
	// OnCodes are the final response codes that fail over, each a code
	// ("503") or a class with wildcards ("5xx", "5??"). A listed code
	// fails over whether or not the response has Retry-After. Zero: 503
	// without Retry-After (RFC 3263 §4.3). Timeouts (Timer B/F), refused,
	// reset or closed connections and TLS failures always fail over.
	OnCodes []string
	// Fallback is when to go back to the primary. Zero: FallbackAtExpiry.
	Fallback FallbackMode
	// FallbackInterval is the probe period of FallbackInterval. Zero: 60 s.
	FallbackInterval time.Duration
}

// FailoverReason classifies why a target was left.
type FailoverReason int

// Failover reasons.
const (
	FailoverTimeout     FailoverReason = iota + 1 // Timer B or F fired
	FailoverConnRefused                           // TCP/TLS connect refused
	FailoverConnReset                             // the connection was reset or closed before the answer
	FailoverTLS                                   // TLS handshake or verification failed
	FailoverTransport                             // any other network error
	FailoverStatus                                // a response code in FailoverConfig.OnCodes
	FailoverResolve                               // the target's name did not resolve
)

var failoverReasonNames = [...]string{"", "timeout", "connection refused", "connection reset", "TLS failure",
	"transport error", "status", "resolution failure"}

func (r FailoverReason) String() string {
	if r > 0 && int(r) < len(failoverReasonNames) {
		return failoverReasonNames[r]
	}
	return "FailoverReason(" + strconv.Itoa(int(r)) + ")"
}

// FailoverError is why a request left a target: the Cause of [FailedOver].
// Err is the underlying error: a *transaction.TimeoutError, a network
// error or a *StatusError.
type FailoverError struct {
	Target Target
	Reason FailoverReason
	Err    error
}

func (e *FailoverError) Error() string {
	return "ua: " + e.Target.String() + ": " + e.Reason.String() + ": " + e.Err.Error()
}

func (e *FailoverError) Unwrap() error { return e.Err }

// Timeout reports whether the target timed out.
func (e *FailoverError) Timeout() bool { return e.Reason == FailoverTimeout }

// server is one entry of the proxy/registrar list.
type server struct {
	uri   sip.URI
	last  Target // last resolution, for events
	fixed Target // one SRV record's target, when expandSRV split a domain
}

// failover holds an endpoint's proxy list and which one is current.
type failover struct {
	c   *core
	cfg FailoverConfig

	mu      sync.Mutex
	servers []server
	cur     int
	stopped bool
	// moved is called (without locks) after a failover caused by a
	// request other than REGISTER; the user endpoint registers there.
	moved func(from, to int, cause *FailoverError)
}

// parseServer accepts "sip:host:port;transport=tcp", "sips:host" or
// "host[:port][;params]".
func parseServer(s string) (sip.URI, error) {
	s = strings.TrimSpace(s)
	ls := strings.ToLower(s)
	if !strings.HasPrefix(ls, "sip:") && !strings.HasPrefix(ls, "sips:") {
		s = "sip:" + s
	}
	u, err := sip.ParseURI(s)
	if err != nil {
		return sip.URI{}, fmt.Errorf("ua: bad proxy or registrar %q: %w", s, err)
	}
	if !u.IsSIP() || u.Host == "" {
		return sip.URI{}, fmt.Errorf("ua: bad proxy or registrar %q", s)
	}
	return u, nil
}

func (f *failover) init(c *core, list []string, cfg FailoverConfig) error {
	f.c, f.cfg = c, cfg
	if f.cfg.FallbackInterval <= 0 {
		f.cfg.FallbackInterval = 60 * time.Second
	}
	for _, code := range cfg.OnCodes {
		if len(code) != 3 {
			return fmt.Errorf("ua: bad failover code %q", code)
		}
	}
	for _, s := range list {
		u, err := parseServer(s)
		if err != nil {
			return err
		}
		f.servers = append(f.servers, server{uri: u})
	}
	return nil
}

func (f *failover) stop() {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
}

func (f *failover) current() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

func (f *failover) next(i int) int { return (i + 1) % len(f.servers) }

// expandSRV replaces every server given as a bare domain (no port, not
// an IP address) by the targets RFC 3263 finds for it (NAPTR and SRV in
// priority and weight order), each a server of the failover list in that
// order, so a failing SRV target fails over to the next. It reports
// whether the list changed. A domain that does not resolve stays as it is
// (its requests report the error).
func (f *failover) expandSRV(ctx context.Context) bool {
	f.mu.Lock()
	servers := append([]server(nil), f.servers...)
	f.mu.Unlock()
	var out []server
	changed := false
	for _, sv := range servers {
		if sv.fixed != (Target{}) || sv.uri.Port != 0 || sv.uri.Params.Has("maddr") {
			out = append(out, sv)
			continue
		}
		if _, err := netip.ParseAddr(strings.Trim(sv.uri.Host, "[]")); err == nil {
			out = append(out, sv)
			continue
		}
		ts, err := f.c.ua.Targets(ctx, sv.uri)
		if err != nil || len(ts) < 2 {
			out = append(out, sv)
			continue
		}
		for _, t := range ts {
			out = append(out, server{uri: sv.uri, fixed: t, last: t})
		}
		changed = true
	}
	if changed {
		f.mu.Lock()
		f.servers = out
		f.cur = 0
		f.mu.Unlock()
	}
	return changed
}

// resolve returns the transport address of server i.
func (f *failover) resolve(ctx context.Context, i int) (Target, error) {
	f.mu.Lock()
	uri, fixed := f.servers[i].uri, f.servers[i].fixed
	f.mu.Unlock()
	if fixed != (Target{}) {
		return fixed, nil
	}
	t, err := f.c.ua.target(ctx, sip.NewRequest(sip.MethodOptions, uri))
	if err != nil {
		return Target{}, err
	}
	f.mu.Lock()
	f.servers[i].last = t
	f.mu.Unlock()
	return t, nil
}

// lastTarget is the last resolution of server i (for events), resolving
// it when it never was.
func (f *failover) lastTarget(i int) Target {
	f.mu.Lock()
	t := f.servers[i].last
	f.mu.Unlock()
	if t == (Target{}) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		t, _ = f.resolve(ctx, i)
		cancel()
	}
	return t
}

// target returns the current proxy, or where a request to uri goes
// without one.
func (f *failover) target(ctx context.Context, uri sip.URI) (Target, error) {
	if len(f.servers) == 0 {
		return f.c.ua.target(ctx, sip.NewRequest(sip.MethodOptions, sip.URI{Scheme: uri.Scheme, Host: uri.Host, Port: uri.Port, Params: uri.Params}))
	}
	return f.resolve(ctx, f.current())
}

// failedOver records the move from server from to server to and reports
// it. When current is not from (another request moved it already) the
// current server stays.
func (f *failover) failedOver(from, to int, cause *FailoverError) bool {
	f.mu.Lock()
	if f.cur != from || f.stopped {
		f.mu.Unlock()
		return false
	}
	f.cur = to
	f.mu.Unlock()
	f.c.ev.emit(&FailedOver{From: cause.Target, To: f.lastTarget(to), Cause: cause})
	return true
}

// matchCode reports whether a final response fails over.
func (f *failover) matchCode(res *sip.Response) bool {
	if len(f.cfg.OnCodes) == 0 {
		if res.StatusCode != 503 {
			return false
		}
		_, err := res.RetryAfter()
		return err != nil
	}
	code := strconv.Itoa(res.StatusCode)
	for _, p := range f.cfg.OnCodes {
		ok := len(code) == 3
		for i := 0; ok && i < 3; i++ {
			c := p[i] | 0x20
			ok = c == 'x' || p[i] == '?' || p[i] == code[i]
		}
		if ok {
			return true
		}
	}
	return false
}

// classify reports whether err makes a request fail over, and why.
func (f *failover) classify(ctx context.Context, err error) (FailoverReason, bool) {
	if err == nil || ctx.Err() != nil {
		return 0, false
	}
	var se *StatusError
	var opErr *net.OpError
	var certErr *tls.CertificateVerificationError
	var alert tls.AlertError
	var rh tls.RecordHeaderError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &se):
		if f.matchCode(se.Response) {
			return FailoverStatus, true
		}
		return 0, false
	case errors.Is(err, transaction.ErrTimeout):
		return FailoverTimeout, true
	case errors.Is(err, syscall.ECONNREFUSED):
		return FailoverConnRefused, true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, transaction.ErrConnClosed), errors.Is(err, net.ErrClosed):
		return FailoverConnReset, true
	case errors.As(err, &certErr), errors.As(err, &alert), errors.As(err, &rh),
		errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		return FailoverTLS, true
	case errors.As(err, &opErr), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return FailoverTransport, true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return FailoverTimeout, true // a dial that timed out
	}
	return 0, false
}

// do sends req through the current server, and on a failover trigger
// re-sends it, as a new transaction (a new branch), to the next, once
// around the list at most. The first move changes the current server
// for later requests too.
func (f *failover) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	c := f.c
	if len(f.servers) == 0 {
		return c.ua.send(ctx, req, Target{}, c.creds, &c.auth)
	}
	start := f.current()
	n := len(f.servers)
	var res *sip.Response
	var err error
	for k := 0; k < n; k++ {
		i := (start + k) % n
		var to Target
		if to, err = f.resolve(ctx, i); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			err = &FailoverError{Target: Target{Name: f.servers[i].uri.Host}, Reason: FailoverResolve, Err: err}
		} else {
			if k > 0 {
				req.RemoveFirst("Via") // a new transaction: complete adds a Via with a new branch
			}
			res, err = c.ua.send(ctx, req, to, c.creds, &c.auth)
			reason, ok := f.classify(ctx, err)
			if !ok {
				return res, err
			}
			err = &FailoverError{Target: to, Reason: reason, Err: err}
		}
		if k == n-1 {
			break
		}
		if fe := err.(*FailoverError); f.failedOver(i, f.next(i), fe) && f.moved != nil {
			f.moved(i, f.next(i), fe)
		}
	}
	// Every target failed: return the last one's error as Do would (a
	// *StatusError stays reachable with errors.As).
	return res, err
}
