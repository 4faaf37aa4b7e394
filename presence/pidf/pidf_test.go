package pidf

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// audioCodesLegacy is the legacy form AudioCodes gateways publish: RPID
// draft activities inside <status> and a CIPID display-name in the tuple.
const audioCodesLegacy = `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:ep="urn:ietf:params:xml:ns:pidf:status:rpid-status" xmlns:ci="urn:ietf:params:xml:ns:pidf:cipid" entity="sip:4001@gw.example.test">
 <tuple id="4001">
  <status>
   <basic>open</basic>
   <ep:activities>
    <ep:activity>on-the-phone</ep:activity>
   </ep:activities>
  </status>
  <ci:display-name>Front Desk</ci:display-name>
 </tuple>
</presence>`

// rfcForm is RFC 4480 §4 style, with prefixes chosen differently from ours
// and extensions in several places.
const rfcForm = `<?xml version="1.0" encoding="UTF-8"?>
<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf"
    xmlns:d="urn:ietf:params:xml:ns:pidf:data-model"
    xmlns:r="urn:ietf:params:xml:ns:pidf:rpid"
    xmlns:c="urn:ietf:params:xml:ns:pidf:cipid"
    xmlns:l="urn:ietf:params:xml:ns:location-type"
    xmlns:caps="urn:ietf:params:xml:ns:pidf:caps"
    xmlns:x="urn:example:vendor"
    entity="pres:someone@example.com" x:flavour="vanilla">
  <p:tuple id="bs35r9">
    <p:status><p:basic>open</p:basic></p:status>
    <caps:servcaps><caps:audio>true</caps:audio></caps:servcaps>
    <d:deviceID>urn:x-mac:0003ba4811e3</d:deviceID>
    <r:class>email</r:class>
    <p:contact priority="0.8">im:someone@mobilecarrier.net</p:contact>
    <p:note xml:lang="en">Don't Disturb Please!</p:note>
    <p:note xml:lang="fr">Ne derangez pas, s'il vous plait</p:note>
    <p:timestamp>2005-10-27T16:49:29Z</p:timestamp>
  </p:tuple>
  <p:note>Full of &lt;surprises&gt; &amp; more</p:note>
  <d:person id="p1">
    <r:activities r:id="a1" from="2005-05-30T12:00:00+05:00">
      <r:on-the-phone/>
      <r:meeting/>
      <r:other xml:lang="en">preparing slides</r:other>
      <x:juggling/>
    </r:activities>
    <r:mood><r:happy/><r:other>elated</r:other></r:mood>
    <r:place-type><l:office/></r:place-type>
    <r:privacy><r:audio/></r:privacy>
    <r:sphere>work</r:sphere>
    <r:user-input idle-threshold="600" last-input="2004-10-21T13:20:00.000-05:00">idle</r:user-input>
    <c:display-name xml:lang="en">Some One</c:display-name>
    <c:homepage>http://example.com/~someone</c:homepage>
    <x:custom a="1"><x:deep>text</x:deep><!-- kept --></x:custom>
    <d:note>Busy with the launch</d:note>
    <d:timestamp>2005-05-30T22:00:29Z</d:timestamp>
  </d:person>
  <d:device id="pc122">
    <r:user-input>active</r:user-input>
    <d:deviceID>urn:device:0003ba4811e3</d:deviceID>
    <d:note>PC</d:note>
  </d:device>
</p:presence>`

func TestParseAudioCodesLegacy(t *testing.T) {
	d, err := Parse([]byte(audioCodesLegacy))
	require.NoError(t, err)
	assert.Equal(t, "sip:4001@gw.example.test", d.Entity)
	require.Len(t, d.Tuples, 1)
	tu := d.Tuples[0]
	assert.Equal(t, "4001", tu.ID)
	assert.Equal(t, Open, tu.Status.Basic)
	require.NotNil(t, tu.Status.Activities)
	assert.Equal(t, []Activity{OnThePhone}, tu.Status.Activities.Values)
	assert.Equal(t, "Front Desk", tu.DisplayName)
	assert.Empty(t, tu.Extensions)
	assert.Empty(t, tu.Status.Extensions)

	assert.Equal(t, Summary{Basic: Open, Activities: []Activity{OnThePhone}, DisplayName: "Front Desk"}, d.Summary())
	roundTrip(t, d)
}

