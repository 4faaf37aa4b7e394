package pidf

import (
	"encoding/xml"
	"errors"
	"time"
)

// ContentType is the media type of a PIDF document (RFC 3863 §8).
const ContentType = "application/pidf+xml"

// XML namespaces this package reads and writes, with the prefixes Encode
// uses for them.
const (
	NSPIDF       = "urn:ietf:params:xml:ns:pidf"                    // RFC 3863; the default namespace
	NSDataModel  = "urn:ietf:params:xml:ns:pidf:data-model"         // RFC 4479; prefix dm
	NSRPID       = "urn:ietf:params:xml:ns:pidf:rpid"               // RFC 4480; prefix rpid
	NSCIPID      = "urn:ietf:params:xml:ns:pidf:cipid"              // RFC 4482; prefix ci
	NSLocation   = "urn:ietf:params:xml:ns:location-type"           // RFC 4589, used by place-type; prefix lt
	NSLegacyRPID = "urn:ietf:params:xml:ns:pidf:status:rpid-status" // pre-RFC 4480 RPID draft; prefix ep
)

// Limits on what Parse accepts.
const (
	MaxSize     = 128 << 10 // bytes in a document
	MaxDepth    = 32        // element nesting
	MaxElements = 8192      // elements in a document
)

// Errors returned by Parse and Encode. A malformed document is reported
// with an error that wraps ErrMalformed.
var (
	ErrMalformed = errors.New("pidf: malformed document")
	ErrTooLarge  = errors.New("pidf: document exceeds a size limit")
	ErrNotPIDF   = errors.New("pidf: root element is not {urn:ietf:params:xml:ns:pidf}presence")
	ErrNoEntity  = errors.New("pidf: presence entity is empty")
	ErrNoID      = errors.New("pidf: tuple, person or device without an id")
	ErrBadValue  = errors.New("pidf: value cannot be encoded")
)

// Document is a presence document: the <presence> element of RFC 3863 §4.1
// with the data-model person and device elements of RFC 4479 and the RPID
// and CIPID extensions they carry.
//
// Every element and attribute the model does not know is kept in Extensions
// or Attrs and written back by Encode, so a document survives a decode and
// encode without loss. A known element that does not have the shape the
// model expects (an unknown attribute on <basic>, a second <contact>, a
// timestamp that does not parse) is kept as an extension in the same way.
type Document struct {
	Entity  string // the presentity URI (required)
	Tuples  []Tuple
	Notes   []Note
	Persons []Person // dm:person (RFC 4479 §3.3)
	Devices []Device // dm:device (RFC 4479 §3.4)

	// CIPID holds CIPID elements found directly under <presence>, a
	// non-standard place that some clients use for display-name.
	CIPID CIPID

	Attrs      []xml.Attr  // unknown attributes of <presence>
	Extensions []Extension // unknown child elements of <presence>
}

// Basic is the basic status of a tuple (RFC 3863 §4.1.4).
type Basic string

// Basic status values.
const (
	Open   Basic = "open"
	Closed Basic = "closed"
)

// Tuple is a PIDF <tuple> (RFC 3863 §4.1.2), which RFC 4479 §3.2 calls a
// service.
type Tuple struct {
	ID        string // required, unique within the document
	Status    Status
	Contact   *Contact
	Notes     []Note
	Timestamp time.Time // zero when absent

	DeviceID  string     // dm:deviceID (RFC 4479 §3.4.1)
	Class     string     // rpid:class (RFC 4480 §3.2)
	UserInput *UserInput // rpid:user-input (RFC 4480 §3.13)
	CIPID                // ci:display-name and friends (RFC 4482 §2)

	Attrs      []xml.Attr
	Extensions []Extension
}

// Status is a tuple's <status> (RFC 3863 §4.1.3).
type Status struct {
	Basic Basic // "" when absent

	// Activities are the legacy activities inside <status>, in the
	// namespace of the pre-RFC 4480 RPID draft
	// (<ep:activities><ep:activity>on-the-phone</ep:activity>…), as
	// AudioCodes gateways, older eXosip/linphone and SIPE write them.
	// RFC 4480 puts activities on a Person instead. Encode always writes
	// these in the legacy form.
	Activities *Activities

	Attrs      []xml.Attr
	Extensions []Extension
}

// Contact is a tuple's <contact> (RFC 3863 §4.1.5).
type Contact struct {
	URI      string
	Priority string // qvalue as written, e.g. "0.8"; "" when absent
}

// Note is a <note> (RFC 3863 §4.1.6) or any other text with an optional
// xml:lang.
type Note struct {
	Lang string
	Text string
}

