package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/sipua-go/sipua/sip"
)

// Transport names as they appear in a Via header.
const (
	UDP = "UDP"
	TCP = "TCP"
	TLS = "TLS"
	WS  = "WS"  // WebSocket, RFC 7118
	WSS = "WSS" // secure WebSocket (over TLS), RFC 7118
)

// udpReadBuffer is the socket buffer asked for on UDP listeners.
const udpReadBuffer = 4 << 20

// Errors.
var (
	// ErrClosed is returned by operations on a closed Layer.
	ErrClosed = errors.New("transport: closed")
	// ErrNoListener: a UDP message cannot be sent without a UDP listener
	// (its socket is the source address the peer answers to).
	ErrNoListener = errors.New("transport: no listener for this transport")
	// ErrUnsupportedTransport: the transport name is not one the Layer serves.
	ErrUnsupportedTransport = errors.New("transport: unsupported transport")
	// ErrConnClosed: a response to a request that came over a WebSocket
	// cannot be sent once that connection has closed (a WebSocket client
	// cannot be reached otherwise, RFC 7118 §5.2).
	ErrConnClosed = errors.New("transport: connection closed")
	// ErrSubprotocol: a WebSocket peer did not agree to the "sip"
	// subprotocol (RFC 7118 §4).
	ErrSubprotocol = errors.New("transport: WebSocket peer did not agree to the sip subprotocol")
)

// Addr is a transport address: a transport name and an IP address and port.
type Addr struct {
	Transport string // UDP, TCP, TLS, WS or WSS
	AddrPort  netip.AddrPort
	// Name is the host name the address was resolved from. TLS verifies the
	// peer's certificate against it (against the IP address when empty). It
	// plays no part in connection reuse.
	Name string
}

func (a Addr) String() string { return a.Transport + ":" + a.AddrPort.String() }

// key is the connection-reuse key: transport and address.
func (a Addr) key() Addr {
	return Addr{Transport: strings.ToUpper(a.Transport), AddrPort: unmap(a.AddrPort)}
}

// Inbound is a message received from the network.
type Inbound struct {
	Msg       sip.Message
	Transport string
	Local     netip.AddrPort
	Remote    netip.AddrPort
	conn      *streamConn // the connection it arrived on; nil for UDP
}

// Event describes one message for the trace hooks.
type Event struct {
	Transport string
	Local     netip.AddrPort
	Remote    netip.AddrPort
	Msg       sip.Message // nil when a message could not be parsed
	Data      []byte      // the bytes on the wire; valid only during the call
}

// Trace is a set of optional hooks that see every message sent, received
// and dropped. A nil hook costs nothing. Hooks run on the goroutine doing
// the I/O and must not block.
type Trace struct {
	Sent     func(Event)
	Received func(Event)
	Dropped  func(Event, error)
}

// Config configures a Layer. The zero value is usable.
type Config struct {
	// Limits bounds every message parsed (zero value: sip's defaults).
	Limits sip.Limits
	// IdleTimeout closes a stream connection that carried nothing for this
	// long. Zero means 10 minutes; negative means never.
	IdleTimeout time.Duration
	// DialTimeout bounds connecting a stream transport when the context
	// has no earlier deadline. Zero means 10 seconds.
	DialTimeout time.Duration
	// Logger receives connection-level events; nil discards them.
	Logger *slog.Logger
	// Trace observes every message; nil observes nothing.
	Trace *Trace
	// TLS configures TLS: Certificates for ListenTLS, RootCAs (nil: the
	// system roots) for connections this Layer opens. Verification is
	// always on: a client connection checks the peer's certificate against
	// Addr.Name or the IP address. Nil: no TLS listener can be opened and
	// client connections use the system roots.
	TLS *tls.Config
	// ConnClosed, if set, is called when a stream connection ends, with
	// the reason (nil for a clean close), so the transaction layer can fail
	// at once every transaction that used it.
	ConnClosed func(remote Addr, err error)
	// WebSocket configures the WS and WSS transports.
	WebSocket WebSocketConfig
}

// Handler receives each inbound message, on the goroutine that read it.
type Handler func(*Inbound)

