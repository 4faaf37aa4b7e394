package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sipua-go/sipua/sip"
)

// Defaults of ServerConfig.
const (
	DefaultNonceLifetime = 5 * time.Minute
	DefaultMaxNonces     = 4096
)

// ServerConfig configures a Server. The zero value of each field has the
// documented meaning; only Realm is required.
type ServerConfig struct {
	// Realm is the realm of the challenges (RFC 3261 §22.1: a SIP domain
	// or host name is customary). Required.
	Realm string
	// Algorithms are offered in this order, one challenge each; list the
	// strongest first. Names are case-insensitive. Zero: SHA-256, MD5.
	Algorithms []string
	// QOP is the qop-options offered: "auth", "auth-int" or
	// "auth,auth-int". Zero: "auth". Credentials without qop (RFC 2069)
	// are never accepted.
	QOP string
	// NonceLifetime is how long a nonce is accepted; after it Verify says
	// ReasonStale. Zero: DefaultNonceLifetime (5 minutes).
	NonceLifetime time.Duration
	// Secret keys the HMAC that authenticates nonces (and the opaque
	// value). Servers sharing a Secret and Realm accept each other's
	// nonces (nc replay protection is per Server, though). Zero: 32 random
	// bytes drawn by NewServer.
	Secret []byte
	// Now is the clock. Zero: time.Now.
	Now func() time.Time
	// Opaque adds an opaque parameter to the challenges (derived from
	// Secret and Realm) and makes Verify require it back unchanged. Zero:
	// no opaque.
	Opaque bool
	// Userhash, when set, makes the challenges say userhash=true
	// (RFC 7616 §3.4.4) and resolves the hashed usernames of credentials
	// that carry userhash=true: it receives H(username ":" realm) (see
	// the Userhash function) and returns the username, which Verify then
	// passes to the lookup as for any other credentials. The digest needs
	// the username itself, so the application keeps the table from hashes
	// to names. Zero: userhash is not offered, and credentials with
	// userhash=true are refused with ReasonUnknownUser.
	Userhash func(hash, realm string) (username string, ok bool)
	// MaxNonces bounds the number of nonces whose highest nc is
	// remembered for replay protection. When full, the nonce first used
	// longest ago is forgotten, and every nonce issued no later than it
	// that is not remembered is answered ReasonStale, so that no
	// forgotten nonce can be replayed. Zero: DefaultMaxNonces (4096).
	MaxNonces int
}

// Server verifies Digest credentials and issues challenges for one realm
// (RFC 3261 §22.1 and §22.3 for a proxy, RFC 7616 §3.3 and §3.4).
//
// Nonces carry their issue time and an HMAC-SHA256 over it, so Verify
// needs no per-nonce state to check one; only the highest nonce count
// seen per nonce is kept, for replay protection, in a bounded table
// pruned as it is used (no goroutine). A Server is safe for concurrent
// use. Create it with NewServer; the zero value is not usable.
type Server struct {
	realm    string
	algs     []algorithm
	qop      string // qop-options as written in challenges
	qopAuth  bool
	qopInt   bool
	lifetime time.Duration
	key      []byte
	now      func() time.Time
	opaque   string // "" when not configured
	userhash func(hash, realm string) (string, bool)
	nc       ncTable
}

