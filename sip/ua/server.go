package ua

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

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
	sr     *serverRequest // the request being served, whose context is made on demand
}

// Context returns the request's context: it is canceled when the UA
// closes and when the handler returns.
func (r *Request) Context() context.Context {
	if r.sr != nil {
		return r.sr.context()
	}
	return r.ctx
}

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

// responder is the server transaction a writer answers through: a
// *transaction.Server or a *transaction.InviteServer.
type responder interface {
	Respond(res *sip.Response) error
}

// writer is the ResponseWriter bound to one server transaction.
type writer struct {
	u      *UA
	req    *sip.Request
	tx     responder
	invite bool // an INVITE: its 2xx may be sent again (RFC 6026: the TU retransmits it)
	mu     sync.Mutex
	tag    [12]byte // the To tag of our responses (hex); zero before the first
	final  int      // status of the final response sent, 0 before it
}

func (w *writer) NewResponse(code int, reason string) *sip.Response {
	res := sip.NewResponse(w.req, code, reason)
	if code != sip.StatusTrying && w.req.To().Tag() == "" {
		w.mu.Lock()
		if w.tag == ([12]byte{}) {
			w.tag = randomTag()
		}
		tag := w.tag
		w.mu.Unlock()
		res.Set("To", w.req.Get("To")+";tag="+string(tag[:]))
	}
	// NewResponse copies no Server field: Add is Set without the search.
	res.Add("Server", w.u.cfg.UserAgent)
	return res
}

// serverRequest is a request being served: its ResponseWriter, the
// Request its handler gets and the handler, in one allocation.
type serverRequest struct {
	writer
	r Request
	h Handler

	// The request's context is made when first asked for (most handlers
	// never do, and each one costs an allocation and an entry in the UA
	// context's children), or at once for an INVITE, which a CANCEL
	// cancels. ended: the handler has returned, the context is canceled.
	ctxMu  sync.Mutex
	ctx    context.Context
	cancel context.CancelCauseFunc
	ended  bool
}

func (u *UA) newServerRequest(in *transport.Inbound, req *sip.Request, tx responder, invite bool) *serverRequest {
	sr := &serverRequest{writer: writer{u: u, req: req, tx: tx, invite: invite},
		r: Request{Request: req, Source: transport.Addr{Transport: in.Transport, AddrPort: in.Remote}}}
	sr.r.sr = sr
	return sr
}

// context returns the request's context, making it if need be.
func (sr *serverRequest) context() context.Context {
	sr.ctxMu.Lock()
	defer sr.ctxMu.Unlock()
	if sr.ctx == nil {
		sr.ctx, sr.cancel = context.WithCancelCause(sr.u.ctx)
		if sr.ended {
			sr.cancel(nil)
		}
	}
	return sr.ctx
}

// end cancels the request's context, now or when it is made.
func (sr *serverRequest) end() {
	sr.ctxMu.Lock()
	defer sr.ctxMu.Unlock()
	sr.ended = true
	if sr.cancel != nil {
		sr.cancel(nil)
	}
}

// canceled reports whether a CANCEL ended the request (its context's
// cause is a *CancelError).
func (sr *serverRequest) canceled() bool {
	sr.ctxMu.Lock()
	ctx := sr.ctx
	sr.ctxMu.Unlock()
	var ce *CancelError
	return ctx != nil && errors.As(context.Cause(ctx), &ce)
}

func (w *writer) Respond(res *sip.Response) error {
	if w.tx == nil {
		return ErrNoResponse
	}
	w.mu.Lock()
	if w.final != 0 && !(w.invite && w.final < 300 && res.StatusCode >= 200 && res.StatusCode < 300) {
		w.mu.Unlock()
		return transaction.ErrBadResponse
	}
	if res.StatusCode >= 200 && w.final == 0 {
		w.final = res.StatusCode
	}
	w.mu.Unlock()
	return w.tx.Respond(res)
}

func (w *writer) answered() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.final != 0
}

// ErrNoResponse is returned by the ResponseWriter of a request that gets
// no response (ACK).
var ErrNoResponse = errors.New("ua: this request gets no response")

