package rlmi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/sipua-go/sipua/sip"
)

// Notify is a decoded resource list NOTIFY body (RFC 4662 §5): the RLMI
// list, every body part, and one Entry per instance with the part its cid
// names already looked up.
type Notify struct {
	List    *List
	Parts   []sip.Part // every part of the multipart body, the root included; nil for a bare RLMI body
	Entries []Entry
}

// Entry is one instance of one resource of the list. A resource without
// any instance gives one Entry whose Instance is the zero value (State ""),
// so every resource of the list appears in Entries.
type Entry struct {
	URI      string // the resource URI
	Names    []Name // the resource's names
	Instance Instance
	// Part is the body part the instance's cid names (its Content-ID,
	// compared with or without angle brackets); nil when the instance has
	// no cid or no part has that Content-ID. A part may itself be a nested
	// multipart/related list (RFC 4662 §5.3), which Decode decodes again.
	Part *sip.Part
}

// ContentType returns the type of the entry's part, or the zero MediaType.
func (e *Entry) ContentType() sip.MediaType {
	if e.Part == nil {
		return sip.MediaType{}
	}
	return e.Part.ContentType()
}

// Body returns the entry's part body (for example a PIDF document for
// package presence/pidf), or nil.
func (e *Entry) Body() []byte {
	if e.Part == nil {
		return nil
	}
	return e.Part.Body
}

// Decode decodes the body of a resource list NOTIFY (or of a 2xx to
// SUBSCRIBE carrying the first NOTIFY's body) given its Content-Type:
// multipart/related (RFC 4662 §5.1, RFC 2387) whose root part, named by the
// start parameter or else the first part, is application/rlmi+xml; or a
// bare application/rlmi+xml body. Bodies over MaxSize give ErrTooLarge.
func Decode(ct sip.MediaType, body []byte) (*Notify, error) {
	if len(body) > MaxSize {
		return nil, ErrTooLarge
	}
	if ct.Is(ContentType) {
		l, err := Parse(body)
		if err != nil {
			return nil, err
		}
		return &Notify{List: l, Entries: entries(l, nil)}, nil
	}
	if !ct.Is("multipart/related") {
		return nil, ErrNotRLMI
	}
	parts, err := sip.ParseMultipart(ct, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(parts) == 0 {
		return nil, ErrNoRoot
	}
	root := 0
	if start, ok := ct.Params.Get("start"); ok && normCID(start) != "" {
		root = findPart(parts, start)
		if root < 0 {
			return nil, ErrNoRoot
		}
	}
	if !parts[root].ContentType().Is(ContentType) {
		return nil, ErrNotRLMI
	}
	l, err := Parse(parts[root].Body)
	if err != nil {
		return nil, err
	}
	return &Notify{List: l, Parts: parts, Entries: entries(l, parts)}, nil
}

func entries(l *List, parts []sip.Part) []Entry {
	n := 0
	for i := range l.Resources {
		n += max(1, len(l.Resources[i].Instances))
	}
	out := make([]Entry, 0, n)
	for i := range l.Resources {
		r := &l.Resources[i]
		if len(r.Instances) == 0 {
			out = append(out, Entry{URI: r.URI, Names: r.Names})
			continue
		}
		for _, in := range r.Instances {
			e := Entry{URI: r.URI, Names: r.Names, Instance: in}
			if in.CID != "" {
				if j := findPart(parts, in.CID); j >= 0 {
					e.Part = &parts[j]
				}
			}
			out = append(out, e)
		}
	}
	return out
}

// normCID strips white space, a "cid:" scheme and angle brackets.
func normCID(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 4 && strings.EqualFold(s[:4], "cid:") {
		s = s[4:]
	}
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		s = s[1 : len(s)-1]
	}
	return strings.TrimSpace(s)
}

// findPart returns the index of the first part whose Content-ID is cid, an
// exact match preferred to a case-insensitive one; -1 if there is none.
func findPart(parts []sip.Part, cid string) int {
	want := normCID(cid)
	if want == "" {
		return -1
	}
	fold := -1
	for i := range parts {
		got := normCID(parts[i].ContentID())
		if got == want {
			return i
		}
		if fold < 0 && strings.EqualFold(got, want) {
			fold = i
		}
	}
	return fold
}

// NewPart returns a body part carrying one resource's state, for Encode:
// Content-Transfer-Encoding binary, Content-ID <cid> and the given
// Content-Type.
func NewPart(cid, contentType string, body []byte) sip.Part {
	var p sip.Part
	p.Header.Add("Content-Transfer-Encoding", "binary")
	p.Header.Add("Content-ID", "<"+cid+">")
	p.Header.Add("Content-Type", contentType)
	p.Body = body
	return p
}

// EncodeOptions tunes Encode. The zero value picks a random boundary and
// root Content-ID.
type EncodeOptions struct {
	Boundary string // multipart boundary; "" for a random one
	RootCID  string // Content-ID of the RLMI part, without angle brackets; "" for a random one
}

// Encode builds a resource list NOTIFY body: a multipart/related body whose
// root is the RLMI document of l, followed by parts (see NewPart). It
// returns the Content-Type to send, with type="application/rlmi+xml" and
// the start parameter set. Every instance cid must name one of the parts,
// and the boundary must not occur in any part.
func Encode(l *List, parts []sip.Part, opts EncodeOptions) (sip.MediaType, []byte, error) {
	doc, err := l.Marshal()
	if err != nil {
		return sip.MediaType{}, nil, err
	}
	for i := range l.Resources {
		for _, in := range l.Resources[i].Instances {
			if in.CID != "" && findPart(parts, in.CID) < 0 {
				return sip.MediaType{}, nil, fmt.Errorf("%w: no part with Content-ID %q", ErrBadValue, in.CID)
			}
		}
	}
	boundary, root := opts.Boundary, opts.RootCID
	if boundary == "" {
		boundary = randomToken(12)
	}
	if root == "" {
		root = randomToken(8) + "@rlmi.invalid"
	}
	if len(boundary) > 70 || strings.ContainsAny(boundary, "\r\n") {
		return sip.MediaType{}, nil, fmt.Errorf("%w: bad boundary %q", ErrBadValue, boundary)
	}
	delim := []byte("--" + boundary)
	all := make([]sip.Part, 0, len(parts)+1)
	all = append(all, NewPart(root, ContentType+`;charset="UTF-8"`, doc))
	all = append(all, parts...)
	for i := range all {
		if bytes.Contains(all[i].Body, delim) {
			return sip.MediaType{}, nil, fmt.Errorf("%w: the boundary occurs in part %d", ErrBadValue, i)
		}
	}
	ct, body := sip.NewMultipart("related", boundary, all)
	ct.Params = ct.Params.With("type", ContentType).With("start", "<"+root+">")
	return ct, body, nil
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
