package transaction

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transport"
)

// Config holds the timer values of RFC 3261 §17 (Table 4). The zero value
// of each field is the RFC's default.
type Config struct {
	T1 time.Duration // RTT estimate; zero: 500 ms
	T2 time.Duration // maximum retransmit interval for non-INVITE requests; zero: 4 s
	T4 time.Duration // maximum time a message stays in the network; zero: 5 s
	// TryingDelay is how long an INVITE server transaction waits for the
	// TU's first response before it sends 100 Trying itself (RFC 3261
	// §17.2.1 lets it skip the 100 when the TU answers within 200 ms; a
	// retransmitted INVITE gets the 100 at once). Zero: 200 ms; negative:
	// the 100 goes out at once.
	TryingDelay time.Duration
}

func (c Config) withDefaults() Config {
	if c.T1 <= 0 {
		c.T1 = 500 * time.Millisecond
	}
	if c.T2 <= 0 {
		c.T2 = 4 * time.Second
	}
	if c.T4 <= 0 {
		c.T4 = 5 * time.Second
	}
	if c.TryingDelay == 0 {
		c.TryingDelay = 200 * time.Millisecond
	}
	return c
}

// Sender is what a Layer needs of the transport: *transport.Layer has it.
type Sender interface {
	Send(ctx context.Context, to transport.Addr, m sip.Message) error
	Respond(in *transport.Inbound, res *sip.Response) error
}

// State is a transaction state (RFC 3261 §17).
type State int

// Transaction states.
const (
	Trying State = iota
	Proceeding
	Completed
	Terminated
)

func (s State) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return "State(" + itoa(int(s)) + ")"
}

// Errors.
var (
	// ErrTimeout: no final response before Timer F (non-INVITE) fired.
	ErrTimeout = errors.New("transaction: timed out")
	// ErrTerminated: the operation needs a live transaction.
	ErrTerminated = errors.New("transaction: terminated")
	// ErrBadResponse: a response a server transaction cannot send in its state.
	ErrBadResponse = errors.New("transaction: response not allowed in this state")
	// ErrConnClosed: the stream connection a transaction used closed
	// before its final response.
	ErrConnClosed = errors.New("transaction: connection closed")
	// ErrNoBranch: a request to send needs an RFC 3261 branch (z9hG4bK...) in its
	// topmost Via to be carried by a transaction.
	ErrNoBranch = errors.New("transaction: topmost Via has no RFC 3261 branch")
)

// TimeoutError is the cause of a transaction ended by a timer.
type TimeoutError struct {
	Timer string // "F", ...
}

func (e *TimeoutError) Error() string { return "transaction: Timer " + e.Timer + " fired" }

// Timeout reports true, as net.Error does.
func (e *TimeoutError) Timeout() bool { return true }

// Unwrap returns ErrTimeout.
func (e *TimeoutError) Unwrap() error { return ErrTimeout }

const magicCookie = "z9hG4bK"

// Layer holds the transactions of one user agent.
type Layer struct {
	cfg   Config
	sched *sched.Scheduler
	send  Sender

	mu         sync.Mutex
	clients    map[string]*Client
	servers    map[string]*Server
	invClients map[string]*InviteClient
	invServers map[string]*InviteServer
}

// New returns a Layer that sends through s and runs its timers on sc.
func New(cfg Config, sc *sched.Scheduler, s Sender) *Layer {
	return &Layer{cfg: cfg.withDefaults(), sched: sc, send: s,
		clients: make(map[string]*Client), servers: make(map[string]*Server),
		invClients: make(map[string]*InviteClient), invServers: make(map[string]*InviteServer)}
}

// ConnClosed fails at once every client transaction sent over a stream
// connection to remote that has ended (RFC 3261 §17.1.4: a transport error
// is reported to the TU) instead of leaving it to Timer B or F. Give it to
// transport.Config.ConnClosed. err may be nil for a clean close.
func (l *Layer) ConnClosed(remote transport.Addr, err error) {
	if err == nil {
		err = ErrConnClosed
	}
	l.mu.Lock()
	var cs []*Client
	var ics []*InviteClient
	for _, c := range l.clients {
		if c.reliable && sameConn(c.to, remote) {
			cs = append(cs, c)
		}
	}
	for _, c := range l.invClients {
		if c.reliable && sameConn(c.to, remote) {
			ics = append(ics, c)
		}
	}
	l.mu.Unlock()
	for _, c := range cs {
		if st := c.State(); st == Trying || st == Proceeding {
			c.terminate(err)
		}
	}
	for _, c := range ics {
		if st := c.State(); st == Calling || st == Proceeding {
			c.terminate(err)
		}
	}
}

