package timer

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
)

// Hooks are the callbacks through which a Session asks its dialog to act.
// They run on the scheduler's goroutine (with a fake clock, inside
// Advance), one at a time, without any lock of the Session held: they may
// call the Session's methods. A nil hook is skipped. The zero value has no
// hooks.
type Hooks struct {
	// Refresh is called when this UA must refresh the session: at half
	// the interval after the last refresh, and again when a refresh that
	// got 491 or 503 is to be retried. The dialog sends an UPDATE or a
	// re-INVITE (see [Session.RefreshMethod]) through PrepareRequest and
	// hands its final response to HandleResponse. This is UCMA's
	// "renegotiation to refresh needed".
	Refresh func()

	// Expiring is called when the session is about to be declared expired
	// (no successful refresh by SE − min(32 s, SE/3) after the last one).
	// Returning a positive duration postpones the expiry by that much, as
	// resip's onSessionExpired lets the application keep a call it knows
	// is alive; Expiring is called again when the extension runs out.
	// Returning zero lets the session expire.
	Expiring func() (extend time.Duration)

	// Expired is called once when the session has expired: the dialog
	// sends a BYE with reason (always [SessionTimeout]) and ends. It is not
	// called when [Session.HandleResponse] returns ActionEnd.
	Expired func(reason sip.Reason)
}

// State is the state of a Session. The zero value is Idle.
type State uint8

const (
	// Idle: no timer is running (not negotiated yet, or not in use).
	Idle State = iota
	// Active: a session interval is agreed and the timer is armed.
	Active
	// Expired: the session ran out or a refresh failed; terminal.
	Expired
	// Stopped: [Session.Stop] was called; terminal.
	Stopped
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Active:
		return "active"
	case Expired:
		return "expired"
	case Stopped:
		return "stopped"
	}
	return "idle"
}

// phase is what the armed timer will do when it fires.
type phase uint8

const (
	phaseNone    phase = iota
	phaseRefresh       // call Hooks.Refresh (half interval), then guard
	phaseRetry         // call Hooks.Refresh (retry of a failed refresh), then guard
	phaseExpire        // call Hooks.Expiring / Hooks.Expired
)

// who is the negotiated refresher, relative to this UA.
type who uint8

const (
	whoNone who = iota
	whoLocal
	whoRemote
)

const (
	methodInvite = "INVITE"
	methodUpdate = "UPDATE"
	tagTimer     = "timer"
	hdrSE        = "Session-Expires"
	hdrMinSE     = "Min-SE"
)

// Session is the session-timer state of one INVITE dialog. Create it
// with [New]; the zero value is not usable. Its methods are safe for
// concurrent use. A Session holds no goroutine and at most one timer of
// its scheduler, reused for every refresh; a Session that is dropped
// without Stop leaves that timer pending until it fires (harmlessly).
type Session struct {
	mu    sync.Mutex
	sched *sched.Scheduler
	t     *sched.Timer // created on first use, then Reset
	hooks Hooks

	base time.Time     // time of the last successful refresh
	due  time.Duration // deadline of the armed phase, as an offset from base

	interval uint32 // negotiated session interval, seconds; 0 when Idle
	cfgIv    uint32 // Config.Interval, seconds
	cfgMin   uint32 // Config.MinSE, seconds: the local policy as UAS
	reqMin   uint32 // largest Min-SE seen in a 422, seconds
	seq      uint32 // incremented whenever the timer is armed
	failures uint32 // refresh failures counted

	role        Role
	pref        Refresher
	method      Method
	state       State
	phase       phase
	refresher   who
	disabled    bool
	rejectReq   bool
	owed        bool // a refresh this UA owes is in progress
	noUpdate    bool // the peer rejected an UPDATE refresh with 405/501
	peerSupport bool // the peer listed timer in Supported or Require
}

