package sip

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync/atomic"
)

// ErrPing is returned by Parser.ReadMessage, with a nil message, when the
// peer sent an RFC 5626 §3.5.1 keep-alive ping (a double CRLF between
// messages). It is not a failure: the transport answers with a single CRLF
// pong and reads on. Single CRLF pongs are skipped silently.
var ErrPing = errors.New("sip: keep-alive ping")

// Parser frames and parses SIP messages from a stream (TCP, TLS, or the
// concatenated frames of a WebSocket connection). Content-Length is
// mandatory (RFC 3261 §18.3); pipelined messages and partial reads are
// handled; CRLF keep-alives are recognised.
//
// After a framing error (a message over the size limits, a missing or bad
// Content-Length, or a stream that ends inside a message) the stream cannot
// be resynchronised: that error is returned again by every later call and
// the transport should close the connection (after a 400 or 513 where the
// error carries a Partial message to answer). After any other parse error
// the bad message has been skipped and ReadMessage can be called again.
//
// A Parser is not safe for concurrent use.
type Parser struct {
	r          io.Reader
	lim        Limits
	buf        []byte
	start, end int
	scanned    int   // bytes from start known to hold no end of header section
	err        error // sticky framing or read error
	// sc is the header scan of the message at start while it waits for
	// more bytes (scanning), and slow marks a message headScan declined,
	// which the general path frames and parses.
	sc             headScan
	scanning, slow bool
	noFast         bool // tests: the general path only
	onPong         func()
	expectPong     atomic.Bool
}

// OnPong sets a function called for every keep-alive pong (a single CRLF
// between messages, RFC 5626 §4.4.1) the parser skips: a client that sent
// a CRLFCRLF ping learns that its flow is alive. Set it before the first
// ReadMessage.
func (p *Parser) OnPong(f func()) { p.onPong = f }

// ExpectPong tells the parser that a ping was sent, so that a CRLF alone
// is a pong even when nothing follows it yet (it could otherwise be the
// start of the peer's own ping). It may be called from another goroutine
// than the one reading.
func (p *Parser) ExpectPong() { p.expectPong.Store(true) }

// NewParser returns a stream parser reading from r with the default Limits.
func NewParser(r io.Reader) *Parser {
	return NewParserLimits(r, Limits{})
}

// NewParserLimits returns a stream parser with explicit limits.
func NewParserLimits(r io.Reader, lim Limits) *Parser {
	return &Parser{r: r, lim: lim.resolved(), buf: make([]byte, 4096)}
}

// Err returns the framing or read error that stopped the parser, or nil
// while it can go on (after a malformed but framed message, for example).
func (p *Parser) Err() error { return p.err }

// Buffered returns the number of bytes read from the stream but not yet
// consumed.
func (p *Parser) Buffered() int { return p.end - p.start }

