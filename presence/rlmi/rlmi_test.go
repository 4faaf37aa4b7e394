package rlmi

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"github.com/sipua-go/sipua/presence/pidf"
	"github.com/sipua-go/sipua/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lyncCT and lyncBody are shaped like the piggybacked first NOTIFY of a
// Lync/Skype for Business batch subscription: an RLMI root, one resource
// on another tenant refused with 403 and diagnostic 2157, and two active
// resources whose category parts are referenced by cid.
const lyncCT = `multipart/related; type="application/rlmi+xml";start="<resourceList@contoso.com>";boundary=9GvrAeqOwMD4PqD8d8Jqyx6dDuH`

var lyncBody = strings.ReplaceAll(`--9GvrAeqOwMD4PqD8d8Jqyx6dDuH
Content-Transfer-Encoding: binary
Content-ID: <resourceList@contoso.com>
Content-Type: application/rlmi+xml

<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:app@contoso.com" version="0" fullState="false"><resource uri="sip:x@othertenant.example"><instance id="0" state="terminated" reason="forbidden" statusCode="403" ms-diagnostics="2157;reason=&quot;Federation is not allowed&quot;;source=&quot;fe.contoso.com&quot;" /></resource><resource uri="sip:alice@contoso.com"><instance id="1" state="active" cid="alice@contoso.com" /></resource><resource uri="sip:bob@contoso.com"><instance id="2" state="active" cid="&lt;bob@contoso.com&gt;" /></resource></list>
--9GvrAeqOwMD4PqD8d8Jqyx6dDuH
Content-Transfer-Encoding: binary
Content-ID: <alice@contoso.com>
Content-Type: application/msrtc-event-categories+xml

<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" uri="sip:alice@contoso.com"><category name="state" instance="0" publishTime="2024-01-01T10:00:00Z"/></categories>
--9GvrAeqOwMD4PqD8d8Jqyx6dDuH
Content-Transfer-Encoding: binary
Content-ID: bob@contoso.com
Content-Type: application/pidf+xml

<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@contoso.com"><tuple id="t"><status><basic>open</basic></status></tuple></presence>
--9GvrAeqOwMD4PqD8d8Jqyx6dDuH--
`, "\n", "\r\n")

// kamailioCT and kamailioBody are what Kamailio's rls module sends:
// libxml2's XML declaration, a charset parameter on the RLMI part, the
// fixed instance id, pending and terminated instances without cid.
const kamailioCT = `multipart/related;type="application/rlmi+xml";start="<AcDJ8W5Sl@sip:friends@example.org>";boundary="zvXm3wnUa"`

var kamailioBody = strings.ReplaceAll(`--zvXm3wnUa
Content-Transfer-Encoding: binary
Content-ID: <AcDJ8W5Sl@sip:friends@example.org>
Content-Type: application/rlmi+xml;charset="UTF-8"

<?xml version="1.0"?>
<list uri="sip:friends@example.org" xmlns="urn:ietf:params:xml:ns:rlmi" version="3" fullState="true">
  <resource uri="sip:carol@example.org">
    <name>Carol</name>
    <instance id="Scf8UhwQ" state="active" cid="2UcwVkxXb@sip:carol@example.org"/>
  </resource>
  <resource uri="sip:dave@example.org">
    <instance id="Scf8UhwQ" state="pending"/>
  </resource>
  <resource uri="sip:erin@example.org">
    <instance id="Scf8UhwQ" state="terminated" reason="rejected"/>
  </resource>
  <resource uri="sip:frank@example.org"/>
</list>

--zvXm3wnUa
Content-Transfer-Encoding: binary
Content-ID: <2UcwVkxXb@sip:carol@example.org>
Content-Type: application/pidf+xml;charset="UTF-8"

<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:carol@example.org"><tuple id="0x7f"><status><basic>open</basic></status></tuple><dm:person id="p"><rpid:activities><rpid:away/></rpid:activities></dm:person></presence>
--zvXm3wnUa--
`, "\n", "\r\n")

func decodeCT(t *testing.T, ct string, body string) *Notify {
	t.Helper()
	mt, err := sip.ParseMediaType(ct)
	require.NoError(t, err)
	n, err := Decode(mt, []byte(body))
	require.NoError(t, err)
	return n
}

