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
// (§11.2)) and §12.2.2 (481 for in-dialog requests that match nothing).
// Dialogs, registration and presence are built on it by other packages.
package ua
