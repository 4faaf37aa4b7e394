package xmltree

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseLimits(t *testing.T) {
	nested := func(n int) []byte {
		return []byte(strings.Repeat("<a>", n) + strings.Repeat("</a>", n))
	}
	_, err := Parse(nested(4), 4, 100)
	require.NoError(t, err)
	_, err = Parse(nested(5), 4, 100)
	require.ErrorIs(t, err, ErrTooDeep)

	flat := func(n int) []byte {
		return []byte("<r>" + strings.Repeat("<a/>", n-1) + "</r>")
	}
	_, err = Parse(flat(10), 4, 10)
	require.NoError(t, err)
	_, err = Parse(flat(11), 4, 10)
	require.ErrorIs(t, err, ErrTooManyElements)
}

func TestParseErrors(t *testing.T) {
	for _, doc := range []string{
		``,
		`  `,
		`<a>`,
		`<a></b>`,
		`<a/><b/>`,
		`<a/>text`,
		`<p:a/>`,
		`<a p:x="1"/>`,
		`<a xmlns:xml="urn:x"/>`,
		`<a xmlns:xmlns="urn:x"/>`,
		`<xmlns:a/>`,
		`<p:a xmlns:p="urn:p"></a>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><a/>`,
	} {
		n, err := Parse([]byte(doc), 10, 10)
		require.Error(t, err, doc)
		require.Nil(t, n, doc)
		require.False(t, errors.Is(err, ErrTooDeep) || errors.Is(err, ErrTooManyElements), doc)
	}
	for _, doc := range []string{
		`<?xml version="1.0" encoding="us-ascii"?><a/>`,
		`<!DOCTYPE a><!-- c --><?pi x?> <a/> `,
	} {
		_, err := Parse([]byte(doc), 10, 10)
		require.NoError(t, err, doc)
	}
}

func TestNamespaces(t *testing.T) {
	doc := `<r xmlns="urn:d" xmlns:p="urn:p" p:a="1" b="2" xml:lang="en">` +
		`<p:c xmlns:p="urn:q"><e/></p:c><p:c/><x xmlns=""/></r>`
	r, err := Parse([]byte(doc), 10, 10)
	require.NoError(t, err)
	require.True(t, r.Is("urn:d", "r"))
	require.Equal(t, "", r.Prefix)
	require.Nil(t, r.Parent)

	v, ok := r.Attr("urn:p", "a")
	require.True(t, ok)
	require.Equal(t, "1", v)
	v, ok = r.Attr("", "b")
	require.True(t, ok)
	require.Equal(t, "2", v)
	v, ok = r.Attr(NSXML, "lang")
	require.True(t, ok)
	require.Equal(t, "en", v)
	_, ok = r.Attr("", "a")
	require.False(t, ok)

	var kids []*Node
	for _, k := range r.Children {
		require.Equal(t, KindElement, k.Kind)
		kids = append(kids, k.Elem)
	}
	require.Len(t, kids, 3)
	require.True(t, kids[0].Is("urn:q", "c"), "inner declaration shadows the outer one")
	require.Equal(t, "p", kids[0].Prefix)
	require.Same(t, r, kids[0].Parent)
	require.True(t, kids[0].Children[0].Elem.Is("urn:d", "e"), "default namespace is inherited")
	require.True(t, kids[1].Is("urn:p", "c"))
	require.True(t, kids[2].Is("", "x"), "default namespace undeclared")

	e := kids[0].Children[0].Elem
	for prefix, want := range map[string]string{"p": "urn:q", "": "urn:d", "xml": NSXML} {
		uri, ok := e.Lookup(prefix)
		require.True(t, ok, prefix)
		require.Equal(t, want, uri, prefix)
	}
	_, ok = e.Lookup("nope")
	require.False(t, ok)
	uri, ok := kids[2].Lookup("")
	require.True(t, ok)
	require.Equal(t, "", uri)
}

