// Package presence implements SIP event state publication and
// subscription, client and server side: RFC 3903 (PUBLISH and the event
// state compositor), RFC 6665 (SUBSCRIBE/NOTIFY), RFC 3856 (the presence
// event package) and RFC 4662 (resource lists), for the presence event
// package first but for any event package. The documents themselves
// (PIDF/RPID, RLMI) are in the subpackages pidf and rlmi.
//
// # Publication (RFC 3903 client, the "EPA")
//
// A [Publication] publishes the state of one resource for one event
// package. It sends the initial PUBLISH (RFC 3903 §4.2: a body, no
// SIP-If-Match), refreshes it before it expires (§4.3: SIP-If-Match with
// the newest entity-tag, no body and no Content-Type), modifies it (§4.4:
// SIP-If-Match and the full new body) and removes it (§4.5: Expires: 0,
// SIP-If-Match, no body). Responses are handled as §5 says: the entity-tag
// of every 2xx replaces the stored one (§8.2), a 412 discards it and the
// state is published again at once from the last full body, and a 423 is
// retried with the Min-Expires of the response.
//
// A publication never has more than one PUBLISH outstanding (§4: "EPAs
// MUST NOT send a new PUBLISH request ... until they have received a final
// response"); calls made meanwhile are queued, and consecutive
// [Publication.Publish] calls are coalesced into one modify carrying the
// latest body. The entity-tag is read when a request is built, so a queued
// request always carries the entity-tag of the response before it.
//
// A 412 to a remove counts as success: there is nothing left to remove.
// A refresh pushed back with a 5xx and Retry-After (§9) is tried again
// after that delay while the published state holds; any other failed
// refresh, and any failed initial PUBLISH or remove, leaves the
// publication Failed, and a failed modify leaves the previous state
// Published.
// Digest challenges (401/407) are answered by the Sender (ua.UA.Do or a
// ua.Endpoint), which resends the same request, so the entity-tag is kept.
// The requests of one publication share a Call-ID and From tag and use
// increasing CSeq numbers.
//
// By default a refresh is sent max(0, min(E−5 s, 0.9·E)) after a 2xx that
// granted E seconds: 540 s for Expires: 600. Refresh timers run on the UA's
// scheduler (one timer per publication, no goroutine per publication); a
// goroutine exists only while a request is outstanding.
//
// Every state change is reported, in order, through
// [PublicationConfig.OnEvent] as a [PublicationStateChanged] carrying its
// cause, plus [PublicationRecovered] after a 412 was repaired and
// [PublicationRemoved] when the state is gone. Failures are errors that
// wrap a *ua.StatusError (use errors.As) for a final non-2xx response, a
// timeout error, or [ErrPublishProtocol] when the server broke RFC 3903
// (a 2xx without SIP-ETag or Expires, a 423 without Min-Expires).
//
// # Event state compositor (RFC 3903 §6, the "ESC")
//
// A [Compositor] is a ua.Handler for PUBLISH. It follows the steps of
// §6: 404 for a resource it does not serve, 489 (with Allow-Events) for an
// event package it does not support, 400 for more than one entity-tag,
// 412 for an unknown or expired SIP-If-Match, 423 with Min-Expires for a
// too brief Expires, 415 for a body type the package does not accept, 400
// for an initial PUBLISH without a body; otherwise the request is applied
// atomically and answered with 200, a new, unguessable SIP-ETag (§8.3) and
// the Expires it chose. Publications expire on the UA's scheduler. The
// composed state of a resource is read with [Compositor.State], and
// [Compositor.OnChange] tells a notifier when it changed.
//
// # Subscriptions (RFC 6665 subscriber, RFC 4662 resource lists)
//
// A [Subscription] subscribes to one resource or one resource list for
// any event package: the initial SUBSCRIBE, the dialog it creates (also
// when a NOTIFY arrives before the 2xx, possibly from another fork: the
// first dialog wins, other forks get 481), NOTIFY handling (Event and CSeq
// checks, Subscription-State), refresh before expiry in the dialog and
// unsubscribe with Expires: 0. Its states are Subscribing, Pending, Active,
// WaitingToRetry and Terminated; every move to the last two carries a
// [SubscriptionError] with the Subscription-State reason or the failing
// status code and ms-diagnostics. [DefaultRetry] maps reasons to retries:
// deactivated and timeout resubscribe at once, probation and giveup after
// retry-after (30 s default, 1 h cap), the rest is terminal. If neither a
// NOTIFY nor a 2xx carrying the first state arrives within Timer N
// (64·T1) the subscription terminates with [ErrNoNotify]. List
// subscriptions (EventList, or Members for a Microsoft ad hoc list with
// Require: adhoclist) track every resource from the RLMI: version
// sequencing, partial updates, per-resource terminated instances with
// their reason, status code, diagnostics and extra attributes, and Timer N
// for resources that never appear. A [Watcher] puts one ordered stream of
// [ContactEvent] with PIDF summaries on top.
//
// # Notifier
//
// A [Notifier] serves SUBSCRIBE for resources whose state comes from a
// [StateProvider] or a [Compositor] (whose changes it NOTIFYs), with
// authentication and authorization hooks (allow, pending, 403, or a
// terminated NOTIFY with reason rejected), expiry with reason timeout, and
// a resource list server mode (RFC 4662: multipart/related RLMI, full state
// then partial updates with version + 1).
package presence
