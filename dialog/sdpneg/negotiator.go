package sdpneg

import (
	"bytes"
	"math/rand/v2"

	"github.com/pion/sdp/v3"
)

// State is the offer/answer state of a [Negotiator] (RFC 3264 §4; the
// states of pjmedia's sdp_neg without its separate "waiting for
// negotiation" step, which CommitAnswer and ReceiveAnswer fold in).
type State uint8

const (
	// StateIdle: no exchange has completed and none is in progress.
	StateIdle State = iota
	// StateLocalOffer: our offer is outstanding; ReceiveAnswer or CancelOffer
	// ends it.
	StateLocalOffer
	// StateRemoteOffer: a remote offer has been answered but the answer is
	// not committed; CommitAnswer or RejectOffer ends it.
	StateRemoteOffer
	// StateDone: at least one exchange has completed and none is in
	// progress; the active session is available.
	StateDone
)

func (s State) String() string {
	switch s {
	case StateIdle:
		return "Idle"
	case StateLocalOffer:
		return "LocalOffer"
	case StateRemoteOffer:
		return "RemoteOffer"
	case StateDone:
		return "Done"
	}
	return "State(?)"
}

// Stream is the negotiated result for one m= line.
type Stream struct {
	Index int    // m= line index, 0-based
	Type  string // media type, e.g. "audio"
	Proto string // e.g. "RTP/AVP"
	// Rejected is true when either side set the port to 0, or when no
	// format is common to both sides. No media flows on a rejected stream.
	Rejected   bool
	LocalPort  int
	RemoteAddr string // where to send: media-level c= or else session c=
	RemotePort int
	// Direction is what we may do on this stream: it combines our own
	// direction attribute with the peer's (and c=0.0.0.0 legacy hold).
	// Inactive for a rejected stream.
	Direction Direction
	// Held is true when the peer does not want to receive media on this
	// stream: it set sendonly/inactive, or c=0.0.0.0 (RFC 3264 §8.4).
	Held bool
	// Codecs lists the common RTP formats in the order of the answer, with
	// the payload types of the peer's description: use them when sending.
	Codecs []Codec
	// Formats lists the peer's <fmt> tokens of a non-RTP stream.
	Formats []string
}

// Session is a completed offer/answer exchange: the active descriptions and
// the per-stream result. It must not be modified.
type Session struct {
	Local     *sdp.SessionDescription
	Remote    *sdp.SessionDescription
	LocalSDP  []byte // the body we sent (offer or answer)
	RemoteSDP []byte // the body we received
	// LocalOffered is true when the local description was the offer.
	LocalOffered bool
	Streams      []Stream
}

// Result reports a completed exchange.
type Result struct {
	// Changed is true when the negotiated media differ from the previously
	// active session: always for the first exchange; otherwise when our
	// SDP or the peer's SDP differs in anything but the o= version. A
	// session refresh that repeats both bodies reports false (AT-P1-3), so
	// the dialog raises no MediaChanged event.
	Changed bool
	// LocalChanged and RemoteChanged tell which side changed.
	LocalChanged  bool
	RemoteChanged bool
	Session       *Session
}

// exchange is one offer/answer pair, pending or active.
type exchange struct {
	local, remote       *sdp.SessionDescription
	localRaw, remoteRaw []byte
	localOffered        bool
	slots               []int // per m= line: index into caps.Media, or -1
	session             *Session
}

// Negotiator runs RFC 3264 offer/answer for one INVITE session. It is not
// safe for concurrent use; the dialog that owns it serialises calls.
type Negotiator struct {
	caps     Capabilities
	addrType string
	state    State
	hold     bool

	sessID, version uint64
	lastSent        []byte // last SDP we produced, offer or answer

	active  exchange
	pending exchange

	// restored by CancelOffer / RejectOffer
	prevHold     bool
	prevVersion  uint64
	prevLastSent []byte
}

