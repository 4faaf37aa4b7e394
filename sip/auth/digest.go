package auth

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"strings"
)

// Algorithm names (RFC 7616 §3.2, RFC 8760 §2). On input they are matched
// case-insensitively, and an absent algorithm means MD5 (RFC 2617 §3.2.1);
// on output this package writes these spellings.
const (
	MD5            = "MD5"
	MD5Sess        = "MD5-sess"
	SHA256         = "SHA-256"
	SHA256Sess     = "SHA-256-sess"
	SHA512_256     = "SHA-512-256"
	SHA512_256Sess = "SHA-512-256-sess"
)

const algorithmSessTail = "-sess"

// Quality of protection values (RFC 2617 §3.2.1, RFC 7616 §3.3).
const (
	// QOPAuth protects the method and the digest-uri.
	QOPAuth = "auth"
	// QOPAuthInt also protects the message body: A2 is
	// method ":" digest-uri ":" H(body).
	QOPAuthInt = "auth-int"
)

// hash kinds, in order of strength.
const (
	kindMD5 = iota + 1
	kindSHA256
	kindSHA512_256
)

// algorithm is a resolved algorithm name.
type algorithm struct {
	kind uint8
	sess bool
}

// lookupAlgorithm resolves an algorithm name ("" is MD5).
func lookupAlgorithm(name string) (algorithm, bool) {
	if name == "" {
		return algorithm{kind: kindMD5}, true
	}
	var a algorithm
	if n := len(name) - len(algorithmSessTail); n > 0 && strings.EqualFold(name[n:], algorithmSessTail) {
		a.sess = true
		name = name[:n]
	}
	switch {
	case strings.EqualFold(name, MD5):
		a.kind = kindMD5
	case strings.EqualFold(name, SHA256):
		a.kind = kindSHA256
	case strings.EqualFold(name, SHA512_256):
		a.kind = kindSHA512_256
	default:
		return algorithm{}, false
	}
	return a, true
}

// String returns the canonical name.
func (a algorithm) String() string {
	switch a.kind {
	case kindMD5:
		if a.sess {
			return MD5Sess
		}
		return MD5
	case kindSHA256:
		if a.sess {
			return SHA256Sess
		}
		return SHA256
	case kindSHA512_256:
		if a.sess {
			return SHA512_256Sess
		}
		return SHA512_256
	}
	return ""
}

// appendHex appends the lower-case hex digest of data to dst.
func (a algorithm) appendHex(dst, data []byte) []byte {
	switch a.kind {
	case kindSHA256:
		s := sha256.Sum256(data)
		return hex.AppendEncode(dst, s[:])
	case kindSHA512_256:
		s := sha512.Sum512_256(data)
		return hex.AppendEncode(dst, s[:])
	default:
		s := md5.Sum(data)
		return hex.AppendEncode(dst, s[:])
	}
}

// CanonicalAlgorithm returns the spelling this package writes for an
// algorithm name given in any case ("" gives MD5), and whether the
// algorithm is supported.
func CanonicalAlgorithm(name string) (string, bool) {
	a, ok := lookupAlgorithm(name)
	if !ok {
		return "", false
	}
	return a.String(), true
}

// Params are the inputs of the digest computation of RFC 2617 §3.2.2 and
// RFC 7616 §3.4. Both sides use them: a client to compute the response it
// sends, a server to compute the one it expects.
type Params struct {
	// Algorithm is one of the algorithm names, in any case; "" means MD5.
	Algorithm string
	// Username is the user's name as known to the server, never the
	// userhash: RFC 7616 §3.4.4 hashes the username after every other
	// computation, so the response uses the name itself.
	Username string
	Realm    string
	Password string
	Nonce    string
	// CNonce is the client nonce. It takes part when QOP is set, and in
	// the session key of the -sess algorithms.
	CNonce string
	// NC is the nonce count, written as 8 hex digits in the computation.
	// It takes part only when QOP is set.
	NC uint32
	// QOP is "auth", "auth-int" or "" (no qop: RFC 2069 compatibility,
	// response = H(H(A1):nonce:H(A2))). It is hashed as given, so a server
	// passes the value exactly as received.
	QOP string
	// Method is the method of the request line.
	Method string
	// URI is the digest-uri: the value of the uri parameter, which for SIP
	// is the Request-URI as written.
	URI string
	// Body is the message body; it takes part only with QOP "auth-int".
	Body []byte
}

