// Package im is instant messaging for sipua: pager-mode MESSAGE (RFC 3428)
// with a [Pager], and IM sessions with a [Flow]: an INVITE-established
// conversation (dialog.Session) whose messages travel as in-dialog MESSAGE
// requests, as enterprise UC servers do, with message-composition
// indications (RFC 3994).
//
// # Pager mode (RFC 3428)
//
// [Pager.Send] sends one MESSAGE to a URI with any content type (§4) and
// returns the 2xx: 200 (delivered) or 202 (accepted by a store-and-forward
// server, §7; see [Accepted]). A request larger than 1300 bytes goes over a
// congestion-controlled transport (§9, RFC 3261 §18.1.1): the UA core
// switches to TCP when it has a TCP listener; without one the Pager refuses
// with a *[SizeError] rather than fragment over UDP. Bodies above
// [PagerConfig.MaxSize] are refused locally (*SizeError) and, when they
// arrive, answered 513 Message Too Large (§7). Every other failure is a
// *[DeliveryError] carrying the status, Retry-After and the cause.
//
// Incoming MESSAGE requests are answered 200 at once (§7) and delivered to
// the handler set with [Pager.OnMessage], in order, one at a time. Messages
// that arrive before a handler is attached are buffered (up to
// PagerConfig.Buffer), never dropped; a full buffer answers 480, so the
// sender learns that the message was not taken.
//
// # IM sessions
//
// [Dial] and [Accept] establish an INVITE session whose SDP has one
// m=message stream ([Media]); [Flow.Send] sends in-dialog MESSAGE requests
// and [MessageReceived] events report the peer's. A Flow attaches to its
// session before any event can be missed and buffers its events until
// [Flow.OnEvent] is called. Messages from a conference focus wrapped in
// message/cpim (RFC 3862) are reported with the participant as sender.
//
// # Composition indications (RFC 3994)
//
// [Flow.Typing] reports that the user is composing: the first call sends an
// "active" application/im-iscomposing+xml status (§3.2), refreshed every
// refresh interval (90 s) while typing continues; after 15 s without typing
// an "idle" status is sent; sending the message itself makes the state idle
// without a status message. Received status messages become
// [ComposingChanged] events; an active state without a refresh or a
// message within its refresh interval (120 s when none is given) reverts to
// idle (§3.3). All these timers run on the UA's scheduler, so tests drive
// them with a fake clock.
package im
