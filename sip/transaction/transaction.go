package transaction

import (
	"bytes"
	"context"
	"errors"
	"hash/maphash"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// datagramSender is the part of *transport.Layer that lets a completed
// non-INVITE server transaction over UDP keep only the bytes of its final
// response and their destination (a doneTx), instead of the response and
// the request (with their parsed headers and the request's bytes) for the
// 32 s of Timer J. A Sender without it works the same, keeping the
// response.
type datagramSender interface {
	DatagramTarget(in *transport.Inbound, res *sip.Response) (netip.AddrPort, bool)
	SendDatagram(to netip.AddrPort, m sip.Message, data []byte) error
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
	dgram datagramSender // send, when it sends datagrams of bytes; else nil
	epoch time.Time      // expiry deadlines are offsets from it

	mu         sync.Mutex
	clients    map[string]*Client
	servers    map[string]*Server
	invClients map[string]*InviteClient
	invServers map[string]*InviteServer
	// merges indexes the server transactions of requests outside any
	// dialog by From tag, Call-ID and CSeq, for merged-request detection
	// (RFC 3261 §8.2.2.2): the ongoing ones, and INVITEs until they end
	// and at least 64·T1 after their final response (completed non-INVITE
	// transactions move to doneByMerge for their 64·T1).
	merges map[string]*serverCore
	// done holds the non-INVITE server transactions that have sent their
	// final response, as doneTx, until 64·T1 later (Timer J over UDP):
	// doneByKey finds those over UDP by transaction key, doneByMerge those
	// that hold a merge key, both by hash (seed) and number in done.
	// doneLive counts those over UDP.
	seed        maphash.Seed
	done        fifo[doneTx]
	doneByKey   map[uint64]uint64
	doneByMerge map[uint64]uint64
	doneLive    int
	// expiry holds what else expires 64·T1 after a final response: the
	// transactions kept as themselves (a Sender without SendDatagram, a
	// hash collision) and the merge entries that outlive their INVITE
	// transaction. The deadlines of both queues come 64·T1 after the
	// final response that queued them, so each FIFO is in deadline order
	// (but for an INVITE's merge entry, queued when the transaction ends:
	// it may wait behind later deadlines, which only keeps it longer), and
	// one scheduler timer (expTimer, armed for expAt) serves all: no
	// timer, closure or heap operation per transaction.
	expiry   fifo[expiring]
	expTimer *sched.Timer
	expAt    int64                // the deadline expTimer is armed for; 0: none
	expDue   []expiring           // expire's batch, reused (the scheduler runs one callback at a time)
	watched  map[*Server]struct{} // the doneTx Servers someone waits on (Done)
	closed   atomic.Bool          // Close has run: nothing is queued for expiry any more
}

// New returns a Layer that sends through s and runs its timers on sc.
func New(cfg Config, sc *sched.Scheduler, s Sender) *Layer {
	l := &Layer{cfg: cfg.withDefaults(), sched: sc, send: s, epoch: sc.Now(),
		clients: make(map[string]*Client), servers: make(map[string]*Server),
		invClients: make(map[string]*InviteClient), invServers: make(map[string]*InviteServer),
		merges: make(map[string]*serverCore), seed: maphash.MakeSeed(),
		doneByKey: make(map[uint64]uint64), doneByMerge: make(map[uint64]uint64)}
	l.dgram, _ = s.(datagramSender)
	return l
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
	// What waits for expiry is completed or terminated: nothing to end
	// but the Servers someone waits on.
	l.closed.Store(true)
	l.expiry = fifo[expiring]{}
	l.done = fifo[doneTx]{}
	clear(l.merges)
	clear(l.doneByKey)
	clear(l.doneByMerge)
	l.doneLive = 0
	for s := range l.watched {
		ss = append(ss, s)
	}
	l.watched = nil
	l.mu.Unlock()
	for _, c := range cs {
		c.terminate(ErrLayerClosed)
	}
	for _, c := range ics {
		c.terminate(ErrLayerClosed)
	}
	for _, s := range ss {
		s.terminate()
		s.mu.Lock()
		s.settle()
		s.mu.Unlock()
	}
	for _, s := range iss {
		s.terminate(ErrLayerClosed)
	}
}

// Len returns the number of live client and server transactions.
func (l *Layer) Len() (clients, servers int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients) + len(l.invClients), len(l.servers) + len(l.invServers) + l.doneLive
}