func TestParseSIPEPresenceLevelDisplayName(t *testing.T) {
	// SIPE puts ci:display-name directly under <presence>.
	doc := `<?xml version="1.0" encoding="UTF-8"?>` + "\r\n" +
		`<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:ep="urn:ietf:params:xml:ns:pidf:status:rpid-status" xmlns:ci="urn:ietf:params:xml:ns:pidf:cipid" entity="sip:bob@example.test">` + "\r\n" +
		`<tuple id="0"><status><basic>open</basic><ep:activities> <ep:activity>away</ep:activity></ep:activities></status></tuple>` + "\r\n" +
		`<ci:display-name>bob</ci:display-name></presence>`
	d, err := Parse([]byte(doc))
	require.NoError(t, err)
	assert.Equal(t, Summary{Basic: Open, Activities: []Activity{Away}, DisplayName: "bob"}, d.Summary())
	roundTrip(t, d)
}

func TestParseRFCForm(t *testing.T) {
	d, err := Parse([]byte(rfcForm))
	require.NoError(t, err)
	assert.Equal(t, "pres:someone@example.com", d.Entity)
	assert.Equal(t, []xml.Attr{{Name: xml.Name{Space: "urn:example:vendor", Local: "flavour"}, Value: "vanilla"}}, d.Attrs)
	assert.Equal(t, []Note{{Text: "Full of <surprises> & more"}}, d.Notes)

	require.Len(t, d.Tuples, 1)
	tu := d.Tuples[0]
	assert.Equal(t, Open, tu.Status.Basic)
	assert.Equal(t, &Contact{URI: "im:someone@mobilecarrier.net", Priority: "0.8"}, tu.Contact)
	assert.Equal(t, []Note{{Lang: "en", Text: "Don't Disturb Please!"}, {Lang: "fr", Text: "Ne derangez pas, s'il vous plait"}}, tu.Notes)
	assert.Equal(t, time.Date(2005, 10, 27, 16, 49, 29, 0, time.UTC), tu.Timestamp)
	assert.Equal(t, "urn:x-mac:0003ba4811e3", tu.DeviceID)
	assert.Equal(t, "email", tu.Class)
	require.Len(t, tu.Extensions, 1)
	assert.Equal(t, xml.Name{Space: "urn:ietf:params:xml:ns:pidf:caps", Local: "servcaps"}, tu.Extensions[0].Name)
	assert.Equal(t, `<caps:servcaps xmlns:caps="urn:ietf:params:xml:ns:pidf:caps"><caps:audio>true</caps:audio></caps:servcaps>`, string(tu.Extensions[0].XML))

	require.Len(t, d.Persons, 1)
	p := d.Persons[0]
	assert.Equal(t, "p1", p.ID)
	require.NotNil(t, p.Activities)
	assert.Equal(t, []Activity{OnThePhone, Meeting}, p.Activities.Values)
	assert.Equal(t, []Note{{Lang: "en", Text: "preparing slides"}}, p.Activities.Other)
	assert.Equal(t, []xml.Attr{
		{Name: xml.Name{Space: NSRPID, Local: "id"}, Value: "a1"},
		{Name: xml.Name{Local: "from"}, Value: "2005-05-30T12:00:00+05:00"},
	}, p.Activities.Attrs)
	require.Len(t, p.Activities.Extensions, 1)
	assert.Equal(t, `<x:juggling xmlns:x="urn:example:vendor"/>`, string(p.Activities.Extensions[0].XML))
	assert.Equal(t, &Mood{Values: []string{"happy"}, Other: []Note{{Text: "elated"}}}, p.Mood)
	assert.Equal(t, &PlaceType{Values: []string{"office"}}, p.PlaceType)
	assert.Equal(t, &Privacy{Values: []string{"audio"}}, p.Privacy)
	require.NotNil(t, p.UserInput)
	assert.Equal(t, "idle", p.UserInput.Value)
	assert.Equal(t, 600, p.UserInput.IdleThreshold)
	assert.True(t, p.UserInput.LastInput.Equal(time.Date(2004, 10, 21, 18, 20, 0, 0, time.UTC)))
	assert.Equal(t, CIPID{DisplayName: "Some One", DisplayNameLang: "en", Homepage: "http://example.com/~someone"}, p.CIPID)
	assert.Equal(t, []Note{{Text: "Busy with the launch"}}, p.Notes)
	require.Len(t, p.Extensions, 2)
	assert.Equal(t, `<r:sphere xmlns:r="urn:ietf:params:xml:ns:pidf:rpid">work</r:sphere>`, string(p.Extensions[0].XML))
	assert.Equal(t, `<x:custom xmlns:x="urn:example:vendor" a="1"><x:deep>text</x:deep><!-- kept --></x:custom>`, string(p.Extensions[1].XML))

	require.Len(t, d.Devices, 1)
	dev := d.Devices[0]
	assert.Equal(t, "pc122", dev.ID)
	assert.Equal(t, "urn:device:0003ba4811e3", dev.DeviceID)
	assert.Equal(t, &UserInput{Value: "active"}, dev.UserInput)

	assert.Equal(t, Summary{Basic: Open, Activities: []Activity{OnThePhone, Meeting}, Note: "Busy with the launch", DisplayName: "Some One"}, d.Summary())
	roundTrip(t, d)
}

