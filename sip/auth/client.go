package auth

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/sipua-go/sipua/sip"
)

// Limits on what the client takes from a challenge: a challenge whose
// realm, nonce or opaque is longer is ignored as malformed.
const maxChallengeParam = 1024

// maxSessions bounds how many realms a Client remembers; the least
// recently used is forgotten first.
const maxSessions = 32

// answerRing is how many challenge answers a Client remembers per realm
// to recognize its own rejected credentials (see Client.Authorize).
const answerRing = 64

// cnonceBytes is the number of random bytes in a cnonce (hex encoded).
const cnonceBytes = 16

// Credentials are what the user knows.
type Credentials struct {
	Username string
	Password string
	// Realm, when set, limits the credentials to that realm (compared
	// exactly); "" answers any realm.
	Realm string
}

// Client computes Authorization and Proxy-Authorization header fields in
// answer to 401 and 407 responses (RFC 3261 §22.2, §22.3) and remembers,
// per realm, the last challenge so that later requests can carry
// credentials before being challenged (Reauthorize).
//
// A Client serves one account: the registrar, outbound proxy and other
// servers one set of credentials is for. Reauthorize adds credentials for
// every realm the Client remembers, so unrelated accounts should use
// separate Clients.
//
// The zero value is ready to use. A Client is safe for concurrent use; do
// not copy it after first use.
type Client struct {
	// Rand is the source of the cnonce values; nil means crypto/rand.
	// Tests set it to get fixed output.
	Rand io.Reader

	mu       sync.Mutex
	sessions map[sessionKey]*session
	clock    uint64 // use counter for LRU
}

type sessionKey struct {
	proxy bool // Proxy-Authenticate / Proxy-Authorization
	realm string
}

// session is what the Client remembers of one realm.
type session struct {
	offer
	cred    Credentials
	nc      uint32 // uses of offer.nonce so far
	lastUse uint64
	// answers are the response values the Client sent in answer to a
	// challenge, so that a rejection of them is recognized.
	answers [answerRing]answer
	next    int
}

type answer struct {
	response string
	stale    bool // an answer to a stale=true challenge
}

func (s *session) answerOf(response string) (answer, bool) {
	if response == "" {
		return answer{}, false
	}
	for _, a := range s.answers {
		if a.response == response {
			return a, true
		}
	}
	return answer{}, false
}

func (s *session) remember(a answer) {
	s.answers[s.next] = a
	s.next = (s.next + 1) % answerRing
}

// offer is one usable challenge.
type offer struct {
	realm     string
	nonce     string
	opaque    string
	hasOpaque bool
	alg       algorithm
	qopAuth   bool
	qopInt    bool
	qopNone   bool // no qop parameter: RFC 2069 response
	stale     bool
	userhash  bool
}

// parseOffer checks one challenge. The error says why it cannot be used.
func parseOffer(ch *sip.Challenge) (offer, error) {
	if !strings.EqualFold(ch.Scheme, "Digest") {
		return offer{}, ErrNoChallenge
	}
	var o offer
	var hasQOP, hasNonce bool
	var qop string
	for _, p := range ch.Params {
		switch {
		case strings.EqualFold(p.Name, "realm"):
			o.realm = p.Value
		case strings.EqualFold(p.Name, "nonce"):
			o.nonce, hasNonce = p.Value, true
		case strings.EqualFold(p.Name, "opaque"):
			o.opaque, o.hasOpaque = p.Value, true
		case strings.EqualFold(p.Name, "algorithm"):
			a, ok := lookupAlgorithm(p.Value)
			if !ok || p.Value == "" {
				return offer{}, ErrUnsupportedAlgorithm
			}
			o.alg = a
		case strings.EqualFold(p.Name, "qop"):
			qop, hasQOP = p.Value, true
		case strings.EqualFold(p.Name, "stale"):
			o.stale = strings.EqualFold(p.Value, "true")
		case strings.EqualFold(p.Name, "userhash"):
			o.userhash = strings.EqualFold(p.Value, "true")
		}
	}
	if o.alg.kind == 0 {
		o.alg = algorithm{kind: kindMD5}
	}
	if !hasNonce || o.nonce == "" || len(o.nonce) > maxChallengeParam ||
		len(o.realm) > maxChallengeParam || len(o.opaque) > maxChallengeParam {
		return offer{}, ErrNoChallenge
	}
	if hasQOP {
		for qop != "" {
			var q string
			q, qop, _ = strings.Cut(qop, ",")
			switch qopKind(strings.TrimSpace(q)) {
			case 1:
				o.qopAuth = true
			case 2:
				o.qopInt = true
			}
		}
		if !o.qopAuth && !o.qopInt {
			return offer{}, ErrUnsupportedQOP
		}
	} else {
		if o.alg.sess {
			// A session key needs a cnonce, which is sent only with qop.
			return offer{}, ErrUnsupportedQOP
		}
		o.qopNone = true
	}
	return o, nil
}

