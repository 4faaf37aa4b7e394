package timer

import (
	"errors"
	"fmt"
	"time"
)

// Defaults and limits from RFC 4028.
const (
	// DefaultInterval is the session interval a zero Config asks for
	// (RFC 4028 §4 recommends 1800 seconds).
	DefaultInterval = 1800 * time.Second
	// MinInterval is the smallest session interval and Min-SE RFC 4028
	// allows (§4, §5): 90 seconds. It is also the default Min-SE.
	MinInterval = 90 * time.Second
	// MaxInterval is the largest interval this package accepts: 2^31−1
	// seconds, well within delta-seconds and int on every platform.
	MaxInterval = (1<<31 - 1) * time.Second
)

// Role is this UA's role in the dialog: which side sent the
// dialog-creating INVITE. It does not change for the life of the dialog,
// whichever side sends later requests. The zero value is UAC.
type Role uint8

const (
	// UAC means this UA sent the initial INVITE (it owns the Call-ID).
	UAC Role = iota
	// UAS means this UA received the initial INVITE.
	UAS
)

// String returns "UAC" or "UAS".
func (r Role) String() string {
	if r == UAS {
		return "UAS"
	}
	return "UAC"
}

// Refresher names the party that refreshes the session. In a [Config] it
// is a preference; from [Session.Refresher] it is the negotiated result.
// The zero value is RefresherAuto.
type Refresher uint8

const (
	// RefresherAuto in a Config means no preference: an outgoing INVITE
	// leaves the choice to the UAS (no refresher parameter), and as UAS
	// this UA lets a UAC that supports the extension refresh when the UAC
	// asked for a timer, and refreshes itself when it asks for one. From
	// [Session.Refresher] it means that no timer is running.
	RefresherAuto Refresher = iota
	// RefresherUAC is the dialog's UAC: the party that sent the initial
	// INVITE (refresher=uac in that INVITE and its 2xx).
	RefresherUAC
	// RefresherUAS is the dialog's UAS: the party that answered the
	// initial INVITE.
	RefresherUAS
	// RefresherLocal is this UA, whichever its role.
	RefresherLocal
	// RefresherRemote is the peer, whichever its role.
	RefresherRemote
)

// String returns "auto", "uac", "uas", "local" or "remote".
func (r Refresher) String() string {
	switch r {
	case RefresherUAC:
		return "uac"
	case RefresherUAS:
		return "uas"
	case RefresherLocal:
		return "local"
	case RefresherRemote:
		return "remote"
	}
	return "auto"
}

// Method is the method used for refreshes. The zero value is MethodAuto.
type Method uint8

const (
	// MethodAuto refreshes with UPDATE when the peer's Allow lists it
	// (RFC 4028 §7.4 recommends it) and with re-INVITE otherwise, or after
	// the peer answered an UPDATE refresh with 405 or 501.
	MethodAuto Method = iota
	// MethodUpdate always refreshes with UPDATE.
	MethodUpdate
	// MethodInvite always refreshes with re-INVITE.
	MethodInvite
)

// String returns "auto", "UPDATE" or "INVITE".
func (m Method) String() string {
	switch m {
	case MethodUpdate:
		return "UPDATE"
	case MethodInvite:
		return "INVITE"
	}
	return "auto"
}

// Config is the session-timer policy of an endpoint or of one call. The
// zero value is ready to use: enabled, a 1800 s interval, Min-SE 90 s, no
// refresher preference, refresh method chosen from the peer's Allow.
type Config struct {
	// Disabled stops this UA from asking for a session timer: its requests
	// carry no Supported: timer, Session-Expires or Min-SE, and as UAS it
	// does not ask for a timer the UAC did not request (a Session-Expires
	// that a proxy added for a UAC without Supported: timer is ignored). A
	// timer that a peer supporting the extension asks for is still answered
	// as RFC 4028 §9 requires (unless RejectRequired applies) and then run
	// to the end, so that the peer's refreshes are not misread.
	Disabled bool

	// Interval is the session interval asked for in requests and in a 2xx
	// to a request that asked for none. Zero means DefaultInterval, or
	// MinSE when that is larger. It is rounded down to whole seconds. Any
	// value up to MaxInterval is sent as it is, 7200 s for example.
	Interval time.Duration

	// MinSE is the smallest interval this UA accepts (the Min-SE it sends
	// and enforces with 422). Zero means MinInterval (90 s). RFC 4028 §5
	// forbids less than 90 s. It is rounded down to whole seconds.
	MinSE time.Duration

	// Refresher is the preferred refresher, used when the other side leaves
	// the choice open. See the Refresher constants.
	Refresher Refresher

	// Method chooses the refresh method; see [Session.RefreshMethod].
	Method Method

	// RejectRequired, with Disabled, answers a request carrying
	// Require: timer with 420 Bad Extension and Unsupported: timer instead
	// of running the timer the peer demands. Without Disabled it has no
	// effect.
	RejectRequired bool
}

// Errors returned by [Config.Validate].
var (
	// ErrMinSETooSmall means Config.MinSE is below 90 seconds (RFC 4028 §5).
	ErrMinSETooSmall = errors.New("timer: Min-SE below 90 seconds")
	// ErrIntervalTooSmall means Config.Interval is below Config.MinSE.
	ErrIntervalTooSmall = errors.New("timer: session interval below Min-SE")
	// ErrIntervalTooLarge means Config.Interval or Config.MinSE is above
	// MaxInterval.
	ErrIntervalTooLarge = errors.New("timer: session interval too large")
	// ErrBadConfig means an enumerated field holds an unknown value.
	ErrBadConfig = errors.New("timer: invalid configuration value")
)

// withDefaults returns c with zero fields replaced by their defaults and
// durations rounded down to seconds.
func (c Config) withDefaults() Config {
	if c.MinSE == 0 {
		c.MinSE = MinInterval
	}
	c.MinSE = c.MinSE.Truncate(time.Second)
	if c.Interval == 0 {
		c.Interval = max(DefaultInterval, c.MinSE)
	}
	c.Interval = c.Interval.Truncate(time.Second)
	return c
}

// Validate reports whether c, with its zero fields defaulted, is usable:
// 90 s ≤ MinSE ≤ Interval ≤ MaxInterval and known enumerated values. The
// error wraps one of the Err variables of this package.
func (c Config) Validate() error {
	d := c.withDefaults()
	switch {
	case d.MinSE < MinInterval:
		return fmt.Errorf("%w: %v", ErrMinSETooSmall, c.MinSE)
	case d.Interval > MaxInterval || d.MinSE > MaxInterval:
		return fmt.Errorf("%w: %v", ErrIntervalTooLarge, d.Interval)
	case d.Interval < d.MinSE:
		return fmt.Errorf("%w: %v < %v", ErrIntervalTooSmall, d.Interval, d.MinSE)
	case c.Refresher > RefresherRemote:
		return fmt.Errorf("%w: Refresher(%d)", ErrBadConfig, c.Refresher)
	case c.Method > MethodInvite:
		return fmt.Errorf("%w: Method(%d)", ErrBadConfig, c.Method)
	}
	return nil
}
