package ua

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
)

// Endpoint is an identity of the UA that requests are made from: a user
// (a [UserEndpoint], which registers) or a trusted service (an
// [ApplicationEndpoint], which does not). Dialogs, messages, publications
// and subscriptions are created from an Endpoint.
type Endpoint interface {
	// UA returns the UA core the endpoint sends through.
	UA() *UA
	// Address returns the identity for From: the address of record and
	// display name, without a tag.
	Address() sip.Address
	// Contact returns the endpoint's contact: the public GRUU when the
	// registrar granted one (RFC 5627), else the contact URI of the UA's
	// listener.
	Contact() sip.Address
	// Do sends an out-of-dialog non-INVITE request through the current
	// proxy, failing over to the next one (see [FailoverError]). It fills
	// From (the identity with a new tag) and Contact where they are
	// missing, and answers digest challenges with the endpoint's
	// credentials. Results are as for [UA.Do].
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
	// Target returns where a new out-of-dialog INVITE goes now (the
	// current proxy). The dialog layer sends INVITEs itself; existing
	// dialogs keep their route set whatever Target says later.
	Target(ctx context.Context) (Target, error)
	// OnTerminate registers a drain hook: Terminate runs every hook
	// concurrently, with its deadline, before it unregisters. Dialogs,
	// publications and subscriptions use it to end themselves. remove
	// unregisters the hook.
	OnTerminate(f func(ctx context.Context) error) (remove func())
}

var (
	_ Endpoint = (*UserEndpoint)(nil)
	_ Endpoint = (*ApplicationEndpoint)(nil)
)

// EndpointState is the lifecycle state of an endpoint, as in UCMA:
// Idle → Establishing → Established → Terminating → Terminated. A failed
// Establish goes back to Idle.
type EndpointState int

// Endpoint states.
const (
	EndpointIdle EndpointState = iota
	EndpointEstablishing
	EndpointEstablished
	EndpointTerminating
	EndpointTerminated
)

var endpointStateNames = [...]string{"Idle", "Establishing", "Established", "Terminating", "Terminated"}

func (s EndpointState) String() string {
	if s >= 0 && int(s) < len(endpointStateNames) {
		return endpointStateNames[s]
	}
	return "EndpointState(" + strconv.Itoa(int(s)) + ")"
}

// Endpoint errors.
var (
	// ErrEndpointState: Establish on an endpoint that is not Idle, or an
	// operation on a terminated endpoint.
	ErrEndpointState = errors.New("ua: operation not allowed in the endpoint's state")
	// ErrTerminateRequested is the cause of the move to Terminating when
	// the application called Terminate.
	ErrTerminateRequested = errors.New("ua: terminate requested")
)

// Event is something that happened to an endpoint: a *StateChanged,
// *RegistrationStateChanged, *FailedOver or *FellBack.
//
// Events are delivered to the endpoint's OnEvent function one at a time,
// in the order they happened, on a goroutine of the endpoint's own. The
// stack never waits for the application: events queue (without bound;
// there are a few per registration interval) while OnEvent runs. OnEvent
// may call the endpoint's methods.
type Event interface{ endpointEvent() }

// StateChanged reports a lifecycle change. Cause is nil for the expected
// moves; it says why for a failed Establish (back to Idle), for
// Terminating (ErrTerminateRequested) and for Terminated (nil after a
// clean drain, else what failed, for example an unREGISTER that timed out).
type StateChanged struct {
	From, To EndpointState
	Cause    error
}

// RegistrationState is the state of one binding (one registrar).
type RegistrationState int

// Registration states.
const (
	Unregistered RegistrationState = iota
	Registering
	Registered
	Unregistering
	RegistrationFailed
)

var registrationStateNames = [...]string{"Unregistered", "Registering", "Registered", "Unregistering", "Failed"}

func (s RegistrationState) String() string {
	if s >= 0 && int(s) < len(registrationStateNames) {
		return registrationStateNames[s]
	}
	return "RegistrationState(" + strconv.Itoa(int(s)) + ")"
}