func reliable(transportName string) bool {
	return !strings.EqualFold(transportName, transport.UDP)
}

// clientKey matches a response to a client transaction (§17.1.3): the
// branch of the topmost Via and the CSeq method.
func clientKey(branch, method string) string { return branch + "\x00" + method }

// appendServerKey appends the key that matches a request to a server
// transaction (§17.2.3): branch, sent-by (the host in lower case) and
// method (ACK counts as INVITE).
func appendServerKey(b []byte, branch string, v *sip.Via, method string) []byte {
	if method == sip.MethodAck {
		method = sip.MethodInvite
	}
	b = append(b, branch...)
	b = append(b, 0)
	for i := 0; i < len(v.Host); i++ {
		c := v.Host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(v.Port), 10)
	b = append(b, 0)
	return append(b, method...)
}

// requestKey is the server-transaction key of req for method (the
// request's own, or INVITE for the ACK and CANCEL that target an INVITE).
func requestKey(req *sip.Request, method string) (string, bool) {
	var buf [160]byte
	b, ok := appendRequestKey(buf[:0], req, method)
	return string(b), ok
}

// appendRequestKey appends requestKey. With an RFC 3261 branch it is the
// server key. Without one (an RFC 2543 peer) it is built as §17.2.3
// prescribes for that case: Request-URI, From tag, Call-ID, CSeq number
// and the topmost Via; the To tag is left out so that the ACK of a
// response we tagged still matches its INVITE.
func appendRequestKey(b []byte, req *sip.Request, method string) ([]byte, bool) {
	v, ok := req.TopVia()
	if !ok {
		return b, false
	}
	if branch := v.Branch(); strings.HasPrefix(branch, magicCookie) {
		return appendServerKey(b, branch, &v, method), true
	}
	if method == sip.MethodAck {
		method = sip.MethodInvite
	}
	b = append(b, "2543\x00"...)
	b = req.URI.AppendTo(b)
	b = append(b, 0)
	b = append(b, req.From().Tag()...)
	b = append(b, 0)
	b = append(b, req.CallID()...)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(req.CSeq().Seq), 10)
	b = append(b, 0)
	b = append(b, method...)
	b = append(b, 0)
	return v.AppendTo(b), true
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
	done  chan struct{} // made by the first Done call, closed by end
	err   error
}

// closedChan is the Done channel of a transaction that ended before
// anyone asked for it.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// State returns the current state.
func (t *lifecycle) State() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

// Done is closed when the transaction terminates.
func (t *lifecycle) Done() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done == nil {
		// Made on demand: most server transactions are never waited for.
		if t.state == Terminated {
			return closedChan
		}
		t.done = make(chan struct{})
	}
	return t.done
}

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
	if t.done != nil {
		close(t.done)
	}
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
	return clientCore{lifecycle: lifecycle{state: first},
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
	keys     string // the transaction key and the merge key, one allocation
	key      string // keys' transaction key
	reliable bool
	last     *sip.Response
	merge    string // the key this transaction holds in l.merges, or ""
	merged   bool   // its request is a merged copy of another's (§8.2.2.2)
}

// newServerCore makes the core of a server transaction whose keys are
// keys: the transaction key (its first n bytes), then the merge key.
func newServerCore(l *Layer, in *transport.Inbound, keys string, n int, first State) serverCore {
	return serverCore{lifecycle: lifecycle{state: first},
		l: l, in: in, keys: keys, key: keys[:n], reliable: reliable(in.Transport)}
}

// Request returns the request that created the transaction.
func (s *serverCore) Request() *sip.Request { return s.in.Msg.(*sip.Request) }

// Merged reports whether the transaction's request is a merged request
// (RFC 3261 §8.2.2.2): it has no To tag and its From tag, Call-ID and
// CSeq are those of an ongoing server transaction it does not match (a
// proxy forked the request and more than one copy reached this UA). The
// UA core answers it 482. The first copy's transaction is remembered for
// as long as it lives and at least 64·T1 after its final response, over
// every transport.
func (s *serverCore) Merged() bool { return s.merged }

