// Package transaction implements SIP transactions (RFC 3261 §17): the
// state machines that carry a request and its responses across an
// unreliable network with retransmissions and timeouts.
//
// It implements the four state machines: INVITE client (§17.1.1, Timers
// A, B, D, with RFC 6026's Accepted state and Timer M), non-INVITE client
// (§17.1.2, Timers E, F, K), INVITE server (§17.2.1, Timers G, H, I, with
// Accepted and Timer L) and non-INVITE server (§17.2.2, Timer J); the ACK
// for a failure response built by the transaction (§17.1.1.3); matching of
// responses (§17.1.3) and of requests, ACK and CANCEL (§17.2.3, §9.2) by
// RFC 3261 branch and sent-by, and for requests without a z9hG4bK branch
// (RFC 2543 peers) by the §17.2.3 fallback: Request-URI, From tag,
// Call-ID, CSeq and the topmost Via. T1, T2 and T4 are configured per
// Layer.
//
// Every timer runs on the Layer's sched.Scheduler: no goroutine and no
// time.Timer per transaction. With a fake clock, a test advances protocol
// time in microseconds.
//
// A non-INVITE server transaction over UDP that has sent its final
// response keeps, for Timer J, only that response's bytes, its
// destination and its keys: retransmitted requests get the bytes again,
// and Server.Request returns nil. The Timer J expiries wait in one FIFO
// served by one timer (they may fire up to 10 ms late, never early). The
// layer also indexes requests by the merged-request key of RFC 3261
// §8.2.2.2 for each transaction's life and at least 64·T1 after its final
// response, which Server.Merged and InviteServer.Merged report (the UA
// answers 482).
package transaction