// roundTrip checks encode → decode gives d back and that encoding is
// stable.
func roundTrip(t *testing.T, d *Document) {
	t.Helper()
	out, err := d.Marshal()
	require.NoError(t, err)
	again, err := Parse(out)
	require.NoError(t, err, "%s", out)
	assert.Equal(t, normalizeTimes(d), normalizeTimes(again), "%s", out)
	out2, err := again.Marshal()
	require.NoError(t, err)
	assert.Equal(t, string(out), string(out2))
}

// normalizeTimes returns a copy of d whose times are in UTC, so that
// assert.Equal compares instants.
func normalizeTimes(d *Document) *Document {
	c := *d
	c.Tuples = append([]Tuple(nil), d.Tuples...)
	for i := range c.Tuples {
		c.Tuples[i].Timestamp = c.Tuples[i].Timestamp.UTC()
		c.Tuples[i].UserInput = utcInput(c.Tuples[i].UserInput)
	}
	c.Persons = append([]Person(nil), d.Persons...)
	for i := range c.Persons {
		c.Persons[i].Timestamp = c.Persons[i].Timestamp.UTC()
		c.Persons[i].UserInput = utcInput(c.Persons[i].UserInput)
	}
	c.Devices = append([]Device(nil), d.Devices...)
	for i := range c.Devices {
		c.Devices[i].Timestamp = c.Devices[i].Timestamp.UTC()
		c.Devices[i].UserInput = utcInput(c.Devices[i].UserInput)
	}
	return &c
}

func utcInput(u *UserInput) *UserInput {
	if u == nil {
		return nil
	}
	c := *u
	c.LastInput = c.LastInput.UTC()
	return &c
}

func TestBuilderEncodesRFC4480(t *testing.T) {
	d := New("sip:alice@example.test").Open().Activity(OnThePhone).Note("in a call").DisplayName("Alice")
	out, err := d.Marshal()
	require.NoError(t, err)
	assert.Equal(t, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" xmlns:ci="urn:ietf:params:xml:ns:pidf:cipid" entity="sip:alice@example.test">`+
		`<tuple id="t1"><status><basic>open</basic></status><note>in a call</note></tuple>`+
		`<dm:person id="p1"><rpid:activities><rpid:on-the-phone/></rpid:activities><ci:display-name>Alice</ci:display-name></dm:person>`+
		`</presence>`, string(out))
	assert.Equal(t, Summary{Basic: Open, Activities: []Activity{OnThePhone}, Note: "in a call", DisplayName: "Alice"}, d.Summary())
	roundTrip(t, d)
}

