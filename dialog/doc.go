// Package dialog is sipua's calling layer: dialogs (RFC 3261 §12) and
// INVITE sessions on both sides, with SDP offer/answer (RFC 3264, through
// the sdpneg subpackage) and RFC 4028 session timers (package timer).
//
// A [Layer] belongs to one endpoint (anything with a UA, an identity and a
// Contact: the user and application endpoints of package ua, or [Static]).
// It answers the endpoint's incoming INVITEs, offering each to
// [Config.OnInvite] as a [Session] in state Incoming, and routes every
// in-dialog request to its session. [Layer.Invite] places a call.
//
// What it implements:
//
//   - RFC 3261 §12: dialog IDs, route sets (Record-Route, loose and strict
//     routing), local and remote CSeq (500 for out-of-order requests),
//     remote target refreshed by INVITE, UPDATE and their 2xx, the secure
//     flag.
//   - §13 INVITE, UAC side: early dialogs from provisional responses,
//     CANCEL when the context ends (§9.1, sent once a provisional response
//     arrived), digest challenges answered, 3xx redirections followed
//     (§8.1.3.4), the ACK for every 2xx sent by the dialog (RFC 6026),
//     2xx retransmissions ACKed again, and the 2xx of a fork we did not
//     take ACKed and ended with BYE.
//   - §13 UAS side: Progress (18x), Accept (2xx retransmitted until the
//     ACK; without one after 64·T1 the session ends with NoAck and a BYE,
//     §13.3.1.4), Reject, Redirect; 487 when a CANCEL arrives first; 415
//     for a body that is not SDP; 480 when nobody answers in time.
//   - §14 and RFC 3311: re-INVITE and UPDATE either way, in early and
//     confirmed dialogs, 491 when offers cross and the §14.1 retry delay,
//     500 with Retry-After for a re-INVITE before the last one's ACK.
//   - §15 BYE either way; in-dialog MESSAGE and INFO; RFC 3515 blind
//     transfer (Refer, and OnRefer for an incoming REFER).
//   - RFC 3262 (100rel, PRACK), policy Config.Reliable (Supported by
//     default, Never, Required: 420 and 421 for INVITEs that do not fit).
//     UAS: Progress sends 18x reliably to a peer that supports or
//     requires 100rel (Require: 100rel, RSeq from a random start, +1
//     each), retransmitted from T1 doubling until the PRACK, 500 to the
//     INVITE and NoPrack after 64·T1; one unacknowledged at a time (a
//     second Progress waits for the PRACK, and so does Accept's 2xx); a
//     PRACK is matched by its RAck (481 otherwise). UAC: INVITEs carry
//     Supported: 100rel; each new reliable 18x of an early dialog (RSeq
//     one higher) is PRACKed once, retransmissions dropped. Offer/answer
//     in both (§5): the answer to the INVITE's offer in the first
//     reliable 18x, or our offer in it and the answer in the PRACK, or an
//     offer in the PRACK answered in its 2xx; the 2xx then repeats it.
//   - RFC 3891 Replaces: an incoming INVITE naming one of our dialogs
//     (Session.Replaces) ends it when accepted, with BYE, or CANCEL for
//     an outgoing call still ringing (cause Replaced); 481 when nothing
//     or an early dialog we did not originate matches, 486 for early-only
//     against a confirmed dialog, 603 for a dialog that is ending.
//     Outgoing: InviteOptions.Replaces, ReplacesHeader, and attended
//     transfer with ReferReplaces (Refer-To with an escaped Replaces URI
//     header, which the transferee's INVITE carries).
//   - RFC 4028 in every session: the 2xx to an INVITE, re-INVITE or UPDATE
//     carries Session-Expires with the refresher and Require: timer merged
//     into any other option tags; refreshes by UPDATE or re-INVITE with the
//     unchanged SDP; BYE with Reason: SIP;cause=408 when the session
//     expires. Configurable per layer and per call; Disabled still answers
//     a peer that asks for a timer.
//   - With Config.Media, offer/answer is done by the layer: every offer is
//     answered, Hold and Resume re-offer, and a refresh keeps the o=
//     version.
//
// A session's states are Calling or Incoming, Ringing, Accepting,
// Established, Terminating and Terminated; Terminated carries a
// *TerminatedError whose Cause says why (local or remote BYE, session
// expired, no ACK, no PRACK, transport failure, rejected with a status,
// canceled, replaced).
// Events (state changes, progress, media changes, refreshes, messages)
// are delivered in order to the session's handler by a goroutine that
// exists only while events are pending; events that happen before a
// handler is attached wait for it. Timers run on the UA's scheduler: a
// session holds no goroutine while nothing happens.
package dialog
