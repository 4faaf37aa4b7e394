package dialog

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sipua-go/sipua/dialog/sdpneg"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
	"github.com/sipua-go/sipua/timer"
)

// Endpoint is the identity sessions are created from: the UA core it
// sends through, the address that goes in From, and the Contact. The
// endpoint types of package ua (user and application endpoints) satisfy
// it; so does Static for an endpoint that needs neither.
type Endpoint interface {
	UA() *ua.UA
	Address() sip.Address
	Contact() sip.Address
}

// Static is the simplest Endpoint: a UA, a fixed identity and the UA's
// UDP contact.
type Static struct {
	Agent    *ua.UA
	Identity sip.Address
}

// UA returns s.Agent.
func (s Static) UA() *ua.UA { return s.Agent }

// Address returns s.Identity.
func (s Static) Address() sip.Address { return s.Identity }

// Contact returns the UA's UDP listening address with the identity's user.
func (s Static) Contact() sip.Address {
	uri, _ := s.Agent.ContactURI("")
	uri.User = s.Identity.URI.User
	return sip.Address{URI: uri}
}

// targeter is an Endpoint that knows where new out-of-dialog requests go
// (its current outbound proxy, after failover).
type targeter interface {
	Target(ctx context.Context) (ua.Target, error)
}

// Config configures a Layer. The zero value answers nothing: incoming
// INVITEs get 480 until OnInvite is set.
type Config struct {
	// OnInvite receives every new incoming INVITE session, on the INVITE's
	// own goroutine. It answers with the session's Progress, Accept,
	// Reject or Redirect, now or later from any goroutine. Nil: 480.
	OnInvite func(s *Session)
	// OnEvent receives the events of every session that has no handler of
	// its own (Session.OnEvent). Nil: events wait in the session until a
	// handler is attached (up to a bound).
	OnEvent func(s *Session, ev Event)
	// Answer makes the SDP answer to an offer that changes the session
	// (a re-INVITE or UPDATE whose SDP differs from the last one). Nil:
	// the last local SDP is sent again.
	Answer func(s *Session, offer []byte) ([]byte, error)
	// AnswerTimeout bounds how long an incoming INVITE waits for the
	// application. Zero: 3 minutes, then 480.
	AnswerTimeout time.Duration
	// Allow is sent in INVITEs and their 2xx. Zero: INVITE, ACK, BYE,
	// CANCEL, OPTIONS, UPDATE, INFO, MESSAGE, REFER, NOTIFY, and PRACK
	// unless Reliable is ReliableNever.
	Allow string
	// SessionTimer configures RFC 4028 session timers for every session
	// (InviteOptions.SessionTimer and Session.SetSessionTimer override it
	// per call). Zero: enabled, 1800 s, Min-SE 90 s, refresher and method
	// chosen automatically; Disabled turns them off.
	SessionTimer timer.Config
	// OnRefer decides on a REFER received in a session (RFC 3515 blind
	// transfer): true accepts it (202), and the layer calls target and
	// reports the outcome to the transferor in NOTIFYs; the new session
	// arrives as a Transferred event. Nil: REFER is declined (603).
	OnRefer func(s *Session, target sip.URI, refer *sip.Request) bool
	// Media, when set, makes the layer negotiate SDP itself (RFC 3264,
	// package sdpneg): it answers every offer (INVITE, re-INVITE, UPDATE,
	// ACK), makes the offer of an Invite or Accept given no SDP, and makes
	// Hold and Resume work. Nil: the application supplies SDP bodies.
	Media *sdpneg.Capabilities
	// OnSessionExpiring is asked when a session is about to expire for
	// want of a refresh; a positive duration keeps it that much longer.
	// Nil: it expires.
	OnSessionExpiring func(s *Session) time.Duration
	// Reliable is the policy for reliable provisional responses (RFC 3262,
	// 100rel and PRACK). Zero (ReliableSupported): INVITEs carry
	// Supported: 100rel, and the 18x sent to a peer that supports or
	// requires 100rel go reliably.
	Reliable Reliability
}

// Reliability is a layer's policy for reliable provisional responses
// (RFC 3262).
type Reliability int

// The policies for reliable provisional responses.
const (
	// ReliableSupported: our INVITEs carry Supported: 100rel, and every
	// 18x we send goes reliably when the INVITE lists 100rel in Supported
	// or Require. The default.
	ReliableSupported Reliability = iota
	// ReliableNever: 100rel is neither offered nor accepted; an INVITE
	// that requires it gets 420 (Unsupported: 100rel) and our 18x go
	// unreliably.
	ReliableNever
	// ReliableRequired: our INVITEs carry Require: 100rel, and an INVITE
	// that lists 100rel in neither Supported nor Require gets 421 with
	// Require: 100rel.
	ReliableRequired
)

