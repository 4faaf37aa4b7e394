package sip

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// eagerSlotOf is eagerSlot as a table.
var eagerSlotOf = func() (t [numHIDs]int8) {
	for id := range t {
		t[id] = int8(eagerSlot(hid(id)))
	}
	return t
}()

const (
	swarLo = 0x0101010101010101
	swarHi = 0x8080808080808080
)

// indexColon returns the index of the first ':' in b at or after i, or -1.
func indexColon(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:]) ^ (swarLo * ':')
		// The lowest flagged byte is exact: a borrow only flags bytes
		// above a zero byte.
		if m := (x - swarLo) &^ x & swarHi; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if b[i] == ':' {
			return i
		}
	}
	return -1
}

// word returns the eight bytes of b at i, little-endian.
func word(b []byte, i int) (uint64, bool) {
	if i < 0 || i+8 > len(b) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[i:]), true
}

// colonIn returns the index of the first ':' in the word w, or 8.
func colonIn(w uint64) uint {
	x := w ^ (swarLo * ':')
	return uint(bits.TrailingZeros64((x-swarLo)&^x&swarHi)) >> 3 // exact for the lowest
}

// indexCtl returns the index of the first byte of b at or after i that is
// below 0x20 or at least 0x7f, or len(b).
func indexCtl(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// A borrow (from a byte < 0x20) or a carry (from 0xff) flags only
		// bytes above a byte that is flagged rightly, so the lowest flag
		// is exact.
		if m := ((x - swarLo*0x20) | (x + swarLo)) & swarHi; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c >= 0x7f {
			return i
		}
	}
	return len(b)
}

// scanStatus is the outcome of a step of headScan.
type scanStatus uint8

const (
	scanDone    scanStatus = iota // the step is complete
	scanMore                      // the bytes end inside the header section (stream only)
	scanDecline                   // something unusual: leave the message to the general parser
)

// headScan parses the start line and header section of the usual message
// in two phases. The first, begin and run, goes over the bytes once: it
// finds the lines and the header fields (as offsets, with their IDs) and
// the end of the header section, in bytes the message does not own yet,
// such as a stream parser's buffer, and can stop where the bytes end and
// resume when more have come. The second, finish, runs on the message's
// own copy of exactly its bytes: it parses the start line and the eager
// header fields into the one allocated block. It declines (leaving the
// message to parseHeadSlow, the reference) anything out of the ordinary:
// a folded line, a limit exceeded, any error at all. What it accepts it
// parses exactly as parseHeadSlow does.
type headScan struct {
	msg       Message
	h         *Header
	blk       *headerBlock
	fields    []field // the fields once there are more than blk.fields holds
	nf        int     // fields found
	lineEnd   int     // the start line's '\n'
	pos       int     // where run goes on: the start of the next line
	hdrEnd    int     // the blank line ending the header section
	bodyStart int
}

// begin finds the start line at the beginning of b (which must not start
// with a line break) and allocates the message's block.
func (sc *headScan) begin(b []byte, lim *Limits, stream bool) scanStatus {
	*sc = headScan{}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 && stream && len(b) <= lim.MaxHeaderLength {
		return scanMore
	}
	if nl <= 0 || b[0] == ' ' || b[0] == '\t' {
		return scanDecline
	}
	end := nl
	if b[end-1] == '\r' {
		end--
	}
	if end > lim.MaxHeaderLength {
		return scanDecline
	}
	if end > 4 && b[0]|0x20 == 's' && b[1]|0x20 == 'i' && b[2]|0x20 == 'p' && b[3] == '/' {
		r := new(responseBlock)
		sc.blk, sc.h, sc.msg = &r.headerBlock, &r.r.Header, &r.r
	} else {
		r := new(requestBlock)
		sc.blk, sc.h, sc.msg = &r.headerBlock, &r.r.Header, &r.r
	}
	sc.lineEnd, sc.pos = nl, nl+1
	sc.h.via, sc.h.contact = sc.blk.via[:0], sc.blk.contact[:0]
	return scanDone
}

