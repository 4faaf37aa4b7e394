package transport

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/sipua-go/sipua/sip"
)

// Subprotocol is the WebSocket subprotocol that carries SIP (RFC 7118 §4).
const Subprotocol = "sip"

// wsCloseGrace is how long Close waits for a WebSocket peer to answer the
// close handshake before it drops the connection.
const wsCloseGrace = time.Second

// rawConnKey is the context key under which the HTTP server of a WS
// listener keeps each connection, so that the Layer can drop it.
type rawConnKey struct{}

// wsWriteTimeout bounds writing one message to a WebSocket; a peer that
// takes longer has its connection closed.
const wsWriteTimeout = 30 * time.Second

// WebSocketConfig configures the WS and WSS transports (RFC 7118).
type WebSocketConfig struct {
	// Path is the HTTP request path of the WebSocket connections this
	// Layer opens. Zero: "/". A listener accepts the upgrade on any path.
	Path string
	// OriginPatterns lists the hosts (path.Match patterns, such as
	// "*.example.com") whose web pages may open a WebSocket to a
	// listener, besides the listener's own host. A request without an
	// Origin header (a client that is not a browser) is always accepted.
	OriginPatterns []string
}

// ListenWS serves WebSocket (RFC 7118) at addr ("127.0.0.1:8080", port 0
// for any): an HTTP server that upgrades requests offering the "sip"
// subprotocol and refuses the others. It returns the bound address.
func (l *Layer) ListenWS(addr string) (netip.AddrPort, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return l.serveHTTP(ln, WS)
}

// ListenWSS serves secure WebSocket (RFC 7118 over TLS) at addr with
// Config.TLS's certificates.
func (l *Layer) ListenWSS(addr string) (netip.AddrPort, error) {
	if l.cfg.TLS == nil || len(l.cfg.TLS.Certificates) == 0 && l.cfg.TLS.GetCertificate == nil {
		return netip.AddrPort{}, errors.New("transport: ListenWSS needs Config.TLS with a certificate")
	}
	cfg := l.cfg.TLS.Clone()
	cfg.NextProtos = []string{"http/1.1"} // the upgrade is an HTTP/1.1 request
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	bound := ln.Addr().(*net.TCPAddr).AddrPort()
	if _, err := l.serveHTTP(tls.NewListener(ln, cfg), WSS); err != nil {
		return netip.AddrPort{}, err
	}
	return bound, nil
}

// serveHTTP starts an HTTP server on ln whose every request is a
// WebSocket upgrade for transport.
func (l *Layer) serveHTTP(ln net.Listener, transport string) (netip.AddrPort, error) {
	srv := &http.Server{
		Handler:           l.upgrader(transport),
		ReadHeaderTimeout: l.cfg.DialTimeout,
		// net/http reports bad handshakes (TLS, HTTP) here; a library
		// does not log them anywhere else than its own logger.
		ErrorLog: slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, rawConnKey{}, c)
		},
	}
	if !l.register(ln, func() { l.servers = append(l.servers, srv) }) {
		return netip.AddrPort{}, ErrClosed
	}
	go func() {
		defer l.wg.Done()
		_ = srv.Serve(ln) // http.ErrServerClosed after Close
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort(), nil
}

// upgrader accepts a WebSocket that offers the sip subprotocol and runs
// its read loop on the request's goroutine.
func (l *Layer) upgrader(transport string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !offersSIP(r.Header) {
			// RFC 7118 §4: the sip subprotocol is required; a server
			// that would answer without it has nothing to speak.
			http.Error(w, "the sip WebSocket subprotocol (RFC 7118) is required", http.StatusBadRequest)
			return
		}
		remote, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			http.Error(w, "bad remote address", http.StatusInternalServerError)
			return
		}
		var local netip.AddrPort
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
			local = a.AddrPort()
		}
		raw, _ := r.Context().Value(rawConnKey{}).(net.Conn)
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols:   []string{Subprotocol},
			OriginPatterns: l.cfg.WebSocket.OriginPatterns,
		})
		if err != nil {
			l.log.Debug("sip transport: WebSocket upgrade refused", "remote", remote, "err", err)
			return
		}
		sc := l.adoptWS(ws, raw, transport, local, remote)
		if sc == nil {
			return
		}
		sc.readWS()
	})
}

// offersSIP reports whether a handshake request lists the sip subprotocol.
func offersSIP(h http.Header) bool {
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == Subprotocol {
				return true
			}
		}
	}
	return false
}

// adoptWS registers a WebSocket connection (accepted or dialled). The
// caller runs its read loop.
func (l *Layer) adoptWS(ws *websocket.Conn, raw net.Conn, transport string, local, remote netip.AddrPort) *streamConn {
	sc := &streamConn{l: l, c: raw, ws: ws, key: Addr{Transport: transport, AddrPort: unmap(remote)},
		local: unmap(local), closed: make(chan struct{})}
	if !l.track(sc) {
		ws.CloseNow()
		return nil
	}
	if max := l.limits.MaxMessageSize; max >= 0 {
		if max == 0 {
			max = sip.DefaultMaxMessageSize
		}
		ws.SetReadLimit(int64(max)) // a longer message closes the connection (1009)
	} else {
		ws.SetReadLimit(-1)
	}
	return sc
}