// chooseQOP picks the qop for a request: auth-int when there is a body and
// it is offered, else auth, else whatever is offered.
func (o *offer) chooseQOP(hasBody bool) string {
	switch {
	case o.qopNone:
		return ""
	case o.qopInt && (hasBody || !o.qopAuth):
		return QOPAuthInt
	default:
		return QOPAuth
	}
}

// errRank orders the reasons a response could not be answered: the most
// telling one is reported.
func errRank(err error) int {
	switch err {
	case ErrNoCredentials:
		return 4
	case ErrUnsupportedAlgorithm:
		return 3
	case ErrUnsupportedQOP:
		return 2
	}
	return 1
}

func headerNames(proxy bool) (challenge, credentials string) {
	if proxy {
		return "Proxy-Authenticate", "Proxy-Authorization"
	}
	return "WWW-Authenticate", "Authorization"
}

// Authorize answers a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate)
// response to req: it sets on req one Authorization or Proxy-Authorization
// field per challenged realm that cred is for, replacing any the request
// already carries for that realm. The caller then resends req with its
// CSeq incremented (RFC 3261 §22.2). A cred with an empty Username reuses
// the credentials last used for each realm (and skips realms the Client
// has none for), so a UA core need not keep them to answer a stale
// challenge.
//
// Of several challenges for one realm, the strongest algorithm wins
// (SHA-512-256, then SHA-256, then MD5; the -sess variants rank with their
// base); challenges with an unknown algorithm or no usable qop are
// skipped. qop "auth-int" is used when req has a body and it is offered,
// "auth" otherwise; a challenge without qop gets an RFC 2069 response. A
// new nonce starts at nc=00000001, and each use of a remembered nonce
// increments it. With userhash=true the username is sent hashed.
//
// # Retry policy
//
// The state of one request across its retries is the credentials it
// carries, so the UA core must resend the same request (or a Clone of it)
// and call Authorize on each 401/407 until it returns an error:
//
//   - A realm for which req carries no credentials from an earlier
//     Authorize (none at all, or preemptive ones from Reauthorize) is
//     answered.
//   - A realm for which req carries an answer from Authorize is answered
//     once more if the new challenge says stale=true and brings a new
//     nonce: the password was right, the nonce had expired. No new
//     credentials are needed.
//   - Otherwise the credentials were rejected (a second non-stale
//     challenge, or a second stale one in a row) and Authorize fails with
//     ErrAuthFailed, leaving req unchanged.
//
// So the loop "send; on 401/407 call Authorize and resend with CSeq+1; give
// up on error" sends at most three requests per realm with a wrong
// password (the unauthenticated one, the answer, and one answer to a
// stale challenge). The Client recognizes its own answers among the last
// 64 it made for a realm.
//
// Every error is an *Error carrying res.StatusCode and the realm, wrapping
// ErrAuthFailed, ErrNoChallenge, ErrNoCredentials, ErrUnsupportedAlgorithm,
// ErrUnsupportedQOP or the random source's error. When it returns an error
// req is unchanged.
func (c *Client) Authorize(req *sip.Request, res *sip.Response, cred Credentials) error {
	if req == nil || res == nil {
		return &Error{Err: ErrNoChallenge}
	}
	var proxy bool
	switch res.StatusCode {
	case 401:
	case 407:
		proxy = true
	default:
		return &Error{Status: res.StatusCode, Err: ErrNoChallenge}
	}
	chName, crName := headerNames(proxy)

	// The best offer per realm, in order of first appearance.
	var offers []offer
	failure, failRealm := error(ErrNoChallenge), ""
	for _, v := range res.Values(chName) {
		chs, err := sip.ParseChallenges(v)
		if err != nil {
			continue
		}
		for i := range chs {
			o, err := parseOffer(&chs[i])
			if err == nil && cred.Realm != "" && o.realm != cred.Realm {
				err = ErrNoCredentials
			}
			if err != nil {
				if errRank(err) > errRank(failure) {
					failure, failRealm = err, chs[i].Get("realm")
					if len(failRealm) > maxChallengeParam {
						failRealm = failRealm[:maxChallengeParam]
					}
				}
				continue
			}
			found := false
			for j := range offers {
				if offers[j].realm == o.realm {
					found = true
					if o.alg.kind > offers[j].alg.kind {
						offers[j] = o
					}
					break
				}
			}
			if !found {
				offers = append(offers, o)
			}
		}
	}
	if len(offers) == 0 {
		return &Error{Status: res.StatusCode, Realm: failRealm, Err: failure}
	}

	c.mu.Lock()
	defer c.mu.Unlock()

	// Zero Credentials reuse those last used for the realm.
	creds := make([]Credentials, 0, len(offers))
	kept := offers[:0]
	for _, o := range offers {
		cr := cred
		if cr.Username == "" {
			s := c.sessions[sessionKey{proxy, o.realm}]
			if s == nil || s.cred.Username == "" {
				failRealm = o.realm
				continue
			}
			cr = s.cred
		}
		kept = append(kept, o)
		creds = append(creds, cr)
	}
	offers = kept
	if len(offers) == 0 {
		return &Error{Status: res.StatusCode, Realm: failRealm, Err: ErrNoCredentials}
	}

	// Decide first, so that a failure leaves req and the Client unchanged.
	stale := make([]bool, len(offers))
	for i := range offers {
		o := &offers[i]
		prev, ok := findCredentials(req, crName, o.realm)
		if !ok {
			continue
		}
		s := c.sessions[sessionKey{proxy, o.realm}]
		if s == nil {
			continue
		}
		a, mine := s.answerOf(prev.Get("response"))
		if !mine {
			continue // preemptive or not ours: a first challenge
		}
		if a.stale || !o.stale || o.nonce == prev.Get("nonce") {
			return &Error{Status: res.StatusCode, Realm: o.realm, Err: ErrAuthFailed}
		}
		stale[i] = true
	}

	values := make([]string, len(offers))
	cnonces := make([]string, len(offers))
	for i := range offers {
		if offers[i].qopNone {
			continue
		}
		cn, err := c.cnonce()
		if err != nil {
			return &Error{Status: res.StatusCode, Realm: offers[i].realm, Err: err}
		}
		cnonces[i] = cn
	}
	for i := range offers {
		o := &offers[i]
		s := c.session(sessionKey{proxy, o.realm})
		if s.nonce != o.nonce {
			s.nc = 0
		}
		s.offer = *o
		s.cred = creds[i]
		s.nc++
		v, response, err := s.credentials(req, cnonces[i])
		if err != nil { // cannot happen: the offer was checked
			return &Error{Status: res.StatusCode, Realm: o.realm, Err: err}
		}
		s.remember(answer{response: response, stale: stale[i]})
		values[i] = v
	}
	for i := range offers {
		setCredentials(req, crName, offers[i].realm, values[i])
	}
	return nil
}