// A Router claims the requests that belong to dialogs it holds: requests
// whose To carries a tag, and ACKs for 2xx responses. The dialog and
// presence layers add one each; the UA asks them in the order added.
type Router interface {
	// RouteRequest returns the handler for req, or nil when no dialog of
	// this router matches it.
	RouteRequest(req *sip.Request) Handler
}

// A ResponseRouter is a Router that also takes responses no transaction
// matches: retransmitted or forked 2xx responses to an INVITE whose
// client transaction has ended, which the dialog must ACK again (RFC 6026).
type ResponseRouter interface {
	Router
	RouteResponse(res *sip.Response) bool
}

// AddRouter adds r to the routers asked for in-dialog requests. The
// returned function removes it.
func (u *UA) AddRouter(r Router) (remove func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.routers = append(u.routers, r)
	return func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		for i, x := range u.routers {
			if x == r {
				u.routers = append(u.routers[:i:i], u.routers[i+1:]...)
				return
			}
		}
	}
}

// route asks the routers for req's handler.
func (u *UA) route(req *sip.Request) Handler {
	u.mu.RLock()
	rs := u.routers
	u.mu.RUnlock()
	for _, r := range rs {
		if h := r.RouteRequest(req); h != nil {
			return h
		}
	}
	return nil
}

// CancelError is the cause of an INVITE request's context when a CANCEL
// for it arrived (context.Cause(r.Context())).
type CancelError struct {
	// Cancel is the CANCEL request; its Reason header (RFC 3326), if any,
	// says why.
	Cancel *sip.Request
}

func (e *CancelError) Error() string { return "ua: the INVITE was canceled" }

// Is makes errors.Is(err, context.Canceled) true.
func (e *CancelError) Is(target error) bool { return target == context.Canceled }