// Person is a dm:person element (RFC 4479 §3.3).
type Person struct {
	ID         string
	Activities *Activities // rpid:activities (RFC 4480 §3.1)
	Class      string      // rpid:class (RFC 4480 §3.2)
	Mood       *Mood       // rpid:mood (RFC 4480 §3.4)
	PlaceType  *PlaceType  // rpid:place-type (RFC 4480 §3.6)
	Privacy    *Privacy    // rpid:privacy (RFC 4480 §3.7)
	UserInput  *UserInput  // rpid:user-input (RFC 4480 §3.13)
	CIPID                  // ci:display-name and friends (RFC 4482 §2)
	Notes      []Note      // dm:note
	Timestamp  time.Time   // dm:timestamp; zero when absent

	Attrs      []xml.Attr
	Extensions []Extension
}

// Device is a dm:device element (RFC 4479 §3.4).
type Device struct {
	ID        string
	DeviceID  string     // dm:deviceID
	Class     string     // rpid:class
	UserInput *UserInput // rpid:user-input
	Notes     []Note     // dm:note
	Timestamp time.Time  // dm:timestamp; zero when absent

	Attrs      []xml.Attr
	Extensions []Extension
}

// CIPID is the contact information of RFC 4482 §2. Empty fields are not
// written.
type CIPID struct {
	DisplayName     string
	DisplayNameLang string // xml:lang of display-name
	Card            string // URI
	Homepage        string // URI
	Icon            string // URI
	Map             string // URI
	Sound           string // URI
}

// Activity is an RPID activity (RFC 4480 §3.1), written as an empty
// element such as <rpid:on-the-phone/>.
type Activity string

// Activities of RFC 4480 §3.1.
const (
	Appointment      Activity = "appointment"
	Away             Activity = "away"
	Breakfast        Activity = "breakfast"
	Busy             Activity = "busy"
	Dinner           Activity = "dinner"
	Holiday          Activity = "holiday"
	InTransit        Activity = "in-transit"
	LookingForWork   Activity = "looking-for-work"
	Lunch            Activity = "lunch"
	Meal             Activity = "meal"
	Meeting          Activity = "meeting"
	OnThePhone       Activity = "on-the-phone"
	Performance      Activity = "performance"
	PermanentAbsence Activity = "permanent-absence"
	Playing          Activity = "playing"
	Presentation     Activity = "presentation"
	Shopping         Activity = "shopping"
	Sleeping         Activity = "sleeping"
	Spectator        Activity = "spectator"
	Steering         Activity = "steering"
	Travel           Activity = "travel"
	TV               Activity = "tv"
	Vacation         Activity = "vacation"
	Working          Activity = "working"
	Worship          Activity = "worship"
	UnknownActivity  Activity = "unknown"
)

// Activities is rpid:activities (RFC 4480 §3.1). Free text the sender put
// in <rpid:other> is in Other.
type Activities struct {
	Values []Activity
	Other  []Note // <rpid:other>
	Notes  []Note // <rpid:note>

	Attrs      []xml.Attr  // id, from, until and unknown attributes
	Extensions []Extension // children in other namespaces, or not empty
}

// Mood is rpid:mood (RFC 4480 §3.4): values such as "happy" or "stressed".
type Mood struct {
	Values     []string
	Other      []Note
	Notes      []Note
	Attrs      []xml.Attr
	Extensions []Extension
}

// PlaceType is rpid:place-type (RFC 4480 §3.6). Values are RFC 4589
// location types (namespace NSLocation) such as "home" or "office".
type PlaceType struct {
	Values     []string
	Other      []Note
	Notes      []Note
	Attrs      []xml.Attr
	Extensions []Extension
}

// Privacy is rpid:privacy (RFC 4480 §3.7): "audio", "text", "video" or
// "unknown".
type Privacy struct {
	Values     []string
	Other      []Note
	Notes      []Note
	Attrs      []xml.Attr
	Extensions []Extension
}

// UserInput is rpid:user-input (RFC 4480 §3.13).
type UserInput struct {
	Value         string    // "active" or "idle"
	IdleThreshold int       // seconds; 0 when absent
	LastInput     time.Time // zero when absent

	Attrs []xml.Attr // id and unknown attributes
}

// Extension is an element the model does not know, kept as a
// self-contained XML fragment: the sender's prefixes are kept and every
// namespace it uses is declared on its root element. Encode writes XML as
// it is, so a hand-built Extension must be well-formed.
type Extension struct {
	Name xml.Name // namespace and local name of the root element
	XML  []byte
}