// Layer sends and receives SIP messages over UDP, TCP, TLS, WS and WSS.
type Layer struct {
	cfg     Config
	limits  sip.Limits
	handler Handler
	log     *slog.Logger

	mu        sync.Mutex
	closed    bool
	udp       []udpSocket
	listeners []net.Listener
	servers   []*http.Server           // the WS and WSS listeners' HTTP servers
	conns     map[Addr]*streamConn     // the connection to reuse per peer
	dialing   map[Addr]*dialCall       // connections being opened: one dial per peer
	all       map[*streamConn]struct{} // every open connection
	wg        sync.WaitGroup
}

// New returns a Layer that delivers inbound messages to h.
func New(cfg Config, h Handler) *Layer {
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Layer{cfg: cfg, limits: cfg.Limits, handler: h, log: log,
		conns: make(map[Addr]*streamConn), dialing: make(map[Addr]*dialCall), all: make(map[*streamConn]struct{})}
}

// ListenUDP opens a UDP socket at addr ("127.0.0.1:5060", port 0 for any)
// and returns the address it is bound to.
func (l *Layer) ListenUDP(addr string) (netip.AddrPort, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return netip.AddrPort{}, err
	}
	// Bursts of datagrams must not overflow the socket while the read loop
	// is busy (the kernel caps this at net.core.rmem_max).
	_ = c.SetReadBuffer(udpReadBuffer)
	_ = c.SetWriteBuffer(udpReadBuffer)
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()
	if !l.register(c, func() { l.udp = append(l.udp, udpSocket{c, local}) }) {
		return netip.AddrPort{}, ErrClosed
	}
	go l.readUDP(c)
	return local, nil
}

// udpSocket is a UDP listener and the address it is bound to.
type udpSocket struct {
	c     *net.UDPConn
	local netip.AddrPort
}

// register records a socket with add (under the lock) and counts its
// reader goroutine, or closes the socket and reports false when the Layer
// is closed.
func (l *Layer) register(c io.Closer, add func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return false
	}
	add()
	l.wg.Add(1)
	return true
}

// ListenTCP opens a TCP listener at addr and returns its address.
func (l *Layer) ListenTCP(addr string) (netip.AddrPort, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return l.serve(ln, TCP)
}

// serve registers a stream listener and starts accepting on it.
func (l *Layer) serve(ln net.Listener, transport string) (netip.AddrPort, error) {
	if !l.register(ln, func() { l.listeners = append(l.listeners, ln) }) {
		return netip.AddrPort{}, ErrClosed
	}
	go l.accept(ln, transport)
	return ln.Addr().(*net.TCPAddr).AddrPort(), nil
}

// ListenTLS opens a TLS listener at addr with Config.TLS's certificates.
func (l *Layer) ListenTLS(addr string) (netip.AddrPort, error) {
	if l.cfg.TLS == nil || len(l.cfg.TLS.Certificates) == 0 && l.cfg.TLS.GetCertificate == nil {
		return netip.AddrPort{}, errors.New("transport: ListenTLS needs Config.TLS with a certificate")
	}
	ln, err := tls.Listen("tcp", addr, l.cfg.TLS.Clone())
	if err != nil {
		return netip.AddrPort{}, err
	}
	return l.serve(ln, TLS)
}

func (l *Layer) readUDP(c *net.UDPConn) {
	defer l.wg.Done()
	buf := make([]byte, 65535)
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("sip transport: UDP read", "local", local, "err", err)
			continue
		}
		data := buf[:n]
		if isKeepAlive(data) {
			continue // RFC 5626 §4.4.1: STUN/CRLF keep-alives carry nothing
		}
		m, err := sip.ParseMessageLimits(data, l.limits)
		ev := Event{Transport: UDP, Local: local, Remote: unmap(from), Msg: m, Data: data}
		if err != nil {
			l.drop(ev, err)
			// A request that parsed far enough is answered (RFC 3261 §8.2).
			var pe *sip.ParseError
			if errors.As(err, &pe) {
				if req, ok := pe.Partial.(*sip.Request); ok && req.Method != sip.MethodAck {
					l.answerBad(&Inbound{Msg: req, Transport: UDP, Local: local, Remote: ev.Remote}, err)
				}
			}
			continue
		}
		l.deliver(&Inbound{Msg: m, Transport: UDP, Local: local, Remote: ev.Remote}, ev)
	}
}