// appendMergeKey appends the merged-request key of req (RFC 3261
// §8.2.2.2): From tag, Call-ID and CSeq. It appends nothing for a request
// that is not checked: one with a To tag, which belongs to a dialog, and
// CANCEL and ACK, which target another transaction.
func appendMergeKey(b []byte, req *sip.Request) []byte {
	if req.Method == sip.MethodCancel || req.Method == sip.MethodAck || req.To().Tag() != "" {
		return b
	}
	cs := req.CSeq()
	b = append(b, req.From().Tag()...)
	b = append(b, 0)
	b = append(b, req.CallID()...)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(cs.Seq), 10)
	b = append(b, ' ')
	return append(b, cs.Method...)
}

// appendServerKeys appends the transaction key of req for method and
// then its merge key, and returns the length of the transaction key:
// a retransmission is matched without allocating (a map index with
// string(b[:n]) makes no string), and a new transaction's keys take one
// allocation (serverCore.keys). ok is false when req has no Via.
func appendServerKeys(b []byte, req *sip.Request, method string) (_ []byte, n int, ok bool) {
	b, ok = appendRequestKey(b, req, method)
	n = len(b)
	return appendMergeKey(b, req), n, ok
}

// indexMerge enters the new transaction c in the merged-request index
// under mk, or marks it merged when another transaction holds that key:
// an ongoing one (merges) or a completed one (doneByMerge). l.mu is held.
func (l *Layer) indexMerge(c *serverCore, mk string) {
	if mk == "" {
		return
	}
	if owner := l.merges[mk]; owner != nil {
		if owner.key != c.key {
			c.merged = true
			return
		}
	} else if t := l.doneMerge(mk); t != nil && t.key() != c.key {
		c.merged = true
		return
	}
	// New, or the same request again after its transaction ended (not a
	// merged copy): this transaction holds the key now (merges is looked
	// at before doneByMerge).
	l.merges[mk] = c
	c.merge = mk
}

// dropMerge removes c's entry from the merged-request index if c still
// holds it. l.mu is held.
func (l *Layer) dropMerge(c *serverCore) {
	if c.merge != "" && l.merges[c.merge] == c {
		delete(l.merges, c.merge)
	}
}

// Server is a non-INVITE server transaction (RFC 3261 §17.2.2).
type Server struct {
	serverCore
	// sent is the final response as sent over UDP, once Completed with a
	// Sender that sends datagrams; in and last are then dropped.
	sent datagram
	// deadline is when Timer J fires (l.now), once the Layer keeps the
	// completed transaction as a doneTx instead of the Server: it then
	// reaches Terminated by itself (settle).
	deadline int64
}

// datagram is a message sent over UDP: its bytes and where they went.
type datagram struct {
	to   netip.AddrPort
	data []byte
}

// Request returns the request that created the transaction, or nil once
// the transaction has completed: it then keeps only what it needs, the
// bytes of its final response over UDP, to send them again.
func (s *Server) Request() *sip.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.in == nil {
		return nil
	}
	return s.in.Msg.(*sip.Request)
}

// State returns the current state.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	return s.state
}

// Done is closed when the transaction terminates.
func (s *Server) Done() <-chan struct{} {
	s.mu.Lock()
	s.settle()
	if s.done == nil && s.state == Terminated {
		s.mu.Unlock()
		return closedChan
	}
	watch := s.done == nil && s.deadline != 0
	if s.done == nil {
		s.done = make(chan struct{})
	}
	done := s.done
	s.mu.Unlock()
	if watch {
		s.l.watch(s) // without s.mu: l.mu comes first
	}
	return done
}

// settle ends a completed transaction that the Layer keeps as a doneTx
// once Timer J has fired or the Layer has closed. s.mu is held.
func (s *Server) settle() {
	if s.deadline != 0 && s.state == Completed && (s.l.now() >= s.deadline || s.l.closed.Load()) {
		s.state = Terminated
		if s.done != nil {
			close(s.done)
		}
	}
}

// watch ends s at its Timer J, for Done: nothing else holds s once the
// Layer keeps its doneTx. Close ends the watched ones too.
func (l *Layer) watch(s *Server) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return // settle will see it
	}
	if l.watched == nil {
		l.watched = make(map[*Server]struct{})
	}
	l.watched[s] = struct{}{}
	d := time.Duration(s.deadline - l.now())
	l.sched.AfterFunc(d, func() {
		l.mu.Lock()
		delete(l.watched, s)
		l.mu.Unlock()
		s.mu.Lock()
		s.settle()
		s.mu.Unlock()
	})
}