// New returns the session timer of a dialog in which this UA has role,
// with policy cfg, scheduling on s and calling h. It panics if
// cfg.Validate fails: validate configuration where the application
// supplies it. The Session starts Idle and arms nothing until a 2xx is
// handled or prepared.
func New(cfg Config, role Role, s *sched.Scheduler, h Hooks) *Session {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if s == nil {
		panic("timer: New with nil scheduler")
	}
	c := cfg.withDefaults()
	return &Session{
		sched:     s,
		hooks:     h,
		cfgIv:     secs(c.Interval),
		cfgMin:    secs(c.MinSE),
		role:      role,
		pref:      c.Refresher,
		method:    c.Method,
		disabled:  c.Disabled,
		rejectReq: c.RejectRequired,
	}
}

func secs(d time.Duration) uint32 { return uint32(d / time.Second) }

func dur(s uint32) time.Duration { return time.Duration(s) * time.Second }

// guard is when the session is declared expired after a refresh:
// SE − min(32 s, SE/3) (RFC 4028 §10).
func guard(iv uint32) time.Duration {
	d := dur(iv)
	return d - min(32*time.Second, d/3)
}

// prefLocal returns 1 if the configured preference is this UA, -1 if it
// is the peer, 0 for no preference.
func (s *Session) prefLocal() int {
	switch s.pref {
	case RefresherLocal:
		return 1
	case RefresherRemote:
		return -1
	case RefresherUAC:
		if s.role == UAC {
			return 1
		}
		return -1
	case RefresherUAS:
		if s.role == UAS {
			return 1
		}
		return -1
	}
	return 0
}

func isSessionMethod(m string) bool { return m == methodInvite || m == methodUpdate }

func supportsTimer(h *sip.Header) bool {
	return h.HasToken("Supported", tagTimer) || h.HasToken("Require", tagTimer)
}

// PrepareRequest adds the session-timer header fields to an INVITE or
// UPDATE this UA is about to send (other methods are left alone):
// Supported: timer, Session-Expires and Min-SE (RFC 4028 §7.1, §7.4).
// While a timer runs, Session-Expires carries the current interval and the
// current refresher, as refresher=uac when it is this UA (the sender) and
// refresher=uas when it is the peer, so the role survives requests in
// either direction. Before that it carries the configured interval (at
// least the largest Min-SE a 422 demanded) and the configured preference,
// if any. A disabled Session adds nothing unless a peer's timer is running.
func (s *Session) PrepareRequest(req *sip.Request) {
	if !isSessionMethod(req.Method) {
		return
	}
	s.mu.Lock()
	if s.state > Active || s.disabled && s.state != Active {
		s.mu.Unlock()
		return
	}
	minSE := max(s.cfgMin, s.reqMin)
	var iv uint32
	ref := ""
	if s.state == Active {
		iv = max(s.interval, minSE)
		if s.refresher == whoLocal {
			ref = "uac"
		} else {
			ref = "uas"
		}
	} else {
		iv = max(s.cfgIv, minSE)
		switch s.prefLocal() {
		case 1:
			ref = "uac"
		case -1:
			ref = "uas"
		}
	}
	s.mu.Unlock()
	req.AddToken("Supported", tagTimer)
	req.Set(hdrSE, seValue(iv, ref))
	req.Set(hdrMinSE, deltaString(minSE))
}

