package im

import (
	"encoding/xml"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ComposingState is the state of an RFC 3994 composer.
type ComposingState int

// Composer states (RFC 3994 §3.1).
const (
	Idle ComposingState = iota
	Active
)

func (s ComposingState) String() string {
	if s == Active {
		return "active"
	}
	return "idle"
}

// RFC 3994 timers.
const (
	// DefaultComposingIdle is the idle timeout of §3.2: no typing for this
	// long turns an active composer idle.
	DefaultComposingIdle = 15 * time.Second
	// DefaultComposingRefresh is the refresh interval a composer sends
	// with an active status (§3.2: at least 60 s; 90 s suggested).
	DefaultComposingRefresh = 90 * time.Second
	// ComposingReceiverTimeout is how long a receiver keeps an active
	// state that gave no refresh interval (§3.3).
	ComposingReceiverTimeout = 120 * time.Second
)

const composingNS = "urn:ietf:params:xml:ns:im-iscomposing"

// Composing is an RFC 3994 status message (§4, application/im-iscomposing+xml).
type Composing struct {
	State ComposingState
	// LastActive is when the composer was last active (zero: absent).
	LastActive time.Time
	// ContentType is the type of the message being composed ("" absent).
	ContentType string
	// Refresh is the interval after which an active state without a new
	// status lapses (zero: absent; only meaningful when Active).
	Refresh time.Duration
}

type composingXML struct {
	XMLName     xml.Name `xml:"isComposing"`
	State       string   `xml:"state"`
	LastActive  string   `xml:"lastactive,omitempty"`
	ContentType string   `xml:"contenttype,omitempty"`
	Refresh     string   `xml:"refresh,omitempty"`
}

// ErrComposing is returned by ParseComposing for a document that is not
// an RFC 3994 status message.
var ErrComposing = errors.New("im: invalid isComposing document")

// ParseComposing decodes an application/im-iscomposing+xml body.
func ParseComposing(b []byte) (Composing, error) {
	var x composingXML
	if len(b) > 64<<10 {
		return Composing{}, ErrComposing
	}
	if err := xml.Unmarshal(b, &x); err != nil {
		return Composing{}, errors.Join(ErrComposing, err)
	}
	if x.XMLName.Space != composingNS {
		return Composing{}, ErrComposing
	}
	var c Composing
	switch strings.TrimSpace(x.State) {
	case "active":
		c.State = Active
	case "idle":
		c.State = Idle
	default:
		return Composing{}, ErrComposing
	}
	c.ContentType = strings.TrimSpace(x.ContentType)
	if v := strings.TrimSpace(x.LastActive); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return Composing{}, errors.Join(ErrComposing, err)
		}
		c.LastActive = t
	}
	if v := strings.TrimSpace(x.Refresh); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 1<<20 {
			return Composing{}, ErrComposing
		}
		c.Refresh = time.Duration(n) * time.Second
	}
	return c, nil
}

// Marshal encodes c as an application/im-iscomposing+xml body.
func (c Composing) Marshal() []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<isComposing xmlns="` + composingNS + `">` + "\n")
	b.WriteString("  <state>" + c.State.String() + "</state>\n")
	if !c.LastActive.IsZero() {
		b.WriteString("  <lastactive>" + c.LastActive.UTC().Format(time.RFC3339) + "</lastactive>\n")
	}
	if c.ContentType != "" {
		b.WriteString("  <contenttype>")
		_ = xml.EscapeText(&b, []byte(c.ContentType))
		b.WriteString("</contenttype>\n")
	}
	if c.Refresh > 0 {
		b.WriteString("  <refresh>" + strconv.Itoa(int((c.Refresh+time.Second-1)/time.Second)) + "</refresh>\n")
	}
	b.WriteString("</isComposing>\n")
	return []byte(b.String())
}
