package ua

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transaction"
	"github.com/sipua-go/sipua/sip/transport"
)

// Request is an incoming request as a handler sees it.
type Request struct {
	*sip.Request
	// Source is where the request came from and over which transport.
	Source transport.Addr
	ctx    context.Context
}

// Context returns the request's context: it is canceled when the UA closes.
func (r *Request) Context() context.Context { return r.ctx }

// ResponseWriter answers one request, through its server transaction.
type ResponseWriter interface {
	// NewResponse builds a response to the request: RFC 3261 §8.2.6 copies,
	// a To tag for responses other than 100 (the same tag for every
	// response of this request) and Server.
	NewResponse(code int, reason string) *sip.Response
	// Respond sends a response. Provisional responses may precede the one
	// final response; anything after the final response is an error.
	Respond(res *sip.Response) error
}

// Handler answers requests of one method, as http.Handler does.
type Handler interface {
	ServeSIP(w ResponseWriter, r *Request)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w ResponseWriter, r *Request)

// ServeSIP calls f(w, r).
func (f HandlerFunc) ServeSIP(w ResponseWriter, r *Request) { f(w, r) }

// Handle registers the handler for a method (upper case). A handler for
// "" serves every method that has none of its own.
func (u *UA) Handle(method string, h Handler) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.handlers[method] = h
}

// HandleFunc registers a function as the handler for a method.
func (u *UA) HandleFunc(method string, f func(ResponseWriter, *Request)) {
	u.Handle(method, HandlerFunc(f))
}

// allow returns the methods this UA accepts, for Allow.
func (u *UA) allow() string {
	u.mu.RLock()
	defer u.mu.RUnlock()
	set := map[string]bool{sip.MethodOptions: true}
	for m := range u.handlers {
		if m != "" {
			set[m] = true
		}
	}
	var ms []string
	for m := range set {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	return strings.Join(ms, ", ")
}

// writer is the ResponseWriter of a non-INVITE server transaction.
type writer struct {
	u     *UA
	req   *sip.Request
	tx    *transaction.Server
	mu    sync.Mutex
	tag   string
	final bool
}

func (w *writer) NewResponse(code int, reason string) *sip.Response {
	res := sip.NewResponse(w.req, code, reason)
	if code != sip.StatusTrying && w.req.To().Tag() == "" {
		w.mu.Lock()
		if w.tag == "" {
			w.tag = randomToken(6)
		}
		tag := w.tag
		w.mu.Unlock()
		res.Set("To", w.req.Get("To")+";tag="+tag)
	}
	res.Set("Server", w.u.cfg.UserAgent)
	return res
}

func (w *writer) Respond(res *sip.Response) error {
	w.mu.Lock()
	if w.final {
		w.mu.Unlock()
		return transaction.ErrBadResponse
	}
	if res.StatusCode >= 200 {
		w.final = true
	}
	w.mu.Unlock()
	return w.tx.Respond(res)
}

func (w *writer) answered() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.final
}

// receive is the transport's handler: responses go to the transaction
// layer, requests to their server transaction and then a handler.
func (u *UA) receive(in *transport.Inbound) {
	switch m := in.Msg.(type) {
	case *sip.Response:
		if err := sip.ValidateResponse(m); err != nil {
			u.log.Debug("sip ua: dropped invalid response", "err", err)
			return
		}
		if !u.tx.HandleResponse(m) {
			u.log.Debug("sip ua: response matches no transaction", "call-id", m.CallID())
		}
	case *sip.Request:
		u.serve(in, m)
	}
}

