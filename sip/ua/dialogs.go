package ua

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transaction"
	"github.com/sipua-go/sipua/sip/transport"
)

// This file holds what the dialog layer needs from the UA core beyond Do:
// INVITE client transactions, ACKs for 2xx responses (which the dialog,
// not a transaction, sends: RFC 3261 §13.2.2.4), CANCEL, and digest
// answers to a challenged INVITE.

// StartInvite completes an INVITE as Do completes a request (Via with a
// new branch, Max-Forwards, Call-ID, CSeq, From tag, User-Agent) and starts
// its client transaction towards to (zero: the first Route or the
// Request-URI). Responses arrive on the transaction's Responses channel,
// 2xx retransmissions included.
func (u *UA) StartInvite(ctx context.Context, req *sip.Request, to Target) (*transaction.InviteClient, Target, error) {
	if req.Method != sip.MethodInvite {
		return nil, to, errors.New("ua: StartInvite needs an INVITE")
	}
	to, local, err := u.prepare(ctx, req, to)
	if err != nil {
		return nil, to, err
	}
	u.complete(req, local)
	c, err := u.tx.Invite(ctx, req, to)
	return c, to, err
}

// prepare finds the target and the local address a request leaves from.
func (u *UA) prepare(ctx context.Context, req *sip.Request, to Target) (Target, transport.Addr, error) {
	if to == (Target{}) {
		var err error
		if to, err = u.target(ctx, req); err != nil {
			return to, transport.Addr{}, err
		}
	}
	local, ok := u.localAddr(to.Transport)
	if !ok && !strings.EqualFold(to.Transport, transport.UDP) && len(u.addrs) > 0 {
		local, ok = transport.Addr{Transport: strings.ToUpper(to.Transport),
			AddrPort: netip.AddrPortFrom(u.addrs[0].AddrPort.Addr(), 0)}, true
	}
	if !ok {
		return to, transport.Addr{}, fmt.Errorf("ua: no %s listener", to.Transport)
	}
	return to, local, nil
}

// SendAck sends the ACK for a 2xx response to an INVITE (RFC 3261
// §13.2.2.4): outside any transaction, with a Via and branch of its own.
func (u *UA) SendAck(ctx context.Context, ack *sip.Request, to Target) error {
	to, local, err := u.prepare(ctx, ack, to)
	if err != nil {
		return err
	}
	if len(ack.Via()) == 0 {
		u.newBranch(ack, local)
	}
	if _, ok := ack.MaxForwards(); !ok {
		ack.Set("Max-Forwards", "70")
	}
	return u.tp.Send(ctx, to, ack)
}

// Cancel sends a CANCEL for the INVITE of c (RFC 3261 §9.1: same
// Request-URI, Call-ID, From, To, CSeq number, Route and topmost Via) and
// waits for its final response. The INVITE itself then ends with 487 on
// c's Responses, or with the final response that crossed the CANCEL.
func (u *UA) Cancel(ctx context.Context, c *transaction.InviteClient, to Target) error {
	inv := c.Request()
	cancel := sip.NewRequest(sip.MethodCancel, inv.URI)
	if v, ok := inv.TopVia(); ok {
		cancel.Add("Via", v.String())
	}
	cancel.Add("Max-Forwards", "70")
	for _, name := range []string{"From", "To", "Call-ID"} {
		cancel.Add(name, inv.Get(name))
	}
	cancel.Add("CSeq", sip.CSeq{Seq: inv.CSeq().Seq, Method: sip.MethodCancel}.String())
	for _, r := range inv.Values("Route") {
		cancel.Add("Route", r)
	}
	cancel.Set("User-Agent", u.cfg.UserAgent)
	tc, err := u.tx.Request(ctx, cancel, to)
	if err != nil {
		return err
	}
	_, err = waitFinal(ctx, tc)
	return err
}