func TestPredicates(t *testing.T) {
	doc := `<r><a xml:lang="en"> hi <!-- c --> there </a><b x="1">t</b><c> </c><d><e/></d><f/></r>`
	r, err := Parse([]byte(doc), 10, 10)
	require.NoError(t, err)
	el := map[string]*Node{}
	for _, k := range r.Children {
		el[k.Elem.Name.Local] = k.Elem
	}
	lang := xml.Name{Space: NSXML, Local: "lang"}

	require.Equal(t, " hi  there ", el["a"].Text())
	require.True(t, el["a"].Simple(lang))
	require.False(t, el["a"].Simple())
	require.False(t, el["a"].Empty())
	require.False(t, el["a"].HasElements())

	require.False(t, el["b"].Simple())
	require.True(t, el["b"].Simple(xml.Name{Local: "x"}))

	require.True(t, el["c"].Empty())
	require.True(t, el["f"].Empty())
	require.Equal(t, "", el["f"].Text())

	require.True(t, el["d"].HasElements())
	require.False(t, el["d"].Simple())
	require.False(t, el["d"].Empty())
	require.True(t, r.HasElements())
}

func TestEscape(t *testing.T) {
	var b bytes.Buffer
	EscapeText(&b, "a&b<c>d\"e'\r\n\tf")
	require.Equal(t, "a&amp;b&lt;c&gt;d\"e'&#xD;\n\tf", b.String())

	b.Reset()
	EscapeAttr(&b, "a&b<c>d\"e'\r\n\tf g")
	require.Equal(t, "a&amp;b&lt;c&gt;d&quot;e'&#xD;&#xA;&#x9;f g", b.String())

	// What is escaped reads back unchanged, in text and in attributes.
	const s = "x &<>\"'\r\n\t y"
	b.Reset()
	b.WriteString(`<a v="`)
	EscapeAttr(&b, s)
	b.WriteString(`">`)
	EscapeText(&b, s)
	b.WriteString(`</a>`)
	n, err := Parse(b.Bytes(), 1, 1)
	require.NoError(t, err)
	v, _ := n.Attr("", "v")
	require.Equal(t, s, v)
	require.Equal(t, s, n.Text())
}

func TestWriteQNameDecl(t *testing.T) {
	var b bytes.Buffer
	WriteQName(&b, "", "a")
	WriteQName(&b, "p", "b")
	WriteDecl(&b, xml.Attr{Value: "urn:d"})
	WriteDecl(&b, xml.Attr{Name: xml.Name{Local: "p"}, Value: `urn:"p"`})
	require.Equal(t, `ap:b xmlns="urn:d" xmlns:p="urn:&quot;p&quot;"`, b.String())
}

func TestIsNCName(t *testing.T) {
	for _, s := range []string{"a", "_a", "a-b.c1", "é", "a·b"} {
		require.True(t, IsNCName(s), s)
	}
	for _, s := range []string{"", "1a", "-a", ".a", "a:b", "a b", "a<", "\u0300a"} {
		require.False(t, IsNCName(s), s)
	}
}