// HandleRequest matches an inbound non-INVITE request to a server
// transaction (§17.2.3). A retransmission is absorbed (the last response
// is sent again) and HandleRequest returns nil; a new request returns its
// new transaction, for the UA core to answer (Merged tells whether it is
// a merged request, to be answered 482).
func (l *Layer) HandleRequest(in *transport.Inbound) (*Server, error) {
	req, ok := in.Msg.(*sip.Request)
	if !ok {
		return nil, errors.New("transaction: not a request")
	}
	var buf [256]byte
	b, n, ok := appendServerKeys(buf[:0], req, req.Method)
	if !ok {
		return nil, ErrNoBranch
	}
	l.mu.Lock()
	if s := l.servers[string(b[:n])]; s != nil {
		l.mu.Unlock()
		s.retransmitted()
		return nil, nil
	}
	if t := l.doneTx(b[:n]); t != nil {
		d := datagram{t.to, t.data}
		l.mu.Unlock()
		_ = l.dgram.SendDatagram(d.to, nil, d.data) // the bytes are never modified
		return nil, nil
	}
	s := &Server{serverCore: newServerCore(l, in, string(b), n, Trying)}
	l.servers[s.key] = s
	l.indexMerge(&s.serverCore, s.keys[n:])
	l.mu.Unlock()
	return s, nil
}

func (s *Server) retransmitted() {
	s.mu.Lock()
	d, last, in := s.sent, s.last, s.in
	s.mu.Unlock()
	switch {
	case d.data != nil:
		_ = s.l.dgram.SendDatagram(d.to, nil, d.data)
	case last != nil:
		_ = s.l.send.Respond(in, last)
	}
}

// scratch holds the buffers final responses are serialized into.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// Respond sends a response: provisional ones keep the transaction in
// Proceeding, a final one completes it. Timer J (64·T1 over UDP, zero over
// reliable transports) then absorbs retransmitted requests.
func (s *Server) Respond(res *sip.Response) error {
	s.mu.Lock()
	if s.state == Completed || s.state == Terminated {
		s.mu.Unlock()
		return ErrBadResponse
	}
	if res.StatusCode < 200 {
		s.last = res
		s.state = Proceeding
		in := s.in
		s.mu.Unlock()
		return s.l.send.Respond(in, res)
	}
	s.state = Completed
	in := s.in
	if s.reliable {
		s.last = res
		s.mu.Unlock()
		err := s.l.send.Respond(in, res)
		s.terminate()
		if s.merge != "" {
			// The transaction has ended, but a merged copy of its request
			// may still come: its merge key stays for 64·T1.
			s.mu.Lock()
			s.in, s.last = nil, nil
			s.mu.Unlock()
			s.l.complete(s)
		}
		return err
	}
	to, ok := netip.AddrPort{}, false
	if s.l.dgram != nil {
		to, ok = s.l.dgram.DatagramTarget(in, res)
	}
	if !ok {
		s.last = res
		s.mu.Unlock()
		err := s.l.send.Respond(in, res)
		s.l.complete(s)
		return err
	}
	// The datagram kept is exactly as long as the response: it lives for
	// Timer J. It is sent with s.mu held, so that a retransmitted request
	// finds it (or waits for it).
	bp := scratch.Get().(*[]byte)
	wire := res.AppendTo((*bp)[:0])
	s.sent = datagram{to, bytes.Clone(wire)}
	*bp = wire[:0]
	scratch.Put(bp)
	s.in, s.last = nil, nil
	err := s.l.dgram.SendDatagram(to, res, s.sent.data)
	s.mu.Unlock()
	s.l.complete(s)
	return err
}

func (s *Server) terminate() {
	if !s.end(nil) {
		return
	}
	s.l.mu.Lock()
	if s.l.servers[s.key] == s {
		delete(s.l.servers, s.key)
	}
	s.l.mu.Unlock()
}

// A doneTx is a non-INVITE server transaction after its final response,
// as the Layer keeps it until 64·T1 later: over UDP, to absorb
// retransmitted requests (Timer J); over every transport, for
// merged-request detection. It replaces the Server, whose request and
// response can then go; the Server left to whoever holds it reaches
// Terminated by itself. A doneTx points only to two byte strings without
// pointers, and the indexes that find it map hashes to sequence numbers:
// many thousands of them (Timer J is 32 s) cost the garbage collector
// little to mark.
type doneTx struct {
	when       int64          // deadline, nanoseconds after l.epoch
	keys       string         // the transaction key and the merge key (serverCore.keys)
	data       []byte         // the datagram; none over a reliable transport
	klen, mlen int32          // the lengths of the keys (mlen 0: no merge key held)
	to         netip.AddrPort // where the datagram goes
}