// ReadMessage returns the next message. It returns io.EOF when the stream
// ends cleanly between messages, ErrPing for a keep-alive ping, and a
// *ParseError for a malformed message.
func (p *Parser) ReadMessage() (Message, error) {
	if p.err != nil {
		return nil, p.err
	}
	for {
		// Keep-alives between messages.
		for p.end-p.start > 0 && (p.buf[p.start] == '\r' || p.buf[p.start] == '\n') {
			n := p.end - p.start
			b := p.buf[p.start:p.end]
			if n >= 4 && string(b[:4]) == "\r\n\r\n" {
				p.start += 4
				return nil, ErrPing
			}
			if n >= 2 && string(b[:2]) == "\r\n" && p.expectPong.CompareAndSwap(true, false) {
				p.start += 2 // the pong to our ping
				if p.onPong != nil {
					p.onPong()
				}
				continue
			}
			if n >= 3 && string(b[:2]) == "\r\n" && (b[2] != '\r' || n >= 4) {
				p.start += 2 // pong (with n >= 4 a ping was ruled out above)
				if p.onPong != nil {
					p.onPong()
				}
				continue
			}
			if n >= 2 && b[0] == '\n' || n >= 2 && b[0] == '\r' && b[1] != '\n' {
				p.start++ // stray line break
				continue
			}
			if err := p.fill(); err != nil {
				if err == io.EOF && p.end-p.start <= 3 {
					p.start = p.end
				}
				return nil, p.fail(err)
			}
		}
		if p.end-p.start == 0 {
			if err := p.fill(); err != nil {
				return nil, p.fail(err)
			}
			continue
		}
		b := p.buf[p.start:p.end]
		if !p.slow && !p.noFast {
			msg, st := p.readFast(b)
			if st == scanDone {
				return msg, nil
			}
			if st == scanMore {
				if err := p.more(len(b), p.sc.hdrEnd > 0); err != nil {
					return nil, err
				}
				continue
			}
			p.slow, p.scanning = true, false
		}
		hdrEnd, bodyStart := headerEnd(b, max(p.scanned-2, 0))
		if hdrEnd < 0 {
			p.scanned = len(b)
			if len(b) > p.lim.MaxMessageSize {
				return nil, p.fail(&ParseError{Offset: p.lim.MaxMessageSize, Msg: "header section exceeds the message size limit", Err: ErrMessageTooLarge})
			}
			if err := p.fill(); err != nil {
				if err == io.EOF {
					err = &ParseError{Offset: len(b), Msg: "stream ended inside a message", Err: ErrIncomplete}
				}
				return nil, p.fail(err)
			}
			continue
		}
		p.scanned = 0
		// Parse the header section once; its Content-Length frames the body.
		msg, _, err := parseHead(b[:bodyStart], &p.lim)
		var cl int
		if err != nil {
			// A malformed message can still be skipped if its framing is
			// readable; otherwise the stream is lost.
			var pe *ParseError
			if cl, pe = scanContentLength(b[:hdrEnd]); pe != nil {
				return nil, p.fail(err)
			}
		} else if n, ok := msg.Headers().ContentLength(); ok {
			cl = n
			if msg.Headers().dup&(1<<eContentLength) != 0 {
				// Two Content-Length fields that disagree frame the stream
				// two ways (request smuggling): refuse.
				if _, pe := scanContentLength(b[:hdrEnd]); pe != nil {
					pe.Partial = msg
					return nil, p.fail(pe)
				}
			}
		} else {
			pe := &ParseError{Header: "Content-Length", Offset: hdrEnd, Msg: "Content-Length missing on a stream transport", Err: ErrContentLength, Partial: msg}
			if msg.Headers().Has("Content-Length") {
				pe.Msg = "bad Content-Length"
			}
			return nil, p.fail(pe)
		}
		if cl > p.lim.MaxBodySize {
			return nil, p.fail(&ParseError{Header: "Content-Length", Offset: bodyStart, Msg: "body exceeds the size limit", Err: ErrBodyTooLarge, Partial: msg})
		}
		total := bodyStart + cl
		if total > p.lim.MaxMessageSize {
			return nil, p.fail(&ParseError{Offset: p.lim.MaxMessageSize, Msg: "message exceeds the size limit", Err: ErrMessageTooLarge, Partial: msg})
		}
		for p.end-p.start < total {
			if err := p.fill(); err != nil {
				if err == io.EOF {
					err = &ParseError{Offset: p.end - p.start, Msg: "stream ended inside a message body", Err: ErrIncomplete}
				}
				return nil, p.fail(err)
			}
		}
		body := p.buf[p.start+bodyStart : p.start+total]
		p.start += total
		p.slow = false
		if err != nil {
			return nil, err // the bad message is skipped; the stream goes on
		}
		if cl > 0 {
			msg.SetBody(append([]byte(nil), body...))
		}
		return msg, nil
	}
}

