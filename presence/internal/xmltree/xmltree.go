// Package xmltree is a small namespace-aware XML element tree built on
// encoding/xml's RawToken, shared by the presence/pidf and presence/rlmi
// codecs. Unlike encoding/xml's own decoding it keeps the prefixes and
// namespace declarations the sender wrote, so that an element a codec does
// not model can be re-emitted verbatim as a self-contained fragment
// (Node.Fragment). It also holds the escaping and attribute-writing helpers
// the codecs' encoders use.
package xmltree

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// NSXML is the namespace bound to the reserved prefix "xml" (xml:lang and
// friends).
const NSXML = "http://www.w3.org/XML/1998/namespace"

// Errors returned by Parse when a document exceeds its limits; callers
// typically wrap them in their own "too large" error.
var (
	// ErrTooDeep is returned when elements nest deeper than maxDepth.
	ErrTooDeep = errors.New("elements nested too deeply")
	// ErrTooManyElements is returned when a document has more than
	// maxNodes elements.
	ErrTooManyElements = errors.New("too many elements")
)

// Kind is the kind of a Child.
type Kind uint8

// The kinds of content an element can hold.
const (
	// KindElement is a child element (Child.Elem).
	KindElement Kind = iota
	// KindText is character data (Child.Text).
	KindText
	// KindComment is a comment (Child.Text, without the delimiters).
	KindComment
	// KindProcInst is a processing instruction (Child.Target and
	// Child.Text).
	KindProcInst
)

// Node is one element of a parsed document.
type Node struct {
	// Name is the resolved name: Space is the namespace URI.
	Name xml.Name
	// Prefix is the prefix as written ("" for none).
	Prefix string
	// Decls are the namespace declarations as written: Name.Local is the
	// prefix ("" for the default namespace) and Value the URI.
	Decls []xml.Attr
	// Attrs are the other attributes, in document order.
	Attrs []Attr
	// Children is the element's content in document order.
	Children []Child
	// Parent is the enclosing element, nil for the root.
	Parent *Node
}

// Attr is one attribute of a Node.
type Attr struct {
	// Name is the resolved name: Space is the namespace URI ("" for an
	// unprefixed attribute).
	Name xml.Name
	// Prefix is the prefix as written ("" for none).
	Prefix string
	// Value is the attribute value after entity expansion.
	Value string
}

// Child is one item of an element's content.
type Child struct {
	// Kind says which of the other fields is set.
	Kind Kind
	// Elem is the child element (KindElement).
	Elem *Node
	// Text is the character data, comment text or processing-instruction
	// body.
	Text string
	// Target is the processing-instruction target (KindProcInst).
	Target string
}

// Lookup resolves prefix in the scope of n: it returns the namespace URI
// bound to it by n or the nearest ancestor that declares it. The prefix
// "xml" is always bound to NSXML; the empty prefix is bound to "" unless a
// default namespace is declared. ok is false for an undeclared prefix.
func (n *Node) Lookup(prefix string) (uri string, ok bool) {
	if prefix == "xml" {
		return NSXML, true
	}
	for e := n; e != nil; e = e.Parent {
		for i := len(e.Decls) - 1; i >= 0; i-- {
			if e.Decls[i].Name.Local == prefix {
				return e.Decls[i].Value, true
			}
		}
	}
	return "", prefix == ""
}

// Text returns the concatenated character data directly inside n.
func (n *Node) Text() string {
	switch {
	case len(n.Children) == 0:
		return ""
	case len(n.Children) == 1 && n.Children[0].Kind == KindText:
		return n.Children[0].Text
	}
	var sb strings.Builder
	for _, k := range n.Children {
		if k.Kind == KindText {
			sb.WriteString(k.Text)
		}
	}
	return sb.String()
}

// HasElements reports whether n has child elements.
func (n *Node) HasElements() bool {
	for _, k := range n.Children {
		if k.Kind == KindElement {
			return true
		}
	}
	return false
}

// Is reports whether n is the element {space}local.
func (n *Node) Is(space, local string) bool {
	return n.Name.Local == local && n.Name.Space == space
}

// Attr returns the value of the attribute {space}local; space is "" for an
// unprefixed attribute.
func (n *Node) Attr(space, local string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Name.Local == local && a.Name.Space == space {
			return a.Value, true
		}
	}
	return "", false
}

