// Package transport moves SIP messages over the network for the layers
// above (transactions and the UA core): UDP and TCP today, with TLS, WS/WSS
// and RFC 3263 resolution to follow.
//
// It implements:
//   - RFC 3261 §18.1 (sending requests: connection reuse for stream
//     transports keyed by transport and remote address),
//   - RFC 3261 §18.2.1 and RFC 3581 §4 (receiving requests: received and
//     rport filled into the topmost Via),
//   - RFC 3261 §18.2.2 and RFC 3581 §4 (sending responses: back over the
//     connection the request came on, or to the received address and the
//     rport or sent-by port),
//   - RFC 3261 §18.3 framing through sip.Parser on streams, and RFC 5626
//     §3.5.1 keep-alives (a double-CRLF ping is answered with a CRLF pong).
//
// A Layer owns its sockets: one goroutine reads each listener and each
// stream connection, and nothing else runs in the background. Every
// message sent, received or dropped can be observed through Config.Trace.
package transport
