// Package ua is sipua's user-agent core: it owns the transports, the
// transaction layer and the timer scheduler of one SIP user agent, sends
// out-of-dialog requests with Do (answering digest challenges), and
// dispatches incoming requests to handlers, net/http style.
//
// It implements RFC 3261 §8.1 (UAC behaviour: Via with a branch and rport,
// Max-Forwards, Call-ID, CSeq and From tag filled in; §8.1.3.5 and §22.2
// digest retries with a new CSeq), §8.2 (UAS behaviour: 405 with Allow,
// 420 with Unsupported, 400/416/505 for invalid requests, a To tag on
// final responses, OPTIONS answered with Allow, Accept and Supported
// (§11.2), 482 for merged requests (§8.2.2.2)) and §12.2.2 (481 for
// in-dialog requests that no Router claims). INVITE server transactions
// reach the INVITE handler; a CANCEL cancels that request's context
// (§9.2), and a handler that returns without answering gets 487 or 500.
//
// The layers above plug in through Routers (in-dialog requests and 2xx
// ACKs: the dialog and presence packages), StartInvite, SendAck, Cancel
// and Reauthorize (INVITE client transactions), Scheduler and Clock (one
// timer heap per UA), and Shared (per-UA state).
//
// Endpoints are what applications hold, as in UCMA: a [UserEndpoint]
// registers an address of record (RFC 3261 §10 with refresh before
// expiry, 423, digest; RFC 5627 GRUU; RFC 5626 outbound), fails over to
// alternate registrars or proxies on timeouts, refused or reset
// connections and configured status codes, falls back to the primary at
// an interval or at registration expiry, and can hold dual registrations;
// an [ApplicationEndpoint] is a trusted service identity that does not
// register per user. Both run Terminate hooks (for the dialogs,
// publications and subscriptions created from them) before unregistering,
// and report every state change in order.
//
// [Registrar] is the server side of registration (§10.3) with a redirect
// server (§8.3), for test benches and embedded demos.
package ua