// Simple reports whether n holds text only and no attribute other than
// those named in allowed.
func (n *Node) Simple(allowed ...xml.Name) bool {
	if n.HasElements() {
		return false
	}
	for _, a := range n.Attrs {
		ok := false
		for _, w := range allowed {
			if a.Name == w {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Empty reports whether n has no attributes, no child elements and only
// white space as text.
func (n *Node) Empty() bool {
	return len(n.Attrs) == 0 && !n.HasElements() && strings.TrimSpace(n.Text()) == ""
}

// Parse parses data into an element tree and returns its root. Namespace
// prefixes are resolved and end tags checked here (RawToken does neither).
// maxDepth bounds the nesting of elements and maxNodes their number; a
// document over either limit gives ErrTooDeep or ErrTooManyElements. Only
// UTF-8 (and its subsets) is accepted as a declared encoding; a DOCTYPE is
// skipped, and comments and processing instructions outside the root are
// dropped.
func Parse(data []byte, maxDepth, maxNodes int) (*Node, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = charsetReader
	var root, cur *Node
	depth, nodes := 0, 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if cur == nil && root != nil {
				return nil, errors.New("content after the root element")
			}
			depth++
			nodes++
			if depth > maxDepth {
				return nil, ErrTooDeep
			}
			if nodes > maxNodes {
				return nil, ErrTooManyElements
			}
			n := &Node{Parent: cur, Prefix: t.Name.Space}
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns":
					if a.Name.Local == "xml" || a.Name.Local == "xmlns" || a.Name.Local == "" {
						return nil, fmt.Errorf("reserved namespace prefix %q declared", a.Name.Local)
					}
					n.Decls = append(n.Decls, xml.Attr{Name: xml.Name{Local: a.Name.Local}, Value: a.Value})
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					n.Decls = append(n.Decls, xml.Attr{Value: a.Value})
				default:
					n.Attrs = append(n.Attrs, Attr{Name: xml.Name{Local: a.Name.Local}, Prefix: a.Name.Space, Value: a.Value})
				}
			}
			ns, ok := n.Lookup(n.Prefix)
			if !ok || n.Prefix == "xmlns" {
				return nil, fmt.Errorf("undeclared namespace prefix %q", n.Prefix)
			}
			n.Name = xml.Name{Space: ns, Local: t.Name.Local}
			for i := range n.Attrs {
				a := &n.Attrs[i]
				if a.Prefix == "" {
					continue
				}
				if a.Name.Space, ok = n.Lookup(a.Prefix); !ok {
					return nil, fmt.Errorf("undeclared namespace prefix %q", a.Prefix)
				}
			}
			if cur != nil {
				cur.Children = append(cur.Children, Child{Kind: KindElement, Elem: n})
			} else {
				root = n
			}
			cur = n
		case xml.EndElement:
			if cur == nil || t.Name.Space != cur.Prefix || t.Name.Local != cur.Name.Local {
				return nil, errors.New("mismatched end tag")
			}
			cur = cur.Parent
			depth--
		case xml.CharData:
			if cur == nil {
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, errors.New("text outside the root element")
				}
				continue
			}
			cur.Children = append(cur.Children, Child{Kind: KindText, Text: string(t)})
		case xml.Comment:
			if cur != nil {
				cur.Children = append(cur.Children, Child{Kind: KindComment, Text: string(t)})
			}
		case xml.ProcInst:
			if cur != nil {
				cur.Children = append(cur.Children, Child{Kind: KindProcInst, Target: t.Target, Text: string(t.Inst)})
			}
		case xml.Directive:
			// A DOCTYPE is skipped; encoding/xml expands no entity it declares.
		}
	}
	if root == nil {
		return nil, errors.New("no root element")
	}
	if cur != nil {
		return nil, errors.New("unexpected end of document")
	}
	return root, nil
}

// charsetReader accepts the encodings that are byte-identical to UTF-8 for
// the characters they define; anything else is an error.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return input, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", charset)
}

// Fragment serializes n and its subtree as a self-contained XML fragment:
// the prefixes are those the sender wrote, and every namespace binding the
// subtree uses but inherits from outside is declared on its root. The
// result is canonical: parsing it and serializing again gives the same
// bytes.
func (n *Node) Fragment() []byte {
	var need []string
	n.collectNeeds(nil, &need)
	extra := make([]xml.Attr, 0, len(need))
	for _, p := range need {
		uri, _ := n.Lookup(p)
		extra = append(extra, xml.Attr{Name: xml.Name{Local: p}, Value: uri})
	}
	var b bytes.Buffer
	n.Write(&b, extra...)
	return b.Bytes()
}

func (n *Node) collectNeeds(local []string, need *[]string) {
	for _, d := range n.Decls {
		local = append(local, d.Name.Local)
	}
	use := func(p string) {
		if p == "xml" {
			return
		}
		for _, l := range local {
			if l == p {
				return
			}
		}
		for _, l := range *need {
			if l == p {
				return
			}
		}
		*need = append(*need, p)
	}
	use(n.Prefix)
	for _, a := range n.Attrs {
		if a.Prefix != "" {
			use(a.Prefix)
		}
	}
	for _, k := range n.Children {
		if k.Kind == KindElement {
			k.Elem.collectNeeds(local, need)
		}
	}
}