func (r Reliability) String() string {
	switch r {
	case ReliableSupported:
		return "Supported"
	case ReliableNever:
		return "Never"
	case ReliableRequired:
		return "Required"
	}
	return "Reliability(" + itoa(int(r)) + ")"
}

const defaultAllow = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, MESSAGE, REFER, NOTIFY"

// Layer holds the INVITE sessions of one endpoint: it answers the
// endpoint's incoming INVITEs, routes in-dialog requests to their session
// and creates outgoing sessions with Invite.
type Layer struct {
	ep  Endpoint
	u   *ua.UA
	cfg Config

	mu       sync.Mutex
	sessions map[string]*Session // by dialog key
	calling  map[string]*Session // our INVITEs with no final answer, by Call-ID + local tag
	closed   bool
	remove   func()
}

// New creates the dialog layer of ep: it becomes the UA's INVITE handler
// and a router for in-dialog requests. It fails only for an invalid
// session-timer or media configuration.
func New(ep Endpoint, cfg Config) (*Layer, error) {
	if err := cfg.SessionTimer.Validate(); err != nil {
		return nil, err
	}
	if cfg.Media != nil {
		if _, err := sdpneg.New(*cfg.Media); err != nil {
			return nil, err
		}
	}
	if cfg.Reliable < ReliableSupported || cfg.Reliable > ReliableRequired {
		return nil, errors.New("dialog: unknown Config.Reliable policy")
	}
	if cfg.AnswerTimeout == 0 {
		cfg.AnswerTimeout = 3 * time.Minute
	}
	if cfg.Allow == "" {
		cfg.Allow = defaultAllow
		if cfg.Reliable != ReliableNever {
			cfg.Allow += ", PRACK"
		}
	}
	l := &Layer{ep: ep, u: ep.UA(), cfg: cfg,
		sessions: make(map[string]*Session), calling: make(map[string]*Session)}
	l.u.Support("timer", tagReplaces)
	if cfg.Reliable != ReliableNever {
		l.u.Support(tag100rel)
	}
	l.u.Handle(sip.MethodInvite, ua.HandlerFunc(l.serveInvite))
	l.remove = l.u.AddRouter(l)
	return l, nil
}

// RouteRequest implements ua.Router: requests whose dialog is one of the
// layer's sessions.
func (l *Layer) RouteRequest(req *sip.Request) ua.Handler {
	l.mu.Lock()
	s := l.sessions[key(req.CallID(), req.To().Tag(), req.From().Tag())]
	l.mu.Unlock()
	if s == nil {
		return nil
	}
	return ua.HandlerFunc(s.serveInDialog)
}

// RouteResponse implements ua.ResponseRouter: a 2xx to one of our INVITEs
// that arrives after its transaction ended is ACKed again; a 2xx from a
// fork we did not take is ACKed and then ended with BYE (RFC 3261
// §13.2.2.4).
func (l *Layer) RouteResponse(res *sip.Response) bool {
	if res.CSeq().Method != sip.MethodInvite || !res.IsSuccess() {
		return false
	}
	l.mu.Lock()
	s := l.sessions[key(res.CallID(), res.From().Tag(), res.To().Tag())]
	if s == nil {
		s = l.calling[res.CallID()+"\x00"+res.From().Tag()]
	}
	l.mu.Unlock()
	if s == nil {
		return false
	}
	s.uac2xx(res)
	return true
}

func (l *Layer) track(s *Session, k string) {
	l.mu.Lock()
	l.sessions[k] = s
	l.mu.Unlock()
}

func (l *Layer) untrack(k string, s *Session) {
	l.mu.Lock()
	if l.sessions[k] == s {
		delete(l.sessions, k)
	}
	l.mu.Unlock()
}

// Sessions returns the sessions the layer holds.
func (l *Layer) Sessions() []*Session {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Session, 0, len(l.sessions))
	seen := make(map[*Session]bool, len(l.sessions))
	for _, s := range l.sessions {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Len returns the number of sessions the layer holds.
func (l *Layer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sessions)
}

// Close ends every session (BYE for established ones, 503 for incoming
// ones not yet answered) and waits for them within ctx, then stops
// routing. New INVITEs are refused with 503 from then on.
func (l *Layer) Close(ctx context.Context) error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	// At most closeParallel BYEs in flight: a layer holding 100,000 calls
	// must not start 100,000 goroutines and transactions at once.
	sessions := l.Sessions()
	work := make(chan *Session)
	var wg sync.WaitGroup
	for range min(closeParallel, len(sessions)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				_ = s.hangup(ctx, Shutdown)
			}
		}()
	}
	go func() {
		defer close(work)
		for _, s := range sessions {
			select {
			case work <- s:
			case <-ctx.Done():
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	l.remove()
	return err
}

// isClosed reports whether Close was called.
func (l *Layer) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

var errClosed = errors.New("dialog: layer closed")

// closeParallel bounds the sessions Close ends at a time.
const closeParallel = 256
