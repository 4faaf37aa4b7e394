package sip

import (
	"iter"
	"strings"
)

// Field is one header field as it appears in a message: its name as written
// (full, compact or any case) and its raw value, trimmed and unfolded.
type Field struct {
	Name  string
	Value string
}

// field locates a header field without holding a pointer, so the parser
// fills the field list without GC write barriers and the GC does not scan
// it: name and value are spans of Header.raw, the parsed header section,
// or (ext) index a Field in Header.ext for fields added or changed later.
type field struct {
	noff, nlen uint32
	voff, vlen uint32
	id         hid
	ext        bool
}

// eager header slots: the header fields parsed at parse time.
const (
	eVia = iota
	eFrom
	eTo
	eCallID
	eCSeq
	eContact
	eMaxForwards
	eContentType
	eContentLength
)

func eagerSlot(id hid) int {
	switch id {
	case hVia:
		return eVia
	case hFrom:
		return eFrom
	case hTo:
		return eTo
	case hCallID:
		return eCallID
	case hCSeq:
		return eCSeq
	case hContact:
		return eContact
	case hMaxForwards:
		return eMaxForwards
	case hContentType:
		return eContentType
	case hContentLength:
		return eContentLength
	}
	return -1
}

// Header is the ordered list of a message's header fields, with the
// routing header fields parsed into typed values.
//
// The raw fields are authoritative: they are what is serialized, in their
// order and spelling. Typed accessors (Via, From, CSeq, ...) return values
// kept in step with the raw fields: Add, Set, Insert and Del re-parse the
// routing headers they touch. Slices returned by accessors are read-only.
//
// The zero value is an empty header list, ready to use. A Header is not safe
// for concurrent modification.
type Header struct {
	raw    string  // the parsed header section that fields' spans index
	fields []field // in order
	ext    []Field // names and values of fields added or changed after parsing

	via           []Via
	contact       []Address
	from, to      Address
	callID        string
	cseq          CSeq
	contentType   MediaType
	maxForwards   int
	contentLength int
	seen          uint16 // eager slots present
	dup           uint16 // singleton eager slots present more than once
	bad           uint16 // eager slots whose value did not parse
}

// Fields returns a copy of every header field, in order.
func (h *Header) Fields() []Field {
	out := make([]Field, len(h.fields))
	for i := range h.fields {
		out[i] = Field{Name: h.fname(&h.fields[i]), Value: h.fvalue(&h.fields[i])}
	}
	return out
}

// All iterates over the header fields in order without allocating.
func (h *Header) All() iter.Seq2[string, string] {
	return func(yield func(name, value string) bool) {
		for i := range h.fields {
			if !yield(h.fname(&h.fields[i]), h.fvalue(&h.fields[i])) {
				return
			}
		}
	}
}

// Len returns the number of header fields.
func (h *Header) Len() int { return len(h.fields) }

func (h *Header) fname(f *field) string {
	if f.ext {
		return h.ext[f.noff].Name
	}
	return h.raw[f.noff : f.noff+f.nlen]
}

func (h *Header) fvalue(f *field) string {
	if f.ext {
		return h.ext[f.noff].Value
	}
	return h.raw[f.voff : f.voff+f.vlen]
}

// newField stores name and value in ext and returns a field for them.
func (h *Header) newField(name, value string, id hid) field {
	h.ext = append(h.ext, Field{Name: name, Value: value})
	return field{noff: uint32(len(h.ext) - 1), id: id, ext: true}
}

// setValue replaces a field's value, keeping its name.
func (h *Header) setValue(f *field, value string) {
	*f = h.newField(h.fname(f), value, f.id)
}

func (h *Header) matchField(f *field, id hid, name string) bool {
	if id != hOther {
		return f.id == id
	}
	return f.id == hOther && strings.EqualFold(h.fname(f), name)
}

// Get returns the value of the first header field called name (any case,
// full or compact form), or "".
func (h *Header) Get(name string) string {
	id := lookupHID(name)
	for i := range h.fields {
		if h.matchField(&h.fields[i], id, name) {
			return h.fvalue(&h.fields[i])
		}
	}
	return ""
}