// readWS reads a WebSocket message by message: RFC 7118 §5 puts exactly
// one SIP message in each (text or binary), so a message is parsed whole,
// with or without Content-Length.
func (sc *streamConn) readWS() {
	l := sc.l
	defer l.wg.Done()
	tr := sc.key.Transport
	var cause error
	for {
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if d := l.cfg.IdleTimeout; d > 0 {
			ctx, cancel = context.WithTimeout(ctx, d)
		}
		_, data, err := sc.ws.Read(ctx)
		idle := ctx.Err() != nil
		cancel()
		if err != nil {
			cause = wsCloseCause(err, idle, l.cfg.IdleTimeout)
			break
		}
		if isKeepAlive(data) {
			continue // an empty or CRLF message carries nothing
		}
		m, err := sip.ParseMessageLimits(data, l.limits)
		ev := Event{Transport: tr, Local: sc.local, Remote: sc.key.AddrPort, Msg: m, Data: data}
		if err != nil {
			// Framing is the WebSocket's: a bad message leaves the
			// connection in step, so it stays open.
			l.drop(ev, err)
			var pe *sip.ParseError
			if errors.As(err, &pe) {
				if req, ok := pe.Partial.(*sip.Request); ok && req.Method != sip.MethodAck {
					l.answerBad(&Inbound{Msg: req, Transport: tr, Local: sc.local, Remote: sc.key.AddrPort, conn: sc}, err)
				}
			}
			continue
		}
		l.deliver(&Inbound{Msg: m, Transport: tr, Local: sc.local, Remote: sc.key.AddrPort, conn: sc}, ev)
	}
	sc.close(cause)
}

// wsCloseCause is the reason a WebSocket read ended, as ConnClosed sees
// it: nil for a clean close by either side.
func wsCloseCause(err error, idle bool, d time.Duration) error {
	st := websocket.CloseStatus(err)
	switch {
	case idle:
		return fmt.Errorf("transport: WebSocket idle for %v: %w", d, os.ErrDeadlineExceeded)
	case st == websocket.StatusNormalClosure || st == websocket.StatusGoingAway:
		return nil
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		return nil
	}
	return err
}

// writeWS sends one SIP message as one WebSocket message: a text message
// when it is valid UTF-8 (what RFC 7118 §5 recommends for JavaScript
// clients), a binary one otherwise.
func (sc *streamConn) writeWS(b []byte) error {
	typ := websocket.MessageText
	if !utf8.Valid(b) {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithTimeout(context.Background(), wsWriteTimeout)
	defer cancel()
	return sc.ws.Write(ctx, typ, b)
}

// dialWS opens a WebSocket to key (ws://, or wss:// with the peer's
// certificate verified against to.Name or the IP address), asking for the
// sip subprotocol. The URL's host is to.Name when there is one (the HTTP
// Host and the TLS server name), but the connection goes to key's address.
func (l *Layer) dialWS(ctx context.Context, to, key Addr) (*streamConn, error) {
	scheme := "ws"
	if key.Transport == WSS {
		scheme = "wss"
	}
	host := to.Name
	if host == "" {
		host = key.AddrPort.Addr().String()
	}
	path := l.cfg.WebSocket.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(int(key.AddrPort.Port()))) + path

	var tcp net.Conn // the connection under the WebSocket, for its addresses
	tr := &http.Transport{
		Proxy: nil, // a SIP connection goes straight to the address resolved
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", key.AddrPort.String())
			tcp = c
			return c, err
		},
		TLSClientConfig: l.clientTLS(Addr{Transport: key.Transport, AddrPort: key.AddrPort, Name: to.Name}),
	}
	defer tr.CloseIdleConnections()
	ws, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: tr},
		Subprotocols: []string{Subprotocol},
	})
	if err != nil {
		if res != nil && res.StatusCode != http.StatusSwitchingProtocols {
			return nil, fmt.Errorf("transport: WebSocket to %s refused: %s: %w", url, res.Status, err)
		}
		return nil, err
	}
	if ws.Subprotocol() != Subprotocol {
		ws.CloseNow()
		return nil, fmt.Errorf("%w (%s)", ErrSubprotocol, url)
	}
	local := tcp.LocalAddr().(*net.TCPAddr).AddrPort()
	sc := l.adoptWS(ws, tcp, key.Transport, local, key.AddrPort)
	if sc == nil {
		return nil, ErrClosed
	}
	go sc.readWS()
	return sc, nil
}

// closeWS ends a WebSocket with a close handshake (RFC 6455 §7), and
// drops the connection when the peer does not answer within wsCloseGrace.
func (sc *streamConn) closeWS() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc.ws.Close(websocket.StatusGoingAway, "")
	}()
	t := time.NewTimer(wsCloseGrace)
	select {
	case <-done:
	case <-t.C:
		if sc.c != nil {
			sc.c.Close() // the handshake's read and write fail at once
		}
		<-done
	}
	t.Stop()
	sc.close(nil)
}

// InvalidHost returns a random host name under the .invalid top-level
// domain, for the Via sent-by and the Contact of a client that cannot be
// reached except over the connection it opened (RFC 7118 §5.2).
func InvalidHost() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b) + ".invalid"
}