// New returns a Negotiator in StateIdle for the local capabilities c (which
// are copied). It fails with ErrInvalidCapabilities when c cannot produce
// valid SDP.
func New(c Capabilities) (*Negotiator, error) {
	n := &Negotiator{version: 1}
	if err := n.SetCapabilities(c); err != nil {
		return nil, err
	}
	n.sessID = c.SessionID
	if n.sessID == 0 {
		n.sessID = rand.Uint64()>>1 | 1 // 63 bits, never 0
	}
	return n, nil
}

// SetCapabilities replaces the local capabilities used by the next offer or
// answer. The o= session id stays the one chosen by New.
func (n *Negotiator) SetCapabilities(c Capabilities) error {
	if err := c.validate(); err != nil {
		return err
	}
	at, _ := addrType(c.Address)
	n.caps = c.clone()
	n.addrType = at
	return nil
}

// Capabilities returns a copy of the local capabilities.
func (n *Negotiator) Capabilities() Capabilities { return n.caps.clone() }

// State returns the current state.
func (n *Negotiator) State() State { return n.state }

// OnHold reports whether we hold the session (see Hold); it applies to
// offers and answers alike.
func (n *Negotiator) OnHold() bool { return n.hold }

// Session returns the active (last completed) exchange, or nil before the
// first one completes.
func (n *Negotiator) Session() *Session { return n.active.session }

// ActiveLocal returns our active description, nil before the first
// exchange completes. It must not be modified.
func (n *Negotiator) ActiveLocal() *sdp.SessionDescription { return n.active.local }

// ActiveRemote returns the peer's active description, nil before the first
// exchange completes. It must not be modified.
func (n *Negotiator) ActiveRemote() *sdp.SessionDescription { return n.active.remote }

// LocalSDP returns the body of our active description (nil before the
// first exchange): what to repeat, e.g. in a 2xx after a reliable 18x
// already carried the answer. It must not be modified.
func (n *Negotiator) LocalSDP() []byte { return n.active.localRaw }

// RemoteSDP returns the body of the peer's active description.
func (n *Negotiator) RemoteSDP() []byte { return n.active.remoteRaw }

func (n *Negotiator) settled() State {
	if n.active.local != nil {
		return StateDone
	}
	return StateIdle
}

func (n *Negotiator) busy() error {
	switch n.state {
	case StateLocalOffer:
		return ErrOfferPending
	case StateRemoteOffer:
		return ErrAnswerPending
	}
	return nil
}

// CreateOffer makes an offer from the local capabilities: the initial
// offer, or a re-offer that keeps the m= lines of the active session in
// place (RFC 3264 §8). The o= version is incremented only when the body
// differs from the last one we produced, so a session refresh repeats the
// same SDP. State becomes StateLocalOffer. It fails with ErrOfferPending or
// ErrAnswerPending when an exchange is in progress (the dialog must not
// send its request; RFC 3261 §14.1, RFC 3311 §5.1).
//
// The returned slice must not be modified.
func (n *Negotiator) CreateOffer() ([]byte, error) {
	if err := n.busy(); err != nil {
		return nil, err
	}
	n.prevHold = n.hold
	return n.offer()
}

func (n *Negotiator) offer() ([]byte, error) {
	desc, slots := n.buildOffer()
	raw, err := n.stamp(desc)
	if err != nil {
		n.hold = n.prevHold
		return nil, err
	}
	n.pending = exchange{local: desc, localRaw: raw, localOffered: true, slots: slots}
	n.state = StateLocalOffer
	return raw, nil
}

// Hold creates a re-offer that puts every RTP stream on hold (RFC 3264
// §8.4: sendrecv becomes sendonly, recvonly becomes inactive). The hold
// stays in effect for later offers and answers until Resume. CancelOffer or
// a failed exchange restores the previous hold state.
func (n *Negotiator) Hold() ([]byte, error) { return n.setHold(true) }

// Resume creates a re-offer that takes the session off hold, restoring the
// configured directions.
func (n *Negotiator) Resume() ([]byte, error) { return n.setHold(false) }

