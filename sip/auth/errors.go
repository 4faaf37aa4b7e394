package auth

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. The client side returns them wrapped in an [*Error] that
// carries the SIP status and the realm; test for them with errors.Is.
var (
	// ErrAuthFailed: the credentials were rejected. The request was
	// challenged again (without stale=true) after the client had answered a
	// challenge for the same realm, or challenged stale a second time in a
	// row. Asking the user for other credentials is the only way on.
	ErrAuthFailed = errors.New("auth: authentication failed")
	// ErrNoChallenge: the response is not a 401 or 407, or carries no
	// usable Digest challenge (none at all, or only malformed ones).
	ErrNoChallenge = errors.New("auth: no digest challenge")
	// ErrUnsupportedAlgorithm: no challenge names an algorithm this package
	// implements, or Response / NewServer was given one it does not.
	ErrUnsupportedAlgorithm = errors.New("auth: unsupported digest algorithm")
	// ErrUnsupportedQOP: no challenge offers a qop this package implements
	// ("auth", "auth-int", or none), or Response / NewServer was given one.
	ErrUnsupportedQOP = errors.New("auth: unsupported qop")
	// ErrNoCredentials: the response challenges only realms the given
	// Credentials are not for (Credentials.Realm is set and differs).
	ErrNoCredentials = errors.New("auth: no credentials for the challenged realm")
	// ErrInvalidConfig: NewServer was given an unusable ServerConfig.
	ErrInvalidConfig = errors.New("auth: invalid server configuration")
)

// Error is the error the client side returns: which response (Status, 401
// or 407) and which realm it concerns, and the sentinel saying what went
// wrong (Err). errors.Is(err, ErrAuthFailed) looks through it.
type Error struct {
	// Status is the status code of the response being answered (401, 407,
	// or whatever was passed when it was neither).
	Status int
	// Realm is the realm concerned, or "" when the failure concerns no
	// single realm (no challenge at all, for example).
	Realm string
	// Err is one of the sentinel errors of this package, or the error of
	// the random source.
	Err error
}

// Error says what failed, for which status and realm.
func (e *Error) Error() string {
	b := make([]byte, 0, 64+len(e.Realm))
	b = append(b, "auth: "...)
	if e.Status != 0 {
		b = append(b, "status "...)
		b = strconv.AppendInt(b, int64(e.Status), 10)
		if e.Realm != "" {
			b = append(b, ", "...)
		}
	}
	if e.Realm != "" {
		b = append(b, "realm "...)
		b = strconv.AppendQuote(b, e.Realm)
	}
	if e.Status != 0 || e.Realm != "" {
		b = append(b, ": "...)
	}
	if e.Err != nil {
		b = append(b, strings.TrimPrefix(e.Err.Error(), "auth: ")...)
	} else {
		b = append(b, "error"...)
	}
	return string(b)
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }
