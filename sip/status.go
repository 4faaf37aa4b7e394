package sip

// SIP status codes (RFC 3261 §21 and the extensions the layers above use).
const (
	StatusTrying                = 100
	StatusRinging               = 180
	StatusCallIsBeingForwarded  = 181
	StatusQueued                = 182
	StatusSessionProgress       = 183
	StatusEarlyDialogTerminated = 199

	StatusOK             = 200
	StatusAccepted       = 202
	StatusNoNotification = 204

	StatusMultipleChoices    = 300
	StatusMovedPermanently   = 301
	StatusMovedTemporarily   = 302
	StatusUseProxy           = 305
	StatusAlternativeService = 380

	StatusBadRequest                  = 400
	StatusUnauthorized                = 401
	StatusPaymentRequired             = 402
	StatusForbidden                   = 403
	StatusNotFound                    = 404
	StatusMethodNotAllowed            = 405
	StatusNotAcceptable               = 406
	StatusProxyAuthenticationRequired = 407
	StatusRequestTimeout              = 408
	StatusConflict                    = 409
	StatusGone                        = 410
	StatusConditionalRequestFailed    = 412
	StatusRequestEntityTooLarge       = 413
	StatusRequestURITooLong           = 414
	StatusUnsupportedMediaType        = 415
	StatusUnsupportedURIScheme        = 416
	StatusBadExtension                = 420
	StatusExtensionRequired           = 421
	StatusSessionIntervalTooSmall     = 422
	StatusIntervalTooBrief            = 423
	StatusUseIdentityHeader           = 428
	StatusProvideReferrerIdentity     = 429
	StatusFlowFailed                  = 430
	StatusAnonymityDisallowed         = 433
	StatusTemporarilyUnavailable      = 480
	StatusCallTransactionDoesNotExist = 481
	StatusLoopDetected                = 482
	StatusTooManyHops                 = 483
	StatusAddressIncomplete           = 484
	StatusAmbiguous                   = 485
	StatusBusyHere                    = 486
	StatusRequestTerminated           = 487
	StatusNotAcceptableHere           = 488
	StatusBadEvent                    = 489
	StatusRequestPending              = 491
	StatusUndecipherable              = 493

	StatusServerInternalError = 500
	StatusNotImplemented      = 501
	StatusBadGateway          = 502
	StatusServiceUnavailable  = 503
	StatusServerTimeout       = 504
	StatusVersionNotSupported = 505
	StatusMessageTooLarge     = 513
	StatusPreconditionFailure = 580

	StatusBusyEverywhere       = 600
	StatusDecline              = 603
	StatusDoesNotExistAnywhere = 604
	StatusNotAcceptableGlobal  = 606
)

var statusText = map[int]string{
	StatusTrying:                "Trying",
	StatusRinging:               "Ringing",
	StatusCallIsBeingForwarded:  "Call Is Being Forwarded",
	StatusQueued:                "Queued",
	StatusSessionProgress:       "Session Progress",
	StatusEarlyDialogTerminated: "Early Dialog Terminated",

	StatusOK:             "OK",
	StatusAccepted:       "Accepted",
	StatusNoNotification: "No Notification",

	StatusMultipleChoices:    "Multiple Choices",
	StatusMovedPermanently:   "Moved Permanently",
	StatusMovedTemporarily:   "Moved Temporarily",
	StatusUseProxy:           "Use Proxy",
	StatusAlternativeService: "Alternative Service",

	StatusBadRequest:                  "Bad Request",
	StatusUnauthorized:                "Unauthorized",
	StatusPaymentRequired:             "Payment Required",
	StatusForbidden:                   "Forbidden",
	StatusNotFound:                    "Not Found",
	StatusMethodNotAllowed:            "Method Not Allowed",
	StatusNotAcceptable:               "Not Acceptable",
	StatusProxyAuthenticationRequired: "Proxy Authentication Required",
	StatusRequestTimeout:              "Request Timeout",
	StatusConflict:                    "Conflict",
	StatusGone:                        "Gone",
	StatusConditionalRequestFailed:    "Conditional Request Failed",
	StatusRequestEntityTooLarge:       "Request Entity Too Large",
	StatusRequestURITooLong:           "Request-URI Too Long",
	StatusUnsupportedMediaType:        "Unsupported Media Type",
	StatusUnsupportedURIScheme:        "Unsupported URI Scheme",
	StatusBadExtension:                "Bad Extension",
	StatusExtensionRequired:           "Extension Required",
	StatusSessionIntervalTooSmall:     "Session Interval Too Small",
	StatusIntervalTooBrief:            "Interval Too Brief",
	StatusUseIdentityHeader:           "Use Identity Header",
	StatusProvideReferrerIdentity:     "Provide Referrer Identity",
	StatusFlowFailed:                  "Flow Failed",
	StatusAnonymityDisallowed:         "Anonymity Disallowed",
	StatusTemporarilyUnavailable:      "Temporarily Unavailable",
	StatusCallTransactionDoesNotExist: "Call/Transaction Does Not Exist",
	StatusLoopDetected:                "Loop Detected",
	StatusTooManyHops:                 "Too Many Hops",
	StatusAddressIncomplete:           "Address Incomplete",
	StatusAmbiguous:                   "Ambiguous",
	StatusBusyHere:                    "Busy Here",
	StatusRequestTerminated:           "Request Terminated",
	StatusNotAcceptableHere:           "Not Acceptable Here",
	StatusBadEvent:                    "Bad Event",
	StatusRequestPending:              "Request Pending",
	StatusUndecipherable:              "Undecipherable",

	StatusServerInternalError: "Server Internal Error",
	StatusNotImplemented:      "Not Implemented",
	StatusBadGateway:          "Bad Gateway",
	StatusServiceUnavailable:  "Service Unavailable",
	StatusServerTimeout:       "Server Time-out",
	StatusVersionNotSupported: "Version Not Supported",
	StatusMessageTooLarge:     "Message Too Large",
	StatusPreconditionFailure: "Precondition Failure",

	StatusBusyEverywhere:       "Busy Everywhere",
	StatusDecline:              "Decline",
	StatusDoesNotExistAnywhere: "Does Not Exist Anywhere",
	StatusNotAcceptableGlobal:  "Not Acceptable",
}

// StatusText returns the default reason phrase for a status code. For a code
// it does not know it returns a generic phrase for the code's class, so a
// response never goes out with an empty reason by accident.
func StatusText(code int) string {
	if s, ok := statusText[code]; ok {
		return s
	}
	switch code / 100 {
	case 1:
		return "Session Progress"
	case 2:
		return "OK"
	case 3:
		return "Redirection"
	case 4:
		return "Client Error"
	case 5:
		return "Server Error"
	case 6:
		return "Global Failure"
	}
	return "Unknown"
}
