package im

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transport"
	"github.com/sipua-go/sipua/sip/ua"
)

// Defaults of PagerConfig and FlowConfig.
const (
	// DefaultMaxSize is the default body limit: sip's default body limit.
	DefaultMaxSize = sip.DefaultMaxBodySize
	// DefaultBuffer is how many messages wait for a handler by default.
	DefaultBuffer = 1024
	// congestionLimit is RFC 3428 §9's (and RFC 3261 §18.1.1's) size
	// above which a MESSAGE must go over a congestion-controlled transport.
	congestionLimit = 1300
)

// PagerConfig configures a [Pager]. Set Endpoint, or UA (and Target).
type PagerConfig struct {
	// Endpoint sends the MESSAGE requests (through its proxy, with its
	// identity and credentials). Nil: UA.Do to Target.
	Endpoint ua.Endpoint
	// UA receives (the Pager becomes its MESSAGE handler) and, without
	// Endpoint, sends. Nil: Endpoint.UA().
	UA *ua.UA
	// Target is where UA.Do sends when there is no Endpoint. Zero: the
	// Request-URI's address (RFC 3263).
	Target ua.Target
	// From is the sender's identity without Endpoint. Zero: the UA's
	// anonymous default.
	From sip.Address
	// MaxSize bounds message bodies sent and received: a larger one is
	// refused with a *SizeError, or answered 513. Zero: DefaultMaxSize.
	MaxSize int
	// Accept lists the content types taken (e.g. "text/plain",
	// "message/cpim"); others are answered 415 with Accept. Zero: any.
	Accept []string
	// Buffer bounds the messages waiting for the handler; when full, new
	// ones are answered 480. Zero: DefaultBuffer.
	Buffer int
	// OnMessage is the handler, set before anything can arrive. Nil:
	// messages wait for Pager.OnMessage.
	OnMessage func(*Message)
	// NoRedirect returns a 3xx as a *DeliveryError. Zero: up to three
	// redirections (a redirect server's 302 to a registered contact) are
	// followed, each as a new request to the first Contact (RFC 3261
	// §8.1.3.4).
	NoRedirect bool
}

// Pager sends and receives pager-mode instant messages (RFC 3428). It is
// the MESSAGE handler of its UA for out-of-dialog requests; in-dialog
// MESSAGE requests belong to their session (see [Flow]). Safe for
// concurrent use.
type Pager struct {
	cfg PagerConfig
	u   *ua.UA
	in  queue[*Message]

	mu     sync.Mutex
	closed bool
}

// NewPager returns a Pager and installs it as cfg.UA's MESSAGE handler.
func NewPager(cfg PagerConfig) (*Pager, error) {
	if cfg.UA == nil && cfg.Endpoint != nil {
		cfg.UA = cfg.Endpoint.UA()
	}
	if cfg.UA == nil {
		return nil, errors.New("im: PagerConfig needs a UA or an Endpoint")
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	p := &Pager{cfg: cfg, u: cfg.UA}
	p.in.limit = cfg.Buffer
	p.in.f = cfg.OnMessage
	p.u.Handle(sip.MethodMessage, p)
	return p, nil
}

// OnMessage sets the handler of incoming messages. Messages that arrived
// before are delivered to it first, in order. It runs on a goroutine of
// the Pager's (one message at a time); nil makes messages wait again.
func (p *Pager) OnMessage(f func(*Message)) { p.in.set(f) }

// Pending returns how many received messages wait for the handler.
func (p *Pager) Pending() int { return p.in.len() }

// Close stops taking messages: new ones are answered 480 and Send fails
// with ErrClosed. The UA keeps the Pager as its MESSAGE handler.
func (p *Pager) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.in.mu.Lock()
	p.in.closed = true
	p.in.mu.Unlock()
}

// Accepted reports whether res is 202 Accepted: a store-and-forward
// server took the message for later delivery (RFC 3428 §7); 200 means it
// was delivered.
func Accepted(res *sip.Response) bool { return res != nil && res.StatusCode == sip.StatusAccepted }

// SendText sends a text/plain message; see Send.
func (p *Pager) SendText(ctx context.Context, to sip.URI, text string) (*sip.Response, error) {
	return p.Send(ctx, to, TextPlain, []byte(text))
}