// Response computes the request-digest of RFC 2617 §3.2.2.1 / RFC 7616
// §3.4.1 as lower-case hex:
//
//	A1       = username ":" realm ":" password
//	A1 (-sess) = H(username ":" realm ":" password) ":" nonce ":" cnonce
//	A2       = method ":" uri                  (qop "auth" or none)
//	A2       = method ":" uri ":" H(body)      (qop "auth-int")
//	response = H(H(A1) ":" nonce ":" nc ":" cnonce ":" qop ":" H(A2))
//	response = H(H(A1) ":" nonce ":" H(A2))    (no qop, RFC 2069)
//
// It fails with ErrUnsupportedAlgorithm or ErrUnsupportedQOP.
func Response(p Params) (string, error) {
	a, ok := lookupAlgorithm(p.Algorithm)
	if !ok {
		return "", ErrUnsupportedAlgorithm
	}
	var out [2 * sha256.Size]byte
	r, err := appendResponse(out[:0], a, &p)
	if err != nil {
		return "", err
	}
	return string(r), nil
}

// qopKind classifies a qop value: 0 none, 1 auth, 2 auth-int, -1 other.
func qopKind(q string) int {
	switch {
	case q == "":
		return 0
	case strings.EqualFold(q, QOPAuth):
		return 1
	case strings.EqualFold(q, QOPAuthInt):
		return 2
	}
	return -1
}

// appendResponse appends the response hex to dst. The intermediate values
// live in fixed arrays, so that for usual sizes it does not allocate.
func appendResponse(dst []byte, a algorithm, p *Params) ([]byte, error) {
	qk := qopKind(p.QOP)
	if qk < 0 {
		return dst, ErrUnsupportedQOP
	}
	var stack [320]byte
	var ha1, ha2 [2 * sha256.Size]byte

	buf := append(stack[:0], p.Username...)
	buf = append(buf, ':')
	buf = append(buf, p.Realm...)
	buf = append(buf, ':')
	buf = append(buf, p.Password...)
	h1 := a.appendHex(ha1[:0], buf)
	if a.sess {
		buf = append(stack[:0], h1...)
		buf = append(buf, ':')
		buf = append(buf, p.Nonce...)
		buf = append(buf, ':')
		buf = append(buf, p.CNonce...)
		h1 = a.appendHex(ha1[:0], buf)
	}

	buf = append(stack[:0], p.Method...)
	buf = append(buf, ':')
	buf = append(buf, p.URI...)
	if qk == 2 {
		buf = append(buf, ':')
		buf = a.appendHex(buf, p.Body)
	}
	h2 := a.appendHex(ha2[:0], buf)

	buf = append(stack[:0], h1...)
	buf = append(buf, ':')
	buf = append(buf, p.Nonce...)
	buf = append(buf, ':')
	if qk != 0 {
		buf = appendNC(buf, p.NC)
		buf = append(buf, ':')
		buf = append(buf, p.CNonce...)
		buf = append(buf, ':')
		buf = append(buf, p.QOP...)
		buf = append(buf, ':')
	}
	buf = append(buf, h2...)
	return a.appendHex(dst, buf), nil
}

// appendNC appends nc as 8 lower-case hex digits.
func appendNC(b []byte, nc uint32) []byte {
	const digits = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, digits[nc>>uint(shift)&0xf])
	}
	return b
}

// parseNC parses exactly 8 hex digits (either case).
func parseNC(s string) (uint32, bool) {
	if len(s) != 8 {
		return 0, false
	}
	var n uint32
	for i := 0; i < 8; i++ {
		c := s[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | uint32(d)
	}
	return n, true
}

// Userhash computes the hashed username of RFC 7616 §3.4.4,
// H(username ":" realm) in lower-case hex, with the hash of algorithm
// (the -sess variants hash alike). A server that offers userhash keeps a
// table from these values to usernames.
func Userhash(algorithm, username, realm string) (string, error) {
	a, ok := lookupAlgorithm(algorithm)
	if !ok {
		return "", ErrUnsupportedAlgorithm
	}
	return userhash(a, username, realm), nil
}

func userhash(a algorithm, username, realm string) string {
	var stack [256]byte
	var out [2 * sha256.Size]byte
	buf := append(stack[:0], username...)
	buf = append(buf, ':')
	buf = append(buf, realm...)
	return string(a.appendHex(out[:0], buf))
}
