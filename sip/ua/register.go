package ua

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/transport"
)

// Registration errors.
var (
	// ErrIntervalTooBrief: the registrar answered 423 and its Min-Expires
	// was missing or not above the interval asked for (RFC 3261 §10.2.8).
	ErrIntervalTooBrief = errors.New("ua: registrar wants a longer interval and gave no usable Min-Expires")
	// ErrNotBound: the registrar's 2xx lists no binding for our contact
	// with a non-zero expiry.
	ErrNotBound = errors.New("ua: registrar did not keep the binding")
)

// UserEndpointConfig configures a [UserEndpoint].
type UserEndpointConfig struct {
	// AOR is the address of record, "sip:alice@example.test" or
	// `"Alice" <sip:alice@example.test>`. Required.
	AOR string
	// Credentials answer digest challenges (RFC 3261 §22). A zero
	// Username means the AOR's user. Zero (no password): challenges are
	// answered with the UA's Config.Credentials, if any.
	Credentials auth.Credentials
	// Registrars are the registrars, which are also the outbound proxies
	// of out-of-dialog requests, in order of preference: the first is
	// the primary, the others alternates. Each is a SIP URI
	// ("sip:10.0.0.1:5060;transport=tcp", "sips:proxy.example.test") or
	// "host[:port]" (UDP, port 5060). Requests are sent to the current
	// one as next hop, with no Route added. Zero: the AOR's domain only.
	Registrars []string
	// Contact is the contact to register. Zero: sip:user@ the UA listener
	// of the registrar's transport.
	Contact string
	// Expires is the registration interval asked for. Zero: 3600 s.
	Expires time.Duration
	// RefreshMargin returns how long before expiry a binding granted for
	// d is refreshed. Zero: max(d/10, min(32 s, d/2)), i.e. 10% of long
	// intervals, with room for a whole non-INVITE transaction (Timer F)
	// before expiry, and at half of intervals under 64 s.
	RefreshMargin func(d time.Duration) time.Duration
	// RetryInterval is how long to wait before registering again after a
	// failure that does not fail over (403, auth failure, a single
	// registrar that timed out); it doubles on each failure up to
	// 30 minutes. Zero: 30 s.
	RetryInterval time.Duration
	// Failover chooses the triggers and the fallback mode.
	Failover FailoverConfig
	// DualRegistration keeps a binding at the primary and one at the
	// first alternate at once (each with its own Call-ID and refresh), so
	// that a failover moves requests at once without re-registering.
	DualRegistration bool
	// InstanceID is the +sip.instance value (RFC 5626 §4.1), a URN such
	// as "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6". Zero with GRUU
	// or Outbound: a random UUID URN made by NewUserEndpoint.
	InstanceID string
	// GRUU asks for GRUUs (RFC 5627): Supported: gruu and +sip.instance;
	// the pub-gruu granted becomes Contact().
	GRUU bool
	// Outbound asks for RFC 5626 outbound: Supported: outbound, reg-id
	// per registrar (1 for the primary, 2 for the next...).
	Outbound bool
	// KeepAlive is the keep-alive period of an Outbound flow. Zero: the
	// registrar's Flow-Timer, else 120 s (RFC 5626 §4.4.1). Keep-alives
	// are OPTIONS to the registrar on the flow (the transport does not
	// expose STUN or CRLF keep-alives); one that times out or finds the
	// connection reset means the flow broke, and the binding is
	// registered again (failing over if that fails).
	KeepAlive time.Duration
	// OnEvent receives the endpoint's events, in order (see [Event]); nil
	// drops them.
	OnEvent func(Event)
}

// binding is the registration at one registrar.
type binding struct {
	idx    int
	callID string
	op     chan struct{} // one REGISTER at a time

	// guarded by UserEndpoint.mu
	cseq     uint32
	state    RegistrationState
	granted  time.Duration
	timer    *sched.Timer
	ka       *sched.Timer // RFC 5626 keep-alive
	pubGRUU  string
	tempGRUU string
	failures int
}