func TestRoundTrip(t *testing.T) {
	doc := `<r xmlns="urn:d" xmlns:p="urn:p" xmlns:q="urn:q">` +
		`<p:x q:a="1&amp;&#9;" b="&lt;&quot;"><y>t&amp;&lt;&#xD;</y><!-- c --><?pi body?><?pi?><z xmlns=""/><q:w xmlns:q="urn:q2"/></p:x>` +
		`</r>`
	r, err := Parse([]byte(doc), 10, 10)
	require.NoError(t, err)

	// Write reproduces the document as parsed.
	var b bytes.Buffer
	r.Write(&b)
	require.Equal(t, `<r xmlns="urn:d" xmlns:p="urn:p" xmlns:q="urn:q">`+
		`<p:x q:a="1&amp;&#x9;" b="&lt;&quot;"><y>t&amp;&lt;&#xD;</y><!-- c --><?pi body?><?pi?><z xmlns=""/><q:w xmlns:q="urn:q2"/></p:x>`+
		`</r>`, b.String())

	// Fragment declares the inherited bindings the subtree uses, once, on
	// its root; q is redeclared below but used above, the default
	// namespace is used by <y>.
	x := r.Children[0].Elem
	frag := x.Fragment()
	require.Equal(t, `<p:x xmlns:p="urn:p" xmlns:q="urn:q" xmlns="urn:d"`+
		` q:a="1&amp;&#x9;" b="&lt;&quot;"><y>t&amp;&lt;&#xD;</y><!-- c --><?pi body?><?pi?><z xmlns=""/><q:w xmlns:q="urn:q2"/></p:x>`,
		string(frag))

	// The fragment parses on its own to the same tree and is canonical.
	f, err := Parse(frag, 10, 10)
	require.NoError(t, err)
	require.True(t, f.Is("urn:p", "x"))
	v, ok := f.Attr("urn:q", "a")
	require.True(t, ok)
	require.Equal(t, "1&\t", v)
	require.True(t, f.Children[0].Elem.Is("urn:d", "y"))
	require.Equal(t, "t&<\r", f.Children[0].Elem.Text())
	require.True(t, f.Children[4].Elem.Is("", "z"))
	require.True(t, f.Children[5].Elem.Is("urn:q2", "w"))
	require.Equal(t, frag, f.Fragment())

	// Extra declarations given to Write go on the start tag.
	b.Reset()
	f.Children[4].Elem.Write(&b, xml.Attr{Name: xml.Name{Local: "n"}, Value: "urn:n"})
	require.Equal(t, `<z xmlns="" xmlns:n="urn:n"/>`, b.String())
}

func TestAttrWriter(t *testing.T) {
	var b bytes.Buffer
	w := AttrWriter{Buf: &b, Prefix: func(space string) string {
		if space == "urn:known" {
			return "k"
		}
		return ""
	}}
	w.Attr(xml.Name{Local: "id"}, `a"b`)
	w.Attr(xml.Name{Local: "id"}, "dup")
	w.Attr(xml.Name{Space: NSXML, Local: "lang"}, "en")
	w.Attr(xml.Name{Space: "urn:known", Local: "x"}, "1")
	w.Attr(xml.Name{Space: "urn:u", Local: "y"}, "2")
	w.Attr(xml.Name{Space: "urn:u", Local: "z"}, "3")
	w.Attr(xml.Name{Space: "urn:v", Local: "y"}, "4")
	w.Attr(xml.Name{Local: "bad name"}, "5")
	w.Attr(xml.Name{Local: "xmlns"}, "urn:x")
	w.Attr(xml.Name{Space: "xmlns", Local: "p"}, "urn:x")
	require.Equal(t, ` id="a&quot;b" xml:lang="en" k:x="1" xmlns:a0="urn:u" a0:y="2" a0:z="3" xmlns:a1="urn:v" a1:y="4"`, b.String())

	// After Reset names may be written again and generated prefixes start
	// over; Prefix is kept.
	var b2 bytes.Buffer
	w.Reset(&b2)
	w.Attr(xml.Name{Local: "id"}, "x")
	w.Attr(xml.Name{Space: "urn:v", Local: "y"}, "4")
	w.Attr(xml.Name{Space: "urn:known", Local: "x"}, "1")
	require.Equal(t, ` id="x" xmlns:a0="urn:v" a0:y="4" k:x="1"`, b2.String())

	// Without Prefix every namespace gets a generated prefix.
	b.Reset()
	w2 := AttrWriter{Buf: &b}
	w2.Attr(xml.Name{Space: "urn:known", Local: "x"}, "1")
	require.Equal(t, ` xmlns:a0="urn:known" a0:x="1"`, b.String())

	// The output of an AttrWriter parses back to the attributes written.
	b.Reset()
	b.WriteString("<e")
	w3 := AttrWriter{Buf: &b}
	w3.Attr(xml.Name{Space: "urn:u", Local: "y"}, "v\n")
	b.WriteString("/>")
	n, err := Parse(b.Bytes(), 1, 1)
	require.NoError(t, err)
	v, ok := n.Attr("urn:u", "y")
	require.True(t, ok)
	require.Equal(t, "v\n", v)
}