func TestEncodeLegacy(t *testing.T) {
	d := New("sip:alice@example.test").Open().Activity(OnThePhone).DisplayName("Alice")
	out, err := d.Encode(EncodeOptions{Legacy: true})
	require.NoError(t, err)
	assert.Equal(t, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:ci="urn:ietf:params:xml:ns:pidf:cipid" xmlns:ep="urn:ietf:params:xml:ns:pidf:status:rpid-status" entity="sip:alice@example.test">`+
		`<tuple id="t1"><status><basic>open</basic><ep:activities><ep:activity>on-the-phone</ep:activity></ep:activities></status><ci:display-name>Alice</ci:display-name></tuple>`+
		`</presence>`, string(out))
	// The person is left untouched.
	require.Len(t, d.Persons, 1)
	assert.NotNil(t, d.Persons[0].Activities)

	back, err := Parse(out)
	require.NoError(t, err)
	assert.Equal(t, d.Summary(), back.Summary())
}

func TestEncodeLegacyKeepsOtherPersonData(t *testing.T) {
	d := New("sip:a@example.test").Open().Activity(Busy).Idle(time.Time{})
	out, err := d.Encode(EncodeOptions{Legacy: true})
	require.NoError(t, err)
	s := string(out)
	assert.Contains(t, s, `<ep:activity>busy</ep:activity>`)
	assert.Contains(t, s, `<dm:person id="p1"><rpid:user-input>idle</rpid:user-input></dm:person>`)
	assert.NotContains(t, s, `<rpid:activities>`)
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  *Document
		want error
	}{
		{"no entity", &Document{}, ErrNoEntity},
		{"tuple without id", &Document{Entity: "sip:a@b", Tuples: []Tuple{{}}}, ErrNoID},
		{"person without id", &Document{Entity: "sip:a@b", Persons: []Person{{}}}, ErrNoID},
		{"device without id", &Document{Entity: "sip:a@b", Devices: []Device{{}}}, ErrNoID},
		{"bad basic", &Document{Entity: "sip:a@b", Tuples: []Tuple{{ID: "t", Status: Status{Basic: "maybe"}}}}, ErrBadValue},
		{"activity not a name", New("sip:a@b").Activity("on the phone"), ErrBadValue},
		{"empty user input", &Document{Entity: "sip:a@b", Persons: []Person{{ID: "p", UserInput: &UserInput{}}}}, ErrBadValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.doc.Marshal()
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestEncodeEscapesAndPrefixesAttributes(t *testing.T) {
	d := &Document{
		Entity: `sip:a&b@example.test`,
		Attrs: []xml.Attr{
			{Name: xml.Name{Space: "urn:x", Local: "v"}, Value: "1\t\"2\""},
			{Name: xml.Name{Space: "urn:y", Local: "w"}, Value: "<3>"},
			{Name: xml.Name{Space: "urn:x", Local: "u"}, Value: "4"},
			{Name: xml.Name{Local: "entity"}, Value: "duplicate is dropped"},
		},
		Tuples: []Tuple{{ID: "t", Notes: []Note{{Text: "a\r\nb & <c>"}}}},
	}
	out, err := d.Marshal()
	require.NoError(t, err)
	assert.Contains(t, string(out), `entity="sip:a&amp;b@example.test" xmlns:a0="urn:x" a0:v="1&#x9;&quot;2&quot;" xmlns:a1="urn:y" a1:w="&lt;3&gt;" a0:u="4">`)
	assert.Contains(t, string(out), `<note>a&#xD;
b &amp; &lt;c&gt;</note>`)
	back, err := Parse(out)
	require.NoError(t, err)
	assert.Equal(t, d.Attrs[:3], back.Attrs)
	assert.Equal(t, "a\r\nb & <c>", back.Tuples[0].Notes[0].Text)
}

func TestParseOddShapesBecomeExtensions(t *testing.T) {
	tests := []struct {
		name    string
		tuple   string
		check   func(t *testing.T, tu Tuple)
		extName string
	}{
		{"basic with attribute", `<status><basic x="1">open</basic></status>`, func(t *testing.T, tu Tuple) {
			assert.Equal(t, Basic(""), tu.Status.Basic)
			require.Len(t, tu.Status.Extensions, 1)
		}, ""},
		{"basic with unknown value", `<status><basic>maybe</basic></status>`, func(t *testing.T, tu Tuple) {
			assert.Equal(t, Basic(""), tu.Status.Basic)
			assert.Equal(t, `<basic xmlns="urn:ietf:params:xml:ns:pidf">maybe</basic>`, string(tu.Status.Extensions[0].XML))
		}, ""},
		{"basic in capitals", `<status><basic> OPEN </basic></status>`, func(t *testing.T, tu Tuple) {
			assert.Equal(t, Open, tu.Status.Basic)
		}, ""},
		{"second contact", `<status/><contact>sip:a@x</contact><contact>sip:b@x</contact>`, func(t *testing.T, tu Tuple) {
			assert.Equal(t, "sip:a@x", tu.Contact.URI)
			require.Len(t, tu.Extensions, 1)
		}, ""},
		{"bad timestamp", `<status/><timestamp>yesterday</timestamp>`, func(t *testing.T, tu Tuple) {
			assert.True(t, tu.Timestamp.IsZero())
			require.Len(t, tu.Extensions, 1)
		}, ""},
		{"note with child", `<status/><note>a<b/>c</note>`, func(t *testing.T, tu Tuple) {
			assert.Empty(t, tu.Notes)
			require.Len(t, tu.Extensions, 1)
		}, ""},
		{"no namespace element", `<status/><foo xmlns="">bar</foo>`, func(t *testing.T, tu Tuple) {
			require.Len(t, tu.Extensions, 1)
			assert.Equal(t, `<foo xmlns="">bar</foo>`, string(tu.Extensions[0].XML))
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="t">` + tt.tuple + `</tuple></presence>`
			d, err := Parse([]byte(doc))
			require.NoError(t, err)
			require.Len(t, d.Tuples, 1)
			tt.check(t, d.Tuples[0])
			roundTrip(t, d)
		})
	}
}