// RegistrationStateChanged reports the state of the binding at one
// registrar (Target). Every REGISTER transaction ends with one: a refresh
// that succeeds reports Registered again, with the granted interval.
type RegistrationStateChanged struct {
	Target Target
	State  RegistrationState
	// Cause is why the binding failed or was removed; nil otherwise.
	Cause error
	// Expires is the interval the registrar granted (Registered only).
	Expires time.Duration
	// Contacts are every binding of the AOR the registrar returned.
	Contacts []sip.Address
}

// FailedOver reports that the endpoint left a proxy or registrar: From is
// the target that failed, To the one new requests go to, Cause a
// *FailoverError.
type FailedOver struct {
	From, To Target
	Cause    error
}

// FellBack reports the return to the primary (To) from an alternate
// (From), after the primary accepted a REGISTER in the fallback Mode.
type FellBack struct {
	From, To Target
	Mode     FallbackMode
}

func (*StateChanged) endpointEvent()             {}
func (*RegistrationStateChanged) endpointEvent() {}
func (*FailedOver) endpointEvent()               {}
func (*FellBack) endpointEvent()                 {}

// eventQueue delivers events in order on one goroutine at a time.
type eventQueue struct {
	f       func(Event)
	mu      sync.Mutex
	q       []Event
	running bool
	idle    *sync.Cond
}

func (e *eventQueue) emit(ev Event) {
	if e.f == nil {
		return
	}
	e.mu.Lock()
	e.q = append(e.q, ev)
	if e.running {
		e.mu.Unlock()
		return
	}
	e.running = true
	e.mu.Unlock()
	go e.drain()
}

func (e *eventQueue) drain() {
	for {
		e.mu.Lock()
		if len(e.q) == 0 {
			e.running = false
			e.mu.Unlock()
			return
		}
		ev := e.q[0]
		e.q[0] = nil
		e.q = e.q[1:]
		e.mu.Unlock()
		e.f(ev)
	}
}

// core is what both endpoint kinds share: identity, lifecycle, drain
// hooks, events, credentials and the proxy list with failover.
type core struct {
	ua       *UA
	identity sip.Address
	ev       eventQueue
	auth     auth.Client
	creds    func(realm string) (auth.Credentials, bool)
	fo       failover

	mu       sync.Mutex
	state    EndpointState
	hooks    map[int]func(context.Context) error
	nextHook int
}

func (c *core) UA() *UA { return c.ua }

// Address returns the identity (AOR and display name, no tag).
func (c *core) Address() sip.Address { return c.identity }

// State returns the lifecycle state.
func (c *core) State() EndpointState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// OnTerminate registers a drain hook run by Terminate.
func (c *core) OnTerminate(f func(ctx context.Context) error) (remove func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hooks == nil {
		c.hooks = make(map[int]func(context.Context) error)
	}
	id := c.nextHook
	c.nextHook++
	c.hooks[id] = f
	return func() {
		c.mu.Lock()
		delete(c.hooks, id)
		c.mu.Unlock()
	}
}

// transition moves from one of the states in from to to, emitting the
// change. It reports false (and changes nothing) in any other state.
func (c *core) transition(to EndpointState, cause error, from ...EndpointState) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range from {
		if c.state == f {
			c.state = to
			c.ev.emit(&StateChanged{From: f, To: to, Cause: cause})
			return true
		}
	}
	return false
}

// drain runs every hook concurrently and waits for them (or ctx).
func (c *core) drain(ctx context.Context) error {
	c.mu.Lock()
	hooks := make([]func(context.Context) error, 0, len(c.hooks))
	for _, h := range c.hooks {
		hooks = append(hooks, h)
	}
	c.mu.Unlock()
	errs := make(chan error, len(hooks))
	for _, h := range hooks {
		go func() { errs <- h(ctx) }()
	}
	var all []error
	for range hooks {
		select {
		case err := <-errs:
			all = append(all, err)
		case <-ctx.Done():
			return errors.Join(append(all, ctx.Err())...)
		}
	}
	return errors.Join(all...)
}