// Write serializes n and its subtree to b as parsed: with the prefixes and
// namespace declarations the sender wrote, plus the declarations in extra
// (Name.Local is the prefix, "" for the default namespace) on n's start
// tag. Unlike Fragment it does not add the bindings n inherits.
func (n *Node) Write(b *bytes.Buffer, extra ...xml.Attr) {
	b.WriteByte('<')
	WriteQName(b, n.Prefix, n.Name.Local)
	for _, d := range n.Decls {
		WriteDecl(b, d)
	}
	for _, d := range extra {
		WriteDecl(b, d)
	}
	for _, a := range n.Attrs {
		b.WriteByte(' ')
		WriteQName(b, a.Prefix, a.Name.Local)
		b.WriteString(`="`)
		EscapeAttr(b, a.Value)
		b.WriteByte('"')
	}
	if len(n.Children) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	for _, k := range n.Children {
		switch k.Kind {
		case KindElement:
			k.Elem.Write(b)
		case KindText:
			EscapeText(b, k.Text)
		case KindComment:
			b.WriteString("<!--")
			b.WriteString(k.Text)
			b.WriteString("-->")
		case KindProcInst:
			b.WriteString("<?")
			b.WriteString(k.Target)
			if k.Text != "" {
				b.WriteByte(' ')
				b.WriteString(k.Text)
			}
			b.WriteString("?>")
		}
	}
	b.WriteString("</")
	WriteQName(b, n.Prefix, n.Name.Local)
	b.WriteByte('>')
}

// WriteDecl writes the namespace declaration d, preceded by a space:
// xmlns="uri" when d.Name.Local is empty, xmlns:prefix="uri" otherwise.
func WriteDecl(b *bytes.Buffer, d xml.Attr) {
	if d.Name.Local == "" {
		b.WriteString(` xmlns="`)
	} else {
		b.WriteString(" xmlns:")
		b.WriteString(d.Name.Local)
		b.WriteString(`="`)
	}
	EscapeAttr(b, d.Value)
	b.WriteByte('"')
}

// WriteQName writes the qualified name prefix:local, or local alone when
// prefix is empty.
func WriteQName(b *bytes.Buffer, prefix, local string) {
	if prefix != "" {
		b.WriteString(prefix)
		b.WriteByte(':')
	}
	b.WriteString(local)
}

// EscapeText escapes character data; CR is written as a character
// reference so that it survives end-of-line normalization.
func EscapeText(b *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		last = i + 1
	}
	b.WriteString(s[last:])
}

// EscapeAttr escapes an attribute value for a double-quoted attribute;
// white space other than the space is written as character references so
// that attribute-value normalization leaves it alone.
func EscapeAttr(b *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&quot;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		last = i + 1
	}
	b.WriteString(s[last:])
}

// IsNCName reports whether s can be written as an element or attribute
// local name.
func IsNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= 0xC0 && r != 0xD7 && r != 0xF7 && r < 0xFFFE && !(r >= 0x300 && r <= 0x36F) && !(r >= 0x2000 && r <= 0x206F && r != 0x200C && r != 0x200D):
		case i > 0 && (r == '-' || r == '.' || r >= '0' && r <= '9' || r == 0xB7 || r >= 0x300 && r <= 0x36F || r == 0x203F || r == 0x2040):
		default:
			return false
		}
	}
	return true
}

// AttrWriter writes the attributes of one start tag: names already written
// are skipped, and a namespace without a conventional prefix gets a
// generated one (a0, a1, ...) declared on the same element. The zero value
// with Buf set is ready to use; call Reset before reusing it for another
// start tag.
type AttrWriter struct {
	// Buf receives the attributes.
	Buf *bytes.Buffer
	// Prefix, if not nil, returns the conventional prefix declared at the
	// document root for a namespace, or "" if it has none.
	Prefix func(space string) string

	written []xml.Name
	gen     []string // namespaces given generated prefixes, index = suffix
}

// Reset readies w for another start tag written to buf: it forgets the
// names written and the prefixes generated so far, and keeps Prefix.
func (w *AttrWriter) Reset(buf *bytes.Buffer) {
	w.Buf = buf
	w.written = w.written[:0]
	w.gen = w.gen[:0]
}

func (w *AttrWriter) seen(name xml.Name) bool {
	for _, n := range w.written {
		if n == name {
			return true
		}
	}
	return false
}

// Attr writes one attribute, preceded by a space, unless it was written
// already or its name is not writable (not an NCName, or a namespace
// declaration).
func (w *AttrWriter) Attr(name xml.Name, value string) {
	if !IsNCName(name.Local) || w.seen(name) || name.Space == "xmlns" || name.Space == "" && name.Local == "xmlns" {
		return
	}
	w.written = append(w.written, name)
	w.Buf.WriteByte(' ')
	switch {
	case name.Space == "":
	case name.Space == NSXML:
		w.Buf.WriteString("xml:")
	default:
		p := ""
		if w.Prefix != nil {
			p = w.Prefix(name.Space)
		}
		if p == "" {
			i := 0
			for i < len(w.gen) && w.gen[i] != name.Space {
				i++
			}
			p = fmt.Sprintf("a%d", i)
			if i == len(w.gen) {
				w.gen = append(w.gen, name.Space)
				w.Buf.WriteString("xmlns:")
				w.Buf.WriteString(p)
				w.Buf.WriteString(`="`)
				EscapeAttr(w.Buf, name.Space)
				w.Buf.WriteString(`" `)
			}
		}
		w.Buf.WriteString(p)
		w.Buf.WriteByte(':')
	}
	w.Buf.WriteString(name.Local)
	w.Buf.WriteString(`="`)
	EscapeAttr(w.Buf, value)
	w.Buf.WriteByte('"')
}
