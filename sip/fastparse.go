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

// parseHeadFast parses the start line and header section of a plain
// message in one pass over the bytes. It returns ok == false, leaving the
// message to parseHeadSlow, for anything out of the ordinary: a folded
// line, a limit exceeded, an unterminated header section, or any error
// at all. What it accepts it parses exactly as parseHeadSlow does.
func parseHeadFast(data []byte, lim *Limits) (_ Message, _ []byte, ok bool) {
	if len(data) > lim.MaxMessageSize {
		return nil, nil, false
	}
	for len(data) > 0 && (data[0] == '\r' || data[0] == '\n') {
		data = data[1:]
	}
	nl := bytes.IndexByte(data, '\n')
	if nl <= 0 || data[0] == ' ' || data[0] == '\t' {
		return nil, nil, false
	}
	end := nl
	if data[end-1] == '\r' {
		end--
	}
	if end > lim.MaxHeaderLength {
		return nil, nil, false
	}
	// The copy: see parseHeadSlow. s views all of it while parsing; only
	// the header section, s[:hdrEnd], is kept, and every string taken
	// below lies inside it.
	b := make([]byte, len(data))
	copy(b, data)
	s := unsafe.String(unsafe.SliceData(b), len(b))

	var (
		blk *headerBlock
		h   *Header
		msg Message
	)
	line := s[:end]
	if len(line) > 4 && line[0]|0x20 == 's' && line[1]|0x20 == 'i' && line[2]|0x20 == 'p' && line[3] == '/' {
		r := new(responseBlock)
		if parseStatusLine(line, &r.r) != "" {
			return nil, nil, false
		}
		blk, h, msg = &r.headerBlock, &r.r.Header, &r.r
	} else {
		r := new(requestBlock)
		if parseRequestLine(line, &r.r, lim) != nil {
			return nil, nil, false
		}
		blk, h, msg = &r.headerBlock, &r.r.Header, &r.r
	}
	h.via, h.contact = blk.via[:0], blk.contact[:0]
	fields := blk.fields[:0]
	nf := 0 // fields in blk.fields; fields itself grows past them
	maxHeaders, maxLen, maxURI := lim.MaxHeaders, lim.MaxHeaderLength, lim.MaxURILength

	var hdrEnd, bodyStart int
	pos := nl + 1
	for {
		if pos >= len(b) {
			return nil, nil, false
		}
		if c := b[pos]; c == '\n' {
			hdrEnd, bodyStart = pos, pos+1
			break
		} else if c == '\r' && pos+1 < len(b) && b[pos+1] == '\n' {
			hdrEnd, bodyStart = pos, pos+2
			break
		}
		if nf >= maxHeaders {
			return nil, nil, false
		}
		start := pos
		colon := indexColon(b, start)
		if colon < 0 {
			return nil, nil, false
		}
		n := colon - start
		if n > 0 && (b[colon-1] == ' ' || b[colon-1] == '\t') {
			for n > 0 && (b[start+n-1] == ' ' || b[start+n-1] == '\t') {
				n--
			}
		}
		// A name the lookup knows is a token; any other is checked, which
		// also rejects a colon found past the end of the line.
		id := hidAt(b, start, n)
		if id == hOther && !isToken(s[start:start+n]) {
			return nil, nil, false
		}
		vs := colon + 1
		for vs < len(b) && (b[vs] == ' ' || b[vs] == '\t') {
			vs++
		}
		slot := eagerSlotOf[id]
		var lineEnd int // the '\n'
		if slot >= 0 {
			// The eager parsers reject control characters themselves.
			k := bytes.IndexByte(b[vs:], '\n')
			if k < 0 {
				return nil, nil, false
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
					return nil, nil, false
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
				if i+1 >= len(b) || b[i+1] != '\n' {
					return nil, nil, false
				}
				lineEnd, end = i+1, i
			default:
				return nil, nil, false
			}
		}
		if end-start > maxLen {
			return nil, nil, false
		}
		if next := lineEnd + 1; next < len(b) && (b[next] == ' ' || b[next] == '\t') {
			return nil, nil, false // folded
		}
		ve := end
		for ve > vs && (b[ve-1] == ' ' || b[ve-1] == '\t') {
			ve--
		}
		f := field{noff: uint32(start), nlen: uint32(n), voff: uint32(vs), vlen: uint32(ve - vs), id: id}
		if nf < len(blk.fields) {
			blk.fields[nf] = f
		} else {
			if nf == len(blk.fields) {
				fields = append(blk.fields[:nf:nf], f)
			} else {
				fields = append(fields, f)
			}
		}
		nf++
		if slot >= 0 && h.absorb(int(slot), s[vs:ve], maxURI) != "" {
			return nil, nil, false
		}
		pos = lineEnd + 1
	}
	h.raw = s[:hdrEnd]
	if nf <= len(blk.fields) {
		fields = blk.fields[:nf]
	}
	h.fields = fields
	h.capSlices()
	return msg, b[bodyStart:], true
}
