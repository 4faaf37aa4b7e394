package rlmi

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/sipua-go/sipua/presence/internal/xmltree"
	"github.com/sipua-go/sipua/sip"
)

// ContentType is the media type of an RLMI document (RFC 4662 §5.2).
const ContentType = "application/rlmi+xml"

// Namespace is the RLMI XML namespace (RFC 4662 §5.2).
const Namespace = "urn:ietf:params:xml:ns:rlmi"

// Limits on what Parse and Decode accept.
const (
	MaxSize     = 1 << 20 // bytes of an RLMI document, and of a whole multipart NOTIFY body
	MaxDepth    = 32      // element nesting
	MaxElements = 1 << 16 // elements in an RLMI document
)

// Errors. Malformed input is reported with an error wrapping ErrMalformed.
var (
	ErrMalformed = errors.New("rlmi: malformed body")
	ErrTooLarge  = errors.New("rlmi: body exceeds a size limit")
	ErrNotRLMI   = errors.New("rlmi: not a resource list (application/rlmi+xml) body")
	ErrNoRoot    = errors.New("rlmi: the start part of the multipart body is missing")
	ErrBadValue  = errors.New("rlmi: value cannot be encoded")
)

// List is an RLMI <list> (RFC 4662 §5.2): the state of a resource list
// subscription. Version increases by one with every NOTIFY of the
// subscription; FullState tells whether the list is complete or only
// carries the resources that changed (RFC 4662 §5.3–5.4). Interpreting
// both is the subscriber's job.
type List struct {
	URI       string
	Version   uint32
	FullState bool
	Names     []Name
	Resources []Resource

	Attrs      []xml.Attr  // unknown attributes
	Extensions []Extension // unknown child elements
}

// Name is a <name> with its xml:lang.
type Name struct {
	Lang string
	Text string
}

// Resource is a <resource> of a list: one URI of the list with its
// subscription instances. A resource without instances has no
// subscription yet (RFC 4662 §5.2).
type Resource struct {
	URI       string
	Names     []Name
	Instances []Instance

	Attrs      []xml.Attr
	Extensions []Extension
}

// State is an instance's subscription state.
type State string

// Subscription states (RFC 4662 §5.2, RFC 6665 §4.1.3).
const (
	Active     State = "active"
	Pending    State = "pending"
	Terminated State = "terminated"
)

// Instance is one subscription to a resource (RFC 4662 §5.2). CID names
// the body part with the resource's state, when there is one.
type Instance struct {
	ID     string
	State  State
	Reason string // for Terminated: deactivated, probation, rejected, timeout, giveup, noresource, ...
	CID    string // Content-ID of the state part, without angle brackets

	// Attrs holds every other attribute. Unprefixed attributes are keyed by
	// their local name, attributes in a namespace by "{namespace}local".
	// Microsoft servers put the SIP status code and diagnostic code of a
	// failed back-end subscription here; see StatusCode and Diagnostics.
	Attrs map[string]string

	Extensions []Extension // child elements, kept verbatim
}

// Extension is an element the model does not know, kept as a
// self-contained XML fragment (the sender's prefixes, every namespace
// used declared on its root). Marshal writes XML as it is.
type Extension struct {
	Name xml.Name
	XML  []byte
}

// Attr returns the value of an extra attribute by local name, ignoring
// its namespace and the case of the name.
func (in *Instance) Attr(local string) (string, bool) {
	if v, ok := in.Attrs[local]; ok {
		return v, true
	}
	keys := make([]string, 0, len(in.Attrs))
	for k := range in.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		l := k
		if strings.HasPrefix(k, "{") {
			if i := strings.LastIndexByte(k, '}'); i > 0 {
				l = k[i+1:]
			}
		}
		if strings.EqualFold(l, local) {
			return in.Attrs[k], true
		}
	}
	return "", false
}

// Attribute names StatusCode and Diagnostics look for, in order, by local
// name in any namespace and in any case. No public specification or trace
// of the Microsoft RLMI extension was at hand when this was written, so the
// list covers the plausible spellings; whatever a server sends is in Attrs
// in any case.
var (
	statusCodeAttrs = []string{"statusCode", "status-code", "responseCode", "sipStatusCode", "code"}
	diagAttrs       = []string{"ms-diagnostics", "ms-diagnostics-public", "diagnostics", "diagCode", "diagnosticCode", "diag-code"}
)