// Reauthorize adds credentials to a new request for every realm whose
// challenge the Client remembers (with qop: an RFC 2069 nonce is not
// reused), incrementing that nonce's nc, so that the request is not
// challenged again while the nonce lasts (RFC 3261 §22.3 allows this
// preemptive use). It replaces credentials req carries for those realms
// and reports whether it added any.
//
// Call it once when building a request, before its first transmission,
// never on a retry after Authorize: the answer Authorize set is what lets
// it recognize a rejection. If the server has let the nonce expire, it
// challenges (usually with stale=true) and Authorize answers as for a
// first challenge.
func (c *Client) Reauthorize(req *sip.Request) bool {
	if req == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]sessionKey, 0, len(c.sessions))
	for k, s := range c.sessions {
		if !s.qopNone {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return false
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].proxy != keys[j].proxy {
			return !keys[i].proxy
		}
		return keys[i].realm < keys[j].realm
	})
	added := false
	for _, k := range keys {
		cn, err := c.cnonce()
		if err != nil {
			return added
		}
		s := c.sessions[k]
		s.nc++
		c.clock++
		s.lastUse = c.clock
		v, _, err := s.credentials(req, cn)
		if err != nil {
			continue
		}
		_, crName := headerNames(k.proxy)
		setCredentials(req, crName, k.realm, v)
		added = true
	}
	return added
}