func (u *UA) serve(in *transport.Inbound, req *sip.Request) {
	if err := sip.ValidateRequest(req); err != nil {
		var ve *sip.ValidationError
		if errors.As(err, &ve) && req.Method != sip.MethodAck && len(req.Via()) > 0 {
			_ = u.tp.Respond(in, sip.NewResponse(req, ve.StatusCode, ve.Reason))
		}
		return
	}
	switch req.Method {
	case sip.MethodAck:
		u.tx.HandleAck(req) // 2xx ACKs belong to dialogs (not yet here)
		return
	case sip.MethodInvite:
		// INVITE sessions come with the dialog package; until then they
		// are refused statelessly.
		_ = u.tp.Respond(in, u.simple(req, sip.StatusMethodNotAllowed, "", "Allow", u.allow()))
		return
	}
	tx, err := u.tx.HandleRequest(in)
	if err != nil || tx == nil {
		return // a retransmission, absorbed; or a request the layer refuses
	}
	w := &writer{u: u, req: req, tx: tx}
	if res := u.builtin(w, req); res != nil {
		_ = w.Respond(res)
		return
	}
	u.mu.RLock()
	h := u.handlers[req.Method]
	if h == nil {
		h = u.handlers[""]
	}
	closed := u.closed
	u.mu.RUnlock()
	if closed {
		_ = w.Respond(w.NewResponse(sip.StatusServiceUnavailable, ""))
		return
	}
	if h == nil {
		if req.Method == sip.MethodOptions {
			res := w.NewResponse(sip.StatusOK, "")
			res.Set("Allow", u.allow())
			res.Set("Accept", "application/sdp, text/plain")
			if len(u.cfg.Supported) > 0 {
				res.Set("Supported", strings.Join(u.cfg.Supported, ", "))
			}
			_ = w.Respond(res)
			return
		}
		res := w.NewResponse(sip.StatusMethodNotAllowed, "")
		res.Set("Allow", u.allow())
		_ = w.Respond(res)
		return
	}
	// Each request gets its own goroutine, as in net/http: a handler that
	// waits (for a database, a user, another request) holds up nothing
	// else that arrives on the socket.
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		ctx, cancel := context.WithCancel(u.ctx)
		defer cancel()
		func() {
			defer func() {
				if p := recover(); p != nil {
					u.log.Error("sip ua: handler panicked", "method", req.Method, "panic", p)
				}
			}()
			h.ServeSIP(w, &Request{Request: req, Source: transport.Addr{Transport: in.Transport, AddrPort: in.Remote}, ctx: ctx})
		}()
		if !w.answered() {
			// A non-INVITE handler answers before it returns; one that did
			// not (or panicked) gets a 500 so the peer is not left
			// retransmitting.
			_ = w.Respond(w.NewResponse(sip.StatusServerInternalError, "Handler Did Not Answer"))
		}
	}()
}

// builtin returns the answer the UA core gives before any handler: 420 for
// Require tags it does not support, 481 for an in-dialog request (no
// dialog layer matched it).
func (u *UA) builtin(w *writer, req *sip.Request) *sip.Response {
	var unsupported []string
	for _, tag := range req.Require() {
		ok := false
		for _, s := range u.cfg.Supported {
			if strings.EqualFold(s, tag) {
				ok = true
			}
		}
		if !ok {
			unsupported = append(unsupported, tag)
		}
	}
	if len(unsupported) > 0 && req.Method != sip.MethodCancel {
		res := w.NewResponse(sip.StatusBadExtension, "")
		res.Set("Unsupported", strings.Join(unsupported, ", "))
		return res
	}
	if req.To().Tag() != "" && req.Method != sip.MethodOptions {
		return w.NewResponse(sip.StatusCallTransactionDoesNotExist, "")
	}
	if req.Method == sip.MethodCancel && u.tx.MatchCancel(req) == nil {
		return w.NewResponse(sip.StatusCallTransactionDoesNotExist, "")
	}
	return nil
}

// simple builds a stateless response with one extra header.
func (u *UA) simple(req *sip.Request, code int, reason, name, value string) *sip.Response {
	res := sip.NewResponse(req, code, reason)
	if req.To().Tag() == "" {
		res.Set("To", req.Get("To")+";tag="+randomToken(6))
	}
	if name != "" {
		res.Set(name, value)
	}
	res.Set("Server", u.cfg.UserAgent)
	return res
}
