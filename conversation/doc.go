// Package conversation groups the modalities of one conversation —
// instant messaging (package im) now, audio and video INVITE sessions
// (package dialog) — behind one event stream, as UCMA's Conversation does,
// and joins conferences.
//
// # Single-flight operations
//
// AddMessaging, AddModality, AcceptMessaging and Join are single-flight
// per operation: a second call while one is in flight never sends a
// second INVITE; it joins the call in flight (the same result) or, with
// Config.FailFast, fails at once with a *OperationInProgressError
// (errors.Is ErrOperationInProgress) carrying a retry delay. An INVITE
// answered 491 is retried after RFC 3261 §14.1's 2.1–4 s, one answered
// 500 or 503 with Retry-After (§21.5.1, §21.5.4) after that delay, within
// Config.Retries; only then does the error surface (*OperationError).
// Every operation is bounded by Config.Timeout (30 s, UCWA's
// messagingInvitation): a pending invitation is canceled and fails with a
// *TimeoutError instead of staying Connecting. Retry delays and bounds run
// on the UA's scheduler, so a fake clock drives them in tests.
//
// # Conferences (RFC 4575)
//
// Join sends an INVITE with an m=message offer to the focus URI (the IM
// leg: the conference's messages travel on it both ways, participants
// named by message/cpim, RFC 3862), subscribes to the "conference" event
// package (RFC 4575 §3) and keeps a [Roster] from the
// application/conference-info+xml NOTIFY bodies: full documents replace
// it, partial ones merge by entity with version+1, a gap asks for the full
// state by refreshing the subscription (§4.6). Join completes only when our
// own participant appears in the roster with a connected endpoint.
// [ParseConferenceInfo] and [ConferenceInfo.Marshal] are the codec (§5).
package conversation