// HandleResponse processes the final response res to req, an INVITE or
// UPDATE this UA sent through PrepareRequest, and says what the dialog
// must do. Provisional responses and other methods give ActionNone. A nil
// res is a transaction timeout (as [Session.HandleTimeout]).
//
//   - 2xx (RFC 4028 §7.2): the interval and refresher come from its
//     Session-Expires (refresher=uac is this UA); without one, an enabled
//     Session that asked for a timer refreshes alone at the interval it
//     asked for, and a disabled one stops the timer. The timer restarts.
//   - 422 (§7.3): ActionRetry with Session-Expires = Min-SE of the 422.
//   - 405 or 501 to an UPDATE refresh: ActionRetry with re-INVITE.
//   - 491 to a refresh this UA owes: ActionRetryLater after the RFC 3261
//     §14.1 backoff (2.1–4 s when this UA is the dialog's UAC, else 0–2 s).
//   - 503 or another failure of such a refresh: ActionRetryLater within the
//     time left before expiry (Retry-After if it fits, else half of that
//     time); when too little time is left the session just expires.
//   - 408, 481 or a timeout while a timer runs (§10): ActionEnd with
//     Reason [SessionTimeout]; the Session is then Expired.
func (s *Session) HandleResponse(req *sip.Request, res *sip.Response) Outcome {
	if !isSessionMethod(req.Method) {
		return Outcome{}
	}
	if res == nil {
		return s.HandleTimeout(req)
	}
	code := res.StatusCode
	if code < 200 {
		return Outcome{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state > Active {
		return Outcome{}
	}
	if code < 300 {
		s.handle2xx(req, res)
		return Outcome{}
	}
	owed := s.state == Active && s.owed && s.refresher == whoLocal
	var out Outcome
	if owed {
		s.failures++
		out.Failed = code
	}
	switch {
	case code == sip.StatusSessionIntervalTooSmall:
		m, err := res.MinSE()
		sent, serr := req.SessionExpires()
		if err == nil && m >= int(secs(MinInterval)) && m <= int(secs(MaxInterval)) &&
			(serr != nil || m > sent.Delta) {
			s.reqMin = max(s.reqMin, uint32(m))
			iv := max(s.cfgIv, s.reqMin)
			if s.state == Active {
				iv = max(s.interval, s.reqMin)
			}
			out.Action = ActionRetry
			out.SessionExpires = dur(iv)
			out.MinSE = dur(max(s.cfgMin, s.reqMin))
			return out
		}
		// A 422 without a usable Min-SE cannot be fixed by retrying it.
	case (code == 408 || code == 481) && s.state == Active:
		return s.endNow(out)
	case (code == 405 || code == 501) && req.Method == methodUpdate && owed && s.method == MethodAuto:
		s.noUpdate = true
		out.Action = ActionRetry
		return out
	}
	if !owed {
		return out
	}
	var d time.Duration
	now := s.sched.Now()
	left := s.base.Add(guard(s.interval)).Sub(now)
	if code == 491 {
		if s.role == UAC {
			d = 2100*time.Millisecond + time.Duration(rand.N(191))*10*time.Millisecond
		} else {
			d = time.Duration(rand.N(201)) * 10 * time.Millisecond
		}
	} else {
		if ra, err := res.RetryAfter(); err == nil && ra.Seconds > 0 && dur(uint32(min(ra.Seconds, 1<<31-1))) < left {
			d = dur(uint32(ra.Seconds))
		} else {
			d = left / 2
		}
		if d < time.Second {
			return out // too late to retry: the armed guard expires the session
		}
	}
	if d >= left {
		return out
	}
	s.arm(phaseRetry, now.Sub(s.base)+d)
	out.Action = ActionRetryLater
	out.After = d
	return out
}

// HandleTimeout processes the timeout of the transaction of req, an
// INVITE or UPDATE sent through PrepareRequest. While a timer runs it ends
// the session (RFC 4028 §10) like a 408; otherwise it gives ActionNone.
func (s *Session) HandleTimeout(req *sip.Request) Outcome {
	if !isSessionMethod(req.Method) {
		return Outcome{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != Active {
		return Outcome{}
	}
	var out Outcome
	if s.owed && s.refresher == whoLocal {
		s.failures++
		out.Failed = 408
	}
	return s.endNow(out)
}

// endNow expires the session and fills in ActionEnd. s.mu is held.
func (s *Session) endNow(out Outcome) Outcome {
	s.stopLocked(Expired)
	out.Action = ActionEnd
	out.Reason = SessionTimeout
	return out
}

// handle2xx negotiates from a 2xx to a request this UA sent. s.mu is held.
func (s *Session) handle2xx(req *sip.Request, res *sip.Response) {
	if supportsTimer(&res.Header) {
		s.peerSupport = true
	}
	se, err := res.SessionExpires()
	if err == nil {
		iv := uint32(max(min(se.Delta, 1<<31-1), int(secs(MinInterval))))
		w := whoLocal // refresher=uac, or a UAS that omitted it (§7.2 says it is always there)
		if se.Refresher == "uas" {
			w = whoRemote
		}
		s.refreshed(iv, w)
		return
	}
	if !s.disabled {
		if sent, serr := req.SessionExpires(); serr == nil {
			// The peer does not support the timer; the UAC that still wants
			// one refreshes alone (§7.2).
			iv := uint32(max(min(sent.Delta, 1<<31-1), int(secs(MinInterval))))
			s.refreshed(iv, whoLocal)
			return
		}
	}
	if s.state == Active {
		// §7.2: a 2xx without Session-Expires turns the timer off.
		s.stopLocked(Idle)
	}
}

// CheckRequest reports whether an incoming INVITE or UPDATE can be
// answered with a 2xx as far as session timers go. It returns nil, or a
// *[Rejection]: 422 with Min-SE when the request's Session-Expires is
// below the configured Min-SE and the UAC supports the extension
// (RFC 4028 §9), 420 with Unsupported: timer when the Session is disabled
// with RejectRequired and the request has Require: timer, 400 when
// Session-Expires is malformed. It changes no state; call it before
// PrepareResponse. Other methods give nil.
func (s *Session) CheckRequest(req *sip.Request) error {
	if !isSessionMethod(req.Method) {
		return nil
	}
	if s.disabled && s.rejectReq && req.HasToken("Require", tagTimer) {
		return &Rejection{Code: sip.StatusBadExtension, Unsupported: tagTimer}
	}
	se, err := req.SessionExpires()
	if err != nil {
		if errors.Is(err, sip.ErrNoHeader) {
			return nil
		}
		return &Rejection{Code: 400}
	}
	if supportsTimer(&req.Header) && se.Delta < int(s.cfgMin) {
		return &Rejection{Code: sip.StatusSessionIntervalTooSmall, MinSE: dur(s.cfgMin)}
	}
	return nil
}

// PrepareResponse negotiates the session timer for req, an INVITE or
// UPDATE this UA received and checked with CheckRequest, and adds the
// header fields to res, the 2xx answering it (other responses and methods
// are left alone): Session-Expires with the refresher as uac or uas,
// Supported: timer, and Require: timer merged once into any Require
// already in res, when the UAC supports the extension (RFC 4028 §9). It
// never adds Min-SE. The interval is the request's (never raised, except
// up to Min-SE for a UAC without timer support), or the configured one
// when the request asked for none. A refresher the request names is kept;
// otherwise the current one is kept, or the configured preference applies.
// The timer (re)starts: the refresh at half the interval when this UA
// refreshes, the expiry at SE − min(32 s, SE/3) otherwise. A request
// without Session-Expires to a disabled Session turns a running timer off.
func (s *Session) PrepareResponse(req *sip.Request, res *sip.Response) {
	if !isSessionMethod(req.Method) || !res.IsSuccess() {
		return
	}
	supports := supportsTimer(&req.Header)
	se, err := req.SessionExpires()
	hasSE := err == nil

	s.mu.Lock()
	if s.state > Active {
		s.mu.Unlock()
		return
	}
	var iv uint32
	w := whoNone
	switch {
	case hasSE && (supports || !s.disabled):
		iv = uint32(max(min(se.Delta, 1<<31-1), int(s.cfgMin)))
		switch {
		case !supports:
			w = whoLocal // the UAC cannot refresh (§9)
		case se.Refresher == "uac":
			w = whoRemote
		case se.Refresher == "uas":
			w = whoLocal
		case s.state == Active && s.refresher != whoNone:
			w = s.refresher
		case s.prefLocal() > 0:
			w = whoLocal
		default:
			w = whoRemote
		}
	case !hasSE && !s.disabled:
		iv = s.cfgIv
		if s.state == Active {
			iv = s.interval
		}
		if m, err := req.MinSE(); err == nil && m > int(iv) {
			iv = uint32(min(m, 1<<31-1))
		}
		switch {
		case !supports:
			w = whoLocal
		case s.state == Active && s.refresher != whoNone:
			w = s.refresher
		case s.prefLocal() < 0:
			w = whoRemote
		default:
			w = whoLocal
		}
	default:
		if s.state == Active {
			s.stopLocked(Idle)
		}
		s.mu.Unlock()
		return
	}
	if supports {
		s.peerSupport = true
	}
	s.refreshed(iv, w)
	s.mu.Unlock()

	ref := "uac"
	if w == whoLocal {
		ref = "uas"
	}
	res.Set(hdrSE, seValue(iv, ref))
	if supports {
		res.AddToken("Require", tagTimer)
	}
	res.AddToken("Supported", tagTimer)
}

// refreshed records a successful refresh now and arms the timer. s.mu is
// held.
func (s *Session) refreshed(iv uint32, w who) {
	s.base = s.sched.Now()
	s.interval = iv
	s.refresher = w
	s.owed = false
	s.state = Active
	if w == whoLocal {
		s.arm(phaseRefresh, dur(iv)/2)
	} else {
		s.arm(phaseExpire, guard(iv))
	}
}

// arm sets the timer to fire at base+due for phase p. s.mu is held.
func (s *Session) arm(p phase, due time.Duration) {
	s.phase = p
	s.due = due
	s.seq++
	d := s.base.Add(due).Sub(s.sched.Now())
	if s.t == nil {
		s.t = s.sched.AfterFunc(d, s.fire)
		return
	}
	s.t.Reset(d)
}

// stopLocked stops the timer and moves to state st. s.mu is held.
func (s *Session) stopLocked(st State) {
	s.state = st
	s.phase = phaseNone
	s.owed = false
	s.seq++
	if st == Idle {
		s.interval = 0
		s.refresher = whoNone
	}
	if s.t != nil {
		s.t.Stop()
	}
}

// fire runs when the timer is due.
func (s *Session) fire() {
	s.mu.Lock()
	now := s.sched.Now()
	if s.state != Active || s.phase == phaseNone || now.Sub(s.base) < s.due {
		s.mu.Unlock() // stopped, or a stale run for a deadline since moved
		return
	}
	switch s.phase {
	case phaseRefresh, phaseRetry:
		s.owed = true
		s.arm(phaseExpire, guard(s.interval))
		h := s.hooks.Refresh
		s.mu.Unlock()
		if h != nil {
			h()
		}
		return
	}
	// phaseExpire
	seq := s.seq
	s.phase = phaseNone // a concurrent stale run must not expire twice
	h := s.hooks.Expiring
	s.mu.Unlock()
	var ext time.Duration
	if h != nil {
		ext = h()
	}
	s.mu.Lock()
	if s.seq != seq || s.state != Active {
		s.mu.Unlock() // refreshed or stopped meanwhile
		return
	}
	if ext > 0 {
		s.arm(phaseExpire, now.Sub(s.base)+ext)
		s.mu.Unlock()
		return
	}
	s.stopLocked(Expired)
	done := s.hooks.Expired
	s.mu.Unlock()
	if done != nil {
		done(SessionTimeout)
	}
}

// Stop stops the timer for good (the dialog is ending): no hook is called
// afterwards and the Session is Stopped. Stop is idempotent.
func (s *Session) Stop() {
	s.mu.Lock()
	if s.state <= Active {
		s.stopLocked(Stopped)
	}
	s.mu.Unlock()
}

// RefreshMethod returns the method of the next refresh, "UPDATE" or
// "INVITE": as configured by Config.Method, or with MethodAuto UPDATE
// when peerAllowsUpdate (the peer's Allow lists UPDATE) and the peer has
// not rejected an UPDATE refresh with 405 or 501, INVITE otherwise.
func (s *Session) RefreshMethod(peerAllowsUpdate bool) string {
	switch s.method {
	case MethodUpdate:
		return methodUpdate
	case MethodInvite:
		return methodInvite
	}
	s.mu.Lock()
	no := s.noUpdate
	s.mu.Unlock()
	if peerAllowsUpdate && !no {
		return methodUpdate
	}
	return methodInvite
}

// State returns the current state.
func (s *Session) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Active reports whether a session timer is running.
func (s *Session) Active() bool { return s.State() == Active }

// Interval returns the negotiated session interval, or zero when no timer
// is running.
func (s *Session) Interval() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != Active {
		return 0
	}
	return dur(s.interval)
}

// Refresher returns the negotiated refresher, RefresherLocal or
// RefresherRemote, or RefresherAuto when no timer is running.
func (s *Session) Refresher() Refresher {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != Active {
		return RefresherAuto
	}
	if s.refresher == whoLocal {
		return RefresherLocal
	}
	return RefresherRemote
}

// RefresherRole returns the negotiated refresher in terms of the dialog's
// roles, RefresherUAC (the party that sent the initial INVITE) or
// RefresherUAS, or RefresherAuto when no timer is running.
func (s *Session) RefresherRole() Refresher {
	r := s.Refresher()
	if r == RefresherAuto {
		return r
	}
	if (r == RefresherLocal) == (s.role == UAC) {
		return RefresherUAC
	}
	return RefresherUAS
}

// PeerSupportsTimer reports whether the peer has listed the timer option
// tag in Supported or Require in a request or response seen so far.
func (s *Session) PeerSupportsTimer() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peerSupport
}

// NextRefreshAt returns when this UA sends (or sent, if a refresh is in
// progress) its next refresh, or a retry of it; the zero Time when this
// UA is not the refresher or no timer is running.
func (s *Session) NextRefreshAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != Active || s.refresher != whoLocal {
		return time.Time{}
	}
	if s.phase == phaseRetry {
		return s.base.Add(s.due)
	}
	return s.base.Add(dur(s.interval) / 2)
}

// ExpiresAt returns when this UA declares the session expired unless a
// refresh succeeds first: SE − min(32 s, SE/3) after the last refresh,
// later if Hooks.Expiring extended it. It is the zero Time when no timer
// is running.
func (s *Session) ExpiresAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != Active {
		return time.Time{}
	}
	if s.phase == phaseExpire && s.due > guard(s.interval) {
		return s.base.Add(s.due)
	}
	return s.base.Add(guard(s.interval))
}

// RefreshFailures returns how many refreshes this UA owed have failed
// (each one reported in [Outcome.Failed]).
func (s *Session) RefreshFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.failures)
}

// seValue returns the Session-Expires value "N" or "N;refresher=R".
func seValue(iv uint32, ref string) string {
	if c, ok := common[iv]; ok {
		switch ref {
		case "uac":
			return c[1]
		case "uas":
			return c[2]
		}
		return c[0]
	}
	v := strconv.FormatUint(uint64(iv), 10)
	if ref != "" {
		v += ";refresher=" + ref
	}
	return v
}

// deltaString formats delta-seconds.
func deltaString(n uint32) string {
	if c, ok := common[n]; ok {
		return c[0]
	}
	return strconv.FormatUint(uint64(n), 10)
}

// common holds the wire strings of the usual intervals, so that the
// refresh path formats nothing: "N", "N;refresher=uac", "N;refresher=uas".
var common = func() map[uint32][3]string {
	m := make(map[uint32][3]string)
	for _, n := range []uint32{90, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 14400, 28800, 86400} {
		v := strconv.FormatUint(uint64(n), 10)
		m[n] = [3]string{v, v + ";refresher=uac", v + ";refresher=uas"}
	}
	return m
}()
