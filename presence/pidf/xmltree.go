package pidf

// This file is kept identical, apart from the package clause, in
// presence/pidf and presence/rlmi (a test in presence/rlmi checks it). It
// is a small namespace-aware element tree built on encoding/xml's RawToken,
// so that an element the codec does not model can be re-emitted with the
// prefixes the sender chose.

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

const nsXML = "http://www.w3.org/XML/1998/namespace"

// errTreeDepth and errTreeNodes are wrapped by the package's own limit
// errors.
var (
	errTreeDepth = errors.New("elements nested too deeply")
	errTreeNodes = errors.New("too many elements")
)

const (
	kidElem = iota
	kidText
	kidComment
	kidProcInst
)

// xnode is one element of a parsed document.
type xnode struct {
	name   xml.Name   // resolved: Space is the namespace URI
	prefix string     // the prefix as written ("" for none)
	decls  []xml.Attr // namespace declarations as written: Name.Local is the prefix ("" = default)
	attrs  []xattr    // other attributes, in document order
	kids   []xkid
	parent *xnode
}

type xattr struct {
	name   xml.Name // resolved: Space is the namespace URI ("" for an unprefixed attribute)
	prefix string
	value  string
}

type xkid struct {
	kind   uint8
	el     *xnode
	text   string // char data, comment text or processing-instruction body
	target string // processing-instruction target
}

// lookup resolves prefix in the scope of n.
func (n *xnode) lookup(prefix string) (string, bool) {
	if prefix == "xml" {
		return nsXML, true
	}
	for e := n; e != nil; e = e.parent {
		for i := len(e.decls) - 1; i >= 0; i-- {
			if e.decls[i].Name.Local == prefix {
				return e.decls[i].Value, true
			}
		}
	}
	return "", prefix == ""
}

// text returns the concatenated character data directly inside n.
func (n *xnode) text() string {
	switch {
	case len(n.kids) == 0:
		return ""
	case len(n.kids) == 1 && n.kids[0].kind == kidText:
		return n.kids[0].text
	}
	var sb strings.Builder
	for _, k := range n.kids {
		if k.kind == kidText {
			sb.WriteString(k.text)
		}
	}
	return sb.String()
}

// hasElements reports whether n has child elements.
func (n *xnode) hasElements() bool {
	for _, k := range n.kids {
		if k.kind == kidElem {
			return true
		}
	}
	return false
}

// is reports whether n is the element {space}local.
func (n *xnode) is(space, local string) bool {
	return n.name.Local == local && n.name.Space == space
}

// attr returns the value of the unprefixed attribute local.
func (n *xnode) attr(space, local string) (string, bool) {
	for _, a := range n.attrs {
		if a.name.Local == local && a.name.Space == space {
			return a.value, true
		}
	}
	return "", false
}