func TestDecodeLyncForbiddenInstance(t *testing.T) {
	n := decodeCT(t, lyncCT, lyncBody)
	assert.Equal(t, "sip:app@contoso.com", n.List.URI)
	assert.Equal(t, uint32(0), n.List.Version)
	assert.False(t, n.List.FullState)
	require.Len(t, n.Parts, 3)
	require.Len(t, n.Entries, 3)

	x := n.Entries[0]
	assert.Equal(t, "sip:x@othertenant.example", x.URI)
	assert.Equal(t, Terminated, x.Instance.State)
	assert.Equal(t, "forbidden", x.Instance.Reason)
	assert.Equal(t, 403, x.Instance.StatusCode())
	diag, ok := x.Instance.Diagnostics()
	require.True(t, ok)
	assert.Equal(t, 2157, diag.Code)
	assert.Equal(t, "Federation is not allowed", diag.Reason)
	assert.Equal(t, "fe.contoso.com", diag.Source)
	assert.Equal(t, map[string]string{
		"statusCode":     "403",
		"ms-diagnostics": `2157;reason="Federation is not allowed";source="fe.contoso.com"`,
	}, x.Instance.Attrs)
	assert.Nil(t, x.Part)
	assert.Nil(t, x.Body())
	assert.True(t, x.ContentType().IsZero())

	alice := n.Entries[1]
	assert.Equal(t, Active, alice.Instance.State)
	require.NotNil(t, alice.Part)
	assert.True(t, alice.ContentType().Is("application/msrtc-event-categories+xml"))
	assert.True(t, strings.HasPrefix(string(alice.Body()), "<categories "))

	bob := n.Entries[2]
	require.NotNil(t, bob.Part, "cid with angle brackets matches a Content-ID without them")
	assert.True(t, bob.ContentType().Is(pidf.ContentType))
	doc, err := pidf.Parse(bob.Body())
	require.NoError(t, err)
	assert.Equal(t, pidf.Open, doc.Summary().Basic)
}

func TestDecodeKamailio(t *testing.T) {
	n := decodeCT(t, kamailioCT, kamailioBody)
	assert.Equal(t, "sip:friends@example.org", n.List.URI)
	assert.Equal(t, uint32(3), n.List.Version)
	assert.True(t, n.List.FullState)
	require.Len(t, n.Entries, 4)

	type row struct {
		uri     string
		state   State
		reason  string
		hasPart bool
	}
	var got []row
	for _, e := range n.Entries {
		got = append(got, row{e.URI, e.Instance.State, e.Instance.Reason, e.Part != nil})
	}
	assert.Equal(t, []row{
		{"sip:carol@example.org", Active, "", true},
		{"sip:dave@example.org", Pending, "", false},
		{"sip:erin@example.org", Terminated, "rejected", false},
		{"sip:frank@example.org", "", "", false},
	}, got)
	assert.Equal(t, []Name{{Text: "Carol"}}, n.Entries[0].Names)
	assert.Equal(t, 0, n.Entries[2].Instance.StatusCode())
	_, ok := n.Entries[2].Instance.Diagnostics()
	assert.False(t, ok)

	doc, err := pidf.Parse(n.Entries[0].Body())
	require.NoError(t, err)
	assert.Equal(t, []pidf.Activity{pidf.Away}, doc.Summary().Activities)
}