// sameConn reports whether a transaction's target is carried by the
// connection the transport reports: same transport and address; the TLS
// name a target may carry is not part of the connection's key.
func sameConn(to, conn transport.Addr) bool {
	return strings.EqualFold(to.Transport, conn.Transport) &&
		to.AddrPort.Addr().Unmap() == conn.AddrPort.Addr().Unmap() && to.AddrPort.Port() == conn.AddrPort.Port()
}

// ErrLayerClosed ends the transactions still live when the Layer closes.
var ErrLayerClosed = errors.New("transaction: layer closed")

// Close ends every live transaction with ErrLayerClosed (their Done
// channels close), so that nothing waits for timers that will no longer
// run. The UA calls it before stopping its scheduler.
func (l *Layer) Close() {
	l.mu.Lock()
	var cs []*Client
	var ics []*InviteClient
	var ss []*Server
	var iss []*InviteServer
	for _, c := range l.clients {
		cs = append(cs, c)
	}
	for _, c := range l.invClients {
		ics = append(ics, c)
	}
	for _, s := range l.servers {
		ss = append(ss, s)
	}
	for _, s := range l.invServers {
		iss = append(iss, s)
	}
	l.mu.Unlock()
	for _, c := range cs {
		c.terminate(ErrLayerClosed)
	}
	for _, c := range ics {
		c.terminate(ErrLayerClosed)
	}
	for _, s := range ss {
		s.terminate()
	}
	for _, s := range iss {
		s.terminate(ErrLayerClosed)
	}
}

// Len returns the number of live client and server transactions.
func (l *Layer) Len() (clients, servers int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients) + len(l.invClients), len(l.servers) + len(l.invServers)
}

func reliable(transportName string) bool {
	return !strings.EqualFold(transportName, transport.UDP)
}

// clientKey matches a response to a client transaction (§17.1.3): the
// branch of the topmost Via and the CSeq method.
func clientKey(branch, method string) string { return branch + "\x00" + method }

// serverKey matches a request to a server transaction (§17.2.3): branch,
// sent-by and method (ACK counts as INVITE).
func serverKey(v sip.Via, method string) string {
	if method == sip.MethodAck {
		method = sip.MethodInvite
	}
	return v.Branch() + "\x00" + strings.ToLower(v.Host) + ":" + itoa(v.Port) + "\x00" + method
}

// requestKey is the server-transaction key of req for method (the
// request's own, or INVITE for the ACK and CANCEL that target an INVITE).
// With an RFC 3261 branch it is serverKey. Without one (an RFC 2543
// peer) it is built as §17.2.3 prescribes for that case: Request-URI,
// From tag, Call-ID, CSeq number and the topmost Via; the To tag is left
// out so that the ACK of a response we tagged still matches its INVITE.
func requestKey(req *sip.Request, method string) (string, bool) {
	v, ok := req.TopVia()
	if !ok {
		return "", false
	}
	if strings.HasPrefix(v.Branch(), magicCookie) {
		return serverKey(v, method), true
	}
	if method == sip.MethodAck {
		method = sip.MethodInvite
	}
	return "2543\x00" + req.URI.String() + "\x00" + req.From().Tag() + "\x00" + req.CallID() + "\x00" +
		itoa(int(req.CSeq().Seq)) + "\x00" + method + "\x00" + v.String(), true
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [8]byte
	i := len(b)
	for n > 0 && i > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// lifecycle is the state, the end signal and the cause shared by every
// transaction.
type lifecycle struct {
	mu    sync.Mutex
	state State
	done  chan struct{}
	err   error
}

// State returns the current state.
func (t *lifecycle) State() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

// Done is closed when the transaction terminates.
func (t *lifecycle) Done() <-chan struct{} { return t.done }

// Err returns why the transaction ended: nil after a normal end, a
// *TimeoutError when a timer ended it (Timer B, F or H), or a transport
// error.
func (t *lifecycle) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// end moves to Terminated with err, stops the timers and closes Done; it
// reports false if the transaction had already ended.
func (t *lifecycle) end(err error, timers ...*sched.Timer) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == Terminated {
		return false
	}
	t.state = Terminated
	t.err = err
	for _, tm := range timers {
		stop(tm)
	}
	close(t.done)
	return true
}

