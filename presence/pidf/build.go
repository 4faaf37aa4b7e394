package pidf

import (
	"strings"
	"time"
)

// IDs the builder methods give the tuple and person they create.
const (
	DefaultTupleID  = "t1"
	DefaultPersonID = "p1"
)

// New returns an empty document for the presentity entity. The builder
// methods below fill it in and return it, so that a publication can be
// written in one expression:
//
//	doc := pidf.New("sip:alice@example.test").Open().Activity(pidf.OnThePhone).
//		Note("in a call").DisplayName("Alice")
//
// They act on the first tuple and the first person, creating them (with
// DefaultTupleID and DefaultPersonID) when the document has none. A
// Document can as well be written as a struct literal.
func New(entity string) *Document { return &Document{Entity: entity} }

// Tuple returns the first tuple, creating it if there is none.
func (d *Document) Tuple() *Tuple {
	if len(d.Tuples) == 0 {
		d.Tuples = append(d.Tuples, Tuple{ID: DefaultTupleID})
	}
	return &d.Tuples[0]
}

// Person returns the first person, creating it if there is none.
func (d *Document) Person() *Person {
	if len(d.Persons) == 0 {
		d.Persons = append(d.Persons, Person{ID: DefaultPersonID})
	}
	return &d.Persons[0]
}

// Open sets the first tuple's basic status to open.
func (d *Document) Open() *Document { d.Tuple().Status.Basic = Open; return d }

// Closed sets the first tuple's basic status to closed.
func (d *Document) Closed() *Document { d.Tuple().Status.Basic = Closed; return d }

// Contact sets the first tuple's contact URI.
func (d *Document) Contact(uri string) *Document {
	d.Tuple().Contact = &Contact{URI: uri}
	return d
}

// Note adds a note to the first tuple, where every PIDF watcher looks.
func (d *Document) Note(text string) *Document {
	t := d.Tuple()
	t.Notes = append(t.Notes, Note{Text: text})
	return d
}

// Activity adds activities to the first person (RFC 4480 §3.1).
func (d *Document) Activity(a ...Activity) *Document {
	p := d.Person()
	if p.Activities == nil {
		p.Activities = &Activities{}
	}
	p.Activities.Values = append(p.Activities.Values, a...)
	return d
}

// DisplayName sets the first person's CIPID display-name (RFC 4482 §2.2).
func (d *Document) DisplayName(name string) *Document {
	d.Person().CIPID.DisplayName = name
	return d
}

// Idle marks the first person's user input idle since last (RFC 4480
// §3.13); a zero last leaves last-input out.
func (d *Document) Idle(last time.Time) *Document {
	d.Person().UserInput = &UserInput{Value: "idle", LastInput: last}
	return d
}

// Summary is what a watcher's user interface shows of a document.
type Summary struct {
	// Basic is Open when any tuple is open, else Closed when any tuple is
	// closed, else "".
	Basic Basic
	// Activities of every person, then the legacy activities of every
	// tuple, without duplicates.
	Activities []Activity
	// Note is the first non-empty note of a person, a tuple or the
	// document, in that order; failing those, the first <rpid:other>
	// activity text.
	Note string
	// DisplayName is the first CIPID display-name of a person, a tuple or
	// the document, in that order.
	DisplayName string
}

// Summary condenses d to what a watcher shows.
func (d *Document) Summary() Summary {
	var s Summary
	for i := range d.Tuples {
		switch d.Tuples[i].Status.Basic {
		case Open:
			s.Basic = Open
		case Closed:
			if s.Basic == "" {
				s.Basic = Closed
			}
		}
	}
	add := func(a *Activities) {
		if a == nil {
			return
		}
	next:
		for _, v := range a.Values {
			v = Activity(strings.TrimSpace(string(v)))
			for _, have := range s.Activities {
				if have == v {
					continue next
				}
			}
			s.Activities = append(s.Activities, v)
		}
	}
	firstNote := func(notes []Note) {
		for _, n := range notes {
			if s.Note == "" && n.Text != "" {
				s.Note = n.Text
			}
		}
	}
	for i := range d.Persons {
		p := &d.Persons[i]
		add(p.Activities)
		firstNote(p.Notes)
		if s.DisplayName == "" {
			s.DisplayName = p.DisplayName
		}
	}
	for i := range d.Tuples {
		t := &d.Tuples[i]
		add(t.Status.Activities)
		firstNote(t.Notes)
		if s.DisplayName == "" {
			s.DisplayName = t.DisplayName
		}
	}
	firstNote(d.Notes)
	if s.DisplayName == "" {
		s.DisplayName = d.CIPID.DisplayName
	}
	for i := range d.Persons {
		if a := d.Persons[i].Activities; a != nil {
			firstNote(a.Other)
		}
	}
	return s
}