// NewServer checks cfg and returns a Server. It fails, wrapping
// ErrInvalidConfig, ErrUnsupportedAlgorithm or ErrUnsupportedQOP, when the
// realm is empty, an algorithm or qop is unknown, or a duration or size
// is negative.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Realm == "" {
		return nil, fmt.Errorf("%w: empty realm", ErrInvalidConfig)
	}
	if cfg.NonceLifetime < 0 || cfg.MaxNonces < 0 {
		return nil, fmt.Errorf("%w: negative NonceLifetime or MaxNonces", ErrInvalidConfig)
	}
	s := &Server{
		realm:    cfg.Realm,
		lifetime: cfg.NonceLifetime,
		now:      cfg.Now,
		userhash: cfg.Userhash,
	}
	names := cfg.Algorithms
	if len(names) == 0 {
		names = []string{SHA256, MD5}
	}
	for _, n := range names {
		a, ok := lookupAlgorithm(n)
		if !ok || n == "" {
			return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, n)
		}
		dup := false
		for _, b := range s.algs {
			dup = dup || a == b
		}
		if !dup {
			s.algs = append(s.algs, a)
		}
	}
	qop := cfg.QOP
	if qop == "" {
		qop = QOPAuth
	}
	for _, q := range strings.Split(qop, ",") {
		switch qopKind(strings.TrimSpace(q)) {
		case 1:
			s.qopAuth = true
		case 2:
			s.qopInt = true
		default:
			return nil, fmt.Errorf("%w: %q", ErrUnsupportedQOP, q)
		}
	}
	switch {
	case s.qopAuth && s.qopInt:
		s.qop = QOPAuth + "," + QOPAuthInt
	case s.qopInt:
		s.qop = QOPAuthInt
	default:
		s.qop = QOPAuth
	}
	if s.lifetime == 0 {
		s.lifetime = DefaultNonceLifetime
	}
	if s.now == nil {
		s.now = time.Now
	}
	if len(cfg.Secret) > 0 {
		s.key = append([]byte(nil), cfg.Secret...)
	} else {
		s.key = make([]byte, 32)
		if _, err := rand.Read(s.key); err != nil {
			return nil, err
		}
	}
	if cfg.Opaque {
		m := s.mac("opaque", nil)
		s.opaque = base64.RawURLEncoding.EncodeToString(m[:18])
	}
	s.nc.max = cfg.MaxNonces
	if s.nc.max == 0 {
		s.nc.max = DefaultMaxNonces
	}
	return s, nil
}

// Realm returns the configured realm.
func (s *Server) Realm() string { return s.realm }

// nonce layout: issue time (unix nanoseconds, big endian), random bytes,
// truncated HMAC-SHA256 of the two under Secret.
const (
	nonceTime = 8
	nonceRand = 8
	nonceMAC  = 16
	nonceRaw  = nonceTime + nonceRand + nonceMAC
)

var nonceLen = base64.RawURLEncoding.EncodedLen(nonceRaw)

// mac computes HMAC-SHA256(Secret, purpose 0 realm 0 data).
func (s *Server) mac(purpose string, data []byte) [sha256.Size]byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(s.realm))
	h.Write([]byte{0})
	h.Write(data)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// newNonce returns a fresh nonce stamped with the current time.
func (s *Server) newNonce() string {
	var b [nonceRaw]byte
	binary.BigEndian.PutUint64(b[:nonceTime], uint64(s.now().UnixNano()))
	_, _ = rand.Read(b[nonceTime : nonceTime+nonceRand]) // never fails (Go 1.24+)
	m := s.mac("nonce", b[:nonceTime+nonceRand])
	copy(b[nonceTime+nonceRand:], m[:nonceMAC])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkNonce authenticates a nonce and returns its issue time.
func (s *Server) checkNonce(nonce string) (int64, bool) {
	if len(nonce) != nonceLen {
		return 0, false
	}
	var b [nonceRaw]byte
	if n, err := base64.RawURLEncoding.Decode(b[:], []byte(nonce)); err != nil || n != nonceRaw {
		return 0, false
	}
	m := s.mac("nonce", b[:nonceTime+nonceRand])
	if !hmac.Equal(m[:nonceMAC], b[nonceTime+nonceRand:]) {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b[:nonceTime])), true
}

