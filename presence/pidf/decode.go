package pidf

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

var (
	attrLang     = xml.Name{Space: nsXML, Local: "lang"}
	attrPriority = xml.Name{Local: "priority"}
)

// Parse decodes a PIDF document. Any namespace prefix the sender chose is
// accepted; the RFC 4480 RPID form and the legacy rpid-status form are
// both read. Bodies over MaxSize, nesting over MaxDepth or more than
// MaxElements elements give ErrTooLarge.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxSize {
		return nil, ErrTooLarge
	}
	root, err := parseTree(data, MaxDepth, MaxElements)
	if err != nil {
		if errors.Is(err, errTreeDepth) || errors.Is(err, errTreeNodes) {
			return nil, fmt.Errorf("%w: %v", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !root.is(NSPIDF, "presence") {
		return nil, ErrNotPIDF
	}
	d := &Document{}
	for _, a := range root.attrs {
		if a.name == (xml.Name{Local: "entity"}) {
			d.Entity = strings.TrimSpace(a.value)
			continue
		}
		d.Attrs = append(d.Attrs, xml.Attr{Name: a.name, Value: a.value})
	}
	for _, k := range root.kids {
		if k.kind != kidElem {
			continue
		}
		n := k.el
		switch {
		case n.is(NSPIDF, "tuple"):
			d.Tuples = append(d.Tuples, decodeTuple(n))
		case n.is(NSPIDF, "note"):
			if note, ok := decodeNote(n); ok {
				d.Notes = append(d.Notes, note)
				continue
			}
			d.Extensions = append(d.Extensions, extension(n))
		case n.is(NSDataModel, "person"):
			d.Persons = append(d.Persons, decodePerson(n))
		case n.is(NSDataModel, "device"):
			d.Devices = append(d.Devices, decodeDevice(n))
		case n.name.Space == NSCIPID && d.CIPID.take(n):
		default:
			d.Extensions = append(d.Extensions, extension(n))
		}
	}
	return d, nil
}

func extension(n *xnode) Extension {
	return Extension{Name: n.name, XML: n.fragment()}
}

func attrsOf(n *xnode, skip ...string) []xml.Attr {
	var out []xml.Attr
next:
	for _, a := range n.attrs {
		if a.name.Space == "" {
			for _, s := range skip {
				if a.name.Local == s {
					continue next
				}
			}
		}
		out = append(out, xml.Attr{Name: a.name, Value: a.value})
	}
	return out
}

func decodeNote(n *xnode) (Note, bool) {
	if !n.simple(attrLang) {
		return Note{}, false
	}
	lang, _ := n.attr(nsXML, "lang")
	return Note{Lang: lang, Text: strings.TrimSpace(n.text())}, true
}

// simpleText returns the trimmed text of an element without attributes or
// children.
func simpleText(n *xnode) (string, bool) {
	if !n.simple() {
		return "", false
	}
	return strings.TrimSpace(n.text()), true
}

func parseTime(n *xnode) (time.Time, bool) {
	s, ok := simpleText(n)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil && !t.IsZero()
}

// take stores a CIPID element in c; false if c has it already or it does
// not have the expected shape.
func (c *CIPID) take(n *xnode) bool {
	var dst *string
	switch n.name.Local {
	case "display-name":
		if c.DisplayName != "" || !n.simple(attrLang) {
			return false
		}
		v := strings.TrimSpace(n.text())
		if v == "" {
			return false
		}
		c.DisplayName = v
		c.DisplayNameLang, _ = n.attr(nsXML, "lang")
		return true
	case "card":
		dst = &c.Card
	case "homepage":
		dst = &c.Homepage
	case "icon":
		dst = &c.Icon
	case "map":
		dst = &c.Map
	case "sound":
		dst = &c.Sound
	default:
		return false
	}
	v, ok := simpleText(n)
	if !ok || v == "" || *dst != "" {
		return false
	}
	*dst = v
	return true
}

func decodeTuple(n *xnode) Tuple {
	t := Tuple{Attrs: attrsOf(n, "id")}
	t.ID, _ = n.attr("", "id")
	var haveStatus, haveTS bool
	for _, k := range n.kids {
		if k.kind != kidElem {
			continue
		}
		c := k.el
		switch {
		case c.is(NSPIDF, "status") && !haveStatus:
			haveStatus = true
			t.Status = decodeStatus(c)
			continue
		case c.is(NSPIDF, "contact") && t.Contact == nil && c.simple(attrPriority):
			uri := strings.TrimSpace(c.text())
			if uri != "" {
				p, _ := c.attr("", "priority")
				t.Contact = &Contact{URI: uri, Priority: strings.TrimSpace(p)}
				continue
			}
		case c.is(NSPIDF, "note"):
			if note, ok := decodeNote(c); ok {
				t.Notes = append(t.Notes, note)
				continue
			}
		case c.is(NSPIDF, "timestamp") && !haveTS:
			if ts, ok := parseTime(c); ok {
				t.Timestamp, haveTS = ts, true
				continue
			}
		case c.is(NSDataModel, "deviceID") && t.DeviceID == "":
			if v, ok := simpleText(c); ok && v != "" {
				t.DeviceID = v
				continue
			}
		case c.is(NSRPID, "class") && t.Class == "":
			if v, ok := simpleText(c); ok && v != "" {
				t.Class = v
				continue
			}
		case c.is(NSRPID, "user-input") && t.UserInput == nil:
			if u, ok := decodeUserInput(c); ok {
				t.UserInput = u
				continue
			}
		case c.name.Space == NSCIPID:
			if t.CIPID.take(c) {
				continue
			}
		}
		t.Extensions = append(t.Extensions, extension(c))
	}
	return t
}

func decodeStatus(n *xnode) Status {
	s := Status{Attrs: attrsOf(n)}
	for _, k := range n.kids {
		if k.kind != kidElem {
			continue
		}
		c := k.el
		switch {
		case c.is(NSPIDF, "basic") && s.Basic == "":
			if v, ok := simpleText(c); ok {
				switch strings.ToLower(v) {
				case "open":
					s.Basic = Open
					continue
				case "closed":
					s.Basic = Closed
					continue
				}
			}
		case c.is(NSLegacyRPID, "activities") && s.Activities == nil:
			s.Activities = decodeLegacyActivities(c)
			continue
		}
		s.Extensions = append(s.Extensions, extension(c))
	}
	return s
}

// decodeLegacyActivities reads <ep:activities><ep:activity>busy</ep:activity>
// and also tolerates empty elements such as <ep:busy/>.
func decodeLegacyActivities(n *xnode) *Activities {
	a := &Activities{Attrs: attrsOf(n)}
	for _, k := range n.kids {
		if k.kind != kidElem {
			continue
		}
		c := k.el
		if c.name.Space == NSLegacyRPID {
			switch {
			case c.name.Local == "activity":
				if v, ok := simpleText(c); ok && v != "" {
					a.Values = append(a.Values, Activity(v))
					continue
				}
			case c.name.Local == "note":
			case c.empty():
				a.Values = append(a.Values, Activity(c.name.Local))
				continue
			}
		}
		a.Extensions = append(a.Extensions, extension(c))
	}
	return a
}

// enumSet is the shape RPID shares between activities, mood, place-type and
// privacy: empty elements naming values, plus other, note and extensions.
type enumSet struct {
	values     []string
	other      []Note
	notes      []Note
	attrs      []xml.Attr
	extensions []Extension
}

func decodeEnum(n *xnode, valueNS string) enumSet {
	e := enumSet{attrs: attrsOf(n)}
	for _, k := range n.kids {
		if k.kind != kidElem {
			continue
		}
		c := k.el
		switch {
		case c.is(NSRPID, "other"):
			if note, ok := decodeNote(c); ok {
				e.other = append(e.other, note)
				continue
			}
		case c.is(NSRPID, "note"):
			if note, ok := decodeNote(c); ok {
				e.notes = append(e.notes, note)
				continue
			}
		case c.name.Space == valueNS && c.empty():
			e.values = append(e.values, c.name.Local)
			continue
		}
		e.extensions = append(e.extensions, extension(c))
	}
	return e
}

func decodeUserInput(n *xnode) (*UserInput, bool) {
	if n.hasElements() {
		return nil, false
	}
	v := strings.TrimSpace(n.text())
	if v == "" {
		return nil, false
	}
	u := &UserInput{Value: v}
	for _, a := range n.attrs {
		if a.name.Space == "" {
			switch a.name.Local {
			case "idle-threshold":
				if i, err := strconv.Atoi(strings.TrimSpace(a.value)); err == nil && i > 0 {
					u.IdleThreshold = i
					continue
				}
			case "last-input":
				if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(a.value)); err == nil && !t.IsZero() {
					u.LastInput = t
					continue
				}
			}
		}
		u.Attrs = append(u.Attrs, xml.Attr{Name: a.name, Value: a.value})
	}
	return u, true
}

func decodePerson(n *xnode) Person {
	p := Person{Attrs: attrsOf(n, "id")}
	p.ID, _ = n.attr("", "id")
	var haveTS bool
	for _, k := range n.kids {
		if k.kind != kidElem {
			continue
		}
		c := k.el
		switch {
		case c.is(NSRPID, "activities") && p.Activities == nil:
			e := decodeEnum(c, NSRPID)
			a := &Activities{Other: e.other, Notes: e.notes, Attrs: e.attrs, Extensions: e.extensions}
			for _, v := range e.values {
				a.Values = append(a.Values, Activity(v))
			}
			p.Activities = a
			continue
		case c.is(NSRPID, "mood") && p.Mood == nil:
			m := Mood(decodeEnum(c, NSRPID).export())
			p.Mood = &m
			continue
		case c.is(NSRPID, "place-type") && p.PlaceType == nil:
			pt := PlaceType(decodeEnum(c, NSLocation).export())
			p.PlaceType = &pt
			continue
		case c.is(NSRPID, "privacy") && p.Privacy == nil:
			pr := Privacy(decodeEnum(c, NSRPID).export())
			p.Privacy = &pr
			continue
		case c.is(NSRPID, "class") && p.Class == "":
			if v, ok := simpleText(c); ok && v != "" {
				p.Class = v
				continue
			}
		case c.is(NSRPID, "user-input") && p.UserInput == nil:
			if u, ok := decodeUserInput(c); ok {
				p.UserInput = u
				continue
			}
		case c.name.Space == NSCIPID:
			if p.CIPID.take(c) {
				continue
			}
		case c.is(NSDataModel, "note"):
			if note, ok := decodeNote(c); ok {
				p.Notes = append(p.Notes, note)
				continue
			}
		case c.is(NSDataModel, "timestamp") && !haveTS:
			if ts, ok := parseTime(c); ok {
				p.Timestamp, haveTS = ts, true
				continue
			}
		}
		p.Extensions = append(p.Extensions, extension(c))
	}
	return p
}

func decodeDevice(n *xnode) Device {
	d := Device{Attrs: attrsOf(n, "id")}
	d.ID, _ = n.attr("", "id")
	var haveTS bool
	for _, k := range n.kids {
		if k.kind != kidElem {
			continue
		}
		c := k.el
		switch {
		case c.is(NSDataModel, "deviceID") && d.DeviceID == "":
			if v, ok := simpleText(c); ok && v != "" {
				d.DeviceID = v
				continue
			}
		case c.is(NSRPID, "class") && d.Class == "":
			if v, ok := simpleText(c); ok && v != "" {
				d.Class = v
				continue
			}
		case c.is(NSRPID, "user-input") && d.UserInput == nil:
			if u, ok := decodeUserInput(c); ok {
				d.UserInput = u
				continue
			}
		case c.is(NSDataModel, "note"):
			if note, ok := decodeNote(c); ok {
				d.Notes = append(d.Notes, note)
				continue
			}
		case c.is(NSDataModel, "timestamp") && !haveTS:
			if ts, ok := parseTime(c); ok {
				d.Timestamp, haveTS = ts, true
				continue
			}
		}
		d.Extensions = append(d.Extensions, extension(c))
	}
	return d
}

// enumFields has the exported field layout shared by Mood, PlaceType and
// Privacy, so that each converts from it.
type enumFields struct {
	Values     []string
	Other      []Note
	Notes      []Note
	Attrs      []xml.Attr
	Extensions []Extension
}

func (e enumSet) export() enumFields {
	return enumFields{Values: e.values, Other: e.other, Notes: e.notes, Attrs: e.attrs, Extensions: e.extensions}
}
