package conversation

import (
	"context"
	"errors"
	"strconv"
	"time"
)

var (
	// ErrOperationInProgress is what every *OperationInProgressError
	// matches with errors.Is.
	ErrOperationInProgress = errors.New("conversation: operation in progress")
	// ErrTerminated: the conversation is over.
	ErrTerminated = errors.New("conversation: terminated")
	// ErrNotConference: Join on a conversation whose Config.Conference is
	// false.
	ErrNotConference = errors.New("conversation: not a conference")
)

// OperationInProgressError fails an operation at once (Config.FailFast)
// because the same operation is in flight; RetryAfter is when the
// in-flight one will have finished at the latest (its bound).
type OperationInProgressError struct {
	Op         string // "messaging", "audio", "video", "join"
	RetryAfter time.Duration
}

func (e *OperationInProgressError) Error() string {
	return "conversation: " + e.Op + " already in progress; retry after " + e.RetryAfter.String()
}

// Is makes errors.Is(err, ErrOperationInProgress) true.
func (e *OperationInProgressError) Is(target error) bool { return target == ErrOperationInProgress }

// TimeoutError is an operation that did not complete within
// Config.Timeout: a pending invitation, a modality add or a join whose
// participant never appeared in the roster (AT-P3-4).
type TimeoutError struct {
	Op    string
	After time.Duration
}

func (e *TimeoutError) Error() string {
	return "conversation: " + e.Op + " did not complete within " + e.After.String()
}

// Timeout reports true, as net.Error does.
func (e *TimeoutError) Timeout() bool { return true }

// Is makes errors.Is(err, context.DeadlineExceeded) true.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// OperationError is an operation that failed for good: Err is the last
// attempt's error (a *dialog.TerminatedError wrapping a *ua.StatusError
// for a rejection), after Attempts attempts (retries of 491 and
// 500/503 with Retry-After included).
type OperationError struct {
	Op       string
	Attempts int
	Err      error
}

func (e *OperationError) Error() string {
	return "conversation: " + e.Op + " failed after " + strconv.Itoa(e.Attempts) + " attempt(s): " + e.Err.Error()
}

// Unwrap returns the last attempt's error.
func (e *OperationError) Unwrap() error { return e.Err }