func (l *Layer) deliver(in *Inbound, ev Event) {
	if req, ok := in.Msg.(*sip.Request); ok {
		fillReceived(req, in.Remote)
	}
	if t := l.cfg.Trace; t != nil && t.Received != nil {
		t.Received(ev)
	}
	l.handler(in)
}

func (l *Layer) drop(ev Event, err error) {
	if t := l.cfg.Trace; t != nil && t.Dropped != nil {
		t.Dropped(ev, err)
	}
	l.log.Debug("sip transport: dropped message", "transport", ev.Transport, "remote", ev.Remote, "err", err)
}

// answerBad sends the 400 or 513 a parse error calls for, when the partial
// request has what a response needs.
func (l *Layer) answerBad(in *Inbound, err error) {
	req := in.Msg.(*sip.Request)
	if len(req.Via()) == 0 || req.CallID() == "" {
		return
	}
	code, reason := sip.StatusForError(err)
	_ = l.Respond(in, sip.NewResponse(req, code, reason))
}

// isKeepAlive reports a datagram made only of CR and LF.
func isKeepAlive(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// fillReceived applies RFC 3261 §18.2.1 and RFC 3581 §4 to a request that
// arrived from src: received= when the topmost Via's sent-by host is not
// src's address, rport=<port> when the Via asks for it with a bare rport.
func fillReceived(req *sip.Request, src netip.AddrPort) {
	v, ok := req.TopVia()
	if !ok {
		return
	}
	p := v.Params
	changed := false
	if h, err := netip.ParseAddr(v.Host); err != nil || h.Unmap() != src.Addr() {
		p = p.With("received", src.Addr().String())
		changed = true
	}
	if rp, present := getParam(v.Params, "rport"); present && rp == "" {
		p = p.With("rport", strconv.Itoa(int(src.Port())))
		changed = true
	}
	if !changed {
		return
	}
	v.Params = p
	req.RemoveFirst("Via")
	req.Insert("Via", v.String())
}

func (l *Layer) accept(ln net.Listener, transport string) {
	defer l.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("sip transport: accept", "err", err)
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors
			continue
		}
		l.adopt(c, transport)
	}
}

// streamConn is one TCP, TLS or WebSocket connection with its writer lock.
type streamConn struct {
	l      *Layer
	c      net.Conn        // TCP or TLS; under a WebSocket, the connection it runs on
	ws     *websocket.Conn // WS and WSS
	key    Addr
	local  netip.AddrPort
	wmu    sync.Mutex
	closed chan struct{}
	once   sync.Once
	pong   chan struct{} // a keep-alive pong arrived (RFC 5626 §4.4.1)
	parser atomic.Pointer[sip.Parser]
}

// adopt registers a connection (accepted or dialled) and starts reading it.
func (l *Layer) adopt(c net.Conn, transport string) *streamConn {
	remote := unmap(c.RemoteAddr().(*net.TCPAddr).AddrPort())
	sc := &streamConn{l: l, c: c, key: Addr{Transport: transport, AddrPort: remote},
		local: unmap(c.LocalAddr().(*net.TCPAddr).AddrPort()), closed: make(chan struct{}), pong: make(chan struct{}, 1)}
	if !l.track(sc) {
		c.Close()
		return nil
	}
	go sc.read()
	return sc
}

// track enters a new connection in the tables and counts its reader, or
// reports false when the Layer is closed.
func (l *Layer) track(sc *streamConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	// A newer connection to the same peer replaces the older in the table;
	// the older keeps serving what it carries until it ends.
	l.conns[sc.key] = sc
	l.all[sc] = struct{}{}
	l.wg.Add(1)
	return true
}