// Has reports whether a header field called name is present.
func (h *Header) Has(name string) bool {
	id := lookupHID(name)
	for i := range h.fields {
		if h.matchField(&h.fields[i], id, name) {
			return true
		}
	}
	return false
}

// Values returns the raw values of every header field called name, in
// order. A comma-separated line is one value; see Elements to split.
func (h *Header) Values(name string) []string {
	id := lookupHID(name)
	var out []string
	for i := range h.fields {
		if h.matchField(&h.fields[i], id, name) {
			out = append(out, h.fvalue(&h.fields[i]))
		}
	}
	return out
}

// Elements returns the comma-separated elements of every header field
// called name, in order, split around quoted strings and angle brackets.
// Use it for list headers (Allow, Supported, Route, ...); the
// authentication headers and Date are not comma lists.
func (h *Header) Elements(name string) []string {
	id := lookupHID(name)
	var out []string
	for i := range h.fields {
		if !h.matchField(&h.fields[i], id, name) {
			continue
		}
		for s := h.fvalue(&h.fields[i]); s != ""; {
			e, rest, ok := nextElem(s)
			if !ok {
				break
			}
			if e != "" {
				out = append(out, e)
			}
			s = rest
		}
	}
	return out
}

// HasToken reports whether any header field called name lists token
// (case-insensitively) among its comma-separated values, ignoring
// parameters: HasToken("Supported", "timer"). It does not allocate.
func (h *Header) HasToken(name, token string) bool {
	id := lookupHID(name)
	for i := range h.fields {
		if !h.matchField(&h.fields[i], id, name) {
			continue
		}
		for s := h.fvalue(&h.fields[i]); s != ""; {
			e, rest, ok := nextElem(s)
			if !ok {
				break
			}
			if j := strings.IndexByte(e, ';'); j >= 0 {
				e = trimLWS(e[:j])
			}
			if strings.EqualFold(e, token) {
				return true
			}
			s = rest
		}
	}
	return false
}

// sanitize makes a name and value safe to write: a header field can never
// smuggle a line break (header injection). Control characters in the value
// (other than HT) become spaces, and a name keeps only token characters
// ("X-Bad Name:" becomes "X-BadName"). Clean input, the usual case, is
// returned as it is.
func sanitize(name, value string) (string, string) {
	if !isToken(name) {
		b := make([]byte, 0, len(name))
		for i := 0; i < len(name); i++ {
			if tokenChars[name[i]] {
				b = append(b, name[i])
			}
		}
		name = string(b)
		if name == "" {
			name = "X-Invalid"
		}
	}
	if badValueByte(value) >= 0 {
		b := []byte(value)
		for i, c := range b {
			if c < ' ' && c != '\t' || c == 0x7f {
				b[i] = ' '
			}
		}
		value = string(b)
	}
	return name, trimLWS(value)
}

// Add appends a header field. Control characters in value become spaces
// and name keeps only token characters, so no field can inject a line.
func (h *Header) Add(name, value string) {
	name, value = sanitize(name, value)
	id := lookupHID(name)
	h.fields = append(h.fields, h.newField(name, value, id))
	h.refresh(id)
}

// Insert adds a header field (sanitized as by Add) before the first field of the same name, or
// at the top when there is none: the place for a new Via or Route.
func (h *Header) Insert(name, value string) {
	name, value = sanitize(name, value)
	id := lookupHID(name)
	f := h.newField(name, value, id)
	at := 0
	for i := range h.fields {
		if h.matchField(&h.fields[i], id, name) {
			at = i
			break
		}
	}
	h.fields = append(h.fields, field{})
	copy(h.fields[at+1:], h.fields[at:])
	h.fields[at] = f
	h.refresh(id)
}

// Set replaces every header field called name with one field holding value
// (sanitized as by Add),
// at the place of the first one (or at the end when there was none).
func (h *Header) Set(name, value string) {
	name, value = sanitize(name, value)
	id := lookupHID(name)
	out := h.fields[:0]
	done := false
	for _, g := range h.fields {
		if h.matchField(&g, id, name) {
			if !done {
				// keep the spelling already in the message
				out = append(out, h.newField(h.fname(&g), value, id))
				done = true
			}
			continue
		}
		out = append(out, g)
	}
	h.fields = out
	if !done {
		h.fields = append(h.fields, h.newField(name, value, id))
	}
	h.refresh(id)
}