// run finds the header fields from sc.pos on. On a stream, bytes that end
// inside the header section return scanMore with the state kept for the
// next call, which must see the same bytes at the same offsets and more.
//
// When b is already the message's own copy, own is a string view of it
// and run parses the eager header fields as it finds them, so that
// finish has only the start line left to do.
func (sc *headScan) run(b []byte, lim *Limits, stream bool, own string) scanStatus {
	// Few values live across the loop, so that they stay in registers:
	// the limits are read where they are needed, and the fields past
	// blk.fields live in sc.fields.
	blk := sc.blk
	nf := sc.nf
	pos := sc.pos
	for {
		if pos >= len(b) {
			goto more
		}
		if c := b[pos]; c == '\n' {
			sc.hdrEnd, sc.bodyStart = pos, pos+1
			break
		} else if c == '\r' {
			if pos+1 >= len(b) {
				goto more
			}
			if b[pos+1] == '\n' {
				sc.hdrEnd, sc.bodyStart = pos, pos+2
				break
			}
		}
		if nf >= lim.MaxHeaders {
			return scanDecline
		}
		start := pos
		var colon, n int
		var id hid
		w, ok := word(b, start)
		if c := colonIn(w); ok && c-2 < 6 && b[start+int(c)-1] > ' ' {
			// The usual name, of two to seven bytes, with the colon right
			// after it in the same word: identified from that word.
			n, colon = int(c), start+int(c)
			id = hidOfWord(w&(1<<(8*c)-1), n)
		} else {
			colon = indexColon(b, start)
			if colon < 0 {
				if bytes.IndexByte(b[start:], '\n') < 0 {
					goto more
				}
				return scanDecline
			}
			n = colon - start
			if n > 0 && (b[colon-1] == ' ' || b[colon-1] == '\t') {
				for n > 0 && (b[start+n-1] == ' ' || b[start+n-1] == '\t') {
					n--
				}
			}
			id = hidAt(b, start, n)
		}
		// A name the lookup knows is a token; any other is checked, which
		// also rejects a colon found past the end of the line.
		if id == hOther && !isToken(unsafe.String(&b[start], n)) {
			return scanDecline
		}
		vs := colon + 1
		for vs < len(b) && (b[vs] == ' ' || b[vs] == '\t') {
			vs++
		}
		var lineEnd, end int // the '\n'; the end of the value
		slot := eagerSlotOf[id]
		if slot >= 0 {
			// The eager parsers reject control characters themselves.
			k := bytes.IndexByte(b[vs:], '\n')
			if k < 0 {
				goto more
			}
			lineEnd, end = vs+k, vs+k
			if b[end-1] == '\r' {
				end--
			}
		} else {
			// The first control character but HT (UTF-8 is allowed) must
			// be the line break.
			i := vs
			for {
				i = indexCtl(b, i)
				if i >= len(b) {
					goto more
				}
				if c := b[i]; c != '\t' && c < 0x80 {
					break
				}
				i++
			}
			switch b[i] {
			case '\n':
				lineEnd, end = i, i
			case '\r':
				if i+1 >= len(b) {
					goto more
				}
				if b[i+1] != '\n' {
					return scanDecline
				}
				lineEnd, end = i+1, i
			default:
				return scanDecline
			}
		}
		if end-start > lim.MaxHeaderLength {
			return scanDecline
		}
		next := lineEnd + 1
		if next >= len(b) {
			goto more // a datagram ends without a blank line; a stream may fold
		}
		if b[next] == ' ' || b[next] == '\t' {
			return scanDecline // folded
		}
		ve := end
		for ve > vs && (b[ve-1] == ' ' || b[ve-1] == '\t') {
			ve--
		}
		f := field{noff: uint32(start), nlen: uint32(n), voff: uint32(vs), vlen: uint32(ve - vs), id: id}
		if nf < len(blk.fields) {
			blk.fields[nf] = f
		} else {
			sc.addField(nf, f)
		}
		nf++
		if own != "" && slot >= 0 && sc.h.absorb(int(slot), own[vs:ve], lim.MaxURILength) != "" {
			return scanDecline
		}
		pos = next
	}
	if nf <= len(blk.fields) {
		sc.fields = blk.fields[:nf]
	}
	sc.nf, sc.pos = nf, pos
	return scanDone
more:
	// The bytes end inside the header section: a datagram's message is
	// incomplete; a stream's goes on at this line with more bytes.
	if !stream {
		return scanDecline
	}
	sc.pos, sc.nf = pos, nf
	return scanMore
}

