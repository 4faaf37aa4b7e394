package pidf

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"time"

	"github.com/sipua-go/sipua/presence/internal/xmltree"
)

// EncodeOptions selects the output form of Encode. The zero value writes
// RFC 3863 + RFC 4479 + RFC 4480 + RFC 4482.
type EncodeOptions struct {
	// Legacy writes the form of the pre-RFC 4480 RPID draft that AudioCodes
	// gateways and older eXosip, linphone and SIPE clients read: the
	// activities of the first person go into every tuple's <status> as
	// <ep:activities><ep:activity>…</ep:activity></ep:activities>
	// (namespace NSLegacyRPID), and its display-name into every tuple as
	// <ci:display-name>. What else the person carries stays in a dm:person.
	Legacy bool
}

// Marshal encodes d in the standard form; see Encode.
func (d *Document) Marshal() ([]byte, error) { return d.Encode(EncodeOptions{}) }

// Encode writes d as a PIDF document with an XML declaration, the PIDF
// namespace as default namespace and the conventional prefixes dm, rpid,
// ci, lt and ep, each declared on <presence> only when used. Extensions are
// written back verbatim; unknown attributes in other namespaces get
// generated prefixes declared on their element.
//
// It fails with ErrNoEntity, ErrNoID or ErrBadValue when d cannot be
// written as a valid document.
func (d *Document) Encode(opts EncodeOptions) ([]byte, error) {
	if d.Entity == "" {
		return nil, ErrNoEntity
	}
	if opts.Legacy {
		d = legacyView(d)
	}
	e := &encoder{}
	e.aw.Buf = &e.b
	e.aw.Prefix = e.attrPrefix
	for i := range d.Tuples {
		if err := e.tuple(&d.Tuples[i]); err != nil {
			return nil, err
		}
	}
	for _, n := range d.Notes {
		e.note(NSPIDF, "note", n)
	}
	for i := range d.Persons {
		if err := e.person(&d.Persons[i]); err != nil {
			return nil, err
		}
	}
	for i := range d.Devices {
		if err := e.device(&d.Devices[i]); err != nil {
			return nil, err
		}
	}
	e.cipid(&d.CIPID)
	e.extensions(d.Extensions)
	body := e.b.Bytes()

	// The root's attributes are written last so that every prefix used
	// anywhere is known when the declarations are written.
	var rootAttrs bytes.Buffer
	e.aw.Reset(&rootAttrs)
	e.aw.Attr(xml.Name{Local: "entity"}, d.Entity)
	for _, a := range d.Attrs {
		e.aw.Attr(a.Name, a.Value)
	}

	out := make([]byte, 0, len(body)+len(rootAttrs.Bytes())+256)
	out = append(out, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<presence xmlns="`+NSPIDF+`"`...)
	for i, ns := range knownNS {
		if e.used&(1<<i) != 0 {
			out = append(out, " xmlns:"+ns.prefix+`="`+ns.uri+`"`...)
		}
	}
	out = append(out, rootAttrs.Bytes()...)
	out = append(out, '>')
	out = append(out, body...)
	out = append(out, "</presence>"...)
	return out, nil
}

var knownNS = [...]struct{ uri, prefix string }{
	{NSDataModel, "dm"},
	{NSRPID, "rpid"},
	{NSCIPID, "ci"},
	{NSLocation, "lt"},
	{NSLegacyRPID, "ep"},
}

type encoder struct {
	b    bytes.Buffer
	aw   xmltree.AttrWriter
	used uint8 // bit i: knownNS[i] is used
}

// prefixOf returns the conventional prefix of space and marks it used; ""
// for the PIDF namespace and for namespaces without one.
func (e *encoder) prefixOf(space string) string {
	for i, ns := range knownNS {
		if ns.uri == space {
			e.used |= 1 << i
			return ns.prefix
		}
	}
	return ""
}

// attrPrefix is prefixOf for attributes, which the default namespace does
// not cover.
func (e *encoder) attrPrefix(space string) string {
	if space == NSPIDF {
		return ""
	}
	return e.prefixOf(space)
}

// start writes "<prefix:local" and readies the attribute writer.
func (e *encoder) start(space, local string) {
	e.b.WriteByte('<')
	xmltree.WriteQName(&e.b, e.prefixOf(space), local)
	e.aw.Reset(&e.b)
}

func (e *encoder) end(space, local string) {
	e.b.WriteString("</")
	xmltree.WriteQName(&e.b, e.prefixOf(space), local)
	e.b.WriteByte('>')
}

func (e *encoder) attrs(attrs []xml.Attr) {
	for _, a := range attrs {
		e.aw.Attr(a.Name, a.Value)
	}
}

func (e *encoder) textElem(space, local, text string) {
	e.start(space, local)
	e.b.WriteByte('>')
	xmltree.EscapeText(&e.b, text)
	e.end(space, local)
}

func (e *encoder) emptyElem(space, local string) {
	e.start(space, local)
	e.b.WriteString("/>")
}

func (e *encoder) note(space, local string, n Note) {
	e.start(space, local)
	if n.Lang != "" {
		e.aw.Attr(attrLang, n.Lang)
	}
	e.b.WriteByte('>')
	xmltree.EscapeText(&e.b, n.Text)
	e.end(space, local)
}

func (e *encoder) timestamp(space string, t time.Time) {
	if !t.IsZero() {
		e.textElem(space, "timestamp", t.Format(time.RFC3339Nano))
	}
}

func (e *encoder) extensions(exts []Extension) {
	for _, x := range exts {
		e.b.Write(x.XML)
	}
}

// extensionsIn writes the extensions in (in == true) or not in namespace
// space. Extensions in the element's own namespace are duplicates or
// misshapen forms of modeled elements; writing them after the modeled ones
// keeps a decode → encode → decode cycle from swapping the two.
func (e *encoder) extensionsIn(exts []Extension, space string, in bool) {
	for _, x := range exts {
		if (x.Name.Space == space) == in {
			e.b.Write(x.XML)
		}
	}
}

func (e *encoder) cipid(c *CIPID) {
	if c.DisplayName != "" {
		e.note(NSCIPID, "display-name", Note{Lang: c.DisplayNameLang, Text: c.DisplayName})
	}
	for _, f := range [...]struct{ local, v string }{
		{"card", c.Card}, {"homepage", c.Homepage}, {"icon", c.Icon}, {"map", c.Map}, {"sound", c.Sound},
	} {
		if f.v != "" {
			e.textElem(NSCIPID, f.local, f.v)
		}
	}
}

func (e *encoder) tuple(t *Tuple) error {
	if t.ID == "" {
		return ErrNoID
	}
	e.start(NSPIDF, "tuple")
	e.aw.Attr(xml.Name{Local: "id"}, t.ID)
	e.attrs(t.Attrs)
	e.b.WriteByte('>')

	e.start(NSPIDF, "status")
	e.attrs(t.Status.Attrs)
	e.b.WriteByte('>')
	switch t.Status.Basic {
	case "":
	case Open, Closed:
		e.textElem(NSPIDF, "basic", string(t.Status.Basic))
	default:
		return fmt.Errorf("%w: basic status %q", ErrBadValue, t.Status.Basic)
	}
	if a := t.Status.Activities; a != nil {
		e.start(NSLegacyRPID, "activities")
		e.attrs(a.Attrs)
		e.b.WriteByte('>')
		for _, v := range a.Values {
			if v != "" {
				e.textElem(NSLegacyRPID, "activity", string(v))
			}
		}
		e.extensions(a.Extensions)
		e.end(NSLegacyRPID, "activities")
	}
	e.extensions(t.Status.Extensions)
	e.end(NSPIDF, "status")

	if t.DeviceID != "" {
		e.textElem(NSDataModel, "deviceID", t.DeviceID)
	}
	if t.Class != "" {
		e.textElem(NSRPID, "class", t.Class)
	}
	if err := e.userInput(t.UserInput); err != nil {
		return err
	}
	e.cipid(&t.CIPID)
	e.extensionsIn(t.Extensions, NSPIDF, false)
	if c := t.Contact; c != nil && c.URI != "" {
		e.start(NSPIDF, "contact")
		if c.Priority != "" {
			e.aw.Attr(attrPriority, c.Priority)
		}
		e.b.WriteByte('>')
		xmltree.EscapeText(&e.b, c.URI)
		e.end(NSPIDF, "contact")
	}
	for _, n := range t.Notes {
		e.note(NSPIDF, "note", n)
	}
	e.timestamp(NSPIDF, t.Timestamp)
	e.extensionsIn(t.Extensions, NSPIDF, true)
	e.end(NSPIDF, "tuple")
	return nil
}

func (e *encoder) userInput(u *UserInput) error {
	if u == nil {
		return nil
	}
	if u.Value == "" {
		return fmt.Errorf("%w: empty user-input", ErrBadValue)
	}
	e.start(NSRPID, "user-input")
	if u.IdleThreshold > 0 {
		e.aw.Attr(xml.Name{Local: "idle-threshold"}, strconv.Itoa(u.IdleThreshold))
	}
	if !u.LastInput.IsZero() {
		e.aw.Attr(xml.Name{Local: "last-input"}, u.LastInput.Format(time.RFC3339Nano))
	}
	e.attrs(u.Attrs)
	e.b.WriteByte('>')
	xmltree.EscapeText(&e.b, u.Value)
	e.end(NSRPID, "user-input")
	return nil
}

// enum writes an RPID element of the activities/mood/place-type/privacy
// shape; values are empty elements in valueNS.
func (e *encoder) enum(local, valueNS string, f enumFields) error {
	e.start(NSRPID, local)
	e.attrs(f.Attrs)
	e.b.WriteByte('>')
	for _, v := range f.Values {
		if !xmltree.IsNCName(v) {
			return fmt.Errorf("%w: %s value %q is not an XML name", ErrBadValue, local, v)
		}
		e.emptyElem(valueNS, v)
	}
	for _, n := range f.Other {
		e.note(NSRPID, "other", n)
	}
	for _, n := range f.Notes {
		e.note(NSRPID, "note", n)
	}
	e.extensions(f.Extensions)
	e.end(NSRPID, local)
	return nil
}

func (e *encoder) person(p *Person) error {
	if p.ID == "" {
		return ErrNoID
	}
	e.start(NSDataModel, "person")
	e.aw.Attr(xml.Name{Local: "id"}, p.ID)
	e.attrs(p.Attrs)
	e.b.WriteByte('>')
	if a := p.Activities; a != nil {
		f := enumFields{Other: a.Other, Notes: a.Notes, Attrs: a.Attrs, Extensions: a.Extensions}
		for _, v := range a.Values {
			f.Values = append(f.Values, string(v))
		}
		if err := e.enum("activities", NSRPID, f); err != nil {
			return err
		}
	}
	if p.Class != "" {
		e.textElem(NSRPID, "class", p.Class)
	}
	if p.Mood != nil {
		if err := e.enum("mood", NSRPID, enumFields(*p.Mood)); err != nil {
			return err
		}
	}
	if p.PlaceType != nil {
		if err := e.enum("place-type", NSLocation, enumFields(*p.PlaceType)); err != nil {
			return err
		}
	}
	if p.Privacy != nil {
		if err := e.enum("privacy", NSRPID, enumFields(*p.Privacy)); err != nil {
			return err
		}
	}
	if err := e.userInput(p.UserInput); err != nil {
		return err
	}
	e.cipid(&p.CIPID)
	e.extensionsIn(p.Extensions, NSDataModel, false)
	for _, n := range p.Notes {
		e.note(NSDataModel, "note", n)
	}
	e.timestamp(NSDataModel, p.Timestamp)
	e.extensionsIn(p.Extensions, NSDataModel, true)
	e.end(NSDataModel, "person")
	return nil
}

func (e *encoder) device(d *Device) error {
	if d.ID == "" {
		return ErrNoID
	}
	e.start(NSDataModel, "device")
	e.aw.Attr(xml.Name{Local: "id"}, d.ID)
	e.attrs(d.Attrs)
	e.b.WriteByte('>')
	if d.Class != "" {
		e.textElem(NSRPID, "class", d.Class)
	}
	if err := e.userInput(d.UserInput); err != nil {
		return err
	}
	e.extensionsIn(d.Extensions, NSDataModel, false)
	if d.DeviceID != "" {
		e.textElem(NSDataModel, "deviceID", d.DeviceID)
	}
	for _, n := range d.Notes {
		e.note(NSDataModel, "note", n)
	}
	e.timestamp(NSDataModel, d.Timestamp)
	e.extensionsIn(d.Extensions, NSDataModel, true)
	e.end(NSDataModel, "device")
	return nil
}

// legacyView returns a shallow copy of d rearranged for EncodeOptions.Legacy.
func legacyView(d *Document) *Document {
	if len(d.Persons) == 0 {
		return d
	}
	c := *d
	p := d.Persons[0]
	c.Tuples = append([]Tuple(nil), d.Tuples...)
	for i := range c.Tuples {
		t := &c.Tuples[i]
		if t.Status.Activities == nil && p.Activities != nil {
			a := *p.Activities
			t.Status.Activities = &a
		}
		if t.DisplayName == "" {
			t.DisplayName, t.DisplayNameLang = p.DisplayName, p.DisplayNameLang
		}
	}
	if len(c.Tuples) > 0 {
		p.Activities = nil
		p.DisplayName, p.DisplayNameLang = "", ""
	}
	c.Persons = append([]Person(nil), d.Persons...)
	if p.isBare() {
		c.Persons = c.Persons[1:]
	} else {
		c.Persons[0] = p
	}
	return &c
}

// isBare reports whether p carries nothing but its id.
func (p *Person) isBare() bool {
	return p.Activities == nil && p.Class == "" && p.Mood == nil && p.PlaceType == nil &&
		p.Privacy == nil && p.UserInput == nil && p.CIPID == (CIPID{}) && len(p.Notes) == 0 &&
		p.Timestamp.IsZero() && len(p.Attrs) == 0 && len(p.Extensions) == 0
}