// Del removes every header field called name.
func (h *Header) Del(name string) {
	id := lookupHID(name)
	out := h.fields[:0]
	for _, g := range h.fields {
		if !h.matchField(&g, id, name) {
			out = append(out, g)
		}
	}
	h.fields = out
	h.refresh(id)
}

// RemoveFirst removes the first header field called name and, for a list
// header, only its first element: the topmost Via or Route. It reports
// whether anything was removed.
func (h *Header) RemoveFirst(name string) bool {
	id := lookupHID(name)
	for i := range h.fields {
		if !h.matchField(&h.fields[i], id, name) {
			continue
		}
		_, rest, ok := nextElem(h.fvalue(&h.fields[i]))
		if ok && isListHeader(id) && trimLWS(rest) != "" {
			h.setValue(&h.fields[i], trimLWS(rest))
		} else {
			h.fields = append(h.fields[:i], h.fields[i+1:]...)
		}
		h.refresh(id)
		return true
	}
	return false
}

// Clone returns a deep copy.
func (h *Header) Clone() Header {
	c := *h
	c.fields = append([]field(nil), h.fields...)
	c.ext = append([]Field(nil), h.ext...)
	c.via = append([]Via(nil), h.via...)
	c.contact = append([]Address(nil), h.contact...)
	return c
}

// refresh re-derives the typed value of an eager header after a change.
func (h *Header) refresh(id hid) {
	slot := eagerSlot(id)
	if slot < 0 {
		return
	}
	bit := uint16(1) << slot
	h.seen &^= bit
	h.dup &^= bit
	h.bad &^= bit
	switch slot {
	case eVia:
		h.via = nil
	case eContact:
		h.contact = nil
	case eFrom:
		h.from = Address{}
	case eTo:
		h.to = Address{}
	case eCallID:
		h.callID = ""
	case eCSeq:
		h.cseq = CSeq{}
	case eContentType:
		h.contentType = MediaType{}
	case eMaxForwards:
		h.maxForwards = 0
	case eContentLength:
		h.contentLength = 0
	}
	for i := range h.fields {
		if h.fields[i].id == id {
			if msg := h.absorb(slot, h.fvalue(&h.fields[i]), DefaultMaxURILength); msg != "" {
				h.bad |= bit
			}
		}
	}
}

// absorb parses one eager header value into the typed cache. It returns a
// message saying what is wrong, or "".
func (h *Header) absorb(slot int, v string, maxURI int) string {
	bit := uint16(1) << slot
	if h.seen&bit != 0 && slot != eVia && slot != eContact {
		h.dup |= bit // first one wins
		if badValueByte(v) >= 0 {
			// Not parsed, but kept and written out again: it must not
			// carry what the parsed ones may not.
			return "control character in value"
		}
		return ""
	}
	h.seen |= bit
	switch slot {
	case eVia:
		// A Via that parses whole has no comma outside a quoted string
		// (no part of its grammar but a quoted string holds one), so it
		// is the one value splitting would find.
		if h.addVia(v) == "" {
			return ""
		}
		if strings.IndexByte(v, ',') < 0 { // one value: nothing to split
			return h.addVia(v)
		}
		n := len(h.via)
		for v != "" {
			e, rest, ok := nextElem(v)
			if !ok {
				return "unbalanced quotes"
			}
			if msg := h.addVia(e); msg != "" {
				return msg
			}
			v = rest
		}
		if len(h.via) == n {
			return "empty Via"
		}
	case eContact:
		// Likewise a name-addr that parses whole, as no part of it but a
		// quoted string or the URI in angle brackets holds a comma. (An
		// addr-spec's user part may hold one: that form is split first.)
		if v != "" && (v[0] == '<' || v[0] == '"') && h.addContact(v, maxURI) == "" {
			return ""
		}
		if strings.IndexByte(v, ',') < 0 { // one value: nothing to split
			return h.addContact(v, maxURI)
		}
		n := len(h.contact)
		for v != "" {
			e, rest, ok := nextElem(v)
			if !ok {
				return "unbalanced quotes or angle brackets"
			}
			if msg := h.addContact(e, maxURI); msg != "" {
				return msg
			}
			v = rest
		}
		if len(h.contact) == n {
			return "empty Contact"
		}
	case eFrom, eTo:
		dst := &h.from
		if slot == eTo {
			dst = &h.to
		}
		ulen, msg := parseAddressInto(dst, v)
		if msg != "" {
			return msg
		}
		if dst.Wildcard {
			*dst = Address{}
			return "wildcard not allowed"
		}
		if ulen > maxURI {
			*dst = Address{}
			return "URI too long"
		}
	case eCallID:
		if !validCallID(v) {
			return "bad Call-ID"
		}
		h.callID = v
	case eCSeq:
		c, msg := parseCSeq(v)
		if msg != "" {
			return msg
		}
		h.cseq = c
	case eMaxForwards:
		n, ok := atoiDigits(v)
		if !ok || n > 255 {
			return "bad Max-Forwards"
		}
		h.maxForwards = n
	case eContentType:
		if msg := parseMediaTypeInto(&h.contentType, v); msg != "" {
			return msg
		}
	case eContentLength:
		n, ok := atoiDigits(v)
		if !ok {
			return "bad Content-Length"
		}
		h.contentLength = n
	}
	return ""
}

