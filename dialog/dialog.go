package dialog

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// ID identifies a dialog (RFC 3261 §12): the Call-ID and the two tags,
// ours and the peer's.
type ID struct {
	CallID    string
	LocalTag  string
	RemoteTag string
}

// String returns the ID as "call-id;local-tag;remote-tag".
func (id ID) String() string { return id.CallID + ";" + id.LocalTag + ";" + id.RemoteTag }

// State is a dialog's state (RFC 3261 §12).
type State int

// The states of a dialog.
const (
	StateEarly State = iota + 1
	StateConfirmed
	StateTerminated
)

func (s State) String() string {
	switch s {
	case StateEarly:
		return "Early"
	case StateConfirmed:
		return "Confirmed"
	case StateTerminated:
		return "Terminated"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Dialog is the state RFC 3261 §12 keeps for one dialog: its ID, the
// local and remote sequence numbers, URIs and target, the route set and
// the secure flag. It builds the requests sent inside the dialog
// (§12.2.1.1) and checks the ones received (§12.2.2). A Dialog is safe
// for concurrent use.
type Dialog struct {
	u *ua.UA

	mu           sync.Mutex
	id           ID
	state        State
	localSeq     uint32
	remoteSeq    uint32 // 0: none received yet
	local        string // our From (UAC) or To (UAS) header value, with our tag
	remote       string // the peer's, with its tag
	remoteTarget sip.URI
	routeSet     []string // Route values, in the order requests carry them
	secure       bool
}

// NewUAC returns the dialog that res, a response with a To tag (101–199
// or 2xx) to req, a dialog-creating request we sent, establishes
// (RFC 3261 §12.1.2): the route set is res's Record-Route reversed, the
// remote target its Contact.
func NewUAC(u *ua.UA, req *sip.Request, res *sip.Response) (*Dialog, error) {
	tag := res.To().Tag()
	if tag == "" {
		return nil, fmt.Errorf("dialog: a %d without a To tag creates no dialog", res.StatusCode)
	}
	d := &Dialog{u: u, state: StateEarly,
		id:       ID{CallID: req.CallID(), LocalTag: req.From().Tag(), RemoteTag: tag},
		localSeq: req.CSeq().Seq,
		local:    req.Get("From"),
		remote:   res.Get("To"),
		secure:   req.URI.Scheme == "sips",
	}
	if res.StatusCode >= 200 {
		d.state = StateConfirmed
	}
	rr := res.Values("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		d.routeSet = append(d.routeSet, rr[i])
	}
	if err := d.setTarget(res.Contact()); err != nil && res.StatusCode >= 200 {
		return nil, err
	}
	return d, nil
}

// NewUAS returns the dialog that a response with localTag as To tag to
// req, a dialog-creating request we received, establishes (RFC 3261
// §12.1.1): the route set is req's Record-Route in order, the remote
// target its Contact.
func NewUAS(u *ua.UA, req *sip.Request, localTag string) (*Dialog, error) {
	d := &Dialog{u: u, state: StateEarly,
		id:        ID{CallID: req.CallID(), LocalTag: localTag, RemoteTag: req.From().Tag()},
		remoteSeq: req.CSeq().Seq,
		localSeq:  initialSeq(),
		local:     req.Get("To") + ";tag=" + localTag,
		remote:    req.Get("From"),
		routeSet:  req.Values("Record-Route"),
		secure:    req.URI.Scheme == "sips",
	}
	if err := d.setTarget(req.Contact()); err != nil {
		return nil, err
	}
	return d, nil
}

// initialSeq picks the first local CSeq of a UAS dialog: RFC 3261
// §12.1.1 leaves it open, §8.1.1.5 asks for less than 2**31.
func initialSeq() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])%(1<<16) + 1
}

func (d *Dialog) setTarget(contacts []sip.Address) error {
	if len(contacts) == 0 {
		return fmt.Errorf("dialog: %w", errNoContact)
	}
	d.remoteTarget = contacts[0].URI
	return nil
}

// ID returns the dialog's ID.
func (d *Dialog) ID() ID {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.id
}

// State returns the dialog's state.
func (d *Dialog) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

// RemoteTarget returns the URI in-dialog requests are sent to.
func (d *Dialog) RemoteTarget() sip.URI {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.remoteTarget
}

// RouteSet returns the Route header values in-dialog requests carry.
func (d *Dialog) RouteSet() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.routeSet...)
}

// Secure reports whether the dialog was created over sips.
func (d *Dialog) Secure() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.secure
}

// LocalSeq returns the CSeq number of the last request sent in the dialog.
func (d *Dialog) LocalSeq() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.localSeq
}

// Confirm moves an early dialog to Confirmed (a 2xx was sent or received).
func (d *Dialog) Confirm() {
	d.mu.Lock()
	if d.state == StateEarly {
		d.state = StateConfirmed
	}
	d.mu.Unlock()
}

