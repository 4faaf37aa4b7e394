package sip

// hid identifies a known header field; 0 is any other (extension) header.
type hid uint8

const (
	hOther hid = iota
	hAccept
	hAcceptContact
	hAcceptEncoding
	hAcceptLanguage
	hAlertInfo
	hAllow
	hAllowEvents
	hAuthenticationInfo
	hAuthorization
	hCallID
	hCallInfo
	hContact
	hContentDisposition
	hContentEncoding
	hContentID
	hContentLanguage
	hContentLength
	hContentType
	hCSeq
	hDate
	hErrorInfo
	hEvent
	hExpires
	hFrom
	hIdentity
	hInReplyTo
	hMaxForwards
	hMIMEVersion
	hMinExpires
	hMinSE
	hMSDiagnostics
	hOrganization
	hPAssertedIdentity
	hPPreferredIdentity
	hPath
	hPriority
	hPrivacy
	hProxyAuthenticate
	hProxyAuthorization
	hProxyRequire
	hRAck
	hReason
	hRecordRoute
	hReferSub
	hReferTo
	hReferredBy
	hRejectContact
	hReplaces
	hReplyTo
	hRequestDisposition
	hRequire
	hRetryAfter
	hRoute
	hRSeq
	hServer
	hServiceRoute
	hSessionExpires
	hSIPETag
	hSIPIfMatch
	hSubject
	hSubscriptionState
	hSupported
	hTargetDialog
	hTimestamp
	hTo
	hUnsupported
	hUserAgent
	hVia
	hWarning
	hWWWAuthenticate
	numHIDs
)

// canonicalNames holds the canonical spelling of every known header.
var canonicalNames = [numHIDs]string{
	hAccept:             "Accept",
	hAcceptContact:      "Accept-Contact",
	hAcceptEncoding:     "Accept-Encoding",
	hAcceptLanguage:     "Accept-Language",
	hAlertInfo:          "Alert-Info",
	hAllow:              "Allow",
	hAllowEvents:        "Allow-Events",
	hAuthenticationInfo: "Authentication-Info",
	hAuthorization:      "Authorization",
	hCallID:             "Call-ID",
	hCallInfo:           "Call-Info",
	hContact:            "Contact",
	hContentDisposition: "Content-Disposition",
	hContentEncoding:    "Content-Encoding",
	hContentID:          "Content-ID",
	hContentLanguage:    "Content-Language",
	hContentLength:      "Content-Length",
	hContentType:        "Content-Type",
	hCSeq:               "CSeq",
	hDate:               "Date",
	hErrorInfo:          "Error-Info",
	hEvent:              "Event",
	hExpires:            "Expires",
	hFrom:               "From",
	hIdentity:           "Identity",
	hInReplyTo:          "In-Reply-To",
	hMaxForwards:        "Max-Forwards",
	hMIMEVersion:        "MIME-Version",
	hMinExpires:         "Min-Expires",
	hMinSE:              "Min-SE",
	hMSDiagnostics:      "ms-diagnostics",
	hOrganization:       "Organization",
	hPAssertedIdentity:  "P-Asserted-Identity",
	hPPreferredIdentity: "P-Preferred-Identity",
	hPath:               "Path",
	hPriority:           "Priority",
	hPrivacy:            "Privacy",
	hProxyAuthenticate:  "Proxy-Authenticate",
	hProxyAuthorization: "Proxy-Authorization",
	hProxyRequire:       "Proxy-Require",
	hRAck:               "RAck",
	hReason:             "Reason",
	hRecordRoute:        "Record-Route",
	hReferSub:           "Refer-Sub",
	hReferTo:            "Refer-To",
	hReferredBy:         "Referred-By",
	hRejectContact:      "Reject-Contact",
	hReplaces:           "Replaces",
	hReplyTo:            "Reply-To",
	hRequestDisposition: "Request-Disposition",
	hRequire:            "Require",
	hRetryAfter:         "Retry-After",
	hRoute:              "Route",
	hRSeq:               "RSeq",
	hServer:             "Server",
	hServiceRoute:       "Service-Route",
	hSessionExpires:     "Session-Expires",
	hSIPETag:            "SIP-ETag",
	hSIPIfMatch:         "SIP-If-Match",
	hSubject:            "Subject",
	hSubscriptionState:  "Subscription-State",
	hSupported:          "Supported",
	hTargetDialog:       "Target-Dialog",
	hTimestamp:          "Timestamp",
	hTo:                 "To",
	hUnsupported:        "Unsupported",
	hUserAgent:          "User-Agent",
	hVia:                "Via",
	hWarning:            "Warning",
	hWWWAuthenticate:    "WWW-Authenticate",
}