func TestParseErrors(t *testing.T) {
	deep := `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b">` + strings.Repeat("<x>", MaxDepth) + strings.Repeat("</x>", MaxDepth) + `</presence>`
	tests := []struct {
		name string
		doc  string
		want error
	}{
		{"empty", ``, ErrMalformed},
		{"not xml", `hello`, ErrMalformed},
		{"wrong root", `<foo xmlns="urn:ietf:params:xml:ns:pidf"/>`, ErrNotPIDF},
		{"no namespace", `<presence entity="sip:a@b"/>`, ErrNotPIDF},
		{"unbound prefix", `<p:presence entity="sip:a@b"/>`, ErrMalformed},
		{"unbound attribute prefix", `<presence xmlns="urn:ietf:params:xml:ns:pidf" q:x="1"/>`, ErrMalformed},
		{"mismatched end", `<presence xmlns="urn:ietf:params:xml:ns:pidf"><tuple></note></presence>`, ErrMalformed},
		{"unclosed", `<presence xmlns="urn:ietf:params:xml:ns:pidf"><tuple>`, ErrMalformed},
		{"two roots", `<presence xmlns="urn:ietf:params:xml:ns:pidf"/><presence xmlns="urn:ietf:params:xml:ns:pidf"/>`, ErrMalformed},
		{"undefined entity", `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="&bogus;"/>`, ErrMalformed},
		{"utf-16 declared", `<?xml version="1.0" encoding="UTF-16"?><presence xmlns="urn:ietf:params:xml:ns:pidf"/>`, ErrMalformed},
		{"too deep", deep, ErrTooLarge},
		{"too large", `<presence xmlns="urn:ietf:params:xml:ns:pidf">` + strings.Repeat(" ", MaxSize) + `</presence>`, ErrTooLarge},
		{"too many elements", `<presence xmlns="urn:ietf:params:xml:ns:pidf">` + strings.Repeat("<x/>", MaxElements) + `</presence>`, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.doc))
			assert.Nil(t, d)
			assert.True(t, errors.Is(err, tt.want), "got %v", err)
		})
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name string
		doc  *Document
		want Summary
	}{
		{"empty", &Document{}, Summary{}},
		{"closed", New("sip:a@b").Closed(), Summary{Basic: Closed}},
		{"any open tuple wins", &Document{Tuples: []Tuple{{Status: Status{Basic: Closed}}, {Status: Status{Basic: Open}}}}, Summary{Basic: Open}},
		{"person note before tuple note", &Document{
			Tuples:  []Tuple{{Notes: []Note{{Text: "tuple"}}}},
			Persons: []Person{{Notes: []Note{{Text: ""}, {Text: "person"}}}},
		}, Summary{Note: "person"}},
		{"activities deduplicated across person and legacy tuple", &Document{
			Tuples:  []Tuple{{Status: Status{Activities: &Activities{Values: []Activity{Busy, OnThePhone}}}}},
			Persons: []Person{{Activities: &Activities{Values: []Activity{OnThePhone}}}},
		}, Summary{Activities: []Activity{OnThePhone, Busy}}},
		{"other text when no note", &Document{
			Persons: []Person{{Activities: &Activities{Other: []Note{{Text: "at the dentist"}}}}},
		}, Summary{Note: "at the dentist"}},
		{"presence-level note", &Document{Notes: []Note{{Text: "doc"}}}, Summary{Note: "doc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.doc.Summary())
		})
	}
}

func TestRoundTripKeepsForeignPrefixesInExtensions(t *testing.T) {
	// The extension uses a QName in an attribute value; the binding of the
	// prefix it names is kept because the prefix is also used on a name.
	doc := `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:v="urn:v" entity="sip:a@b">` +
		`<v:thing v:type="v:kind" xmlns:w="urn:w"><w:x>1</w:x><y xmlns="urn:y"/></v:thing></presence>`
	d, err := Parse([]byte(doc))
	require.NoError(t, err)
	require.Len(t, d.Extensions, 1)
	assert.Equal(t, `<v:thing xmlns:w="urn:w" xmlns:v="urn:v" v:type="v:kind"><w:x>1</w:x><y xmlns="urn:y"/></v:thing>`, string(d.Extensions[0].XML))
	roundTrip(t, d)
}
