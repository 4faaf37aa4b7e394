package dialog

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/sipua-go/sipua/sip"
)

// This file is RFC 3891, the Replaces header: an incoming INVITE that
// takes the place of one of our sessions (attended transfer, call
// pickup), the header for our own such INVITEs, and attended transfer by
// REFER with a Refer-To URI carrying Replaces.

const tagReplaces = "replaces"

// errReplaced is the cause of an outgoing call's context when an INVITE
// that replaces it was accepted while it was still early.
var errReplaced = errors.New("dialog: call replaced")

// matchReplaces finds the session an INVITE's Replaces header names
// (RFC 3891 §3). The header's to-tag is compared with our tag and its
// from-tag with the peer's, as for a request received in the dialog. It
// returns the session, or the status that refuses the INVITE: 400 for
// more than one or a malformed Replaces, 481 when no dialog matches or
// the match is an early dialog we did not originate, 486 for early-only
// and a confirmed dialog, 603 for a dialog that is ending.
func (l *Layer) matchReplaces(req *sip.Request) (*Session, int) {
	if len(req.Values("Replaces")) != 1 {
		return nil, sip.StatusBadRequest
	}
	rp, err := req.Replaces()
	if err != nil {
		return nil, sip.StatusBadRequest
	}
	l.mu.Lock()
	s := l.sessions[key(rp.CallID, rp.ToTag, rp.FromTag)]
	l.mu.Unlock()
	if s == nil {
		return nil, sip.StatusCallTransactionDoesNotExist
	}
	s.mu.Lock()
	st, role := s.state, s.role
	s.mu.Unlock()
	switch st {
	case Terminating, Terminated:
		return nil, sip.StatusDecline
	case Accepting, Established:
		if rp.EarlyOnly {
			return nil, sip.StatusBusyHere
		}
		return s, 0
	}
	if role != UAC {
		// An early dialog we did not originate stays as it is.
		return nil, sip.StatusCallTransactionDoesNotExist
	}
	return s, 0
}

// Replaces returns the session an incoming INVITE with a Replaces header
// (RFC 3891) asks to replace, nil for an ordinary call. OnInvite decides
// whether the peer may do so (the RFC asks for the same authorization as
// for the replaced dialog; Reject with 403 refuses); accepting the new
// session ends the replaced one, with BYE when it is confirmed and CANCEL
// when it is an outgoing call still ringing, with cause Replaced.
func (s *Session) Replaces() *Session { return s.replaces }

// endReplaced ends a session an accepted INVITE replaced (RFC 3891 §3).
func (s *Session) endReplaced() {
	s.mu.Lock()
	st, cancel := s.state, s.cancelCall
	s.mu.Unlock()
	switch st {
	case Terminating, Terminated:
	case Calling, Ringing:
		if s.role == UAC && cancel != nil {
			cancel(errReplaced) // Invite sends CANCEL and ends with Replaced
		}
	default:
		s.byeAndEnd(&TerminatedError{Cause: Replaced})
	}
}

// ReplacesHeader returns the value of a Replaces header naming s's dialog
// for a request sent to s's peer (RFC 3891 §6.1): the Call-ID, to-tag the
// peer's tag and from-tag ours, as the peer will match them, with
// early-only when earlyOnly is set. It fails with ErrState before the
// session has a dialog.
func (s *Session) ReplacesHeader(earlyOnly bool) (string, error) {
	d := s.Dialog()
	if d == nil {
		return "", ErrState
	}
	id := d.ID()
	v := id.CallID + ";to-tag=" + id.RemoteTag + ";from-tag=" + id.LocalTag
	if earlyOnly {
		v += ";early-only"
	}
	return v, nil
}

// ReferReplaces asks the peer to call target's peer in place of target
// (attended transfer, RFC 3891 §1 and RFC 5589): a REFER whose Refer-To
// is target's remote target with a Replaces header naming target's
// dialog. Both sessions must be established. It waits as Refer does;
// when the transfer succeeds, target's peer ends target with BYE, and the
// caller usually hangs up s.
func (s *Session) ReferReplaces(ctx context.Context, target *Session) error {
	if target == nil || target.State() != Established {
		return ErrState
	}
	v, err := target.ReplacesHeader(false)
	if err != nil {
		return err
	}
	uri := target.Dialog().RemoteTarget()
	uri.Headers = "Replaces=" + escapeHeaderValue(v)
	return s.sendRefer(ctx, uri)
}

// escapeHeaderValue escapes a URI header value (RFC 3261 §19.1.1 and
// §25.1: hvalue is unreserved and hnv-unreserved characters, the rest
// %-escaped), so that "id@host;to-tag=a" becomes "id%40host%3Bto-tag%3Da".
func escapeHeaderValue(v string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if hvalueChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func hvalueChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_.!~*'()[]/?:+$", c) >= 0
}

// uriHeader returns the unescaped value of the URI header called name
// (case-insensitive) in u's headers ("name=value&name=value").
func uriHeader(u sip.URI, name string) (string, bool) {
	for _, h := range strings.Split(u.Headers, "&") {
		n, v, _ := strings.Cut(h, "=")
		if n, err := url.PathUnescape(n); err != nil || !strings.EqualFold(n, name) {
			continue
		}
		if v, err := url.PathUnescape(v); err == nil {
			return v, true
		}
	}
	return "", false
}