func (t *doneTx) key() string   { return t.keys[:t.klen] }
func (t *doneTx) merge() string { return t.keys[t.klen : t.klen+t.mlen] }

// complete hands a transaction that has sent its final response to the
// expiry queues, 64·T1 on: as a doneTx (with its datagram over UDP; over
// a reliable transport, where it has ended, only for its merge key), or
// as itself, in servers, for a Sender without SendDatagram or when a hash
// is taken.
func (l *Layer) complete(s *Server) {
	when := l.now() + int64(64*l.cfg.T1)
	l.mu.Lock()
	if l.completeLocked(s, when) {
		l.mu.Unlock()
		s.mu.Lock()
		s.deadline = when
		watch := s.done != nil
		s.mu.Unlock()
		if watch {
			l.watch(s) // someone waits on Done: Timer J of its own
		}
		return
	}
	l.mu.Unlock()
}

// completeLocked is complete with l.mu held; it reports whether s is now
// kept as a doneTx over UDP (and has left servers).
func (l *Layer) completeLocked(s *Server, when int64) bool {
	if l.closed.Load() {
		return false
	}
	udp := !s.reliable
	s.mu.Lock()
	sent := s.sent
	s.mu.Unlock()
	if udp && sent.data == nil {
		l.queueExpiry(expiring{when: when, s: s})
		return false
	}
	t := doneTx{when: when, keys: s.keys, data: sent.data, klen: int32(len(s.key)), to: sent.to}
	holds := s.merge != "" && l.merges[s.merge] == &s.serverCore
	if !udp && !holds {
		return false
	}
	var khash, mhash uint64
	if holds {
		t.mlen = int32(len(s.merge))
		mhash = maphash.String(l.seed, t.merge())
	}
	khash = maphash.String(l.seed, t.key())
	_, kTaken := l.doneByKey[khash]
	_, mTaken := l.doneByMerge[mhash]
	if udp && kTaken || holds && mTaken && l.doneMerge(s.merge) == nil {
		// Two keys with one 64-bit hash: this one stays a Server (in
		// servers over UDP, and in merges) until it expires.
		l.queueExpiry(expiring{when: when, s: s})
		return false
	}
	seq := l.done.push(t)
	if holds {
		l.doneByMerge[mhash] = seq
		delete(l.merges, s.merge)
	}
	l.armExpiry(when)
	if !udp {
		return false
	}
	l.doneByKey[khash] = seq
	l.doneLive++
	if l.servers[s.key] == s {
		delete(l.servers, s.key)
	}
	return true
}

// doneTx returns the completed transaction kept under key, or nil. l.mu
// is held.
func (l *Layer) doneTx(key []byte) *doneTx {
	if len(l.doneByKey) == 0 {
		return nil
	}
	seq, ok := l.doneByKey[maphash.Bytes(l.seed, key)]
	if !ok {
		return nil
	}
	if t := l.done.at(seq); t != nil && t.key() == string(key) {
		return t
	}
	return nil
}

// doneMerge returns the completed transaction that holds merge key mk,
// or nil. l.mu is held.
func (l *Layer) doneMerge(mk string) *doneTx {
	if len(l.doneByMerge) == 0 {
		return nil
	}
	seq, ok := l.doneByMerge[maphash.String(l.seed, mk)]
	if !ok {
		return nil
	}
	if t := l.done.at(seq); t != nil && t.merge() == mk {
		return t
	}
	return nil
}

// expiring is an entry of the expiry queue: a non-INVITE server
// transaction kept as itself 64·T1 after its final response (s: its
// Timer J over UDP, the end of its merge key over a reliable transport),
// or the merge entry of an INVITE server transaction that ended sooner
// (inv).
type expiring struct {
	when int64 // deadline, nanoseconds after l.epoch
	s    *Server
	inv  *serverCore
}

// fifo is a FIFO ring buffer. Entries are numbered from 1 in the order
// they are pushed.
type fifo[T any] struct {
	buf        []T
	head, size int
	seq        uint64 // the number of buf[head]
}

