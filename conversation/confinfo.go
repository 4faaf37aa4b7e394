package conversation

import (
	"encoding/xml"
	"errors"
	"strconv"
	"strings"
)

// ConferenceInfoType is the body type of the conference event package.
const ConferenceInfoType = "application/conference-info+xml"

const conferenceInfoNS = "urn:ietf:params:xml:ns:conference-info"

// maxConferenceInfo bounds the documents ParseConferenceInfo reads.
const maxConferenceInfo = 1 << 20

// ErrConferenceInfo is what every parse failure of ParseConferenceInfo
// matches with errors.Is.
var ErrConferenceInfo = errors.New("conversation: invalid conference-info document")

// ConferenceInfo is an RFC 4575 conference-info document: the subset a
// roster needs (§5: conference-info, conference-description, users, user,
// endpoint, media). States are "full", "partial" or "deleted" (§5.1);
// empty means absent (full by default at the top level).
type ConferenceInfo struct {
	Entity      string // the conference URI
	State       string
	Version     uint32
	Subject     string // conference-description/subject
	DisplayText string // conference-description/display-text
	Users       []User
}

// User is a <user> element (§5.6): one participant.
type User struct {
	Entity      string // the participant's URI
	State       string
	DisplayText string
	Roles       []string
	Endpoints   []Endpoint
}

// Endpoint is a participant's device or leg (§5.6.5).
type Endpoint struct {
	Entity      string
	State       string
	DisplayText string
	// Status is the endpoint's state in the conference: "connected",
	// "disconnected", "on-hold", "muted-via-focus", "pending",
	// "alerting", "dialing-in", "dialing-out", "disconnecting".
	Status string
	Media  []MediaInfo
}

// MediaInfo is one media stream of an endpoint (§5.6.5.9).
type MediaInfo struct {
	ID     string
	Type   string // "audio", "video", "message", ...
	Label  string
	Status string // "sendrecv", "sendonly", "recvonly", "inactive"
}

type xConf struct {
	XMLName xml.Name `xml:"urn:ietf:params:xml:ns:conference-info conference-info"`
	Entity  string   `xml:"entity,attr"`
	State   string   `xml:"state,attr,omitempty"`
	Version string   `xml:"version,attr"`
	Desc    *xDesc   `xml:"conference-description"`
	Users   *xUsers  `xml:"users"`
}

type xDesc struct {
	DisplayText string `xml:"display-text,omitempty"`
	Subject     string `xml:"subject,omitempty"`
}

type xUsers struct {
	User []xUser `xml:"user"`
}

type xUser struct {
	Entity      string      `xml:"entity,attr"`
	State       string      `xml:"state,attr,omitempty"`
	DisplayText string      `xml:"display-text,omitempty"`
	Roles       *xRoles     `xml:"roles"`
	Endpoint    []xEndpoint `xml:"endpoint"`
}

type xRoles struct {
	Entry []string `xml:"entry"`
}

type xEndpoint struct {
	Entity      string   `xml:"entity,attr"`
	State       string   `xml:"state,attr,omitempty"`
	DisplayText string   `xml:"display-text,omitempty"`
	Status      string   `xml:"status,omitempty"`
	Media       []xMedia `xml:"media"`
}

type xMedia struct {
	ID     string `xml:"id,attr"`
	Type   string `xml:"type,omitempty"`
	Label  string `xml:"label,omitempty"`
	Status string `xml:"status,omitempty"`
}

func bad(why string) error { return errors.Join(ErrConferenceInfo, errors.New(why)) }

func validState(s string) bool { return s == "" || s == "full" || s == "partial" || s == "deleted" }

// ParseConferenceInfo decodes an application/conference-info+xml body.
// Elements and attributes it does not model are skipped; text values are
// trimmed. Documents over 1 MiB, in another namespace, without a version
// or with an unknown state are refused.
func ParseConferenceInfo(b []byte) (*ConferenceInfo, error) {
	if len(b) > maxConferenceInfo {
		return nil, bad("document too large")
	}
	var x xConf
	if err := xml.Unmarshal(b, &x); err != nil {
		return nil, errors.Join(ErrConferenceInfo, err)
	}
	if x.XMLName.Space != conferenceInfoNS {
		return nil, bad("not in the conference-info namespace")
	}
	t := strings.TrimSpace
	c := &ConferenceInfo{Entity: t(x.Entity), State: t(x.State)}
	v, err := strconv.ParseUint(t(x.Version), 10, 32)
	if err != nil {
		return nil, bad("missing or invalid version")
	}
	c.Version = uint32(v)
	if !validState(c.State) {
		return nil, bad("invalid state")
	}
	if x.Desc != nil {
		c.Subject, c.DisplayText = t(x.Desc.Subject), t(x.Desc.DisplayText)
	}
	if x.Users != nil {
		for _, xu := range x.Users.User {
			u := User{Entity: t(xu.Entity), State: t(xu.State), DisplayText: t(xu.DisplayText)}
			if u.Entity == "" || !validState(u.State) {
				return nil, bad("user without entity or with an invalid state")
			}
			if xu.Roles != nil {
				for _, r := range xu.Roles.Entry {
					u.Roles = append(u.Roles, t(r))
				}
			}
			for _, xe := range xu.Endpoint {
				e := Endpoint{Entity: t(xe.Entity), State: t(xe.State), DisplayText: t(xe.DisplayText), Status: t(xe.Status)}
				if !validState(e.State) {
					return nil, bad("endpoint with an invalid state")
				}
				for _, xm := range xe.Media {
					e.Media = append(e.Media, MediaInfo{ID: t(xm.ID), Type: t(xm.Type), Label: t(xm.Label), Status: t(xm.Status)})
				}
				u.Endpoints = append(u.Endpoints, e)
			}
			c.Users = append(c.Users, u)
		}
	}
	return c, nil
}

// Marshal encodes c as an application/conference-info+xml body.
func (c *ConferenceInfo) Marshal() ([]byte, error) {
	x := xConf{XMLName: xml.Name{Space: conferenceInfoNS, Local: "conference-info"},
		Entity: c.Entity, State: c.State, Version: strconv.FormatUint(uint64(c.Version), 10)}
	if c.Subject != "" || c.DisplayText != "" {
		x.Desc = &xDesc{DisplayText: c.DisplayText, Subject: c.Subject}
	}
	if len(c.Users) > 0 {
		x.Users = &xUsers{}
		for _, u := range c.Users {
			xu := xUser{Entity: u.Entity, State: u.State, DisplayText: u.DisplayText}
			if len(u.Roles) > 0 {
				xu.Roles = &xRoles{Entry: u.Roles}
			}
			for _, e := range u.Endpoints {
				xe := xEndpoint{Entity: e.Entity, State: e.State, DisplayText: e.DisplayText, Status: e.Status}
				for _, m := range e.Media {
					xe.Media = append(xe.Media, xMedia(m))
				}
				xu.Endpoint = append(xu.Endpoint, xe)
			}
			x.Users.User = append(x.Users.User, xu)
		}
	}
	b, err := xml.MarshalIndent(x, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}