// readFast frames and parses the message at the start of b with
// headScan: the header section is scanned once, in the buffer, and then
// exactly the message's bytes are copied, header section and body in one
// allocation. It returns scanMore when b ends inside the message (the
// scan's state is kept for the next call, with more bytes) and
// scanDecline for anything the general path must decide: a malformed
// message, a limit exceeded, a missing, repeated or bad Content-Length.
func (p *Parser) readFast(b []byte) (Message, scanStatus) {
	sc := &p.sc
	if !p.scanning {
		if st := sc.begin(b, &p.lim, true); st != scanDone {
			return nil, st
		}
		p.scanning = true
	}
	if sc.hdrEnd == 0 { // the header section is not scanned to its end yet
		if st := sc.run(b, &p.lim, true, ""); st != scanDone {
			return nil, st
		}
	}
	cl, ok := sc.contentLength(b)
	if !ok || cl > p.lim.MaxBodySize {
		return nil, scanDecline
	}
	total := sc.bodyStart + cl
	if total > p.lim.MaxMessageSize {
		return nil, scanDecline
	}
	if len(b) < total {
		return nil, scanMore
	}
	own := make([]byte, total)
	copy(own, b)
	if !sc.finish(own, &p.lim) {
		return nil, scanDecline
	}
	msg := sc.msg
	if cl > 0 {
		msg.SetBody(own[sc.bodyStart:total:total])
	}
	p.start += total
	p.scanning = false
	*sc = headScan{}
	return msg, scanDone
}

// more reads more bytes for a message that does not fit in the n buffered
// ones, in its header section or (inBody) its body, with the general
// path's errors.
func (p *Parser) more(n int, inBody bool) error {
	if !inBody && n > p.lim.MaxMessageSize {
		return p.fail(&ParseError{Offset: p.lim.MaxMessageSize, Msg: "header section exceeds the message size limit", Err: ErrMessageTooLarge})
	}
	if err := p.fill(); err != nil {
		if err == io.EOF {
			err = &ParseError{Offset: n, Msg: "stream ended inside a message", Err: ErrIncomplete}
			if inBody {
				err.(*ParseError).Msg = "stream ended inside a message body"
			}
		}
		return p.fail(err)
	}
	return nil
}

func (p *Parser) fail(err error) error {
	p.err = err
	return err
}

// fill reads more data into the buffer, compacting or growing it first.
func (p *Parser) fill() error {
	if p.start > 0 && (p.start == p.end || p.end == len(p.buf)) {
		copy(p.buf, p.buf[p.start:p.end])
		p.end -= p.start
		p.start = 0
	}
	if p.end == len(p.buf) {
		max := p.lim.MaxMessageSize // plus room to see the limit exceeded
		if max <= int(^uint(0)>>1)-4 {
			max += 4
		}
		if len(p.buf) >= max {
			return &ParseError{Offset: p.lim.MaxMessageSize, Msg: "message exceeds the size limit", Err: ErrMessageTooLarge}
		}
		n := 2 * len(p.buf)
		if n > max {
			n = max
		}
		nb := make([]byte, n)
		copy(nb, p.buf[:p.end])
		p.buf = nb
	}
	for i := 0; i < 100; i++ {
		n, err := p.r.Read(p.buf[p.end:])
		p.end += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// scanContentLength finds Content-Length (or its compact form "l") in a
// header section, as a stream transport needs it to frame the body.
func scanContentLength(h []byte) (int, *ParseError) {
	found := -1
	pos := 0
	for pos < len(h) {
		nl := bytes.IndexByte(h[pos:], '\n')
		if nl < 0 {
			nl = len(h) - pos
		}
		line := h[pos : pos+nl]
		off := pos
		pos += nl + 1
		if off == 0 || len(line) < 2 {
			continue // start line
		}
		c := line[0] | 0x20
		if c != 'c' && c != 'l' {
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue // the message parser reports it
		}
		name := strings.TrimRight(string(line[:colon]), " \t")
		if !strings.EqualFold(name, "Content-Length") && !strings.EqualFold(name, "l") {
			continue
		}
		v := trimLWS(strings.TrimRight(string(line[colon+1:]), "\r"))
		n, ok := atoiDigits(v)
		if !ok {
			return 0, &ParseError{Header: "Content-Length", Offset: off, Msg: "bad Content-Length", Err: ErrContentLength}
		}
		if found >= 0 && found != n {
			return 0, &ParseError{Header: "Content-Length", Offset: off, Msg: "conflicting Content-Length fields", Err: ErrContentLength}
		}
		found = n
	}
	if found < 0 {
		return 0, &ParseError{Header: "Content-Length", Offset: len(h), Msg: "Content-Length missing on a stream transport", Err: ErrContentLength}
	}
	return found, nil
}