// push adds e and returns its number.
func (q *fifo[T]) push(e T) uint64 {
	if q.size == len(q.buf) {
		nb := make([]T, max(2*len(q.buf), 64))
		n := copy(nb, q.buf[q.head:])
		copy(nb[n:], q.buf[:q.head])
		q.buf, q.head = nb, 0
	}
	if q.seq == 0 {
		q.seq = 1
	}
	q.buf[(q.head+q.size)%len(q.buf)] = e
	q.size++
	return q.seq + uint64(q.size) - 1
}

func (q *fifo[T]) front() *T { return &q.buf[q.head] }

// at returns entry number seq, or nil if it has been popped.
func (q *fifo[T]) at(seq uint64) *T {
	if seq < q.seq || seq >= q.seq+uint64(q.size) {
		return nil
	}
	return &q.buf[(q.head+int(seq-q.seq))%len(q.buf)]
}

func (q *fifo[T]) pop() {
	var zero T
	q.buf[q.head] = zero
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	q.seq++
	if q.size == 0 && len(q.buf) > 1024 {
		// Idle after a burst: let the buffer go.
		q.buf, q.head = nil, 0
	}
}

// now is the scheduler's time as an offset from l.epoch.
func (l *Layer) now() int64 { return int64(l.sched.Now().Sub(l.epoch)) }

// queueExpiry adds e to the expiry queue. l.mu is held.
func (l *Layer) queueExpiry(e expiring) {
	if l.closed.Load() {
		return
	}
	l.expiry.push(e)
	l.armExpiry(e.when)
}

// armExpiry makes the expiry timer fire no later than when (it is armed
// for the earliest deadline of the queues: deadlines arrive in order, so
// that is a queue's head). l.mu is held.
func (l *Layer) armExpiry(when int64) {
	if l.expAt != 0 && l.expAt <= when {
		return
	}
	l.expAt = when
	d := time.Duration(when - l.now())
	if l.expTimer == nil {
		l.expTimer = l.sched.AfterFunc(d, l.expire)
	} else {
		l.expTimer.Reset(d)
	}
}

// expiryBatch is the least time between two runs of the expiry timer.
// Transactions that come due meanwhile end together, up to expiryBatch
// late (Timer J then lasts at most 32.01 s instead of 32 s: retransmitted
// requests are absorbed a little longer, never shorter). One wake-up of
// the scheduler per transaction would cost a busy UA more than the
// transaction's own work: at 3,000 requests per second it is 3,000
// wake-ups a second instead of at most 100.
const expiryBatch = 10 * time.Millisecond

// expire is the expiry timer's callback: it ends the entries that are due
// and arms the timer for the next one, at least expiryBatch later.
func (l *Layer) expire() {
	now := l.now()
	due := l.expDue[:0]
	l.mu.Lock()
	for l.done.size > 0 && l.done.front().when <= now {
		t, seq := l.done.front(), l.done.seq
		if t.data != nil {
			l.doneLive--
			if h := maphash.String(l.seed, t.key()); l.doneByKey[h] == seq {
				delete(l.doneByKey, h)
			}
		}
		if t.mlen > 0 {
			if h := maphash.String(l.seed, t.merge()); l.doneByMerge[h] == seq {
				delete(l.doneByMerge, h)
			}
		}
		l.done.pop()
	}
	for l.expiry.size > 0 && l.expiry.front().when <= now {
		e := *l.expiry.front()
		l.expiry.pop()
		if e.s != nil {
			if l.servers[e.s.key] == e.s {
				delete(l.servers, e.s.key) // Timer J (over UDP; over TCP it has gone)
			}
			l.dropMerge(&e.s.serverCore)
			due = append(due, e)
		} else {
			l.dropMerge(e.inv)
		}
	}
	l.expAt = 0
	next := int64(-1)
	if l.done.size > 0 {
		next = l.done.front().when
	}
	if l.expiry.size > 0 && (next < 0 || l.expiry.front().when < next) {
		next = l.expiry.front().when
	}
	if next >= 0 {
		l.expAt = max(next, now+int64(expiryBatch))
		l.expTimer.Reset(time.Duration(l.expAt - now))
	}
	l.mu.Unlock()
	for i := range due {
		due[i].s.end(nil)
		due[i] = expiring{}
	}
	l.expDue = due[:0]
}