// Terminate moves the dialog to Terminated.
func (d *Dialog) Terminate() {
	d.mu.Lock()
	d.state = StateTerminated
	d.mu.Unlock()
}

// NewRequest builds a request inside the dialog (RFC 3261 §12.2.1.1):
// Request-URI, Route, To, From, Call-ID and a CSeq one above the last.
// With a strict first route (no lr) the Request-URI is that route and the
// remote target goes last in Route. ACK and CANCEL take the CSeq of their
// INVITE instead: build those with NewAck.
func (d *Dialog) NewRequest(method string) *sip.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.localSeq++
	return d.buildLocked(method, d.localSeq)
}

// NewAck builds the ACK for a 2xx to the INVITE with CSeq number seq
// (RFC 3261 §13.2.2.4).
func (d *Dialog) NewAck(seq uint32) *sip.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buildLocked(sip.MethodAck, seq)
}

func (d *Dialog) buildLocked(method string, seq uint32) *sip.Request {
	uri := d.remoteTarget
	routes := d.routeSet
	if len(routes) > 0 {
		if first, err := sip.ParseAddress(routes[0]); err == nil && !first.URI.Params.Has("lr") {
			// §12.2.1.1 strict routing: the first route becomes the
			// Request-URI; the remote target is appended.
			uri = first.URI
			uri.Headers = ""
			routes = append(append([]string(nil), routes[1:]...), "<"+d.remoteTarget.String()+">")
		}
	}
	req := sip.NewRequest(method, uri)
	req.Add("Max-Forwards", "70")
	for _, r := range routes {
		req.Add("Route", r)
	}
	req.Add("From", d.local)
	req.Add("To", d.remote)
	req.Add("Call-ID", d.id.CallID)
	req.Add("CSeq", sip.CSeq{Seq: seq, Method: method}.String())
	return req
}

// Receive checks an in-dialog request's CSeq (RFC 3261 §12.2.2): lower
// than the last one received is out of order and Receive returns false
// (answer 500); otherwise it becomes the remote sequence number.
// Target-refresh requests update the remote target from their Contact.
func (d *Dialog) Receive(req *sip.Request) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	seq := req.CSeq().Seq
	if req.Method == sip.MethodAck {
		return true
	}
	if d.remoteSeq != 0 && seq <= d.remoteSeq && req.Method != sip.MethodCancel {
		return false
	}
	d.remoteSeq = seq
	if isTargetRefresh(req.Method) {
		if c := req.Contact(); len(c) > 0 {
			d.remoteTarget = c[0].URI
		}
	}
	return true
}

// RefreshTarget takes the Contact of a 2xx to a target-refresh request we
// sent (RFC 3261 §12.2.1.2).
func (d *Dialog) RefreshTarget(res *sip.Response) {
	if c := res.Contact(); len(c) > 0 {
		d.mu.Lock()
		d.remoteTarget = c[0].URI
		d.mu.Unlock()
	}
}

// syncSeq records the CSeq a request actually went out with: a digest
// retry raises it (RFC 3261 §8.1.3.5).
func (d *Dialog) syncSeq(req *sip.Request) {
	seq := req.CSeq().Seq
	d.mu.Lock()
	if seq > d.localSeq {
		d.localSeq = seq
	}
	d.mu.Unlock()
}

func isTargetRefresh(method string) bool {
	switch method {
	case sip.MethodInvite, sip.MethodUpdate, sip.MethodSubscribe, sip.MethodNotify, sip.MethodRefer:
		return true
	}
	return false
}

// Do sends a non-INVITE request built with NewRequest and waits for its
// final response, as ua.Do does (digest challenges are answered with a
// higher CSeq, which the dialog then remembers).
func (d *Dialog) Do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	to, err := d.u.TargetOf(ctx, req)
	if err != nil {
		return nil, err
	}
	res, err := d.u.Do(ctx, req, to)
	d.syncSeq(req)
	return res, err
}

// inherit takes the sequence numbers of old, the early dialog that d, the
// same dialog confirmed by a 2xx, replaces: requests sent or received in
// the early dialog (PRACK, UPDATE) count.
func (d *Dialog) inherit(old *Dialog) {
	old.mu.Lock()
	local, remote := old.localSeq, old.remoteSeq
	old.mu.Unlock()
	d.mu.Lock()
	d.localSeq = max(d.localSeq, local)
	d.remoteSeq = max(d.remoteSeq, remote)
	d.mu.Unlock()
}

// key is the dialog's key in a Layer's table.
func (d *Dialog) key() string { return key(d.id.CallID, d.id.LocalTag, d.id.RemoteTag) }

func key(callID, local, remote string) string {
	var b strings.Builder
	b.Grow(len(callID) + len(local) + len(remote) + 2)
	b.WriteString(callID)
	b.WriteByte(0)
	b.WriteString(local)
	b.WriteByte(0)
	b.WriteString(remote)
	return b.String()
}