// StatusCode returns the SIP status code a server attached to the
// instance (for example 403 with state="terminated" reason="forbidden"),
// or 0.
func (in *Instance) StatusCode() int {
	for _, name := range statusCodeAttrs {
		if v, ok := in.Attr(name); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 100 && n <= 699 {
				return n
			}
		}
	}
	return 0
}

// Diagnostics returns the Microsoft diagnostic attached to the instance:
// an ms-diagnostics style value (`2157;reason="..."`) or a bare code.
func (in *Instance) Diagnostics() (sip.Diagnostics, bool) {
	for _, name := range diagAttrs {
		if v, ok := in.Attr(name); ok {
			if d, err := sip.ParseDiagnostics(strings.TrimSpace(v)); err == nil {
				return d, true
			}
		}
	}
	return sip.Diagnostics{}, false
}

// Parse decodes an RLMI document.
func Parse(data []byte) (*List, error) {
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
	if root.Name.Local != "list" || root.Name.Space != Namespace && root.Name.Space != "" {
		return nil, ErrNotRLMI
	}
	l := &List{}
	haveVersion := false
	for _, a := range root.Attrs {
		if a.Name.Space == "" {
			switch a.Name.Local {
			case "uri":
				l.URI = strings.TrimSpace(a.Value)
				continue
			case "version":
				v, err := strconv.ParseUint(strings.TrimSpace(a.Value), 10, 32)
				if err != nil {
					return nil, fmt.Errorf("%w: bad version %q", ErrMalformed, a.Value)
				}
				l.Version, haveVersion = uint32(v), true
				continue
			case "fullState":
				switch strings.TrimSpace(a.Value) {
				case "true", "1":
					l.FullState = true
				case "false", "0":
				default:
					return nil, fmt.Errorf("%w: bad fullState %q", ErrMalformed, a.Value)
				}
				continue
			}
		}
		l.Attrs = append(l.Attrs, xml.Attr{Name: a.Name, Value: a.Value})
	}
	if !haveVersion {
		return nil, fmt.Errorf("%w: list without a version", ErrMalformed)
	}
	ns := root.Name.Space
	for _, k := range root.Children {
		if k.Kind != xmltree.KindElement {
			continue
		}
		c := k.Elem
		switch {
		case c.Is(ns, "name"):
			if n, ok := decodeName(c); ok {
				l.Names = append(l.Names, n)
				continue
			}
		case c.Is(ns, "resource"):
			l.Resources = append(l.Resources, decodeResource(c, ns))
			continue
		}
		l.Extensions = append(l.Extensions, extension(c))
	}
	return l, nil
}

func extension(n *xmltree.Node) Extension { return Extension{Name: n.Name, XML: n.Fragment()} }

var attrLang = xml.Name{Space: xmltree.NSXML, Local: "lang"}

func decodeName(n *xmltree.Node) (Name, bool) {
	if !n.Simple(attrLang) {
		return Name{}, false
	}
	lang, _ := n.Attr(xmltree.NSXML, "lang")
	return Name{Lang: lang, Text: strings.TrimSpace(n.Text())}, true
}

func decodeResource(n *xmltree.Node, ns string) Resource {
	var r Resource
	for _, a := range n.Attrs {
		if a.Name == (xml.Name{Local: "uri"}) {
			r.URI = strings.TrimSpace(a.Value)
			continue
		}
		r.Attrs = append(r.Attrs, xml.Attr{Name: a.Name, Value: a.Value})
	}
	for _, k := range n.Children {
		if k.Kind != xmltree.KindElement {
			continue
		}
		c := k.Elem
		switch {
		case c.Is(ns, "name"):
			if nm, ok := decodeName(c); ok {
				r.Names = append(r.Names, nm)
				continue
			}
		case c.Is(ns, "instance"):
			r.Instances = append(r.Instances, decodeInstance(c))
			continue
		}
		r.Extensions = append(r.Extensions, extension(c))
	}
	return r
}

