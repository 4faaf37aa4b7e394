// Package sip is the SIP message layer of sipua: requests, responses, URIs,
// header fields and bodies, with a parser and a serializer. It does no I/O;
// transports, transactions, authentication and the UA core live in the
// subpackages transport, transaction, auth and ua.
//
// It implements:
//   - RFC 3261 §7 (message structure), §19.1 (SIP and SIPS URIs, including
//     §19.1.2 escaping), §20 (header fields, compact forms), §25 (the
//     augmented BNF, as far as the layers above need typed values) and §18.3
//     (framing: Content-Length rules for datagram and stream transports);
//   - RFC 3966 tel URIs (number and parameters);
//   - RFC 5626 §3.5.1 CRLF keep-alive framing in the stream [Parser];
//   - RFC 2046 §5.1 multipart bodies (multipart/related, multipart/mixed),
//     as used by RFC 4662 resource lists;
//   - typed values for the header fields of RFC 3262 (RSeq, RAck), RFC 3265 /
//     RFC 6665 (Event, Allow-Events, Subscription-State), RFC 3311, RFC 3326
//     (Reason), RFC 3515 (Refer-To), RFC 3892 (Referred-By), RFC 3891
//     (Replaces), RFC 3903 (SIP-ETag, SIP-If-Match), RFC 4028
//     (Session-Expires, Min-SE), RFC 3325 (P-Asserted-Identity) and the
//     digest header fields of RFC 3261 §22 / RFC 7616.
//
// Messages are parsed with [ParseMessage] (one datagram or one complete
// message) or a stream [Parser] (TCP, TLS, WebSocket). The parser copies the
// header section once and keeps every header field in arrival order with
// its raw value, so a message is forwarded or answered without losing
// anything; the routing header fields (Via, From, To, Call-ID, CSeq,
// Contact, Max-Forwards, Content-Type, Content-Length) are parsed eagerly
// and are available through typed accessors at no further cost.
//
// Every parse error is a [*ParseError]; limit violations also match
// sentinel errors such as [ErrMessageTooLarge] with errors.Is. Nothing in
// this package panics on any input.
package sip
