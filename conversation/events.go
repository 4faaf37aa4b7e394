package conversation

import (
	"strconv"
	"sync"
	"time"

	"github.com/sipua-go/sipua/im"
)

// Modality is a kind of media a conversation carries.
type Modality int

// Modalities.
const (
	Messaging Modality = iota + 1
	Audio
	Video
)

func (m Modality) String() string {
	switch m {
	case Messaging:
		return "messaging"
	case Audio:
		return "audio"
	case Video:
		return "video"
	}
	return "Modality(" + strconv.Itoa(int(m)) + ")"
}

// ModalityState is the state of one modality, as UCMA's flows have.
type ModalityState int

// Modality states.
const (
	Disconnected ModalityState = iota
	Connecting
	Connected
)

func (s ModalityState) String() string {
	switch s {
	case Disconnected:
		return "Disconnected"
	case Connecting:
		return "Connecting"
	case Connected:
		return "Connected"
	}
	return "ModalityState(" + strconv.Itoa(int(s)) + ")"
}

// State is the state of a conversation.
type State int

// Conversation states. A two-party conversation is Established when its
// first modality connects; a conference when our participant appears in
// the roster.
const (
	Idle State = iota
	Establishing
	Established
	Terminated
)

func (s State) String() string {
	switch s {
	case Idle:
		return "Idle"
	case Establishing:
		return "Establishing"
	case Established:
		return "Established"
	case Terminated:
		return "Terminated"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Event is something that happened to a conversation: StateChanged,
// ModalityChanged, MessageReceived, ComposingChanged, RosterChanged or
// RetryScheduled. Events are delivered in order, one at a time.
type Event interface{ conversationEvent() }

// StateChanged reports a conversation state change; Err says why for a
// failed join (back to Idle) and for Terminated.
type StateChanged struct {
	From, To State
	Err      error
}

// ModalityChanged reports a modality state change; Err is the cause of a
// move to Disconnected.
type ModalityChanged struct {
	Modality Modality
	From, To ModalityState
	Err      error
}

// MessageReceived reports an instant message (already answered 200): the
// sender is the participant (Message.From), also in a conference.
type MessageReceived struct{ Message *im.Message }

// ComposingChanged reports a participant's composing state (RFC 3994).
type ComposingChanged struct{ im.ComposingChanged }

// RosterChanged reports participants that joined, changed or left.
type RosterChanged struct{ RosterChange }

// RetryScheduled reports that an operation failed with a retryable
// response (491, or 500/503 with Retry-After) and is tried again after
// Delay.
type RetryScheduled struct {
	Op      string
	Attempt int // the attempt that failed, from 1
	Delay   time.Duration
	Cause   error
}

func (StateChanged) conversationEvent()     {}
func (ModalityChanged) conversationEvent()  {}
func (MessageReceived) conversationEvent()  {}
func (ComposingChanged) conversationEvent() {}
func (RosterChanged) conversationEvent()    {}
func (RetryScheduled) conversationEvent()   {}

// events delivers in order, buffering (up to limit) until a handler is
// set; beyond the limit events are counted as dropped.
type events struct {
	mu      sync.Mutex
	f       func(Event)
	q       []Event
	limit   int
	running bool
	dropped int
}

func (e *events) emit(ev Event) {
	e.mu.Lock()
	if len(e.q) >= e.limit {
		e.dropped++
		e.mu.Unlock()
		return
	}
	e.q = append(e.q, ev)
	start := e.f != nil && !e.running
	if start {
		e.running = true
	}
	e.mu.Unlock()
	if start {
		go e.drain()
	}
}

func (e *events) set(f func(Event)) {
	e.mu.Lock()
	e.f = f
	start := f != nil && len(e.q) > 0 && !e.running
	if start {
		e.running = true
	}
	e.mu.Unlock()
	if start {
		go e.drain()
	}
}

func (e *events) drain() {
	for {
		e.mu.Lock()
		if len(e.q) == 0 || e.f == nil {
			e.running = false
			e.mu.Unlock()
			return
		}
		ev, f := e.q[0], e.f
		e.q[0] = nil
		e.q = e.q[1:]
		e.mu.Unlock()
		f(ev)
	}
}