// UserEndpoint is a user's identity: it registers the UA's contact for an
// address of record, keeps the registration fresh, fails over between
// registrars and falls back to the primary. Create it with
// NewUserEndpoint, then Establish; Terminate unregisters.
type UserEndpoint struct {
	core
	cfg     UserEndpointConfig
	regURI  sip.URI
	contact sip.Address // as configured, or zero

	bgCtx    context.Context // canceled by Terminate: background REGISTERs
	bgCancel context.CancelFunc
	wg       sync.WaitGroup

	mu       sync.Mutex
	bindings []*binding
	fbTimer  *sched.Timer // fallback probe (FallbackInterval)
	probing  atomic.Bool  // a fallback probe is in flight
	ending   bool
}

// NewUserEndpoint returns an Idle user endpoint on u.
func NewUserEndpoint(u *UA, cfg UserEndpointConfig) (*UserEndpoint, error) {
	aor, err := sip.ParseAddress(cfg.AOR)
	if err != nil {
		return nil, fmt.Errorf("ua: bad AOR: %w", err)
	}
	if !aor.URI.IsSIP() || aor.URI.Host == "" {
		return nil, fmt.Errorf("ua: AOR %q is not a SIP URI", cfg.AOR)
	}
	aor.Params = aor.Params.Without("tag")
	if cfg.Expires <= 0 {
		cfg.Expires = time.Hour
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 30 * time.Second
	}
	if cfg.RefreshMargin == nil {
		cfg.RefreshMargin = defaultRefreshMargin
	}
	if cfg.InstanceID == "" && (cfg.GRUU || cfg.Outbound) {
		cfg.InstanceID = newUUIDURN()
	}
	e := &UserEndpoint{cfg: cfg}
	e.ua, e.identity, e.ev.f = u, aor, cfg.OnEvent
	e.regURI = sip.URI{Scheme: aor.URI.Scheme, Host: aor.URI.Host, Port: aor.URI.Port}
	if cfg.Credentials.Password != "" {
		cred := cfg.Credentials
		if cred.Username == "" {
			cred.Username = aor.URI.User
		}
		e.creds = func(string) (auth.Credentials, bool) { return cred, true }
	} else {
		e.creds = u.cfg.Credentials
	}
	if cfg.Contact != "" {
		if e.contact, err = sip.ParseAddress(cfg.Contact); err != nil {
			return nil, fmt.Errorf("ua: bad contact: %w", err)
		}
	}
	regs := cfg.Registrars
	if len(regs) == 0 {
		regs = []string{e.regURI.String()}
	}
	if err := e.fo.init(&e.core, regs, cfg.Failover); err != nil {
		return nil, err
	}
	e.fo.moved = e.moved
	for i := range e.fo.servers {
		e.bindings = append(e.bindings, &binding{idx: i, callID: randomToken(12) + "@sipua", op: make(chan struct{}, 1)})
	}
	e.bgCtx, e.bgCancel = context.WithCancel(context.Background())
	return e, nil
}

func defaultRefreshMargin(d time.Duration) time.Duration {
	return max(d/10, min(32*time.Second, d/2))
}

func newUUIDURN() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// listenerContact is sip:user@addr of a listener (with its transport
// unless UDP).
func listenerContact(a transport.Addr, user string) sip.Address {
	u := sip.URI{Scheme: "sip", User: user, Host: a.AddrPort.Addr().String(), Port: int(a.AddrPort.Port())}
	switch a.Transport {
	case transport.UDP:
	case transport.TLS:
		u.Scheme = "sips"
	default:
		u.Params = sip.Params("transport=" + lower(a.Transport))
	}
	return sip.Address{URI: u}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// contactFor returns the contact registered at a target.
func (e *UserEndpoint) contactFor(t Target) sip.Address {
	if e.contact.URI.Host != "" {
		return sip.Address{Display: e.contact.Display, URI: e.contact.URI}
	}
	a, ok := e.ua.localAddr(t.Transport)
	if !ok && len(e.ua.addrs) > 0 {
		a = e.ua.addrs[0]
	}
	return listenerContact(a, e.identity.URI.User)
}

// Contact returns the public GRUU granted by the current registrar, or
// the contact registered there.
func (e *UserEndpoint) Contact() sip.Address {
	i := e.fo.current()
	e.mu.Lock()
	g := e.bindings[i].pubGRUU
	e.mu.Unlock()
	if g != "" {
		if u, err := sip.ParseURI(g); err == nil {
			return sip.Address{URI: u}
		}
	}
	return e.contactFor(e.fo.lastTarget(i))
}

// TempGRUU returns the temporary GRUU of the current registration, if any.
func (e *UserEndpoint) TempGRUU() string {
	i := e.fo.current()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.bindings[i].tempGRUU
}

// Target returns the current registrar / outbound proxy.
func (e *UserEndpoint) Target(ctx context.Context) (Target, error) {
	return e.fo.resolve(ctx, e.fo.current())
}

// Do sends an out-of-dialog request with failover; see [Endpoint].
func (e *UserEndpoint) Do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	if e.State() == EndpointTerminated {
		return nil, ErrEndpointState
	}
	e.fill(req, e.Contact())
	return e.fo.do(ctx, req)
}