func TestDecodeVariants(t *testing.T) {
	list := `<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:l@x" version="1" fullState="true"><resource uri="sip:a@x"><instance id="1" state="active" cid="A@x"/></resource></list>`
	part := func(headers, body string) string { return "--b\r\n" + headers + "\r\n" + body + "\r\n" }
	tests := []struct {
		name    string
		ct      string
		body    string
		wantErr error
		part    string // body of the first entry's part
	}{
		{"bare rlmi body", "application/rlmi+xml", list, nil, ""},
		{"no start parameter: first part is root", `multipart/related;boundary=b`,
			part("Content-Type: application/rlmi+xml\r\n", list) + part("Content-ID: <A@x>\r\nContent-Type: application/pidf+xml\r\n", "P") + "--b--", nil, "P"},
		{"start without brackets, root not first", `multipart/related;boundary=b;start=root@x`,
			part("Content-ID: <A@x>\r\n", "P") + part("Content-ID: <root@x>\r\nContent-Type: application/rlmi+xml\r\n", list) + "--b--", nil, "P"},
		{"cid differs in case", `multipart/related;boundary=b`,
			part("Content-Type: application/rlmi+xml\r\n", list) + part("Content-ID: <a@X>\r\n", "P") + "--b--", nil, "P"},
		{"cid: scheme in Content-ID", `multipart/related;boundary=b`,
			part("Content-Type: application/rlmi+xml\r\n", list) + part("Content-ID: cid:A@x\r\n", "P") + "--b--", nil, "P"},
		{"missing part leaves Part nil", `multipart/related;boundary=b`,
			part("Content-Type: application/rlmi+xml\r\n", list) + "--b--", nil, ""},
		{"start names no part", `multipart/related;boundary=b;start="<nope@x>"`,
			part("Content-Type: application/rlmi+xml\r\n", list) + "--b--", ErrNoRoot, ""},
		{"root is not rlmi", `multipart/related;boundary=b`,
			part("Content-Type: application/pidf+xml\r\n", list) + "--b--", ErrNotRLMI, ""},
		{"not a list content type", "application/pidf+xml", list, ErrNotRLMI, ""},
		{"multipart/mixed refused", "multipart/mixed;boundary=b", part("Content-Type: application/rlmi+xml\r\n", list) + "--b--", ErrNotRLMI, ""},
		{"broken multipart", `multipart/related;boundary=b`, "garbage", ErrMalformed, ""},
		{"broken rlmi", "application/rlmi+xml", "<list", ErrMalformed, ""},
		{"too large", "application/rlmi+xml", strings.Repeat(" ", MaxSize+1), ErrTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mt, err := sip.ParseMediaType(tt.ct)
			require.NoError(t, err)
			n, err := Decode(mt, []byte(tt.body))
			if tt.wantErr != nil {
				assert.True(t, errors.Is(err, tt.wantErr), "got %v", err)
				assert.Nil(t, n)
				return
			}
			require.NoError(t, err)
			require.Len(t, n.Entries, 1)
			assert.Equal(t, tt.part, string(n.Entries[0].Body()))
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want error
	}{
		{"not a list", `<presence xmlns="urn:ietf:params:xml:ns:pidf"/>`, ErrNotRLMI},
		{"wrong namespace", `<list xmlns="urn:x" uri="a" version="1" fullState="true"/>`, ErrNotRLMI},
		{"no version", `<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="a" fullState="true"/>`, ErrMalformed},
		{"bad version", `<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="a" version="-1" fullState="true"/>`, ErrMalformed},
		{"version overflow", `<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="a" version="4294967296" fullState="true"/>`, ErrMalformed},
		{"bad fullState", `<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="a" version="1" fullState="yes"/>`, ErrMalformed},
		{"too deep", `<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="a" version="1">` + strings.Repeat("<x>", MaxDepth) + strings.Repeat("</x>", MaxDepth) + `</list>`, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			assert.True(t, errors.Is(err, tt.want), "got %v", err)
		})
	}
}

func TestParseKeepsUnknownAndRoundTrips(t *testing.T) {
	doc := `<r:list xmlns:r="urn:ietf:params:xml:ns:rlmi" xmlns:ms="urn:example:ms" uri="sip:l@x" version="7" fullState="false" ms:flag="1">` +
		`<r:name xml:lang="en">Friends</r:name>` +
		`<r:resource uri="sip:a@x" ms:group="g1"><r:name>A</r:name>` +
		`<r:instance id="i1" state="terminated" reason="giveup" ms:retry="30" poolFqdn="pool.example"><ms:detail>kept</ms:detail></r:instance>` +
		`<ms:extra/></r:resource><ms:tail a="b"/></r:list>`
	l, err := Parse([]byte(doc))
	require.NoError(t, err)
	assert.Equal(t, []xml.Attr{{Name: xml.Name{Space: "urn:example:ms", Local: "flag"}, Value: "1"}}, l.Attrs)
	assert.Equal(t, []Name{{Lang: "en", Text: "Friends"}}, l.Names)
	require.Len(t, l.Resources, 1)
	r := l.Resources[0]
	assert.Equal(t, []xml.Attr{{Name: xml.Name{Space: "urn:example:ms", Local: "group"}, Value: "g1"}}, r.Attrs)
	require.Len(t, r.Instances, 1)
	in := r.Instances[0]
	assert.Equal(t, map[string]string{"{urn:example:ms}retry": "30", "poolFqdn": "pool.example"}, in.Attrs)
	v, ok := in.Attr("RETRY")
	assert.True(t, ok)
	assert.Equal(t, "30", v)
	require.Len(t, in.Extensions, 1)
	assert.Equal(t, `<ms:detail xmlns:ms="urn:example:ms">kept</ms:detail>`, string(in.Extensions[0].XML))
	assert.Equal(t, `<ms:extra xmlns:ms="urn:example:ms"/>`, string(r.Extensions[0].XML))
	assert.Equal(t, `<ms:tail xmlns:ms="urn:example:ms" a="b"/>`, string(l.Extensions[0].XML))

	out, err := l.Marshal()
	require.NoError(t, err)
	again, err := Parse(out)
	require.NoError(t, err, "%s", out)
	assert.Equal(t, l, again)
	out2, err := again.Marshal()
	require.NoError(t, err)
	assert.Equal(t, string(out), string(out2))
}