// clientCore is what the two client transactions share: their request,
// target and response channel.
type clientCore struct {
	lifecycle
	l         *Layer
	req       *sip.Request
	to        transport.Addr
	key       string
	reliable  bool
	interval  time.Duration
	responses chan *sip.Response
}

func newClientCore(l *Layer, req *sip.Request, to transport.Addr, key string, first State) clientCore {
	return clientCore{lifecycle: lifecycle{state: first, done: make(chan struct{})},
		l: l, req: req, to: to, key: key, reliable: reliable(to.Transport), interval: l.cfg.T1,
		responses: make(chan *sip.Response, 16)}
}

// Request returns the request the transaction carries.
func (c *clientCore) Request() *sip.Request { return c.req }

// Responses delivers every response (provisional and final) in order.
func (c *clientCore) Responses() <-chan *sip.Response { return c.responses }

func (c *clientCore) deliver(res *sip.Response) {
	select {
	case c.responses <- res:
	default: // a reader that does not read loses responses; the stack never blocks
	}
}

// Client is a non-INVITE client transaction (RFC 3261 §17.1.2).
type Client struct {
	clientCore
	timerE *sched.Timer
	timerF *sched.Timer
	timerK *sched.Timer
}

// Request starts a non-INVITE client transaction: it sends req to to and
// retransmits it (over UDP) until a response arrives or Timer F fires.
// Responses are delivered on Responses; Done is closed when the
// transaction terminates, after which Err says why (nil after a final
// response).
func (l *Layer) Request(ctx context.Context, req *sip.Request, to transport.Addr) (*Client, error) {
	if req.Method == sip.MethodInvite || req.Method == sip.MethodAck {
		return nil, errors.New("transaction: INVITE and ACK are not carried by a non-INVITE transaction")
	}
	v, ok := req.TopVia()
	if !ok || !strings.HasPrefix(v.Branch(), magicCookie) {
		return nil, ErrNoBranch
	}
	c := &Client{clientCore: newClientCore(l, req, to, clientKey(v.Branch(), req.CSeq().Method), Trying)}
	l.mu.Lock()
	if _, dup := l.clients[c.key]; dup {
		l.mu.Unlock()
		return nil, errors.New("transaction: a client transaction with this branch exists")
	}
	l.clients[c.key] = c
	l.mu.Unlock()

	c.mu.Lock()
	c.timerF = l.sched.AfterFunc(64*l.cfg.T1, func() { c.fire("F") })
	if !c.reliable {
		c.timerE = l.sched.AfterFunc(c.interval, c.retransmit)
	}
	c.mu.Unlock()
	if err := l.send.Send(ctx, to, req); err != nil {
		c.terminate(err)
		return nil, err
	}
	return c, nil
}

// retransmit is Timer E: resend, doubling the interval up to T2 (in
// Proceeding the interval is T2).
func (c *Client) retransmit() {
	c.mu.Lock()
	if c.state != Trying && c.state != Proceeding {
		c.mu.Unlock()
		return
	}
	if c.state == Proceeding {
		c.interval = c.l.cfg.T2
	} else {
		c.interval = min(2*c.interval, c.l.cfg.T2)
	}
	c.timerE.Reset(c.interval)
	c.mu.Unlock()
	if err := c.l.send.Send(context.Background(), c.to, c.req); err != nil {
		c.terminate(err)
	}
}

func (c *Client) fire(timer string) {
	c.mu.Lock()
	live := c.state == Trying || c.state == Proceeding
	c.mu.Unlock()
	if live {
		c.terminate(&TimeoutError{Timer: timer})
	}
}

// receive handles a response matched to this transaction.
func (c *Client) receive(res *sip.Response) {
	c.mu.Lock()
	switch c.state {
	case Trying, Proceeding:
	default:
		c.mu.Unlock()
		return // retransmitted final response: absorbed (§17.1.2.2)
	}
	final := res.StatusCode >= 200
	if !final {
		c.state = Proceeding
	} else {
		c.state = Completed
		stop(c.timerE)
		stop(c.timerF)
		if c.reliable {
			c.mu.Unlock()
			c.deliver(res)
			c.terminate(nil)
			return
		}
		c.timerK = c.l.sched.AfterFunc(c.l.cfg.T4, func() { c.terminate(nil) })
	}
	c.mu.Unlock()
	c.deliver(res)
}