// RegistrationState returns the state of the binding at each registrar,
// in the order of the Registrars list.
func (e *UserEndpoint) RegistrationState() []RegistrationState {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]RegistrationState, len(e.bindings))
	for i, b := range e.bindings {
		out[i] = b.state
	}
	return out
}

// Establish registers (with the primary, failing over along the list;
// with DualRegistration, with the primary and the first alternate) and
// moves to Established. On failure the endpoint is Idle again and the
// error says why.
func (e *UserEndpoint) Establish(ctx context.Context) error {
	if !e.transition(EndpointEstablishing, nil, EndpointIdle) {
		return ErrEndpointState
	}
	if e.fo.expandSRV(ctx) {
		// A registrar given as a domain became its SRV targets: one
		// binding per target, as for an explicit list.
		e.mu.Lock()
		e.bindings = e.bindings[:0]
		for i := range e.fo.servers {
			e.bindings = append(e.bindings, &binding{idx: i, callID: randomToken(12) + "@sipua", op: make(chan struct{}, 1)})
		}
		e.mu.Unlock()
	}
	var err error
	if e.cfg.DualRegistration && len(e.bindings) > 1 {
		err = e.establishDual(ctx)
	} else {
		_, err = e.registerFrom(ctx, 0)
	}
	if err != nil {
		e.transition(EndpointIdle, err, EndpointEstablishing)
		return err
	}
	if !e.transition(EndpointEstablished, nil, EndpointEstablishing) {
		return ErrEndpointState // Terminate came first
	}
	if e.fo.current() != 0 {
		e.startFallback()
	}
	return nil
}

func (e *UserEndpoint) establishDual(ctx context.Context) error {
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.register(ctx, e.bindings[i], e.expires())
		}()
	}
	wg.Wait()
	if errs[0] == nil {
		return nil
	}
	if errs[1] != nil {
		return errors.Join(errs...)
	}
	if reason, ok := e.fo.classify(ctx, errs[0]); ok {
		e.fo.failedOver(0, 1, &FailoverError{Target: e.fo.lastTarget(0), Reason: reason, Err: errs[0]})
		return nil
	}
	return errs[0]
}

// registerFrom registers at server i, failing over along the list on a
// trigger (once around at most). It returns the index registered.
func (e *UserEndpoint) registerFrom(ctx context.Context, i int) (int, error) {
	n := len(e.bindings)
	var err error
	for k := 0; k < n; k++ {
		idx := (i + k) % n
		if err = e.register(ctx, e.bindings[idx], e.expires()); err == nil {
			return idx, nil
		}
		reason, ok := e.fo.classify(ctx, err)
		if !ok || k == n-1 {
			return -1, err
		}
		e.fo.failedOver(idx, e.fo.next(idx), &FailoverError{Target: e.fo.lastTarget(idx), Reason: reason, Err: err})
	}
	return -1, err
}