// Forget drops what the Client remembers of realm (both for 401 and 407
// challenges), for example when the user's credentials change.
func (c *Client) Forget(realm string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.sessions, sessionKey{false, realm})
	delete(c.sessions, sessionKey{true, realm})
}

// session returns the session for k, creating it (and forgetting the least
// recently used one when there are too many). Called with c.mu held.
func (c *Client) session(k sessionKey) *session {
	if c.sessions == nil {
		c.sessions = make(map[sessionKey]*session)
	}
	c.clock++
	s := c.sessions[k]
	if s == nil {
		if len(c.sessions) >= maxSessions {
			var oldest sessionKey
			var min uint64 = ^uint64(0)
			for k2, s2 := range c.sessions {
				if s2.lastUse < min {
					oldest, min = k2, s2.lastUse
				}
			}
			delete(c.sessions, oldest)
		}
		s = new(session)
		c.sessions[k] = s
	}
	s.lastUse = c.clock
	return s
}

// cnonce returns a fresh random client nonce. Called with c.mu held.
func (c *Client) cnonce() (string, error) {
	r := c.Rand
	if r == nil {
		r = rand.Reader
	}
	var b [cnonceBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// credentials computes the header value for req with the session's current
// nonce and nc, and returns it with the response value.
func (s *session) credentials(req *sip.Request, cnonce string) (value, response string, err error) {
	body := req.Body()
	qop := s.chooseQOP(len(body) > 0)
	uri := req.URI.String()
	p := Params{
		Username: s.cred.Username,
		Realm:    s.realm,
		Password: s.cred.Password,
		Nonce:    s.nonce,
		CNonce:   cnonce,
		NC:       s.nc,
		QOP:      qop,
		Method:   req.Method,
		URI:      uri,
		Body:     body,
	}
	var rb [2 * 32]byte
	r, err := appendResponse(rb[:0], s.alg, &p)
	if err != nil {
		return "", "", err
	}
	response = string(r)
	username := s.cred.Username
	if s.userhash {
		username = userhash(s.alg, username, s.realm)
	}
	ps := make([]sip.AuthParam, 0, 11)
	ps = append(ps,
		sip.AuthParam{Name: "username", Value: username, Quoted: true},
		sip.AuthParam{Name: "realm", Value: s.realm, Quoted: true},
		sip.AuthParam{Name: "nonce", Value: s.nonce, Quoted: true},
		sip.AuthParam{Name: "uri", Value: uri, Quoted: true},
		sip.AuthParam{Name: "response", Value: response, Quoted: true},
		sip.AuthParam{Name: "algorithm", Value: s.alg.String()},
	)
	if qop != "" {
		var nc [8]byte
		ps = append(ps,
			sip.AuthParam{Name: "cnonce", Value: cnonce, Quoted: true},
			sip.AuthParam{Name: "qop", Value: qop},
			sip.AuthParam{Name: "nc", Value: string(appendNC(nc[:0], s.nc))},
		)
	}
	if s.hasOpaque {
		ps = append(ps, sip.AuthParam{Name: "opaque", Value: s.opaque, Quoted: true})
	}
	if s.userhash {
		ps = append(ps, sip.AuthParam{Name: "userhash", Value: "true"})
	}
	return sip.Credentials{Scheme: "Digest", Params: ps}.String(), response, nil
}

// findCredentials returns the Digest credentials for realm among the
// fields called name.
func findCredentials(req *sip.Request, name, realm string) (sip.Credentials, bool) {
	for _, v := range req.Values(name) {
		cr, err := sip.ParseCredentials(v)
		if err != nil || !strings.EqualFold(cr.Scheme, "Digest") {
			continue
		}
		if cr.Get("realm") == realm {
			return cr, true
		}
	}
	return sip.Credentials{}, false
}

// setCredentials replaces the fields called name that hold Digest
// credentials for realm with one holding value, keeping the others.
func setCredentials(req *sip.Request, name, realm, value string) {
	vals := req.Values(name)
	if len(vals) == 0 {
		req.Add(name, value)
		return
	}
	req.Del(name)
	for _, v := range vals {
		cr, err := sip.ParseCredentials(v)
		if err == nil && strings.EqualFold(cr.Scheme, "Digest") && cr.Get("realm") == realm {
			continue
		}
		req.Add(name, v)
	}
	req.Add(name, value)
}
