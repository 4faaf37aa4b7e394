package im

import (
	"bytes"
	"strings"
	"sync"
	"time"

	"github.com/sipua-go/sipua/sip"
)

// Content types of this package.
const (
	// TextPlain is the default content type of Send.
	TextPlain = "text/plain"
	// ComposingType is RFC 3994's status message type.
	ComposingType = "application/im-iscomposing+xml"
	// CPIMType is RFC 3862's wrapper, used by conference focuses to name
	// the participant who sent a message.
	CPIMType = "message/cpim"
)

// Message is an instant message received.
type Message struct {
	// From is the sender: for a message/cpim body (a conference focus
	// relaying a participant) the CPIM From, else the request's From.
	From sip.Address
	// To is the request's To (or the CPIM To).
	To sip.Address
	// ContentType is the content type with its parameters (the CPIM
	// payload's for a message/cpim body).
	ContentType string
	// Body is the content.
	Body []byte
	// Time is the CPIM DateTime when there is one, else when the message
	// arrived (on the UA's clock).
	Time time.Time
	// Transport is the transport the MESSAGE arrived on ("UDP", "TCP",
	// ...); empty for in-dialog messages of a Flow.
	Transport string
	// Request is the MESSAGE as received.
	Request *sip.Request
}

// Text returns the body as a string.
func (m *Message) Text() string { return string(m.Body) }

// newMessage builds a Message from a MESSAGE request, unwrapping CPIM.
func newMessage(req *sip.Request, now time.Time) *Message {
	m := &Message{From: req.From(), To: req.To(), ContentType: req.Get("Content-Type"),
		Body: req.Body(), Time: now, Request: req}
	m.From.Params = m.From.Params.Without("tag")
	m.To.Params = m.To.Params.Without("tag")
	if req.ContentType().Is(CPIMType) {
		if c, ok := parseCPIM(req.Body()); ok {
			if c.from.URI.Scheme != "" {
				m.From = c.from
			}
			if c.to.URI.Scheme != "" {
				m.To = c.to
			}
			if !c.time.IsZero() {
				m.Time = c.time
			}
			m.ContentType, m.Body = c.contentType, c.body
		}
	}
	return m
}

type cpim struct {
	from, to    sip.Address
	time        time.Time
	contentType string
	body        []byte
}

// parseCPIM reads an RFC 3862 message: message headers, a blank line,
// MIME headers of the content, a blank line, the content. im: and pres:
// URIs are kept as they are (sip.ParseAddress accepts any scheme).
func parseCPIM(b []byte) (cpim, bool) {
	var c cpim
	hdr, rest, ok := cutBlank(b)
	if !ok {
		return c, false
	}
	for _, line := range strings.Split(string(hdr), "\n") {
		name, value, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "from":
			c.from, _ = sip.ParseAddress(value)
		case "to":
			c.to, _ = sip.ParseAddress(value)
		case "datetime":
			c.time, _ = time.Parse(time.RFC3339, value)
		}
	}
	mime, body, ok := cutBlank(rest)
	if !ok {
		return c, false
	}
	c.contentType = TextPlain
	for _, line := range strings.Split(string(mime), "\n") {
		name, value, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), "Content-Type") {
			c.contentType = strings.TrimSpace(value)
		}
	}
	c.body = body
	return c, true
}

// cutBlank splits b at the first empty line (CRLF CRLF or LF LF).
func cutBlank(b []byte) (head, rest []byte, ok bool) {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return b[:i], b[i+4:], true
	}
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		return b[:i], b[i+2:], true
	}
	return nil, nil, false
}

// queue delivers values in order, one at a time, on a goroutine that
// exists only while values are pending. Until a handler is set values
// wait, up to limit; push reports false when the backlog is full.
type queue[T any] struct {
	mu      sync.Mutex
	f       func(T)
	q       []entry[T]
	limit   int
	running bool
	closed  bool
}

// entry is a queued value; key, when not 0, orders it among the pending
// entries with keys (the CSeq of the request it came from).
type entry[T any] struct {
	v   T
	key uint32
}

func (q *queue[T]) push(v T) bool { return q.pushKey(v, 0) }

// pushKey queues v; with a key, before any pending entry of a higher key.
// The dialog layer answers an in-dialog request before it reports it, so
// two MESSAGEs sent one after the other can be reported in the wrong
// order; their CSeq puts them back in order while they wait.
func (q *queue[T]) pushKey(v T, key uint32) bool {
	q.mu.Lock()
	if q.closed || len(q.q) >= q.limit {
		q.mu.Unlock()
		return false
	}
	i := len(q.q)
	if key != 0 {
		for i > 0 && q.q[i-1].key > key {
			i--
		}
	}
	q.q = append(q.q, entry[T]{})
	copy(q.q[i+1:], q.q[i:])
	q.q[i] = entry[T]{v: v, key: key}
	start := q.f != nil && !q.running
	if start {
		q.running = true
	}
	q.mu.Unlock()
	if start {
		go q.drain()
	}
	return true
}

// set installs the handler; what waited is delivered to it first.
func (q *queue[T]) set(f func(T)) {
	q.mu.Lock()
	q.f = f
	start := f != nil && len(q.q) > 0 && !q.running
	if start {
		q.running = true
	}
	q.mu.Unlock()
	if start {
		go q.drain()
	}
}

func (q *queue[T]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.q)
}

func (q *queue[T]) drain() {
	for {
		q.mu.Lock()
		if len(q.q) == 0 || q.f == nil {
			q.running = false
			q.mu.Unlock()
			return
		}
		v, f := q.q[0].v, q.f
		q.q[0] = entry[T]{}
		q.q = q.q[1:]
		q.mu.Unlock()
		f(v)
	}
}