// fill completes an out-of-dialog request with the endpoint's identity and
// contact.
func (c *core) fill(req *sip.Request, contact sip.Address) {
	if !req.Has("From") {
		from := c.identity
		from.Params = from.Params.With("tag", randomToken(6))
		req.Set("From", from.String())
	}
	if !req.Has("To") {
		req.Set("To", "<"+req.URI.String()+">")
	}
	switch req.Method {
	case sip.MethodInvite, sip.MethodSubscribe, sip.MethodRefer, sip.MethodNotify, sip.MethodUpdate:
		// The methods that create (or refresh the target of) a dialog.
		if !req.Has("Contact") && contact.URI.Host != "" {
			req.Set("Contact", contact.String())
		}
	}
}

// ApplicationEndpointConfig configures an [ApplicationEndpoint].
type ApplicationEndpointConfig struct {
	// Identity is the service's address ("sip:bot@example.test" or a
	// name-addr with a display name). Required.
	Identity string
	// Contact is the service's own contact: a GRUU the server provisioned
	// for it, or any URI routed to this UA. Zero: the UA's first listener.
	Contact string
	// Proxies are the proxies out-of-dialog requests go through, primary
	// first; see [UserEndpointConfig.Registrars] for the forms. Zero:
	// requests go where their Route or Request-URI says.
	Proxies []string
	// Failover chooses when a request moves to the next proxy.
	Failover FailoverConfig
	// Credentials answer digest challenges; nil: the UA's.
	Credentials func(realm string) (auth.Credentials, bool)
	// OnEvent receives the endpoint's events in order; nil drops them.
	OnEvent func(Event)
}

// ApplicationEndpoint is a trusted service identity: it does not register
// per user, answers what the server routes to its contact (through the
// UA's handlers) and may act on behalf of many users (a request whose From
// is set keeps it).
type ApplicationEndpoint struct {
	core
	contact sip.Address
}

// NewApplicationEndpoint returns an Idle application endpoint on u.
func NewApplicationEndpoint(u *UA, cfg ApplicationEndpointConfig) (*ApplicationEndpoint, error) {
	id, err := sip.ParseAddress(cfg.Identity)
	if err != nil {
		return nil, err
	}
	e := &ApplicationEndpoint{}
	e.ua, e.identity, e.ev.f = u, id, cfg.OnEvent
	e.identity.Params = e.identity.Params.Without("tag")
	e.creds = cfg.Credentials
	if e.creds == nil {
		e.creds = u.cfg.Credentials
	}
	if err := e.fo.init(&e.core, cfg.Proxies, cfg.Failover); err != nil {
		return nil, err
	}
	if cfg.Contact != "" {
		if e.contact, err = sip.ParseAddress(cfg.Contact); err != nil {
			return nil, err
		}
	} else if len(u.addrs) > 0 {
		e.contact = listenerContact(u.addrs[0], id.URI.User)
	}
	return e, nil
}

// Contact returns the configured contact.
func (e *ApplicationEndpoint) Contact() sip.Address { return e.contact }

// Establish makes the endpoint Established. An application endpoint does
// not register, so this only changes its state.
func (e *ApplicationEndpoint) Establish(ctx context.Context) error {
	if !e.transition(EndpointEstablishing, nil, EndpointIdle) {
		return ErrEndpointState
	}
	e.fo.expandSRV(ctx) // a proxy given as a domain: its SRV targets, in order
	e.transition(EndpointEstablished, nil, EndpointEstablishing)
	return nil
}

// Terminate runs the drain hooks within ctx and moves to Terminated.
func (e *ApplicationEndpoint) Terminate(ctx context.Context) error {
	if !e.transition(EndpointTerminating, ErrTerminateRequested, EndpointIdle, EndpointEstablishing, EndpointEstablished) {
		return nil
	}
	err := e.drain(ctx)
	e.fo.stop()
	e.transition(EndpointTerminated, err, EndpointTerminating)
	return err
}

// Do sends an out-of-dialog request with failover; see [Endpoint].
func (e *ApplicationEndpoint) Do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	if e.State() == EndpointTerminated {
		return nil, ErrEndpointState
	}
	e.fill(req, e.contact)
	return e.fo.do(ctx, req)
}

// Target returns the current proxy, or where the Request-URI of a request
// to the identity's domain would go when there are no proxies.
func (e *ApplicationEndpoint) Target(ctx context.Context) (Target, error) {
	return e.fo.target(ctx, e.identity.URI)
}