func (sc *streamConn) read() {
	l := sc.l
	defer l.wg.Done()
	p := sip.NewParserLimits(idleReader{sc}, l.limits)
	sc.parser.Store(p)
	p.OnPong(func() {
		select {
		case sc.pong <- struct{}{}:
		default:
		}
	})
	var cause error
	for {
		m, err := p.ReadMessage()
		if err == nil {
			l.deliver(&Inbound{Msg: m, Transport: sc.key.Transport, Local: sc.local, Remote: sc.key.AddrPort, conn: sc},
				Event{Transport: sc.key.Transport, Local: sc.local, Remote: sc.key.AddrPort, Msg: m})
			continue
		}
		if errors.Is(err, sip.ErrPing) {
			sc.write([]byte("\r\n")) // RFC 5626 §4.4.1 pong
			continue
		}
		var pe *sip.ParseError
		if errors.As(err, &pe) {
			l.drop(Event{Transport: sc.key.Transport, Local: sc.local, Remote: sc.key.AddrPort}, err)
			if req, ok := pe.Partial.(*sip.Request); ok && req.Method != sip.MethodAck {
				l.answerBad(&Inbound{Msg: req, Transport: sc.key.Transport, Local: sc.local, Remote: sc.key.AddrPort, conn: sc}, err)
			}
			if p.Err() == nil {
				continue // the bad message was skipped; the stream is in step
			}
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			cause = err
		}
		break
	}
	sc.close(cause)
}

// idleReader applies the idle timeout to every read.
type idleReader struct{ sc *streamConn }

func (r idleReader) Read(b []byte) (int, error) {
	if d := r.sc.l.cfg.IdleTimeout; d > 0 {
		_ = r.sc.c.SetReadDeadline(time.Now().Add(d))
	}
	return r.sc.c.Read(b)
}

func (sc *streamConn) write(b []byte) error {
	if sc.ws != nil {
		return sc.writeWS(b)
	}
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	_, err := sc.c.Write(b)
	return err
}

func (sc *streamConn) close(cause error) {
	sc.once.Do(func() {
		if sc.ws != nil {
			sc.ws.CloseNow()
		} else {
			sc.c.Close()
		}
		close(sc.closed)
		l := sc.l
		l.mu.Lock()
		if l.conns[sc.key] == sc {
			delete(l.conns, sc.key)
		}
		delete(l.all, sc)
		l.mu.Unlock()
		if l.cfg.ConnClosed != nil {
			l.cfg.ConnClosed(sc.key, cause)
		}
	})
}

// Send sends a message to an address: over the UDP listener's socket, or
// over a TCP, TLS or WebSocket connection to that address, reusing one
// that is open and connecting otherwise.
func (l *Layer) Send(ctx context.Context, to Addr, m sip.Message) error {
	switch strings.ToUpper(to.Transport) {
	case UDP:
		// A datagram is written by one system call, which copies it: its
		// bytes can be a reused buffer's.
		bp := getBuf()
		defer putBuf(bp)
		*bp = m.AppendTo((*bp)[:0])
		return l.sendUDP(to.AddrPort, m, *bp)
	case TCP, TLS, WS, WSS:
		sc, err := l.conn(ctx, to)
		if err != nil {
			return err
		}
		return l.sendStream(sc, m, m.AppendTo(nil))
	}
	return fmt.Errorf("%w: %q", ErrUnsupportedTransport, to.Transport)
}

// bufs holds the buffers UDP messages are serialized into.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func getBuf() *[]byte { return bufs.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		bufs.Put(bp)
	}
}

// sendUDP sends data, the wire form of m, from the UDP listener of to's
// address family. m may be nil: the Sent trace hook then gets the message
// parsed from data.
func (l *Layer) sendUDP(to netip.AddrPort, m sip.Message, data []byte) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	var sock udpSocket
	is4 := to.Addr().Unmap().Is4()
	for _, u := range l.udp {
		if la := u.local.Addr(); la.Is4() == is4 || la.IsUnspecified() {
			sock = u
			break
		}
	}
	l.mu.Unlock()
	if sock.c == nil {
		return ErrNoListener
	}
	if _, err := sock.c.WriteToUDPAddrPort(data, to); err != nil {
		return err
	}
	if t := l.cfg.Trace; t != nil && t.Sent != nil {
		if m == nil {
			m, _ = sip.ParseMessageLimits(data, l.limits)
		}
		t.Sent(Event{Transport: UDP, Local: sock.local, Remote: to, Msg: m, Data: data})
	}
	return nil
}

