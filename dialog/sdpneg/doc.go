// Package sdpneg implements the SDP offer/answer model (RFC 3264) for the
// INVITE sessions of package dialog, on top of github.com/pion/sdp/v3. It
// negotiates session descriptions; it carries no media.
//
// A [Negotiator] holds the state of one session, in the manner of pjmedia's
// sdp_neg: [StateIdle], [StateLocalOffer] (our offer awaits an answer),
// [StateRemoteOffer] (our answer to a remote offer awaits CommitAnswer or
// RejectOffer) and [StateDone]. The dialog calls it for every offer and
// answer it sends or receives, whatever message carries them: INVITE,
// reliable 18x and 2xx, ACK (late offer), PRACK, UPDATE and re-INVITE.
// Misuse and glare come back as sentinel errors that map to SIP responses
// ([StatusCode]): [ErrOfferPending] → 491, [ErrAnswerPending] → 500.
//
// Implemented:
//   - RFC 3264 §5 (generating the initial offer; the o= line; direction
//     attributes), §6 and §6.1 (generating the answer: one m= line per offered
//     line in the same order, streams rejected with port 0, codec intersection
//     in the offerer's order with the offer's payload types, rtpmap for every
//     format, the direction table, the whole offer rejected when nothing is
//     in common), §7 (offerer processing of the answer), §8 (modifying the
//     session: the o= version is incremented by exactly one when, and only
//     when, our SDP changes; m= lines are never removed; dynamic payload
//     type mappings stay fixed, §8.3.2), §8.4 (putting a stream on hold with
//     sendonly/inactive, and understanding the RFC 2543 c=0.0.0.0 form).
//   - RFC 4566 §5 and §6 syntax through pion/sdp ([Parse] adds tolerance for
//     a missing final CRLF and for m= lines with media or protos pion does
//     not know, such as T.38 "m=image 0 udptl t38", so they can be rejected
//     one by one), with RFC 3551 static payload types for formats offered
//     without rtpmap.
//   - RFC 3261 §13.2.1 and §14.1, RFC 3311 §5.1/§5.2: at most one offer in
//     progress in each direction; [Negotiator.CancelOffer] returns to the
//     last active session after 491 or a failed re-INVITE.
//   - RFC 4975 §8: m=message MSRP streams are answered like any non-RTP
//     stream when the local capabilities include one ([MSRP]), and rejected
//     otherwise.
//
// Change detection: [Result.Changed] is false when both our SDP and the
// peer's are unchanged apart from the o= version, so a session refresh
// (RFC 4028) with the same SDP raises no media event; the content is
// compared rather than trusting the version alone, which also catches peers
// that change media without incrementing it.
package sdpneg