// Challenge adds to res one challenge per configured algorithm, all with
// the same fresh nonce: WWW-Authenticate fields, or Proxy-Authenticate ones
// when res.StatusCode is 407. stale=true tells the client that its
// credentials were right but the nonce had expired (Verify said
// ReasonStale), so it retries without asking the user again.
func (s *Server) Challenge(res *sip.Response, stale bool) {
	if s == nil || res == nil {
		return
	}
	name, _ := headerNames(res.StatusCode == 407)
	nonce := s.newNonce()
	for _, a := range s.algs {
		ps := make([]sip.AuthParam, 0, 7)
		ps = append(ps,
			sip.AuthParam{Name: "realm", Value: s.realm, Quoted: true},
			sip.AuthParam{Name: "nonce", Value: nonce, Quoted: true},
		)
		if s.opaque != "" {
			ps = append(ps, sip.AuthParam{Name: "opaque", Value: s.opaque, Quoted: true})
		}
		ps = append(ps,
			sip.AuthParam{Name: "algorithm", Value: a.String()},
			sip.AuthParam{Name: "qop", Value: s.qop, Quoted: true},
		)
		if stale {
			ps = append(ps, sip.AuthParam{Name: "stale", Value: "true"})
		}
		if s.userhash != nil {
			ps = append(ps, sip.AuthParam{Name: "userhash", Value: "true"})
		}
		res.Add(name, sip.Challenge{Scheme: "Digest", Params: ps}.String())
	}
}

// Reason is the outcome of Verify.
type Reason int

// Reasons. Only ReasonOK admits the request. On ReasonStale answer with a
// challenge with stale=true; on any other reason with a fresh challenge
// (stale=false), or with 403 Forbidden once the application decides the
// client has failed often enough.
const (
	// ReasonOK: the credentials are valid.
	ReasonOK Reason = iota
	// ReasonStale: the credentials are valid but the nonce has expired
	// (or is too old for the replay table to vouch for it).
	ReasonStale
	// ReasonNoCredentials: the request has no Digest credentials for the
	// realm in Authorization or Proxy-Authorization.
	ReasonNoCredentials
	// ReasonMalformed: a required parameter is missing or malformed
	// (username, nonce, uri, response; nc and cnonce with qop).
	ReasonMalformed
	// ReasonAlgorithmNotOffered: the algorithm is unknown or not
	// configured.
	ReasonAlgorithmNotOffered
	// ReasonQOPNotOffered: the qop is missing, unknown or not configured.
	ReasonQOPNotOffered
	// ReasonBadNonce: the nonce (or opaque) was not issued by this
	// Server: tampered, forged, or issued under another secret or realm.
	ReasonBadNonce
	// ReasonURIMismatch: the uri parameter is not the Request-URI.
	ReasonURIMismatch
	// ReasonUnknownUser: the lookup (or the userhash resolution) does not
	// know the user.
	ReasonUnknownUser
	// ReasonWrongResponse: the response does not match: wrong password,
	// or credentials computed over another request.
	ReasonWrongResponse
	// ReasonReplayedNC: the nonce count did not increase: a replay (or
	// requests reordered on the way).
	ReasonReplayedNC
)

var reasonNames = [...]string{
	ReasonOK:                  "ok",
	ReasonStale:               "stale nonce",
	ReasonNoCredentials:       "no credentials",
	ReasonMalformed:           "malformed credentials",
	ReasonAlgorithmNotOffered: "algorithm not offered",
	ReasonQOPNotOffered:       "qop not offered",
	ReasonBadNonce:            "bad nonce",
	ReasonURIMismatch:         "uri does not match the Request-URI",
	ReasonUnknownUser:         "unknown user",
	ReasonWrongResponse:       "wrong response",
	ReasonReplayedNC:          "replayed nonce count",
}