// Reauthorize prepares req to be sent again after res, a 401 or 407
// challenge to it: it adds the credentials Config.Credentials gives for the
// challenge's realm, raises CSeq by one and gives the request a new
// branch (RFC 3261 §8.1.3.5, §22.2). It reports false when there are no
// credentials for the realm or the challenge cannot be answered (the same
// credentials were refused twice: auth.ErrAuthFailed).
func (u *UA) Reauthorize(req *sip.Request, res *sip.Response) (bool, error) {
	if (res.StatusCode != 401 && res.StatusCode != 407) || u.cfg.Credentials == nil {
		return false, nil
	}
	cred, ok := u.cfg.Credentials(challengeRealm(res))
	if !ok {
		return false, nil
	}
	if err := u.auth.Authorize(req, res, cred); err != nil {
		return false, err
	}
	u.Renew(req)
	return true, nil
}

// Renew makes req ready to be sent again as a new transaction: CSeq one
// higher and a new branch in its topmost Via (RFC 3261 §8.1.3.5).
func (u *UA) Renew(req *sip.Request) {
	cs := req.CSeq()
	req.Set("CSeq", sip.CSeq{Seq: cs.Seq + 1, Method: cs.Method}.String())
	if v, ok := req.TopVia(); ok {
		v.Params = v.Params.With("branch", "z9hG4bK"+randomToken(10))
		req.RemoveFirst("Via")
		req.Insert("Via", v.String())
	}
}

// ContactURI returns a URI that reaches this UA over the given transport
// (UDP when empty): its listening address, with a transport parameter for
// anything but UDP.
func (u *UA) ContactURI(transportName string) (sip.URI, bool) {
	if transportName == "" {
		transportName = transport.UDP
	}
	a, ok := u.localAddr(transportName)
	if !ok {
		if len(u.addrs) == 0 {
			return sip.URI{}, false
		}
		a = u.addrs[0]
	}
	uri := sip.URI{Scheme: "sip", Host: a.AddrPort.Addr().String(), Port: int(a.AddrPort.Port())}
	if !strings.EqualFold(a.Transport, transport.UDP) {
		uri.Params = sip.Params("transport=" + strings.ToLower(a.Transport))
	}
	return uri, true
}

// TargetOf returns where a request goes when sent without an explicit
// target: the first Route (loose routing) or else the Request-URI,
// resolved to an address.
func (u *UA) TargetOf(ctx context.Context, req *sip.Request) (Target, error) {
	return u.target(ctx, req)
}

// Support adds option tags to those the UA supports (Config.Supported):
// the layers above declare theirs ("timer", "100rel", ...), so requests
// that Require them are not refused with 420.
func (u *UA) Support(tags ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
next:
	for _, t := range tags {
		for _, s := range u.cfg.Supported {
			if strings.EqualFold(s, t) {
				continue next
			}
		}
		u.cfg.Supported = append(u.cfg.Supported[:len(u.cfg.Supported):len(u.cfg.Supported)], t)
	}
}

// supported returns the option tags the UA supports.
func (u *UA) supported() []string {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return u.cfg.Supported
}

// Timers returns T1, T2 and T4 as the UA runs them (Config.Timers with
// RFC 3261's defaults for the zero fields).
func (u *UA) Timers() transaction.Config {
	t := u.cfg.Timers
	if t.T1 == 0 {
		t.T1 = 500 * time.Millisecond
	}
	if t.T2 == 0 {
		t.T2 = 4 * time.Second
	}
	if t.T4 == 0 {
		t.T4 = 5 * time.Second
	}
	return t
}

// Shared returns the value the UA holds for key, creating it with create
// on first use. The layers above the UA core keep their per-UA state here
// (a subscription table, for example) instead of in package variables;
// the value lives as long as the UA. Keys are compared as map keys; use
// an unexported type of your package, as with context.Context values.
func (u *UA) Shared(key any, create func() any) any {
	u.sharedMu.Lock() // not u.mu: create may call AddRouter, Handle, ...
	defer u.sharedMu.Unlock()
	if v, ok := u.shared[key]; ok {
		return v
	}
	if u.shared == nil {
		u.shared = make(map[any]any)
	}
	v := create()
	u.shared[key] = v
	return v
}