// compactForms maps the lower-case compact letters of RFC 3261 §7.3.3 and
// its extensions to header IDs.
var compactForms = [26]hid{
	'a' - 'a': hAcceptContact,      // RFC 3841
	'b' - 'a': hReferredBy,         // RFC 3892
	'c' - 'a': hContentType,        // RFC 3261
	'd' - 'a': hRequestDisposition, // RFC 3841
	'e' - 'a': hContentEncoding,    // RFC 3261
	'f' - 'a': hFrom,               // RFC 3261
	'i' - 'a': hCallID,             // RFC 3261
	'j' - 'a': hRejectContact,      // RFC 3841
	'k' - 'a': hSupported,          // RFC 3261
	'l' - 'a': hContentLength,      // RFC 3261
	'm' - 'a': hContact,            // RFC 3261
	'o' - 'a': hEvent,              // RFC 6665
	'r' - 'a': hReferTo,            // RFC 3515
	's' - 'a': hSubject,            // RFC 3261
	't' - 'a': hTo,                 // RFC 3261
	'u' - 'a': hAllowEvents,        // RFC 6665
	'v' - 'a': hVia,                // RFC 3261
	'x' - 'a': hSessionExpires,     // RFC 4028
	'y' - 'a': hIdentity,           // RFC 8224
}

// hidTable is a small hash table over the length and three letters of the
// full names; each bucket holds the few IDs that share a hash and is
// confirmed with a case-insensitive compare. It is built from
// canonicalNames at init, so the two cannot disagree.
var hidTable = func() (t [256][4]hid) {
	for id := hid(1); id < numHIDs; id++ {
		b := &t[hidHash(canonicalNames[id])]
		for i := range b {
			if b[i] == hOther {
				b[i] = id
				break
			}
			if i == len(b)-1 {
				panic("sip: header hash bucket overflow") // caught by any test, at init
			}
		}
	}
	return t
}()

func hidHash(name string) uint8 {
	n := len(name)
	return uint8(n*31 + int(name[0]|0x20)*7 + int(name[n-1]|0x20)*3 + int(name[n/2]|0x20))
}

// lookupHID returns the ID of a header name in any case, full or compact.
func lookupHID(name string) hid {
	switch len(name) {
	case 0:
		return hOther
	case 1:
		c := name[0] | 0x20
		if c >= 'a' && c <= 'z' {
			return compactForms[c-'a']
		}
		return hOther
	}
	for _, id := range hidTable[hidHash(name)] {
		if id == hOther {
			break
		}
		if c := canonicalNames[id]; c == name || len(c) == len(name) && equalFoldASCII(c, name) {
			return id
		}
	}
	return hOther
}

// equalFoldASCII compares two strings of equal length ignoring ASCII case.
func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}

// CanonicalHeaderName returns the canonical spelling of a known header name
// given in any case or in compact form ("v" → "Via", "call-id" → "Call-ID"),
// and name itself for any other header.
func CanonicalHeaderName(name string) string {
	if id := lookupHID(name); id != hOther {
		return canonicalNames[id]
	}
	return name
}

// isListHeader reports whether a header's values may be combined into one
// comma-separated line (RFC 3261 §7.3.1). The authentication headers and
// headers whose values contain commas (Date, Retry-After's comment) may not.
func isListHeader(id hid) bool {
	switch id {
	case hAccept, hAcceptContact, hAcceptEncoding, hAcceptLanguage, hAlertInfo, hAllow,
		hAllowEvents, hCallInfo, hContact, hContentEncoding, hContentLanguage, hErrorInfo,
		hInReplyTo, hPAssertedIdentity, hPPreferredIdentity, hPath, hPrivacy, hProxyRequire,
		hReason, hRecordRoute, hRejectContact, hRequestDisposition, hRequire, hRoute,
		hServiceRoute, hSupported, hUnsupported, hVia, hWarning:
		return true
	}
	return false
}