// acquire takes the binding's REGISTER slot.
func (b *binding) acquire(ctx context.Context) error {
	select {
	case b.op <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *binding) release() { <-b.op }

func (e *UserEndpoint) setBinding(b *binding, st RegistrationState, cause error, granted time.Duration, contacts []sip.Address) {
	e.mu.Lock()
	prev := b.state
	b.state = st
	e.mu.Unlock()
	if prev == st && st == Registering {
		return
	}
	e.ev.emit(&RegistrationStateChanged{Target: e.fo.lastTarget(b.idx), State: st, Cause: cause, Expires: granted, Contacts: contacts})
}

// register sends REGISTER for binding b with the interval asked (0
// removes the binding) and, on success, schedules its refresh.
func (e *UserEndpoint) register(ctx context.Context, b *binding, expires time.Duration) error {
	if err := b.acquire(ctx); err != nil {
		return err
	}
	defer b.release()
	e.mu.Lock()
	wasRegistered := b.state == Registered
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if b.ka != nil {
		b.ka.Stop()
		b.ka = nil
	}
	e.mu.Unlock()
	if expires == 0 {
		e.setBinding(b, Unregistering, nil, 0, nil)
	} else if !wasRegistered {
		e.setBinding(b, Registering, nil, 0, nil)
	}
	granted, res, err := e.transact(ctx, b, expires, true)
	var contacts []sip.Address
	if res != nil {
		contacts = res.Contact()
	}
	switch {
	case err != nil && expires == 0:
		e.setBinding(b, Unregistered, err, 0, contacts)
		return err
	case err != nil:
		e.mu.Lock()
		b.failures++
		e.mu.Unlock()
		e.setBinding(b, RegistrationFailed, err, 0, contacts)
		return err
	case expires == 0:
		e.mu.Lock()
		b.pubGRUU, b.tempGRUU = "", ""
		e.mu.Unlock()
		e.setBinding(b, Unregistered, nil, 0, contacts)
		return nil
	}
	e.mu.Lock()
	b.failures = 0
	b.granted = granted
	if !e.ending {
		b.timer = e.ua.sched.AfterFunc(granted-e.cfg.RefreshMargin(granted), func() { e.background(func() { e.refresh(b) }) })
	}
	if e.cfg.Outbound {
		e.armKeepAlive(b, e.keepAliveInterval(res))
	}
	e.mu.Unlock()
	e.setBinding(b, Registered, nil, granted, contacts)
	return nil
}

// keepAliveInterval is the keep-alive period of a flow registered by res.
func (e *UserEndpoint) keepAliveInterval(res *sip.Response) time.Duration {
	if e.cfg.KeepAlive > 0 {
		return e.cfg.KeepAlive
	}
	if res != nil {
		if n, err := strconv.Atoi(res.Get("Flow-Timer")); err == nil && n > 0 {
			return time.Duration(n) * time.Second * 9 / 10 // RFC 5626 §4.4.1: before the server's timer
		}
	}
	return 120 * time.Second
}

// armKeepAlive schedules the next keep-alive of b's flow (e.mu held).
func (e *UserEndpoint) armKeepAlive(b *binding, d time.Duration) {
	if b.ka != nil {
		b.ka.Stop()
	}
	if e.ending {
		return
	}
	b.ka = e.ua.sched.AfterFunc(d, func() {
		e.mu.Lock()
		e.armKeepAlive(b, d) // periodic: the next one is due d after this one
		e.mu.Unlock()
		e.background(func() { e.keepAlive(b) })
	})
}

// keepAlive probes b's flow; a flow that broke is registered again. A
// TCP or TLS flow gets RFC 5626 §4.4.1 CRLF keep-alives (no pong within
// 10 s, or no connection any more: broken); a UDP or WebSocket flow,
// which would need STUN, gets an OPTIONS request, any answer to which
// shows the flow works.
func (e *UserEndpoint) keepAlive(b *binding) {
	ctx := e.bgCtx
	to, err := e.fo.resolve(ctx, b.idx)
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		perr := e.ua.tp.Ping(pctx, to)
		cancel()
		switch {
		case perr == nil:
			return
		case !errors.Is(perr, errors.ErrUnsupported):
			if ctx.Err() != nil {
				return
			}
			e.flowBroken(ctx, b)
			return
		}
		req := sip.NewRequest(sip.MethodOptions, e.fo.servers[b.idx].uri)
		from := e.identity
		from.Params = from.Params.With("tag", randomToken(6))
		req.Set("From", from.String())
		req.Set("To", "<"+req.URI.String()+">")
		_, err = e.ua.send(ctx, req, to, e.creds, &e.auth)
		var se *StatusError
		if errors.As(err, &se) {
			err = nil // any answer shows the flow works
		}
	}
	if ctx.Err() != nil {
		return
	}
	if _, broken := e.fo.classify(ctx, err); !broken {
		return
	}
	e.flowBroken(ctx, b)
}