func (n *Negotiator) setHold(h bool) ([]byte, error) {
	if err := n.busy(); err != nil {
		return nil, err
	}
	n.prevHold = n.hold
	n.hold = h
	return n.offer()
}

// CancelOffer abandons our outstanding offer: after a 491, a non-2xx final
// response to a re-INVITE or UPDATE, or a CANCELled INVITE. The active
// session (if any) stays in force (RFC 3261 §14.1) and the hold state goes
// back to what it was. The o= version is not reused: the next different
// offer gets a higher one.
func (n *Negotiator) CancelOffer() error {
	if n.state != StateLocalOffer {
		return ErrNoOffer
	}
	n.hold = n.prevHold
	n.pending = exchange{}
	n.state = n.settled()
	return nil
}

// ReceiveAnswer processes the peer's answer to our offer (RFC 3264 §5, §6):
// the answer must have as many m= lines as the offer, each of the same
// media type unless rejected with port 0; the peer's subset of our codecs is
// accepted. On success the exchange becomes active and State is StateDone.
// On an invalid answer the offer is cancelled as by CancelOffer and the
// error (ErrInvalidAnswer or a *ParseError) is returned: the dialog should
// end or re-negotiate the session.
//
// In StateDone, an answer to our last offer that arrives again — SDP in an
// unreliable 18x repeated or updated in the 2xx (RFC 6337 §3.1.1) — is
// accepted and reported with Changed telling whether it differs; otherwise
// ReceiveAnswer fails with ErrNoOffer.
func (n *Negotiator) ReceiveAnswer(answer []byte) (Result, error) {
	switch {
	case n.state == StateLocalOffer:
	case n.state == StateDone && n.active.localOffered:
		remote, err := Parse(answer)
		if err != nil {
			return Result{}, err
		}
		if err := checkAnswer(n.active.local, remote); err != nil {
			return Result{}, err
		}
		ex := n.active
		ex.remote, ex.remoteRaw, ex.session = remote, answer, nil
		return n.commit(ex), nil
	default:
		return Result{}, ErrNoOffer
	}
	remote, err := Parse(answer)
	if err == nil {
		err = checkAnswer(n.pending.local, remote)
	}
	if err != nil {
		_ = n.CancelOffer()
		return Result{}, err
	}
	ex := n.pending
	ex.remote, ex.remoteRaw = remote, answer
	n.pending = exchange{}
	return n.commit(ex), nil
}

// ReceiveOffer processes a remote offer and returns our answer (RFC 3264
// §6): one m= line per offered line in the same order, codecs common to
// both sides in the offerer's order with the offer's payload types,
// unsupported or disabled streams rejected with port 0, directions answered
// per §6.1. State becomes StateRemoteOffer: call CommitAnswer when the
// answer is sent in a reliable message (2xx, reliable 18x, PRACK/UPDATE
// 2xx, ACK), or RejectOffer if the request is refused instead. The answer
// carries the same o= version as our previous SDP when its content is the
// same.
//
// Errors leave the state unchanged: ErrOfferPending (glare: send 491),
// ErrAnswerPending (send 500 with Retry-After), a *ParseError,
// ErrInvalidOffer or ErrNoCommonMedia (send 488); see StatusCode.
//
// The returned slice must not be modified.
func (n *Negotiator) ReceiveOffer(offer []byte) ([]byte, error) {
	if err := n.busy(); err != nil {
		return nil, err
	}
	remote, err := Parse(offer)
	if err != nil {
		return nil, err
	}
	if err := n.checkOffer(remote); err != nil {
		return nil, err
	}
	desc, slots, err := n.buildAnswer(remote)
	if err != nil {
		return nil, err
	}
	n.prevVersion, n.prevLastSent = n.version, n.lastSent
	raw, err := n.stamp(desc)
	if err != nil {
		return nil, err
	}
	n.pending = exchange{local: desc, localRaw: raw, remote: remote, remoteRaw: offer, slots: slots}
	n.state = StateRemoteOffer
	return raw, nil
}