func (c *Client) terminate(err error) {
	c.mu.Lock()
	timers := []*sched.Timer{c.timerE, c.timerF, c.timerK}
	c.mu.Unlock()
	if !c.end(err, timers...) {
		return
	}
	c.l.mu.Lock()
	if c.l.clients[c.key] == c {
		delete(c.l.clients, c.key)
	}
	c.l.mu.Unlock()
}

func stop(t *sched.Timer) {
	if t != nil {
		t.Stop()
	}
}

// HandleResponse delivers a response to the client transaction it
// matches (§17.1.3) and reports whether there was one.
func (l *Layer) HandleResponse(res *sip.Response) bool {
	v, ok := res.TopVia()
	if !ok {
		return false
	}
	key := clientKey(v.Branch(), res.CSeq().Method)
	l.mu.Lock()
	c, ic := l.clients[key], l.invClients[key]
	l.mu.Unlock()
	switch {
	case c != nil:
		c.receive(res)
	case ic != nil:
		ic.receive(res)
	default:
		return false
	}
	return true
}

// serverCore is what the two server transactions share.
type serverCore struct {
	lifecycle
	l        *Layer
	in       *transport.Inbound
	key      string
	reliable bool
	last     *sip.Response
}

func newServerCore(l *Layer, in *transport.Inbound, key string, first State) serverCore {
	return serverCore{lifecycle: lifecycle{state: first, done: make(chan struct{})},
		l: l, in: in, key: key, reliable: reliable(in.Transport)}
}

// Request returns the request that created the transaction.
func (s *serverCore) Request() *sip.Request { return s.in.Msg.(*sip.Request) }

// Server is a non-INVITE server transaction (RFC 3261 §17.2.2).
type Server struct {
	serverCore
	timerJ *sched.Timer
}

// HandleRequest matches an inbound non-INVITE request to a server
// transaction (§17.2.3). A retransmission is absorbed (the last response
// is sent again) and HandleRequest returns nil; a new request returns its
// new transaction, for the UA core to answer.
func (l *Layer) HandleRequest(in *transport.Inbound) (*Server, error) {
	req, ok := in.Msg.(*sip.Request)
	if !ok {
		return nil, errors.New("transaction: not a request")
	}
	key, ok := requestKey(req, req.Method)
	if !ok {
		return nil, ErrNoBranch
	}
	l.mu.Lock()
	if s := l.servers[key]; s != nil {
		l.mu.Unlock()
		s.retransmitted()
		return nil, nil
	}
	s := &Server{serverCore: newServerCore(l, in, key, Trying)}
	l.servers[key] = s
	l.mu.Unlock()
	return s, nil
}

func (s *Server) retransmitted() {
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	if last != nil {
		_ = s.l.send.Respond(s.in, last)
	}
}

// Respond sends a response: provisional ones keep the transaction in
// Proceeding, a final one completes it. Timer J (64·T1 over UDP, zero over
// reliable transports) then absorbs retransmitted requests.
func (s *Server) Respond(res *sip.Response) error {
	s.mu.Lock()
	if s.state == Completed || s.state == Terminated {
		s.mu.Unlock()
		return ErrBadResponse
	}
	s.last = res
	if res.StatusCode < 200 {
		s.state = Proceeding
	} else {
		s.state = Completed
		if s.reliable {
			s.mu.Unlock()
			err := s.l.send.Respond(s.in, res)
			s.terminate()
			return err
		}
		s.timerJ = s.l.sched.AfterFunc(64*s.l.cfg.T1, s.terminate)
	}
	s.mu.Unlock()
	return s.l.send.Respond(s.in, res)
}

func (s *Server) terminate() {
	s.mu.Lock()
	timer := s.timerJ
	s.mu.Unlock()
	if !s.end(nil, timer) {
		return
	}
	s.l.mu.Lock()
	if s.l.servers[s.key] == s {
		delete(s.l.servers, s.key)
	}
	s.l.mu.Unlock()
}