func TestStatusCodeAndDiagnosticsAttributeForms(t *testing.T) {
	tests := []struct {
		name  string
		attrs map[string]string
		code  int
		diag  int
	}{
		{"none", nil, 0, 0},
		{"plain", map[string]string{"statusCode": "403", "ms-diagnostics": "2157"}, 403, 2157},
		{"namespaced and other case", map[string]string{"{urn:ms}StatusCode": "404", "{urn:ms}diagCode": "4001"}, 404, 4001},
		{"public diagnostics", map[string]string{"code": "480", "ms-diagnostics-public": `2157;reason="x"`}, 480, 2157},
		{"not a status code", map[string]string{"statusCode": "forbidden", "diagCode": "x"}, 0, 0},
		{"out of range", map[string]string{"statusCode": "99"}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Instance{Attrs: tt.attrs}
			assert.Equal(t, tt.code, in.StatusCode())
			d, ok := in.Diagnostics()
			assert.Equal(t, tt.diag != 0, ok)
			assert.Equal(t, tt.diag, d.Code)
		})
	}
}

func TestEncodeNotifyRoundTrip(t *testing.T) {
	alice, err := pidf.New("sip:alice@example.test").Open().Activity(pidf.Busy).Marshal()
	require.NoError(t, err)
	l := &List{
		URI: "sip:buddies@example.test", Version: 4, FullState: true,
		Names: []Name{{Lang: "en", Text: "Buddies"}},
		Resources: []Resource{
			{URI: "sip:alice@example.test", Names: []Name{{Text: "Alice"}}, Instances: []Instance{{ID: "a", State: Active, CID: "alice@example.test"}}},
			{URI: "sip:x@other.example", Instances: []Instance{{ID: "x", State: Terminated, Reason: "forbidden",
				Attrs: map[string]string{"statusCode": "403", "ms-diagnostics": "2157"}}}},
			{URI: "sip:carol@example.test"},
		},
	}
	parts := []sip.Part{NewPart("alice@example.test", pidf.ContentType, alice)}
	ct, body, err := Encode(l, parts, EncodeOptions{Boundary: "b0undary", RootCID: "root@example.test"})
	require.NoError(t, err)
	assert.Equal(t, `multipart/related;boundary=b0undary;type="application/rlmi+xml";start="<root@example.test>"`, ct.String())
	assert.True(t, strings.HasPrefix(string(body), "--b0undary\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <root@example.test>\r\nContent-Type: application/rlmi+xml;charset=\"UTF-8\"\r\n\r\n<?xml"))

	// Through the wire form of the Content-Type, as a subscriber sees it.
	mt, err := sip.ParseMediaType(ct.String())
	require.NoError(t, err)
	n, err := Decode(mt, body)
	require.NoError(t, err)
	assert.Equal(t, l, n.List)
	require.Len(t, n.Entries, 3)
	assert.Equal(t, string(alice), string(n.Entries[0].Body()))
	assert.Equal(t, 403, n.Entries[1].Instance.StatusCode())
	assert.Equal(t, State(""), n.Entries[2].Instance.State)
}

func TestEncodeErrors(t *testing.T) {
	ok := &List{URI: "sip:l@x", Resources: []Resource{{URI: "sip:a@x", Instances: []Instance{{ID: "1", State: Active, CID: "a@x"}}}}}
	tests := []struct {
		name  string
		list  *List
		parts []sip.Part
		opts  EncodeOptions
	}{
		{"list without uri", &List{}, nil, EncodeOptions{}},
		{"resource without uri", &List{URI: "sip:l@x", Resources: []Resource{{}}}, nil, EncodeOptions{}},
		{"instance without state", &List{URI: "sip:l@x", Resources: []Resource{{URI: "sip:a@x", Instances: []Instance{{ID: "1"}}}}}, nil, EncodeOptions{}},
		{"cid without part", ok, nil, EncodeOptions{}},
		{"boundary in a part", ok, []sip.Part{NewPart("a@x", "text/plain", []byte("x\r\n--bb\r\n"))}, EncodeOptions{Boundary: "bb"}},
		{"boundary too long", ok, []sip.Part{NewPart("a@x", "text/plain", nil)}, EncodeOptions{Boundary: strings.Repeat("b", 71)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Encode(tt.list, tt.parts, tt.opts)
			assert.ErrorIs(t, err, ErrBadValue)
		})
	}
}

func TestEncodeRandomBoundaryAndRoot(t *testing.T) {
	l := &List{URI: "sip:l@x"}
	ct1, _, err := Encode(l, nil, EncodeOptions{})
	require.NoError(t, err)
	ct2, _, err := Encode(l, nil, EncodeOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, ct1.Params.Value("boundary"), ct2.Params.Value("boundary"))
	assert.NotEqual(t, ct1.Params.Value("start"), ct2.Params.Value("start"))
}