func decodeInstance(n *xmltree.Node) Instance {
	var in Instance
	for _, a := range n.Attrs {
		if a.Name.Space == "" {
			switch a.Name.Local {
			case "id":
				in.ID = a.Value
				continue
			case "state":
				in.State = State(strings.TrimSpace(a.Value))
				continue
			case "reason":
				in.Reason = strings.TrimSpace(a.Value)
				continue
			case "cid":
				in.CID = a.Value
				continue
			}
		}
		if in.Attrs == nil {
			in.Attrs = make(map[string]string)
		}
		in.Attrs[attrKey(a.Name)] = a.Value
	}
	for _, k := range n.Children {
		if k.Kind == xmltree.KindElement {
			in.Extensions = append(in.Extensions, extension(k.Elem))
		}
	}
	return in
}

func attrKey(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return "{" + n.Space + "}" + n.Local
}

func keyName(k string) xml.Name {
	if strings.HasPrefix(k, "{") {
		if i := strings.LastIndexByte(k, '}'); i > 0 {
			return xml.Name{Space: k[1:i], Local: k[i+1:]}
		}
	}
	return xml.Name{Local: k}
}

// Marshal writes l as an RLMI document with the RLMI namespace as default
// namespace. Extra instance attributes are written in sorted key order.
func (l *List) Marshal() ([]byte, error) {
	if l.URI == "" {
		return nil, fmt.Errorf("%w: list without a uri", ErrBadValue)
	}
	var b bytes.Buffer
	b.Grow(256 + 160*len(l.Resources))
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<list xmlns="` + Namespace + `"`)
	aw := xmltree.AttrWriter{Buf: &b}
	aw.Attr(xml.Name{Local: "uri"}, l.URI)
	aw.Attr(xml.Name{Local: "version"}, strconv.FormatUint(uint64(l.Version), 10))
	aw.Attr(xml.Name{Local: "fullState"}, strconv.FormatBool(l.FullState))
	for _, a := range l.Attrs {
		aw.Attr(a.Name, a.Value)
	}
	b.WriteByte('>')
	writeNames(&b, l.Names)
	for i := range l.Resources {
		r := &l.Resources[i]
		if r.URI == "" {
			return nil, fmt.Errorf("%w: resource without a uri", ErrBadValue)
		}
		b.WriteString("<resource")
		aw := xmltree.AttrWriter{Buf: &b}
		aw.Attr(xml.Name{Local: "uri"}, r.URI)
		for _, a := range r.Attrs {
			aw.Attr(a.Name, a.Value)
		}
		b.WriteByte('>')
		writeNames(&b, r.Names)
		for j := range r.Instances {
			if err := writeInstance(&b, &r.Instances[j]); err != nil {
				return nil, err
			}
		}
		writeExtensions(&b, r.Extensions)
		b.WriteString("</resource>")
	}
	writeExtensions(&b, l.Extensions)
	b.WriteString("</list>")
	return b.Bytes(), nil
}

func writeNames(b *bytes.Buffer, names []Name) {
	for _, n := range names {
		b.WriteString("<name")
		if n.Lang != "" {
			aw := xmltree.AttrWriter{Buf: b}
			aw.Attr(attrLang, n.Lang)
		}
		b.WriteByte('>')
		xmltree.EscapeText(b, n.Text)
		b.WriteString("</name>")
	}
}

func writeExtensions(b *bytes.Buffer, exts []Extension) {
	for _, x := range exts {
		b.Write(x.XML)
	}
}

func writeInstance(b *bytes.Buffer, in *Instance) error {
	if in.ID == "" || in.State == "" {
		return fmt.Errorf("%w: instance without an id or a state", ErrBadValue)
	}
	b.WriteString("<instance")
	aw := xmltree.AttrWriter{Buf: b}
	aw.Attr(xml.Name{Local: "id"}, in.ID)
	aw.Attr(xml.Name{Local: "state"}, string(in.State))
	if in.Reason != "" {
		aw.Attr(xml.Name{Local: "reason"}, in.Reason)
	}
	if in.CID != "" {
		aw.Attr(xml.Name{Local: "cid"}, in.CID)
	}
	if len(in.Attrs) > 0 {
		keys := make([]string, 0, len(in.Attrs))
		for k := range in.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			aw.Attr(keyName(k), in.Attrs[k])
		}
	}
	if len(in.Extensions) == 0 {
		b.WriteString("/>")
		return nil
	}
	b.WriteByte('>')
	writeExtensions(b, in.Extensions)
	b.WriteString("</instance>")
	return nil
}