// flowBroken registers b again over a new flow (RFC 5626 §4.4.1).
func (e *UserEndpoint) flowBroken(ctx context.Context, b *binding) {
	e.mu.Lock()
	registered := b.state == Registered
	e.mu.Unlock()
	if !registered {
		return
	}
	if err := e.register(ctx, b, e.expires()); err != nil {
		e.failed(ctx, b, err)
	}
}

// background runs f on its own goroutine unless the endpoint is ending.
func (e *UserEndpoint) background(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ending {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
}

// transact builds and sends one REGISTER (with a Contact when withContact,
// else a query), retrying once per 423 with the Min-Expires asked. It
// returns the interval granted for our contact.
func (e *UserEndpoint) transact(ctx context.Context, b *binding, expires time.Duration, withContact bool) (time.Duration, *sip.Response, error) {
	secs := int((expires + time.Second - 1) / time.Second)
	for attempt := 0; ; attempt++ {
		to, err := e.fo.resolve(ctx, b.idx)
		if err != nil {
			return 0, nil, &FailoverError{Target: Target{Name: e.fo.servers[b.idx].uri.Host}, Reason: FailoverResolve, Err: err}
		}
		contact := e.contactFor(to)
		req := sip.NewRequest(sip.MethodRegister, e.regURI)
		from := e.identity
		from.Params = from.Params.With("tag", randomToken(6))
		req.Set("From", from.String())
		req.Set("To", e.identity.String())
		e.mu.Lock()
		b.cseq++
		req.Set("Call-ID", b.callID)
		req.Set("CSeq", sip.CSeq{Seq: b.cseq, Method: sip.MethodRegister}.String())
		e.mu.Unlock()
		if withContact {
			c := contact
			if e.cfg.InstanceID != "" {
				c.Params = c.Params.With("+sip.instance", `"<`+e.cfg.InstanceID+`>"`)
			}
			if e.cfg.Outbound {
				c.Params = c.Params.With("reg-id", strconv.Itoa(b.idx+1))
			}
			req.Set("Contact", c.String())
			req.Set("Expires", strconv.Itoa(secs))
		}
		var sup []string
		if e.cfg.GRUU {
			sup = append(sup, "gruu")
		}
		if e.cfg.Outbound {
			sup = append(sup, "outbound", "path")
		}
		if len(sup) > 0 {
			req.Set("Supported", joinComma(sup))
		}
		res, err := e.ua.send(ctx, req, to, e.creds, &e.auth)
		e.mu.Lock()
		if s := req.CSeq().Seq; s > b.cseq {
			b.cseq = s // digest retries went up
		}
		e.mu.Unlock()
		var se *StatusError
		if errors.As(err, &se) && se.StatusCode() == 423 && withContact && attempt < 3 {
			// RFC 3261 §10.2.8: retry with Min-Expires if it is longer.
			min, merr := res.MinExpires()
			if merr != nil || min <= secs {
				return 0, res, errors.Join(err, ErrIntervalTooBrief)
			}
			secs = min
			e.mu.Lock()
			if d := time.Duration(min) * time.Second; d > e.cfg.Expires {
				e.cfg.Expires = d // later refreshes ask for it too
			}
			e.mu.Unlock()
			continue
		}
		if err != nil {
			return 0, res, err
		}
		if !withContact {
			return 0, res, nil
		}
		granted, ok := e.granted(b, res, contact, secs)
		if !ok && secs > 0 {
			return 0, res, ErrNotBound
		}
		return granted, res, nil
	}
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}

// granted finds our binding in a 2xx: its expires parameter first, then
// the Expires header, then what was asked (RFC 3261 §10.2.4). It also
// keeps the GRUUs of the binding (RFC 5627 §5.1).
func (e *UserEndpoint) granted(b *binding, res *sip.Response, contact sip.Address, asked int) (time.Duration, bool) {
	secs := -1
	for _, c := range res.Contact() {
		mine := c.URI.Equal(contact.URI)
		if !mine && e.cfg.InstanceID != "" {
			inst := c.Params.Value("+sip.instance")
			mine = inst == `"<`+e.cfg.InstanceID+`>"` || inst == "<"+e.cfg.InstanceID+">"
		}
		if !mine {
			continue
		}
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil {
				secs = n
			}
		}
		if pub := unquoteParam(c.Params.Value("pub-gruu")); pub != "" {
			e.mu.Lock()
			b.pubGRUU = pub
			b.tempGRUU = unquoteParam(c.Params.Value("temp-gruu"))
			e.mu.Unlock()
		}
		break
	}
	if secs < 0 {
		if n, err := res.Expires(); err == nil {
			secs = n
		} else if len(res.Contact()) == 0 && asked > 0 {
			return 0, false
		} else {
			secs = asked
		}
	}
	if secs <= 0 {
		return 0, false
	}
	return time.Duration(secs) * time.Second, true
}