// DatagramTarget reports where Respond would send res, a response to the
// request in, when it would go as a UDP datagram from a listener (RFC 3261
// §18.2.2 and RFC 3581 §4, as for Respond); false when it would go over a
// stream connection. A completed server transaction sends its final
// response with SendDatagram and keeps only the bytes and this address,
// to send them again for each retransmitted request (§17.2.2), rather
// than the response and the request it answers.
func (l *Layer) DatagramTarget(in *Inbound, res *sip.Response) (netip.AddrPort, bool) {
	if in.conn != nil {
		return netip.AddrPort{}, false
	}
	v, ok := res.TopVia()
	if !ok {
		return netip.AddrPort{}, false
	}
	to := responseTarget(v, in)
	return to.AddrPort, strings.EqualFold(to.Transport, UDP)
}

// SendDatagram sends data, the wire form of m, over UDP to to, from the
// UDP listener of to's address family. m may be nil (a datagram sent
// again): the Sent trace hook then sees the message parsed from data.
// SendDatagram does not keep data.
func (l *Layer) SendDatagram(to netip.AddrPort, m sip.Message, data []byte) error {
	return l.sendUDP(to, m, data)
}

func (l *Layer) sendStream(sc *streamConn, m sip.Message, data []byte) error {
	if err := sc.write(data); err != nil {
		sc.close(err)
		return err
	}
	if t := l.cfg.Trace; t != nil && t.Sent != nil {
		t.Sent(Event{Transport: sc.key.Transport, Local: sc.local, Remote: sc.key.AddrPort, Msg: m, Data: data})
	}
	return nil
}

// conn returns an open connection to to, dialling one if needed.
func (l *Layer) conn(ctx context.Context, to Addr) (*streamConn, error) {
	key := to.key()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	sc := l.conns[key]
	if sc != nil {
		l.mu.Unlock()
		return sc, nil
	}
	if d := l.dialing[key]; d != nil {
		// Another sender is opening this connection: wait for it rather
		// than open a second one.
		l.mu.Unlock()
		select {
		case <-d.done:
			return d.sc, d.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	d := &dialCall{done: make(chan struct{})}
	l.dialing[key] = d
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.dialing, key)
		l.mu.Unlock()
		close(d.done)
	}()
	d.sc, d.err = l.dial(ctx, to, key)
	return d.sc, d.err
}

// dialCall is a connection being opened, which concurrent senders to the
// same peer wait for.
type dialCall struct {
	done chan struct{}
	sc   *streamConn
	err  error
}

// dial opens a stream connection to to.
func (l *Layer) dial(ctx context.Context, to, key Addr) (*streamConn, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.cfg.DialTimeout)
		defer cancel()
	}
	if key.Transport == WS || key.Transport == WSS {
		return l.dialWS(ctx, to, key)
	}
	var c net.Conn
	var err error
	if key.Transport == TLS {
		d := tls.Dialer{Config: l.clientTLS(to)}
		c, err = d.DialContext(ctx, "tcp", key.AddrPort.String())
	} else {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", key.AddrPort.String())
	}
	if err != nil {
		return nil, err
	}
	sc := l.adopt(c, key.Transport)
	if sc == nil {
		return nil, ErrClosed
	}
	return sc, nil
}

// clientTLS is the TLS configuration of a connection this Layer opens to
// to: Config.TLS's roots, and the peer's certificate verified against
// to.Name or else the IP address.
func (l *Layer) clientTLS(to Addr) *tls.Config {
	cfg := &tls.Config{}
	if l.cfg.TLS != nil {
		cfg = l.cfg.TLS.Clone()
	}
	cfg.ServerName = to.Name
	if cfg.ServerName == "" {
		cfg.ServerName = to.AddrPort.Addr().Unmap().String()
	}
	cfg.InsecureSkipVerify = false // verification is never off
	return cfg
}

// Respond sends a response to the request in as RFC 3261 §18.2.2 and RFC
// 3581 §4 route it: over the connection the request arrived on while it is
// open; otherwise for TCP to the received address (or sent-by host) and the
// sent-by port, and for UDP to the source address and port when the request
// asked for rport, else to the received address and the sent-by port.
func (l *Layer) Respond(in *Inbound, res *sip.Response) error {
	if in.conn != nil {
		select {
		case <-in.conn.closed:
		default:
			return l.sendStream(in.conn, res, res.AppendTo(nil))
		}
		if in.conn.ws != nil {
			return ErrConnClosed
		}
	}
	v, ok := res.TopVia()
	if !ok {
		return errors.New("transport: response without Via")
	}
	to := responseTarget(v, in)
	return l.Send(context.Background(), to, res)
}