// String names the reason.
func (r Reason) String() string {
	if r >= 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Result is what Verify found.
type Result struct {
	// Reason is ReasonOK when the credentials are valid.
	Reason Reason
	// Username is the authenticated user when Reason is ReasonOK (the
	// resolved name for userhash credentials); otherwise the username
	// claimed, if any, for logging.
	Username string
	// Algorithm is the canonical name of the algorithm used, if known.
	Algorithm string
	// QOP is the qop used ("auth" or "auth-int"), if known.
	QOP string
}

// OK reports whether the credentials are valid.
func (r Result) OK() bool { return r.Reason == ReasonOK }

// Verify checks the credentials of req for the configured realm, taken
// from the first Authorization or Proxy-Authorization field (in that
// order) holding Digest credentials for the realm. lookup returns the
// password of a user of a realm; for credentials with userhash=true it
// receives the username resolved by ServerConfig.Userhash.
//
// The checks, in order: the credentials are there and complete; the
// algorithm and qop are offered; the nonce (and opaque) are authentic;
// the uri is the Request-URI; the user is known; the response matches
// (compared in constant time); the nonce has not expired (ReasonStale: the
// digest was valid, so the client may retry with a new nonce); the nonce
// count increases.
func (s *Server) Verify(req *sip.Request, lookup func(username, realm string) (password string, ok bool)) Result {
	if s == nil || req == nil {
		return Result{Reason: ReasonNoCredentials}
	}
	cr, ok := s.findCredentials(req)
	if !ok {
		return Result{Reason: ReasonNoCredentials}
	}
	var username, nonce, uri, response, alg, qop, ncs, cnonce, opaque, uh string
	var hasOpaque bool
	for _, p := range cr.Params {
		n := p.Name
		switch {
		case strings.EqualFold(n, "username"):
			username = p.Value
		case strings.EqualFold(n, "nonce"):
			nonce = p.Value
		case strings.EqualFold(n, "uri"):
			uri = p.Value
		case strings.EqualFold(n, "response"):
			response = p.Value
		case strings.EqualFold(n, "algorithm"):
			alg = p.Value
		case strings.EqualFold(n, "qop"):
			qop = p.Value
		case strings.EqualFold(n, "nc"):
			ncs = p.Value
		case strings.EqualFold(n, "cnonce"):
			cnonce = p.Value
		case strings.EqualFold(n, "opaque"):
			opaque, hasOpaque = p.Value, true
		case strings.EqualFold(n, "userhash"):
			uh = p.Value
		}
	}
	r := Result{Username: username}
	if username == "" || nonce == "" || uri == "" || response == "" {
		return r.with(ReasonMalformed)
	}
	a, ok := lookupAlgorithm(alg)
	if ok {
		ok = false
		for _, b := range s.algs {
			ok = ok || a == b
		}
	}
	if !ok {
		return r.with(ReasonAlgorithmNotOffered)
	}
	r.Algorithm = a.String()
	switch qopKind(qop) {
	case 1:
		ok = s.qopAuth
	case 2:
		ok = s.qopInt
	default:
		ok = false
	}
	if !ok {
		return r.with(ReasonQOPNotOffered)
	}
	r.QOP = strings.ToLower(qop)
	nc, ok := parseNC(ncs)
	if !ok || nc == 0 || cnonce == "" {
		return r.with(ReasonMalformed)
	}
	issued, ok := s.checkNonce(nonce)
	if !ok || s.opaque != "" && (!hasOpaque || subtle.ConstantTimeCompare([]byte(opaque), []byte(s.opaque)) != 1) {
		return r.with(ReasonBadNonce)
	}
	if !sameURI(&req.URI, uri) {
		return r.with(ReasonURIMismatch)
	}
	if strings.EqualFold(uh, "true") {
		if s.userhash == nil {
			return r.with(ReasonUnknownUser)
		}
		name, ok := s.userhash(username, s.realm)
		if !ok {
			return r.with(ReasonUnknownUser)
		}
		username = name
	}
	if lookup == nil {
		return r.with(ReasonUnknownUser)
	}
	password, ok := lookup(username, s.realm)
	if !ok {
		return r.with(ReasonUnknownUser)
	}
	p := Params{
		Username: username,
		Realm:    s.realm,
		Password: password,
		Nonce:    nonce,
		CNonce:   cnonce,
		NC:       nc,
		QOP:      qop,
		Method:   req.Method,
		URI:      uri,
		Body:     req.Body(),
	}
	var eb [2 * sha256.Size]byte
	expected, err := appendResponse(eb[:0], a, &p)
	if err != nil || !equalHex(response, expected) {
		return r.with(ReasonWrongResponse)
	}
	now := s.now().UnixNano()
	age := time.Duration(now - issued)
	if age > s.lifetime || age < -s.lifetime {
		return r.with(ReasonStale)
	}
	if reason := s.nc.use(nonce, issued, nc, now, int64(s.lifetime)); reason != ReasonOK {
		return r.with(reason)
	}
	r.Username = username
	return r.with(ReasonOK)
}

func (r Result) with(reason Reason) Result {
	r.Reason = reason
	return r
}

// findCredentials returns the first Digest credentials for the realm.
func (s *Server) findCredentials(req *sip.Request) (sip.Credentials, bool) {
	for _, name := range [2]string{"Authorization", "Proxy-Authorization"} {
		if cr, ok := findCredentials(req, name, s.realm); ok {
			return cr, true
		}
	}
	return sip.Credentials{}, false
}

// sameURI reports whether the uri parameter designates the Request-URI:
// the same text, or equal URIs by RFC 3261 §19.1.4.
func sameURI(reqURI *sip.URI, uri string) bool {
	if len(uri) > sip.DefaultMaxURILength {
		return false
	}
	if reqURI.String() == uri {
		return true
	}
	u, err := sip.ParseURI(uri)
	return err == nil && reqURI.Equal(u)
}

// equalHex compares a received hex response with the expected lower-case
// one in constant time, accepting upper-case hex digits.
func equalHex(got string, want []byte) bool {
	if len(got) != len(want) {
		return false
	}
	var lb [2 * sha256.Size]byte
	l := lb[:0]
	for i := 0; i < len(got); i++ {
		c := got[i]
		if c >= 'A' && c <= 'F' {
			c += 'a' - 'A'
		}
		l = append(l, c)
	}
	return subtle.ConstantTimeCompare(l, want) == 1
}

// ncTable remembers the highest nonce count used with each nonce.
type ncTable struct {
	mu    sync.Mutex
	max   int
	m     map[string]ncEntry
	ring  []string // nonces in order of first use: a FIFO of n entries from head
	head  int
	n     int
	floor int64 // when evicted, nonces issued at or before this and not in m are stale
	// evicted: a nonce was forgotten before it expired, so floor applies.
	evicted bool
}

type ncEntry struct {
	issued int64
	high   uint32
}

// use records nc for nonce (issued at issued) at time now. It answers
// ReasonReplayedNC when nc does not exceed the highest seen, ReasonStale
// when the nonce may have been forgotten, ReasonOK otherwise.
func (t *ncTable) use(nonce string, issued int64, nc uint32, now, lifetime int64) Reason {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[string]ncEntry)
		t.ring = make([]string, t.max)
	}
	// Drop expired nonces from the front.
	for t.n > 0 {
		e := t.m[t.ring[t.head]]
		if now-e.issued <= lifetime && e.issued-now <= lifetime {
			break
		}
		t.pop()
	}
	if e, ok := t.m[nonce]; ok {
		if nc <= e.high {
			return ReasonReplayedNC
		}
		e.high = nc
		t.m[nonce] = e
		return ReasonOK
	}
	if t.evicted && issued <= t.floor {
		return ReasonStale
	}
	if t.n == t.max {
		if e := t.m[t.ring[t.head]]; !t.evicted || e.issued > t.floor {
			t.floor = e.issued
		}
		t.evicted = true
		t.pop()
		if issued <= t.floor {
			return ReasonStale
		}
	}
	t.m[nonce] = ncEntry{issued: issued, high: nc}
	t.ring[(t.head+t.n)%t.max] = nonce
	t.n++
	return ReasonOK
}

// pop removes the front of the FIFO.
func (t *ncTable) pop() {
	delete(t.m, t.ring[t.head])
	t.ring[t.head] = ""
	t.head = (t.head + 1) % t.max
	t.n--
}