// simple reports whether n holds text only and no attribute other than
// those named in allowed.
func (n *xnode) simple(allowed ...xml.Name) bool {
	if n.hasElements() {
		return false
	}
	for _, a := range n.attrs {
		ok := false
		for _, w := range allowed {
			if a.name == w {
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

// empty reports whether n has no attributes, no child elements and only
// white space as text.
func (n *xnode) empty() bool {
	return len(n.attrs) == 0 && !n.hasElements() && strings.TrimSpace(n.text()) == ""
}

// parseTree parses data into an element tree. Namespace prefixes are
// resolved and end tags checked here (RawToken does neither); maxDepth and
// maxNodes bound the tree.
func parseTree(data []byte, maxDepth, maxNodes int) (*xnode, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = charsetReader
	var root, cur *xnode
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
				return nil, errTreeDepth
			}
			if nodes > maxNodes {
				return nil, errTreeNodes
			}
			n := &xnode{parent: cur, prefix: t.Name.Space}
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns":
					if a.Name.Local == "xml" || a.Name.Local == "xmlns" || a.Name.Local == "" {
						return nil, fmt.Errorf("reserved namespace prefix %q declared", a.Name.Local)
					}
					n.decls = append(n.decls, xml.Attr{Name: xml.Name{Local: a.Name.Local}, Value: a.Value})
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					n.decls = append(n.decls, xml.Attr{Value: a.Value})
				default:
					n.attrs = append(n.attrs, xattr{name: xml.Name{Local: a.Name.Local}, prefix: a.Name.Space, value: a.Value})
				}
			}
			ns, ok := n.lookup(n.prefix)
			if !ok || n.prefix == "xmlns" {
				return nil, fmt.Errorf("undeclared namespace prefix %q", n.prefix)
			}
			n.name = xml.Name{Space: ns, Local: t.Name.Local}
			for i := range n.attrs {
				a := &n.attrs[i]
				if a.prefix == "" {
					continue
				}
				if a.name.Space, ok = n.lookup(a.prefix); !ok {
					return nil, fmt.Errorf("undeclared namespace prefix %q", a.prefix)
				}
			}
			if cur != nil {
				cur.kids = append(cur.kids, xkid{kind: kidElem, el: n})
			} else {
				root = n
			}
			cur = n
		case xml.EndElement:
			if cur == nil || t.Name.Space != cur.prefix || t.Name.Local != cur.name.Local {
				return nil, errors.New("mismatched end tag")
			}
			cur = cur.parent
			depth--
		case xml.CharData:
			if cur == nil {
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, errors.New("text outside the root element")
				}
				continue
			}
			cur.kids = append(cur.kids, xkid{kind: kidText, text: string(t)})
		case xml.Comment:
			if cur != nil {
				cur.kids = append(cur.kids, xkid{kind: kidComment, text: string(t)})
			}
		case xml.ProcInst:
			if cur != nil {
				cur.kids = append(cur.kids, xkid{kind: kidProcInst, target: t.Target, text: string(t.Inst)})
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

// fragment serializes n and its subtree as a self-contained XML fragment:
// the prefixes are those the sender wrote, and every namespace binding the
// subtree uses but inherits from outside is declared on its root. The
// result is canonical: parsing it and serializing again gives the same
// bytes.
func (n *xnode) fragment() []byte {
	var need []string
	n.collectNeeds(nil, &need)
	extra := make([]xml.Attr, 0, len(need))
	for _, p := range need {
		uri, _ := n.lookup(p)
		extra = append(extra, xml.Attr{Name: xml.Name{Local: p}, Value: uri})
	}
	var b bytes.Buffer
	n.write(&b, extra)
	return b.Bytes()
}

func (n *xnode) collectNeeds(local []string, need *[]string) {
	for _, d := range n.decls {
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
	use(n.prefix)
	for _, a := range n.attrs {
		if a.prefix != "" {
			use(a.prefix)
		}
	}
	for _, k := range n.kids {
		if k.kind == kidElem {
			k.el.collectNeeds(local, need)
		}
	}
}

func (n *xnode) write(b *bytes.Buffer, extra []xml.Attr) {
	b.WriteByte('<')
	writeQName(b, n.prefix, n.name.Local)
	for _, d := range n.decls {
		writeDecl(b, d)
	}
	for _, d := range extra {
		writeDecl(b, d)
	}
	for _, a := range n.attrs {
		b.WriteByte(' ')
		writeQName(b, a.prefix, a.name.Local)
		b.WriteString(`="`)
		escapeAttr(b, a.value)
		b.WriteByte('"')
	}
	if len(n.kids) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	for _, k := range n.kids {
		switch k.kind {
		case kidElem:
			k.el.write(b, nil)
		case kidText:
			escapeText(b, k.text)
		case kidComment:
			b.WriteString("<!--")
			b.WriteString(k.text)
			b.WriteString("-->")
		case kidProcInst:
			b.WriteString("<?")
			b.WriteString(k.target)
			if k.text != "" {
				b.WriteByte(' ')
				b.WriteString(k.text)
			}
			b.WriteString("?>")
		}
	}
	b.WriteString("</")
	writeQName(b, n.prefix, n.name.Local)
	b.WriteByte('>')
}

func writeDecl(b *bytes.Buffer, d xml.Attr) {
	if d.Name.Local == "" {
		b.WriteString(` xmlns="`)
	} else {
		b.WriteString(" xmlns:")
		b.WriteString(d.Name.Local)
		b.WriteString(`="`)
	}
	escapeAttr(b, d.Value)
	b.WriteByte('"')
}

func writeQName(b *bytes.Buffer, prefix, local string) {
	if prefix != "" {
		b.WriteString(prefix)
		b.WriteByte(':')
	}
	b.WriteString(local)
}

// escapeText escapes character data; CR is written as a character
// reference so that it survives end-of-line normalization.
func escapeText(b *bytes.Buffer, s string) {
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

// escapeAttr escapes an attribute value for a double-quoted attribute;
// white space other than the space is written as character references so
// that attribute-value normalization leaves it alone.
func escapeAttr(b *bytes.Buffer, s string) {
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

// isNCName reports whether s can be written as an element or attribute
// local name.
func isNCName(s string) bool {
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

// attrWriter writes attributes of one start tag: names already written are
// skipped, and a namespace without a conventional prefix gets a generated
// one declared on the same element.
type attrWriter struct {
	b       *bytes.Buffer
	written []xml.Name
	prefix  func(space string) string // conventional prefix declared at the root, or ""
	gen     []string                  // namespaces given generated prefixes, index = suffix
}

func (w *attrWriter) seen(name xml.Name) bool {
	for _, n := range w.written {
		if n == name {
			return true
		}
	}
	return false
}

// attr writes one attribute unless it was written already or its name is
// not writable.
func (w *attrWriter) attr(name xml.Name, value string) {
	if !isNCName(name.Local) || w.seen(name) || name.Space == "xmlns" || name.Space == "" && name.Local == "xmlns" {
		return
	}
	w.written = append(w.written, name)
	w.b.WriteByte(' ')
	switch {
	case name.Space == "":
	case name.Space == nsXML:
		w.b.WriteString("xml:")
	default:
		p := ""
		if w.prefix != nil {
			p = w.prefix(name.Space)
		}
		if p == "" {
			i := 0
			for i < len(w.gen) && w.gen[i] != name.Space {
				i++
			}
			p = fmt.Sprintf("a%d", i)
			if i == len(w.gen) {
				w.gen = append(w.gen, name.Space)
				w.b.WriteString("xmlns:")
				w.b.WriteString(p)
				w.b.WriteString(`="`)
				escapeAttr(w.b, name.Space)
				w.b.WriteString(`" `)
			}
		}
		w.b.WriteString(p)
		w.b.WriteByte(':')
	}
	w.b.WriteString(name.Local)
	w.b.WriteString(`="`)
	escapeAttr(w.b, value)
	w.b.WriteByte('"')
}
