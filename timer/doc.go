// Package timer is the RFC 4028 session-timer state machine of sipua: it
// negotiates Session-Expires, Min-SE and the refresher for an INVITE
// dialog, and schedules the refresh (refresher side) or the expiry
// (refreshee side) on the UA's scheduler. It is pure logic over a clock:
// it reads and writes header fields of *sip.Request and *sip.Response
// values that the dialog layer builds, and it tells the dialog, through
// [Hooks] and [Outcome], when to send a refresh, when to retry one and
// when to end the call. It sends nothing itself and starts no goroutine.
//
// A dialog owns one [Session] and calls it at four points:
//
//   - [Session.PrepareRequest] on every INVITE or UPDATE it sends (the
//     initial INVITE, a refresh, a media re-INVITE);
//   - [Session.HandleResponse] on the final response to such a request
//     (or [Session.HandleTimeout] when its transaction times out);
//   - [Session.CheckRequest] on every INVITE or UPDATE it receives, before
//     answering (it may demand a 422 or a 420);
//   - [Session.PrepareResponse] on the 2xx it sends to such a request.
//
// The Session calls [Hooks.Refresh] when this UA must refresh the session
// (at half the interval), and [Hooks.Expiring] then [Hooks.Expired] when
// the session runs out: at SE − min(32 s, SE/3) after the last successful
// refresh, for example 1768 s after it for the default 1800 s.
//
// # RFC 4028 coverage
//
//   - §4 and §5: Session-Expires (with the refresher parameter) and Min-SE
//     are written on outgoing requests; Min-SE is never put in a 2xx.
//   - §6 and §7.3: a 422 raises the Min-SE remembered for this dialog to the
//     largest value seen and the request is retried at once with
//     Session-Expires equal to it.
//   - §7.1: requests carry Supported: timer, Session-Expires and Min-SE
//     (unless the timer is disabled), and the configured refresher
//     preference.
//   - §7.2: the refresher is taken from the 2xx; a 2xx without
//     Session-Expires to a request that asked for one means the peer does
//     not support the extension, and this UA then refreshes alone, at the
//     interval it asked for (as the RFC allows a UAC that still wants the
//     timer). A disabled Session turns the timer off instead.
//   - §7.4 and §10: refreshes use UPDATE when the peer allows it, else
//     re-INVITE ([Session.RefreshMethod]); they keep the current interval
//     and the current refresher, expressed as uac or uas for the direction
//     of each request, so the role never changes hands implicitly. A
//     refresh that times out or gets 408 or 481 ends the session with
//     Reason: SIP;cause=408;text="Session timeout".
//   - §9: the UAS rejects a Session-Expires below its Min-SE with 422
//     (only when the UAC supports the extension; otherwise it raises the
//     interval to its Min-SE, as RFC 4028 erratum 1687 suggests), never
//     raises the interval of a request, keeps a refresher chosen by the UAC,
//     refreshes itself when the UAC does not support the extension, puts
//     Require: timer in the 2xx only when the UAC supports it (merged with
//     any option tags already there) and may ask for a timer the UAC did not
//     request.
//   - §10: the refresher refreshes at half the interval; the other side
//     ends the session at SE − min(32, SE/3) after the last refresh. Every
//     successful refresh, in either direction, restarts the timer.
//
// RFC 3261 §14.1 governs the retry of a refresh that got 491 Request
// Pending: 2.1–4 s when this UA owns the Call-ID (it sent the initial
// INVITE), 0–2 s otherwise.
//
// # Concurrency
//
// The methods of a Session are safe for concurrent use. Hooks run on the
// scheduler's goroutine (with a fake clock, inside Advance), never with a
// lock held, so they may call any method of the Session.
package timer