// Send sends one MESSAGE to to with the body of the given content type
// (zero: text/plain) and waits for the final response (RFC 3428 §4). It
// returns the 2xx (200 delivered, 202 accepted), a *SizeError before
// anything is sent, or a *DeliveryError.
func (p *Pager) Send(ctx context.Context, to sip.URI, contentType string, body []byte) (*sip.Response, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if len(body) > p.cfg.MaxSize {
		return nil, &SizeError{Size: len(body), Limit: p.cfg.MaxSize}
	}
	if contentType == "" {
		contentType = TextPlain
	}
	req := sip.NewRequest(sip.MethodMessage, to)
	if p.cfg.Endpoint == nil && p.cfg.From.URI.Scheme != "" {
		from := p.cfg.From
		from.Params = from.Params.Without("tag")
		req.Set("From", from.String())
	}
	req.Set("To", (&sip.Address{URI: to}).String())
	req.Set("Content-Type", contentType)
	req.SetBody(body)
	if err := p.checkCongestion(ctx, req); err != nil {
		return nil, err
	}
	var res *sip.Response
	var err error
	if p.cfg.Endpoint != nil {
		res, err = p.cfg.Endpoint.Do(ctx, req)
	} else {
		res, err = p.u.Do(ctx, req, p.cfg.Target)
	}
	for hops := 0; err != nil && !p.cfg.NoRedirect && hops < 3; hops++ {
		var se *ua.StatusError
		if !errors.As(err, &se) || se.StatusCode()/100 != 3 || len(se.Response.Contact()) == 0 {
			break
		}
		// The same message, in the same Call-ID, to the contact the
		// redirect names, sent directly.
		uri := se.Response.Contact()[0].URI
		uri.Headers = ""
		again := sip.NewRequest(sip.MethodMessage, uri)
		for _, h := range []string{"From", "To", "Call-ID", "Content-Type"} {
			again.Set(h, req.Get(h))
		}
		again.Set("CSeq", sip.CSeq{Seq: req.CSeq().Seq + 1, Method: sip.MethodMessage}.String())
		again.SetBody(req.Body())
		req = again
		res, err = p.u.Do(ctx, req, ua.Target{})
	}
	if err != nil {
		return res, deliveryError(to, res, err)
	}
	return res, nil
}

// viaAllowance is what the UA core adds to a request before sending it
// (Via with branch and rport, Max-Forwards, Call-ID, CSeq, From tag,
// User-Agent): the 1300-byte rule is checked on the size with it.
const viaAllowance = 220

// checkCongestion applies RFC 3428 §9: a request of more than 1300 bytes
// goes over TCP (the UA core switches when it has a TCP listener); when
// the UA has none and the target is UDP it is refused.
func (p *Pager) checkCongestion(ctx context.Context, req *sip.Request) error {
	size := len(req.AppendTo(nil)) + viaAllowance
	if size <= congestionLimit {
		return nil
	}
	for _, a := range p.u.Addrs() {
		if !strings.EqualFold(a.Transport, transport.UDP) {
			return nil // TCP, TLS, WS: the UA core uses it
		}
	}
	t := p.cfg.Target
	if p.cfg.Endpoint != nil {
		var err error
		if t, err = p.cfg.Endpoint.Target(ctx); err != nil {
			return nil // let the send report it
		}
	} else if t == (ua.Target{}) {
		ts, err := p.u.Targets(ctx, req.URI)
		if err != nil || len(ts) == 0 {
			return nil
		}
		t = ts[0]
	}
	if strings.EqualFold(t.Transport, transport.UDP) {
		return &SizeError{Size: size, Limit: congestionLimit, Congestion: true}
	}
	return nil
}

// ServeSIP answers an out-of-dialog MESSAGE (RFC 3428 §7): 513 over
// MaxSize, 415 for a type not in Accept, 480 when the buffer is full or
// the Pager closed, else 200 and the message is queued for the handler.
func (p *Pager) ServeSIP(w ua.ResponseWriter, r *ua.Request) {
	if r.Method != sip.MethodMessage {
		res := w.NewResponse(sip.StatusMethodNotAllowed, "")
		res.Set("Allow", sip.MethodMessage)
		_ = w.Respond(res)
		return
	}
	if len(r.Body()) > p.cfg.MaxSize {
		_ = w.Respond(w.NewResponse(sip.StatusMessageTooLarge, ""))
		return
	}
	if !accepts(p.cfg.Accept, r.ContentType()) {
		res := w.NewResponse(sip.StatusUnsupportedMediaType, "")
		res.Set("Accept", strings.Join(p.cfg.Accept, ", "))
		_ = w.Respond(res)
		return
	}
	m := newMessage(r.Request, p.u.Clock().Now())
	m.Transport = r.Source.Transport
	if !p.in.push(m) {
		_ = w.Respond(w.NewResponse(sip.StatusTemporarilyUnavailable, "Inbox Full"))
		return
	}
	_ = w.Respond(w.NewResponse(sip.StatusOK, ""))
}

func accepts(list []string, ct sip.MediaType) bool {
	if len(list) == 0 || ct.IsZero() {
		return true
	}
	for _, a := range list {
		if a == "*/*" || ct.Is(a) {
			return true
		}
		if typ, sub, ok := strings.Cut(a, "/"); ok && sub == "*" && strings.EqualFold(typ, ct.Type) {
			return true
		}
	}
	return false
}
