// Package auth implements SIP Digest authentication for both sides of a
// request: a [Client] that answers 401 and 407 challenges and a [Server]
// that issues challenges and verifies credentials.
//
// It implements:
//   - RFC 3261 §22 (HTTP authentication in SIP): §22.2 and §22.3, the
//     user-agent and proxy-to-user authentication with WWW-Authenticate /
//     Authorization (401) and Proxy-Authenticate / Proxy-Authorization
//     (407), one set of credentials per realm, and §22.4, the digest
//     computation with the Request-URI as digest-uri;
//   - RFC 2617 §3.2 (Digest access authentication): MD5 and MD5-sess,
//     qop "auth" and "auth-int", nonce counts and client nonces, stale
//     nonces, opaque, and responses without qop for RFC 2069 servers (on
//     the client side only);
//   - RFC 7616 §3.3 to §3.5: the SHA-256 and SHA-512/256 algorithms and
//     their -sess variants, several challenges in one response (the client
//     picks, per realm, the strongest algorithm it supports) and username
//     hashing (§3.4.4, userhash=true);
//   - RFC 8760 §2, which brings those algorithms to SIP and makes qop
//     mandatory: the Server always offers and requires qop.
//
// [Response] computes a request-digest from its inputs and serves both
// sides. The Server's nonces carry their issue time and an HMAC-SHA256
// under a secret, so validating one needs no per-nonce state; only the
// highest nonce count per nonce is kept, in a bounded table, to refuse
// replays.
//
// The Client's retry policy is described at [Client.Authorize]: resend the
// same request after each successful Authorize, and stop when it returns
// an error. The per-request state is the credentials the request carries.
//
// Nothing in this package panics on any input, and it uses only the
// standard library.
package auth
