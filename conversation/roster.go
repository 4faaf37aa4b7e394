package conversation

import (
	"slices"
	"strings"
	"sync"

	"github.com/sipua-go/sipua/sip"
)

// Participant is one user of a conference roster.
type Participant struct {
	URI         string // the user's entity
	DisplayName string
	Roles       []string
	Endpoints   []Endpoint
}

// Connected reports whether the participant is in the conference: it has
// an endpoint whose status is "connected" (or endpoints that give none).
func (p Participant) Connected() bool {
	if len(p.Endpoints) == 0 {
		return true
	}
	for _, e := range p.Endpoints {
		if e.Status == "" || e.Status == "connected" {
			return true
		}
	}
	return false
}

// Roster is a conference's participant list kept from conference event
// NOTIFYs (RFC 4575): full documents replace it, partial ones (§4.6) are
// merged by entity. Safe for concurrent use.
type Roster struct {
	mu      sync.Mutex
	version uint32
	have    bool
	users   []User // in document order
}

// RosterChange is what one document changed.
type RosterChange struct {
	Added, Updated, Removed []Participant
}

func (c RosterChange) empty() bool {
	return len(c.Added) == 0 && len(c.Updated) == 0 && len(c.Removed) == 0
}

// Version returns the version of the last document applied (0 before).
func (r *Roster) Version() uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.version
}

// Participants returns the participants in document order.
func (r *Roster) Participants() []Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Participant, 0, len(r.users))
	for _, u := range r.users {
		out = append(out, participant(u))
	}
	return out
}

// Participant returns the participant whose URI is uri (compared as SIP
// URIs: scheme, user and case-insensitive host).
func (r *Roster) Participant(uri string) (Participant, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := uriKey(uri)
	for _, u := range r.users {
		if uriKey(u.Entity) == k {
			return participant(u), true
		}
	}
	return Participant{}, false
}

func participant(u User) Participant {
	return Participant{URI: u.Entity, DisplayName: u.DisplayText, Roles: slices.Clone(u.Roles),
		Endpoints: slices.Clone(u.Endpoints)}
}

// uriKey normalizes a SIP URI for comparison; other strings are compared
// as they are.
func uriKey(s string) string {
	u, err := sip.ParseURI(strings.TrimSpace(s))
	if err != nil || !u.IsSIP() {
		return strings.TrimSpace(s)
	}
	return u.Scheme + ":" + u.User + "@" + strings.ToLower(u.Host)
}

// Apply applies a document. It reports what changed, and needFull when
// the document cannot be applied (a partial one without the full state
// before it, or a version gap, §4.6): the subscriber should then refresh
// its subscription to get the full state. Documents not newer than the
// last one are ignored.
func (r *Roster) Apply(c *ConferenceInfo) (change RosterChange, needFull bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	partial := c.State == "partial"
	switch {
	case c.State == "deleted":
		for _, u := range r.users {
			change.Removed = append(change.Removed, participant(u))
		}
		r.users, r.have, r.version = nil, false, c.Version
		return change, false
	case r.have && c.Version <= r.version:
		return change, false // old or repeated
	case partial && (!r.have || c.Version != r.version+1):
		return change, true
	}
	if !partial {
		old := r.users
		r.users = nil
		seen := map[string]bool{}
		for _, u := range c.Users {
			if u.State == "deleted" {
				continue
			}
			k := uriKey(u.Entity)
			seen[k] = true
			if i := indexOf(old, k); i >= 0 {
				if !equalUser(old[i], u) {
					change.Updated = append(change.Updated, participant(u))
				}
			} else {
				change.Added = append(change.Added, participant(u))
			}
			r.users = append(r.users, u)
		}
		for _, u := range old {
			if !seen[uriKey(u.Entity)] {
				change.Removed = append(change.Removed, participant(u))
			}
		}
	} else {
		for _, u := range c.Users {
			k := uriKey(u.Entity)
			i := indexOf(r.users, k)
			switch {
			case u.State == "deleted":
				if i >= 0 {
					change.Removed = append(change.Removed, participant(r.users[i]))
					r.users = slices.Delete(r.users, i, i+1)
				}
			case i < 0:
				r.users = append(r.users, u)
				change.Added = append(change.Added, participant(u))
			default:
				merged := u
				if u.State == "partial" {
					merged = mergeUser(r.users[i], u)
				}
				if !equalUser(r.users[i], merged) {
					r.users[i] = merged
					change.Updated = append(change.Updated, participant(merged))
				}
			}
		}
	}
	r.version, r.have = c.Version, true
	return change, false
}

func indexOf(us []User, key string) int {
	for i, u := range us {
		if uriKey(u.Entity) == key {
			return i
		}
	}
	return -1
}

// mergeUser applies a partial user element to the user held.
func mergeUser(old, p User) User {
	m := old
	m.State = ""
	if p.DisplayText != "" {
		m.DisplayText = p.DisplayText
	}
	if len(p.Roles) > 0 {
		m.Roles = p.Roles
	}
	m.Endpoints = slices.Clone(old.Endpoints)
	for _, e := range p.Endpoints {
		j := slices.IndexFunc(m.Endpoints, func(x Endpoint) bool { return x.Entity == e.Entity })
		switch {
		case e.State == "deleted":
			if j >= 0 {
				m.Endpoints = slices.Delete(m.Endpoints, j, j+1)
			}
		case j < 0:
			m.Endpoints = append(m.Endpoints, e)
		case e.State == "partial":
			x := m.Endpoints[j]
			if e.Status != "" {
				x.Status = e.Status
			}
			if e.DisplayText != "" {
				x.DisplayText = e.DisplayText
			}
			if len(e.Media) > 0 {
				x.Media = e.Media
			}
			m.Endpoints[j] = x
		default:
			m.Endpoints[j] = e
		}
	}
	return m
}

func equalUser(a, b User) bool {
	if a.Entity != b.Entity || a.DisplayText != b.DisplayText || !slices.Equal(a.Roles, b.Roles) ||
		len(a.Endpoints) != len(b.Endpoints) {
		return false
	}
	for i := range a.Endpoints {
		x, y := a.Endpoints[i], b.Endpoints[i]
		if x.Entity != y.Entity || x.Status != y.Status || x.DisplayText != y.DisplayText || !slices.Equal(x.Media, y.Media) {
			return false
		}
	}
	return true
}