// addField appends the field f, the nf-th, past the block's room.
func (sc *headScan) addField(nf int, f field) {
	if nf == len(sc.blk.fields) {
		sc.fields = append(sc.blk.fields[:nf:nf], f)
	} else {
		sc.fields = append(sc.fields, f)
	}
}

// contentLength returns the value of the one Content-Length field run
// found in b, which frames a stream's message; ok is false when there is
// none, more than one, or a value that is not a number of at most nine
// digits (the general path reports each).
func (sc *headScan) contentLength(b []byte) (n int, ok bool) {
	for i := range sc.fields {
		f := &sc.fields[i]
		if f.id != hContentLength {
			continue
		}
		if ok || f.vlen == 0 || f.vlen > 9 {
			return 0, false
		}
		for _, c := range b[f.voff : f.voff+f.vlen] {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		ok = true
	}
	return n, ok
}

// startLine parses the start line from s, a view of the message's own
// copy of the bytes begin saw.
func (sc *headScan) startLine(s string, lim *Limits) bool {
	end := sc.lineEnd
	if s[end-1] == '\r' {
		end--
	}
	switch m := sc.msg.(type) {
	case *Request:
		if parseRequestLine(s[:end], m, lim) != nil {
			return false
		}
	case *Response:
		if parseStatusLine(s[:end], m) != "" {
			return false
		}
	}
	return true
}

// finish parses the start line and the eager header fields from own, the
// message's copy of the bytes run scanned (without parsing them), at the
// same offsets.
func (sc *headScan) finish(own []byte, lim *Limits) bool {
	s := unsafe.String(unsafe.SliceData(own), len(own))
	if !sc.startLine(s, lim) {
		return false
	}
	h := sc.h
	maxURI := lim.MaxURILength
	for i := range sc.fields {
		f := &sc.fields[i]
		if slot := eagerSlotOf[f.id]; slot >= 0 && h.absorb(int(slot), s[f.voff:f.voff+f.vlen], maxURI) != "" {
			return false
		}
	}
	sc.done(s)
	return true
}

func (sc *headScan) done(s string) {
	h := sc.h
	h.raw = s[:sc.hdrEnd]
	h.fields = sc.fields
	h.capSlices()
}

// parseHeadFast parses the start line and header section of a plain
// message (a datagram's, or one a stream parser has framed) with headScan.
// It returns ok == false, leaving the message to parseHeadSlow, for
// anything headScan declines.
func parseHeadFast(data []byte, lim *Limits) (_ Message, _ []byte, ok bool) {
	if len(data) > lim.MaxMessageSize {
		return nil, nil, false
	}
	for len(data) > 0 && (data[0] == '\r' || data[0] == '\n') {
		data = data[1:]
	}
	// The copy: see parseHeadSlow. Only the header section, own[:hdrEnd],
	// is kept as a string; the body is the tail.
	own := make([]byte, len(data))
	copy(own, data)
	s := unsafe.String(unsafe.SliceData(own), len(own))
	var sc headScan
	if sc.begin(own, lim, false) != scanDone || !sc.startLine(s, lim) || sc.run(own, lim, false, s) != scanDone {
		return nil, nil, false
	}
	sc.done(s)
	return sc.msg, own[sc.bodyStart:], true
}
