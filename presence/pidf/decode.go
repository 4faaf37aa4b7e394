package pidf

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sipua-go/sipua/presence/internal/xmltree"
)

var (
	attrLang     = xml.Name{Space: xmltree.NSXML, Local: "lang"}
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
	root, err := xmltree.Parse(data, MaxDepth, MaxElements)
	if err != nil {
		if errors.Is(err, xmltree.ErrTooDeep) || errors.Is(err, xmltree.ErrTooManyElements) {
			return nil, fmt.Errorf("%w: %v", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !root.Is(NSPIDF, "presence") {
		return nil, ErrNotPIDF
	}
	d := &Document{}
	for _, a := range root.Attrs {
		if a.Name == (xml.Name{Local: "entity"}) {
			d.Entity = strings.TrimSpace(a.Value)
			continue
		}
		d.Attrs = append(d.Attrs, xml.Attr{Name: a.Name, Value: a.Value})
	}
	for _, k := range root.Children {
		if k.Kind != xmltree.KindElement {
			continue
		}
		n := k.Elem
		switch {
		case n.Is(NSPIDF, "tuple"):
			d.Tuples = append(d.Tuples, decodeTuple(n))
		case n.Is(NSPIDF, "note"):
			if note, ok := decodeNote(n); ok {
				d.Notes = append(d.Notes, note)
				continue
			}
			d.Extensions = append(d.Extensions, extension(n))
		case n.Is(NSDataModel, "person"):
			d.Persons = append(d.Persons, decodePerson(n))
		case n.Is(NSDataModel, "device"):
			d.Devices = append(d.Devices, decodeDevice(n))
		case n.Name.Space == NSCIPID && d.CIPID.take(n):
		default:
			d.Extensions = append(d.Extensions, extension(n))
		}
	}
	return d, nil
}

func extension(n *xmltree.Node) Extension {
	return Extension{Name: n.Name, XML: n.Fragment()}
}

func attrsOf(n *xmltree.Node, skip ...string) []xml.Attr {
	var out []xml.Attr
next:
	for _, a := range n.Attrs {
		if a.Name.Space == "" {
			for _, s := range skip {
				if a.Name.Local == s {
					continue next
				}
			}
		}
		out = append(out, xml.Attr{Name: a.Name, Value: a.Value})
	}
	return out
}

func decodeNote(n *xmltree.Node) (Note, bool) {
	if !n.Simple(attrLang) {
		return Note{}, false
	}
	lang, _ := n.Attr(xmltree.NSXML, "lang")
	return Note{Lang: lang, Text: strings.TrimSpace(n.Text())}, true
}

// simpleText returns the trimmed text of an element without attributes or
// children.
func simpleText(n *xmltree.Node) (string, bool) {
	if !n.Simple() {
		return "", false
	}
	return strings.TrimSpace(n.Text()), true
}

func parseTime(n *xmltree.Node) (time.Time, bool) {
	s, ok := simpleText(n)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil && !t.IsZero()
}

// take stores a CIPID element in c; false if c has it already or it does
// not have the expected shape.
func (c *CIPID) take(n *xmltree.Node) bool {
	var dst *string
	switch n.Name.Local {
	case "display-name":
		if c.DisplayName != "" || !n.Simple(attrLang) {
			return false
		}
		v := strings.TrimSpace(n.Text())
		if v == "" {
			return false
		}
		c.DisplayName = v
		c.DisplayNameLang, _ = n.Attr(xmltree.NSXML, "lang")
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

func decodeTuple(n *xmltree.Node) Tuple {
	t := Tuple{Attrs: attrsOf(n, "id")}
	t.ID, _ = n.Attr("", "id")
	var haveStatus, haveTS bool
	for _, k := range n.Children {
		if k.Kind != xmltree.KindElement {
			continue
		}
		c := k.Elem
		switch {
		case c.Is(NSPIDF, "status") && !haveStatus:
			haveStatus = true
			t.Status = decodeStatus(c)
			continue
		case c.Is(NSPIDF, "contact") && t.Contact == nil && c.Simple(attrPriority):
			uri := strings.TrimSpace(c.Text())
			if uri != "" {
				p, _ := c.Attr("", "priority")
				t.Contact = &Contact{URI: uri, Priority: strings.TrimSpace(p)}
				continue
			}
		case c.Is(NSPIDF, "note"):
			if note, ok := decodeNote(c); ok {
				t.Notes = append(t.Notes, note)
				continue
			}
		case c.Is(NSPIDF, "timestamp") && !haveTS:
			if ts, ok := parseTime(c); ok {
				t.Timestamp, haveTS = ts, true
				continue
			}
		case c.Is(NSDataModel, "deviceID") && t.DeviceID == "":
			if v, ok := simpleText(c); ok && v != "" {
				t.DeviceID = v
				continue
			}
		case c.Is(NSRPID, "class") && t.Class == "":
			if v, ok := simpleText(c); ok && v != "" {
				t.Class = v
				continue
			}
		case c.Is(NSRPID, "user-input") && t.UserInput == nil:
			if u, ok := decodeUserInput(c); ok {
				t.UserInput = u
				continue
			}
		case c.Name.Space == NSCIPID:
			if t.CIPID.take(c) {
				continue
			}
		}
		t.Extensions = append(t.Extensions, extension(c))
	}
	return t
}

func decodeStatus(n *xmltree.Node) Status {
	s := Status{Attrs: attrsOf(n)}
	for _, k := range n.Children {
		if k.Kind != xmltree.KindElement {
			continue
		}
		c := k.Elem
		switch {
		case c.Is(NSPIDF, "basic") && s.Basic == "":
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
		case c.Is(NSLegacyRPID, "activities") && s.Activities == nil:
			s.Activities = decodeLegacyActivities(c)
			continue
		}
		s.Extensions = append(s.Extensions, extension(c))
	}
	return s
}

// decodeLegacyActivities reads <ep:activities><ep:activity>busy</ep:activity>
// and also tolerates empty elements such as <ep:busy/>.
func decodeLegacyActivities(n *xmltree.Node) *Activities {
	a := &Activities{Attrs: attrsOf(n)}
	for _, k := range n.Children {
		if k.Kind != xmltree.KindElement {
			continue
		}
		c := k.Elem
		if c.Name.Space == NSLegacyRPID {
			switch {
			case c.Name.Local == "activity":
				if v, ok := simpleText(c); ok && v != "" {
					a.Values = append(a.Values, Activity(v))
					continue
				}
			case c.Name.Local == "note":
			case c.Empty():
				a.Values = append(a.Values, Activity(c.Name.Local))
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

func decodeEnum(n *xmltree.Node, valueNS string) enumSet {
	e := enumSet{attrs: attrsOf(n)}
	for _, k := range n.Children {
		if k.Kind != xmltree.KindElement {
			continue
		}
		c := k.Elem
		switch {
		case c.Is(NSRPID, "other"):
			if note, ok := decodeNote(c); ok {
				e.other = append(e.other, note)
				continue
			}
		case c.Is(NSRPID, "note"):
			if note, ok := decodeNote(c); ok {
				e.notes = append(e.notes, note)
				continue
			}
		case c.Name.Space == valueNS && c.Empty():
			e.values = append(e.values, c.Name.Local)
			continue
		}
		e.extensions = append(e.extensions, extension(c))
	}
	return e
}

func decodeUserInput(n *xmltree.Node) (*UserInput, bool) {
	if n.HasElements() {
		return nil, false
	}
	v := strings.TrimSpace(n.Text())
	if v == "" {
		return nil, false
	}
	u := &UserInput{Value: v}
	for _, a := range n.Attrs {
		if a.Name.Space == "" {
			switch a.Name.Local {
			case "idle-threshold":
				if i, err := strconv.Atoi(strings.TrimSpace(a.Value)); err == nil && i > 0 {
					u.IdleThreshold = i
					continue
				}
			case "last-input":
				if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(a.Value)); err == nil && !t.IsZero() {
					u.LastInput = t
					continue
				}
			}
		}
		u.Attrs = append(u.Attrs, xml.Attr{Name: a.Name, Value: a.Value})
	}
	return u, true
}

func decodePerson(n *xmltree.Node) Person {
	p := Person{Attrs: attrsOf(n, "id")}
	p.ID, _ = n.Attr("", "id")
	var haveTS bool
	for _, k := range n.Children {
		if k.Kind != xmltree.KindElement {
			continue
		}
		c := k.Elem
		switch {
		case c.Is(NSRPID, "activities") && p.Activities == nil:
			e := decodeEnum(c, NSRPID)
			a := &Activities{Other: e.other, Notes: e.notes, Attrs: e.attrs, Extensions: e.extensions}
			for _, v := range e.values {
				a.Values = append(a.Values, Activity(v))
			}
			p.Activities = a
			continue
		case c.Is(NSRPID, "mood") && p.Mood == nil:
			m := Mood(decodeEnum(c, NSRPID).export())
			p.Mood = &m
			continue
		case c.Is(NSRPID, "place-type") && p.PlaceType == nil:
			pt := PlaceType(decodeEnum(c, NSLocation).export())
			p.PlaceType = &pt
			continue
		case c.Is(NSRPID, "privacy") && p.Privacy == nil:
			pr := Privacy(decodeEnum(c, NSRPID).export())
			p.Privacy = &pr
			continue
		case c.Is(NSRPID, "class") && p.Class == "":
			if v, ok := simpleText(c); ok && v != "" {
				p.Class = v
				continue
			}
		case c.Is(NSRPID, "user-input") && p.UserInput == nil:
			if u, ok := decodeUserInput(c); ok {
				p.UserInput = u
				continue
			}
		case c.Name.Space == NSCIPID:
			if p.CIPID.take(c) {
				continue
			}
		case c.Is(NSDataModel, "note"):
			if note, ok := decodeNote(c); ok {
				p.Notes = append(p.Notes, note)
				continue
			}
		case c.Is(NSDataModel, "timestamp") && !haveTS:
			if ts, ok := parseTime(c); ok {
				p.Timestamp, haveTS = ts, true
				continue
			}
		}
		p.Extensions = append(p.Extensions, extension(c))
	}
	return p
}

func decodeDevice(n *xmltree.Node) Device {
	d := Device{Attrs: attrsOf(n, "id")}
	d.ID, _ = n.Attr("", "id")
	var haveTS bool
	for _, k := range n.Children {
		if k.Kind != xmltree.KindElement {
			continue
		}
		c := k.Elem
		switch {
		case c.Is(NSDataModel, "deviceID") && d.DeviceID == "":
			if v, ok := simpleText(c); ok && v != "" {
				d.DeviceID = v
				continue
			}
		case c.Is(NSRPID, "class") && d.Class == "":
			if v, ok := simpleText(c); ok && v != "" {
				d.Class = v
				continue
			}
		case c.Is(NSRPID, "user-input") && d.UserInput == nil:
			if u, ok := decodeUserInput(c); ok {
				d.UserInput = u
				continue
			}
		case c.Is(NSDataModel, "note"):
			if note, ok := decodeNote(c); ok {
				d.Notes = append(d.Notes, note)
				continue
			}
		case c.Is(NSDataModel, "timestamp") && !haveTS:
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