// receive is the transport's handler: responses go to the transaction
// layer, requests to their server transaction and then a handler.
func (u *UA) receive(in *transport.Inbound) {
	switch m := in.Msg.(type) {
	case *sip.Response:
		if err := sip.ValidateResponse(m); err != nil {
			u.log.Debug("sip ua: dropped invalid response", "err", err)
			return
		}
		if !u.tx.HandleResponse(m) && !u.routeResponse(m) {
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
	var sr *serverRequest
	var merged bool
	switch req.Method {
	case sip.MethodAck:
		if u.tx.HandleAck(req) {
			return // the ACK of a failure response: the transaction's
		}
		if h := u.route(req); h != nil {
			// An ACK gets no response and is quick to handle: it is served
			// on the receiving goroutine.
			h.ServeSIP(&writer{u: u, req: req}, &Request{Request: req, Source: transport.Addr{Transport: in.Transport, AddrPort: in.Remote}, ctx: u.ctx})
		}
		return
	case sip.MethodInvite:
		inv, err := u.tx.HandleInvite(in)
		if err != nil || inv == nil {
			return // a retransmission, absorbed; or a request the layer refuses
		}
		sr, merged = u.newServerRequest(in, req, inv, true), inv.Merged()
	default:
		tx, err := u.tx.HandleRequest(in)
		if err != nil || tx == nil {
			return // a retransmission, absorbed; or a request the layer refuses
		}
		sr, merged = u.newServerRequest(in, req, tx, false), tx.Merged()
	}
	w := &sr.writer
	if res := u.builtin(w, req); res != nil {
		_ = w.Respond(res)
		return
	}
	if merged {
		// RFC 3261 §8.2.2.2: another copy of a request this UA is serving
		// (the transaction layer keeps the index of ongoing requests).
		_ = w.Respond(w.NewResponse(sip.StatusLoopDetected, "Merged Request"))
		return
	}
	if req.Method == sip.MethodCancel {
		u.cancelInvite(w, req)
		return
	}
	var h Handler
	inDialog := req.To().Tag() != ""
	u.mu.RLock()
	closed := u.closed
	if !inDialog {
		h = u.handlers[req.Method]
		if h == nil {
			h = u.handlers[""]
		}
	}
	u.mu.RUnlock()
	if inDialog {
		if h = u.route(req); h == nil {
			_ = w.Respond(w.NewResponse(sip.StatusCallTransactionDoesNotExist, ""))
			return
		}
	}
	if closed {
		_ = w.Respond(w.NewResponse(sip.StatusServiceUnavailable, ""))
		return
	}
	if h == nil {
		if req.Method == sip.MethodOptions {
			res := w.NewResponse(sip.StatusOK, "")
			res.Set("Allow", u.allow())
			res.Set("Accept", "application/sdp, text/plain")
			if sup := u.supported(); len(sup) > 0 {
				res.Set("Supported", strings.Join(sup, ", "))
			}
			_ = w.Respond(res)
			return
		}
		res := w.NewResponse(sip.StatusMethodNotAllowed, "")
		res.Set("Allow", u.allow())
		_ = w.Respond(res)
		return
	}
	if ah, ok := h.(AcceptHandler); ok && len(req.Body()) > 0 && !accepts(ah.Accept(), req.ContentType()) {
		// RFC 3261 §8.2.3: a body the handler does not understand.
		res := w.NewResponse(sip.StatusUnsupportedMediaType, "")
		res.Set("Accept", strings.Join(ah.Accept(), ", "))
		_ = w.Respond(res)
		return
	}
	sr.h = h
	u.dispatch(sr)
}

// workerIdle is how long a handler goroutine waits for another request
// before it exits (a variable for tests: a UA takes its value when made).
var workerIdle = 2 * time.Second

// workers are the goroutines that run handlers, and the idle ones among
// them.
type workers struct {
	idleFor time.Duration // workerIdle
	mu      sync.Mutex
	idle    []*worker // LIFO: the one idle longest first
	closed  bool      // the UA is closing: workers exit when idle
	reaper  *time.Timer
	reaping bool // reaper is armed
}

// A worker is a goroutine that runs handlers, one request at a time.
type worker struct {
	work  chan *serverRequest // capacity 1: the next request; nil to exit
	since time.Time           // when it went idle
}

// dispatch runs a request's handler on a goroutine of its own, as net/http
// does: a handler that waits (for a database, a user, another request)
// holds up nothing else that arrives on the socket, however many wait.
// The goroutine is the one idle most recently when there is one, and a
// new one otherwise; one that gets no request for workerIdle exits. Reusing
// them spares a busy UA the start of a goroutine and the growth of its
// stack for every request.
func (u *UA) dispatch(sr *serverRequest) {
	p := &u.workers
	p.mu.Lock()
	if p.closed {
		// Close began after serve looked: the request is new, and new
		// requests get 503 (a goroutine started now would race with
		// Close's wait for the handlers).
		p.mu.Unlock()
		_ = sr.Respond(sr.NewResponse(sip.StatusServiceUnavailable, ""))
		return
	}
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.work <- sr // never blocks: an idle worker's channel is empty
		return
	}
	u.wg.Add(1) // under p.mu: before closeWorkers, so before Close waits
	p.mu.Unlock()
	go u.work(&worker{work: make(chan *serverRequest, 1)}, sr)
}

// work is a worker's goroutine: it runs sr, then each request handed to
// it until it is told to exit.
func (u *UA) work(w *worker, sr *serverRequest) {
	defer u.wg.Done()
	p := &u.workers
	for sr != nil {
		u.run(sr)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		w.since = time.Now()
		p.idle = append(p.idle, w)
		if !p.reaping {
			p.reaping = true
			if p.reaper == nil {
				p.reaper = time.AfterFunc(p.idleFor, u.reapWorkers)
			} else {
				p.reaper.Reset(p.idleFor)
			}
		}
		p.mu.Unlock()
		sr = <-w.work
	}
}

// reapWorkers ends the workers idle for workerIdle or longer, and comes
// back when the next one will have been.
func (u *UA) reapWorkers() {
	p := &u.workers
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	now := time.Now()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].since) >= p.idleFor {
		p.idle[n].work <- nil
		n++
	}
	m := copy(p.idle, p.idle[n:])
	clear(p.idle[m:])
	p.idle = p.idle[:m]
	if m == 0 {
		p.reaping = false
		return
	}
	p.reaper.Reset(p.idleFor - now.Sub(p.idle[0].since))
}

