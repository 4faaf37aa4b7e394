// Package transport moves SIP messages over the network for the layers
// above (transactions and the UA core): UDP, TCP, TLS, WebSocket and
// secure WebSocket, and RFC 3263 target resolution.
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
//     §3.5.1 keep-alives (a double-CRLF ping is answered with a CRLF pong),
//   - RFC 7118 (ListenWS, ListenWSS, and WS/WSS connections opened by Send):
//     the "sip" subprotocol required, one SIP message per WebSocket message,
//   - RFC 3263 §4 (Locator: NAPTR, SRV with RFC 2782 ordering, A/AAAA) over
//     a Resolver, DNS by default (NAPTR decoded per RFC 3403 §4.1).
//
// A Layer owns its sockets: one goroutine reads each listener and each
// stream connection, and nothing else runs in the background. Every
// message sent, received or dropped can be observed through Config.Trace.
package transport