func unquoteParam(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// Bindings queries the current registrar for every contact bound to the
// AOR (a REGISTER without Contact, RFC 3261 §10.2.3).
func (e *UserEndpoint) Bindings(ctx context.Context) ([]sip.Address, error) {
	b := e.bindings[e.fo.current()]
	if err := b.acquire(ctx); err != nil {
		return nil, err
	}
	defer b.release()
	_, res, err := e.transact(ctx, b, 0, false)
	if err != nil {
		return nil, err
	}
	return res.Contact(), nil
}

// refresh runs when binding b is due. With FallbackAtExpiry, the
// refresh of an alternate goes to the primary first.
func (e *UserEndpoint) refresh(b *binding) {
	ctx := e.bgCtx
	cur := e.fo.current()
	if e.fo.cfg.Fallback == FallbackAtExpiry && cur != 0 && b.idx == cur {
		if e.probePrimary(ctx) {
			return
		}
	}
	if err := e.register(ctx, b, e.expires()); err != nil {
		e.failed(ctx, b, err)
	}
}

func (e *UserEndpoint) expires() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg.Expires
}

// failed handles a binding that could not register in the background:
// fail over when it was the current one and the cause is a trigger, else
// retry later.
func (e *UserEndpoint) failed(ctx context.Context, b *binding, err error) {
	if ctx.Err() != nil {
		return
	}
	reason, trigger := e.fo.classify(ctx, err)
	cur := e.fo.current()
	if trigger && b.idx == cur && len(e.bindings) > 1 {
		from, to := b.idx, e.fo.next(b.idx)
		if fe := (&FailoverError{Target: e.fo.lastTarget(from), Reason: reason, Err: err}); e.fo.failedOver(from, to, fe) {
			e.moved(from, to, fe)
		}
		return
	}
	if trigger && b.idx == 0 && cur != 0 {
		return // the fallback (probe or expiry) tries the primary again
	}
	e.retryLater(b)
}

// retryLater schedules another REGISTER of b after RetryInterval, doubled
// per consecutive failure up to 30 minutes.
func (e *UserEndpoint) retryLater(b *binding) {
	e.mu.Lock()
	d := e.cfg.RetryInterval << min(max(b.failures-1, 0), 10)
	if d > 30*time.Minute || d <= 0 {
		d = 30 * time.Minute
	}
	if !e.ending {
		if b.timer != nil {
			b.timer.Stop()
		}
		b.timer = e.ua.sched.AfterFunc(d, func() { e.background(func() { e.refresh(b) }) })
	}
	e.mu.Unlock()
}