// closeWorkers ends the idle workers, and the others when they finish;
// requests dispatched from now on get 503. Close calls it before it waits
// for u.wg.
func (u *UA) closeWorkers() {
	p := &u.workers
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, w := range p.idle {
		w.work <- nil
	}
	p.idle = nil
	if p.reaper != nil {
		p.reaper.Stop()
	}
}

// run serves one request: the handler, then the answer of a handler that
// gave none.
func (u *UA) run(sr *serverRequest) {
	w := &sr.writer
	if w.invite {
		// A CANCEL for this INVITE cancels the request's context.
		ctx, cancel := context.WithCancelCause(u.ctx)
		sr.ctxMu.Lock()
		sr.ctx, sr.cancel = ctx, cancel
		sr.ctxMu.Unlock()
		inv := w.tx.(*transaction.InviteServer)
		u.mu.Lock()
		u.invites[inv] = cancel
		u.mu.Unlock()
		defer func() {
			u.mu.Lock()
			delete(u.invites, inv)
			u.mu.Unlock()
		}()
	}
	defer sr.end()
	func() {
		defer func() {
			if p := recover(); p != nil {
				u.log.Error("sip ua: handler panicked", "method", w.req.Method, "panic", p)
			}
		}()
		sr.h.ServeSIP(w, &sr.r)
	}()
	if !w.answered() {
		// A handler answers before it returns; one that did not (or
		// panicked) gets a 500 so the peer is not left retransmitting,
		// or a 487 when a CANCEL ended its INVITE.
		if sr.canceled() {
			_ = w.Respond(w.NewResponse(sip.StatusRequestTerminated, ""))
		} else {
			_ = w.Respond(w.NewResponse(sip.StatusServerInternalError, "Handler Did Not Answer"))
		}
	}
}

// builtin returns the answer the UA core gives before any handler: 420 for
// Require tags it does not support, 481 for a CANCEL that matches no
// INVITE.
func (u *UA) builtin(w *writer, req *sip.Request) *sip.Response {
	var unsupported []string
	sup := u.supported()
	for _, tag := range req.Require() {
		ok := false
		for _, s := range sup {
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

// cancelInvite answers a CANCEL that matched an INVITE server transaction
// (RFC 3261 §9.2): 200 to the CANCEL, and the INVITE's request context is
// canceled with a *CancelError so its handler answers 487. An INVITE
// already answered finally is left alone.
func (u *UA) cancelInvite(w *writer, cancel *sip.Request) {
	inv := u.tx.MatchCancel(cancel)
	u.mu.Lock()
	stop := u.invites[inv]
	u.mu.Unlock()
	_ = w.Respond(w.NewResponse(sip.StatusOK, ""))
	if stop != nil {
		stop(&CancelError{Cancel: cancel})
	}
}

// routeResponse offers a response no transaction matched to the routers.
func (u *UA) routeResponse(res *sip.Response) bool {
	u.mu.RLock()
	rs := u.routers
	u.mu.RUnlock()
	for _, r := range rs {
		if rr, ok := r.(ResponseRouter); ok && rr.RouteResponse(res) {
			return true
		}
	}
	return false
}

// An AcceptHandler is a Handler that declares the body types it accepts
// ("text/plain", "application/*"). A request whose body has another
// Content-Type is answered 415 with Accept before the handler runs (RFC
// 3261 §8.2.3).
type AcceptHandler interface {
	Handler
	Accept() []string
}

// Accepting wraps h so that it accepts only the given body types.
func Accepting(h Handler, types ...string) Handler { return acceptHandler{h, types} }

type acceptHandler struct {
	Handler
	types []string
}

func (a acceptHandler) Accept() []string { return a.types }

func accepts(types []string, ct sip.MediaType) bool {
	for _, t := range types {
		if ct.Is(t) {
			return true
		}
		if main, sub, ok := strings.Cut(t, "/"); ok && sub == "*" && strings.EqualFold(main, ct.Type) {
			return true
		}
	}
	return false
}
