package sip

// SIP request methods (RFC 3261 and the extensions sipua implements). Any
// other token is a valid extension method.
const (
	MethodInvite    = "INVITE"
	MethodAck       = "ACK"
	MethodBye       = "BYE"
	MethodCancel    = "CANCEL"
	MethodOptions   = "OPTIONS"
	MethodRegister  = "REGISTER"
	MethodPrack     = "PRACK"     // RFC 3262
	MethodSubscribe = "SUBSCRIBE" // RFC 6665
	MethodNotify    = "NOTIFY"    // RFC 6665
	MethodPublish   = "PUBLISH"   // RFC 3903
	MethodInfo      = "INFO"      // RFC 6086
	MethodRefer     = "REFER"     // RFC 3515
	MethodMessage   = "MESSAGE"   // RFC 3428
	MethodUpdate    = "UPDATE"    // RFC 3311
)

// tokenChars marks the bytes allowed in an RFC 3261 token:
// alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~".
var tokenChars = makeSet("-.!%*_+`'~", true)

// isToken reports whether s is a non-empty RFC 3261 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChars[s[i]] {
			return false
		}
	}
	return true
}

func makeSet(extra string, alnum bool) (t [256]bool) {
	if alnum {
		for c := '0'; c <= '9'; c++ {
			t[c] = true
		}
		for c := 'a'; c <= 'z'; c++ {
			t[c] = true
			t[c-'a'+'A'] = true
		}
	}
	for i := 0; i < len(extra); i++ {
		t[extra[i]] = true
	}
	return t
}