// moved follows a failover from server from to server to: requests go to
// to from now on, so it must hold a binding (unless dual registration
// keeps one there already); the primary is probed for fallback.
func (e *UserEndpoint) moved(from, to int, cause *FailoverError) {
	if e.State() != EndpointEstablished {
		return
	}
	if !e.cfg.DualRegistration {
		// That registrar is unreachable: its binding is no longer
		// refreshed; the fallback re-registers there.
		e.mu.Lock()
		fb := e.bindings[from]
		if fb.timer != nil {
			fb.timer.Stop()
			fb.timer = nil
		}
		st := fb.state
		e.mu.Unlock()
		if st == Registered {
			e.setBinding(fb, RegistrationFailed, cause, 0, nil)
		}
	}
	e.mu.Lock()
	st := e.bindings[to].state
	e.mu.Unlock()
	if st != Registered {
		e.background(func() {
			if _, err := e.registerFrom(e.bgCtx, to); err != nil && e.bgCtx.Err() == nil {
				// Once around the list without success: wait, then
				// start again from the current one.
				e.retryLater(e.bindings[e.fo.current()])
			}
		})
	}
	if to != 0 {
		e.startFallback()
	}
}

// startFallback arms the FallbackInterval probe.
func (e *UserEndpoint) startFallback() {
	if e.fo.cfg.Fallback != FallbackInterval {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ending || e.fbTimer != nil {
		return
	}
	e.armFallback()
}

// armFallback schedules the next probe, FallbackInterval after now (e.mu
// held). The period runs from probe to probe, whatever a probe takes.
func (e *UserEndpoint) armFallback() {
	e.fbTimer = e.ua.sched.AfterFunc(e.fo.cfg.FallbackInterval, func() {
		e.mu.Lock()
		if e.ending || e.fo.current() == 0 {
			e.fbTimer = nil
			e.mu.Unlock()
			return
		}
		e.armFallback()
		e.mu.Unlock()
		e.background(func() {
			if !e.probing.CompareAndSwap(false, true) {
				return // the last probe is still waiting for an answer
			}
			defer e.probing.Store(false)
			e.probePrimary(e.bgCtx)
		})
	})
}

// probePrimary registers at the primary; on 2xx the endpoint falls back
// to it (and, without dual registration, removes the binding at the
// alternate).
func (e *UserEndpoint) probePrimary(ctx context.Context) bool {
	if err := e.register(ctx, e.bindings[0], e.expires()); err != nil {
		return false
	}
	e.fo.mu.Lock()
	from := e.fo.cur
	if from == 0 || e.fo.stopped {
		e.fo.mu.Unlock()
		return from == 0
	}
	e.fo.cur = 0
	e.fo.mu.Unlock()
	e.ev.emit(&FellBack{From: e.fo.lastTarget(from), To: e.fo.lastTarget(0), Mode: e.fo.cfg.Fallback})
	e.mu.Lock()
	if e.fbTimer != nil {
		e.fbTimer.Stop()
		e.fbTimer = nil
	}
	e.mu.Unlock()
	if !e.cfg.DualRegistration {
		old := e.bindings[from]
		e.mu.Lock()
		if old.timer != nil {
			old.timer.Stop()
			old.timer = nil
		}
		st := old.state
		e.mu.Unlock()
		if st == Registered {
			_ = e.register(ctx, old, 0)
		}
	}
	return true
}

// Terminate drains the endpoint within ctx: it runs the OnTerminate hooks
// (dialogs, publications, subscriptions) concurrently, then removes every
// binding (REGISTER with Expires: 0) at every registrar, concurrently.
// It returns what failed; the endpoint is Terminated in any case.
func (e *UserEndpoint) Terminate(ctx context.Context) error {
	if !e.transition(EndpointTerminating, ErrTerminateRequested, EndpointIdle, EndpointEstablishing, EndpointEstablished) {
		return nil
	}
	err := e.drain(ctx)
	e.mu.Lock()
	e.ending = true
	if e.fbTimer != nil {
		e.fbTimer.Stop()
		e.fbTimer = nil
	}
	for _, b := range e.bindings {
		if b.timer != nil {
			b.timer.Stop()
			b.timer = nil
		}
		if b.ka != nil {
			b.ka.Stop()
			b.ka = nil
		}
	}
	e.mu.Unlock()
	e.bgCancel() // background REGISTERs in flight give up their slot
	e.wg.Wait()
	errs := []error{err}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, b := range e.bindings {
		e.mu.Lock()
		st := b.state
		e.mu.Unlock()
		if st != Registered && st != Registering {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.register(ctx, b, 0); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	e.fo.stop()
	err = errors.Join(errs...)
	e.transition(EndpointTerminated, err, EndpointTerminating)
	return err
}