func (h *Header) addVia(v string) string {
	h.via = append(h.via, Via{})
	if msg := parseViaInto(&h.via[len(h.via)-1], v); msg != "" {
		h.via = h.via[:len(h.via)-1]
		return msg
	}
	return ""
}

func (h *Header) addContact(v string, maxURI int) string {
	h.contact = append(h.contact, Address{})
	ulen, msg := parseAddressInto(&h.contact[len(h.contact)-1], v)
	if msg == "" && ulen > maxURI {
		msg = "URI too long"
	}
	if msg != "" {
		h.contact = h.contact[:len(h.contact)-1]
	}
	return msg
}

// capSlices makes the typed slices full so that appending to them
// reallocates instead of writing into storage they may share.
func (h *Header) capSlices() {
	h.fields = h.fields[:len(h.fields):len(h.fields)]
	h.via = h.via[:len(h.via):len(h.via)]
	h.contact = h.contact[:len(h.contact):len(h.contact)]
	if len(h.via) == 0 {
		h.via = nil
	}
	if len(h.contact) == 0 {
		h.contact = nil
	}
}

// Via returns the Via header values, topmost first (several per line and
// several lines). The slice is read-only.
func (h *Header) Via() []Via { return h.via }

// TopVia returns the topmost Via and whether there is one.
func (h *Header) TopVia() (Via, bool) {
	if len(h.via) == 0 {
		return Via{}, false
	}
	return h.via[0], true
}

// From returns the From header value (zero if absent or malformed).
func (h *Header) From() Address { return h.from }

// To returns the To header value (zero if absent or malformed).
func (h *Header) To() Address { return h.to }

// CallID returns the Call-ID, or "".
func (h *Header) CallID() string { return h.callID }

// CSeq returns the CSeq (zero if absent or malformed).
func (h *Header) CSeq() CSeq { return h.cseq }

// Contact returns the Contact values in order. The slice is read-only.
func (h *Header) Contact() []Address { return h.contact }

// MaxForwards returns Max-Forwards and whether it is present and valid.
func (h *Header) MaxForwards() (int, bool) {
	return h.maxForwards, h.seen&(1<<eMaxForwards) != 0 && h.bad&(1<<eMaxForwards) == 0
}

// ContentType returns the Content-Type (zero if absent or malformed).
func (h *Header) ContentType() MediaType { return h.contentType }

// ContentLength returns the Content-Length header value and whether it is
// present and valid. Serialization always writes the body's real length.
func (h *Header) ContentLength() (int, bool) {
	return h.contentLength, h.seen&(1<<eContentLength) != 0 && h.bad&(1<<eContentLength) == 0
}

func validCallID(v string) bool {
	if v == "" {
		return false
	}
	return span(v, 0, cCallID) == len(v) // c > ' ' && c < 0x7f
}