// CommitAnswer makes the answer returned by ReceiveOffer active (it has
// been or is being sent). State becomes StateDone.
func (n *Negotiator) CommitAnswer() (Result, error) {
	if n.state != StateRemoteOffer {
		return Result{}, ErrNoOffer
	}
	ex := n.pending
	n.pending = exchange{}
	return n.commit(ex), nil
}

// RejectOffer discards the remote offer and the answer built for it (the
// request was refused, e.g. with 488 or 500); the active session stays in
// force and the o= version goes back, since the answer was never sent.
func (n *Negotiator) RejectOffer() error {
	if n.state != StateRemoteOffer {
		return ErrNoOffer
	}
	n.version, n.lastSent = n.prevVersion, n.prevLastSent
	n.pending = exchange{}
	n.state = n.settled()
	return nil
}

// AnswerOffer is ReceiveOffer followed by CommitAnswer, for requests whose
// answer goes in the 2xx that is sent at once (UPDATE, PRACK, and re-INVITE
// when the application has nothing to decide).
func (n *Negotiator) AnswerOffer(offer []byte) ([]byte, Result, error) {
	answer, err := n.ReceiveOffer(offer)
	if err != nil {
		return nil, Result{}, err
	}
	res, err := n.CommitAnswer()
	return answer, res, err
}

func (n *Negotiator) commit(ex exchange) Result {
	first := n.active.local == nil
	res := Result{
		LocalChanged:  first || !sameIgnoringVersion(ex.localRaw, n.active.localRaw),
		RemoteChanged: first || !sameIgnoringVersion(ex.remoteRaw, n.active.remoteRaw),
	}
	res.Changed = res.LocalChanged || res.RemoteChanged
	if !res.Changed && n.active.session != nil && ex.localOffered == n.active.localOffered {
		// Same media: keep the session (and its descriptions) already
		// handed out, updating only the bodies.
		s := *n.active.session
		s.Local, s.Remote = ex.local, ex.remote
		s.LocalSDP, s.RemoteSDP = ex.localRaw, ex.remoteRaw
		ex.session = &s
	} else {
		ex.session = buildSession(&ex)
	}
	n.active = ex
	n.state = StateDone
	res.Session = ex.session
	return res
}

// stamp sets the o= version of d and marshals it: the version of the last
// SDP we produced if the body is otherwise identical to it, that version
// plus one if not (RFC 3264 §8).
func (n *Negotiator) stamp(d *sdp.SessionDescription) ([]byte, error) {
	d.Origin.SessionVersion = n.version
	b, err := d.Marshal()
	if err != nil {
		return nil, err
	}
	if n.lastSent != nil && !bytes.Equal(b, n.lastSent) {
		n.version++
		d.Origin.SessionVersion = n.version
		if b, err = d.Marshal(); err != nil {
			return nil, err
		}
	}
	n.lastSent = b
	return b, nil
}

// sameIgnoringVersion reports whether two SDP bodies are equal except for
// the <sess-version> field of the o= line. RFC 3264 §8 says a body with an
// unchanged version is unchanged; comparing the content as well catches
// peers that change media without incrementing the version.
func sameIgnoringVersion(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	pa, oa, ra := splitOrigin(a)
	pb, ob, rb := splitOrigin(b)
	if !bytes.Equal(pa, pb) || !bytes.Equal(ra, rb) {
		return false
	}
	fa, fb := bytes.Fields(oa), bytes.Fields(ob)
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if i != 2 && !bytes.Equal(fa[i], fb[i]) {
			return false
		}
	}
	return true
}

func splitOrigin(x []byte) (before, origin, after []byte) {
	i := 0
	if !bytes.HasPrefix(x, []byte("o=")) {
		j := bytes.Index(x, []byte("\no="))
		if j < 0 {
			return x, nil, nil
		}
		i = j + 1
	}
	e := bytes.IndexByte(x[i:], '\n')
	if e < 0 {
		e = len(x)
	} else {
		e += i
	}
	return x[:i], bytes.TrimRight(x[i:e], "\r"), x[e:]
}