func responseTarget(v sip.Via, in *Inbound) Addr {
	transport := strings.ToUpper(v.Transport)
	port := uint16(v.Port)
	if port == 0 {
		port = 5060
	}
	ip := in.Remote.Addr()
	// netip's parse errors allocate: parse only what is there and needed.
	received, _ := getParam(v.Params, "received")
	if r, ok := parseIP(received); ok {
		ip = r
	} else if in.Remote == (netip.AddrPort{}) {
		if h, ok := parseIP(v.Host); ok {
			ip = h
		}
	}
	if _, present := getParam(v.Params, "rport"); present && transport == UDP {
		if rp, _ := v.RPort(); rp != 0 {
			port = uint16(rp)
		} else if in.Remote.IsValid() {
			port = in.Remote.Port()
		}
	}
	return Addr{Transport: transport, AddrPort: netip.AddrPortFrom(ip, port)}
}

// getParam is p.Get(name) for a lower-case ASCII name, with a quick
// answer for the common case of a parameter that is absent (a Via without
// rport or received): no parameter called name can be there when name
// appears nowhere in p, in any case. (Get compares names with
// strings.EqualFold, whose folding of 'k' and 's' takes in U+212A and
// U+017F: name must contain neither letter.)
func getParam(p sip.Params, name string) (string, bool) {
	if !containsFold(string(p), name) {
		return "", false
	}
	return p.Get(name)
}

// containsFold reports whether s contains lower, an ASCII lower-case
// string, ignoring ASCII case.
func containsFold(s, lower string) bool {
	for i := 0; i+len(lower) <= len(s); i++ {
		j := 0
		for ; j < len(lower); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == len(lower) {
			return true
		}
	}
	return false
}

// parseIP parses an IP address, without the error netip.ParseAddr
// allocates for the empty string.
func parseIP(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil
}

// Close closes every listener and connection and waits for their
// goroutines to end.
func (l *Layer) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	udp, lns, srvs := l.udp, l.listeners, l.servers
	conns := make([]*streamConn, 0, len(l.all))
	for sc := range l.all {
		conns = append(conns, sc)
	}
	l.mu.Unlock()
	for _, u := range udp {
		u.c.Close()
	}
	for _, ln := range lns {
		ln.Close()
	}
	for _, s := range srvs {
		s.Close() // its listener and the connections not upgraded
	}
	var closing sync.WaitGroup
	for _, sc := range conns {
		if sc.ws != nil {
			// A WebSocket ends with a close handshake, all at once.
			closing.Add(1)
			go func() {
				defer closing.Done()
				sc.closeWS()
			}()
			continue
		}
		sc.close(nil)
	}
	closing.Wait()
	l.wg.Wait()
	return nil
}

// ErrNoFlow is returned by Ping when no connection to the peer is open.
var ErrNoFlow = errors.New("transport: no connection to ping")

// Ping sends an RFC 5626 §4.4.1 keep-alive (CRLFCRLF) over the open TCP or
// TLS connection to to and waits for the peer's pong (CRLF) until ctx is
// done; the flow is alive when it returns nil. It does not open a
// connection (ErrNoFlow); WebSocket and UDP flows are not pinged this way
// (errors.ErrUnsupported).
func (l *Layer) Ping(ctx context.Context, to Addr) error {
	key := to.key()
	if key.Transport != TCP && key.Transport != TLS {
		return errors.ErrUnsupported
	}
	l.mu.Lock()
	sc := l.conns[key]
	l.mu.Unlock()
	if sc == nil {
		return ErrNoFlow
	}
	select { // a stale pong from an earlier ping does not count
	case <-sc.pong:
	default:
	}
	if p := sc.parser.Load(); p != nil {
		p.ExpectPong()
	}
	if err := sc.write([]byte("\r\n\r\n")); err != nil {
		return err
	}
	select {
	case <-sc.pong:
		return nil
	case <-sc.closed:
		return ErrConnClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}
