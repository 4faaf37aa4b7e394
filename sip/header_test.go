package sip

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ptHeader builds a Header with Add from name, value pairs.
func ptHeader(kv ...string) *Header {
	h := &Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func ptBranches(h *Header) []string {
	var out []string
	for _, v := range h.Via() {
		out = append(out, v.Branch())
	}
	return out
}

func TestHeaderGetHasValues(t *testing.T) {
	h := ptHeader(
		"Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
		"v", "SIP/2.0/UDP c;branch=z9hG4bK3",
		"Route", "<sip:p1;lr>, <sip:p2;lr>",
		"route", `"x,y" <sip:p3;lr>`,
		"Supported", "100rel, Timer;refresher=uac",
		"k", "path",
		"X-Custom", "  padded  ",
		"x-custom", "second",
		"Subject", "",
	)
	tests := []struct {
		name     string
		get      string
		has      bool
		values   []string
		elements []string
	}{
		{"Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2", true,
			[]string{"SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2", "SIP/2.0/UDP c;branch=z9hG4bK3"},
			[]string{"SIP/2.0/UDP a;branch=z9hG4bK1", "SIP/2.0/UDP b;branch=z9hG4bK2", "SIP/2.0/UDP c;branch=z9hG4bK3"}},
		{"v", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2", true, nil, nil},
		{"VIA", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2", true, nil, nil},
		{"Route", "<sip:p1;lr>, <sip:p2;lr>", true,
			[]string{"<sip:p1;lr>, <sip:p2;lr>", `"x,y" <sip:p3;lr>`},
			[]string{"<sip:p1;lr>", "<sip:p2;lr>", `"x,y" <sip:p3;lr>`}},
		{"Supported", "100rel, Timer;refresher=uac", true,
			[]string{"100rel, Timer;refresher=uac", "path"},
			[]string{"100rel", "Timer;refresher=uac", "path"}},
		{"X-CUSTOM", "padded", true, []string{"padded", "second"}, []string{"padded", "second"}},
		{"Subject", "", true, []string{""}, nil},
		{"Record-Route", "", false, nil, nil},
		{"X-Other", "", false, nil, nil},
		{"", "", false, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.get, h.Get(tt.name))
			assert.Equal(t, tt.has, h.Has(tt.name))
			if tt.values != nil || !tt.has {
				assert.Equal(t, tt.values, h.Values(tt.name))
			}
			if tt.elements != nil || !tt.has {
				assert.Equal(t, tt.elements, h.Elements(tt.name))
			}
		})
	}
	assert.Equal(t, 9, h.Len())
	assert.Len(t, h.Fields(), 9)
}

func TestHeaderHasToken(t *testing.T) {
	h := ptHeader(
		"Supported", "100rel, Timer;refresher=uac",
		"k", "path",
		"Require", "",
		"Allow", "INVITE,ACK ,  BYE",
		"Accept", `application/sdp;q="0.5, x", text/plain`,
	)
	tests := []struct {
		name, token string
		want        bool
	}{
		{"Supported", "100rel", true},
		{"Supported", "timer", true},
		{"supported", "TIMER", true},
		{"Supported", "path", true},
		{"k", "100rel", true},
		{"Supported", "refresher", false},
		{"Supported", "100", false},
		{"Supported", "gruu", false},
		{"Require", "", false},
		{"Require", "100rel", false},
		{"Allow", "ACK", true},
		{"Allow", "bye", true},
		{"Allow", "CANCEL", false},
		{"Accept", "text/plain", true},
		{"Accept", "x", false},
		{"Proxy-Require", "x", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, h.HasToken(tt.name, tt.token), "HasToken(%q, %q)", tt.name, tt.token)
	}
}

func TestHeaderAdd(t *testing.T) {
	h := &Header{}
	h.Add("Via", "SIP/2.0/UDP a;branch=z9hG4bK1")
	h.Add("v", " SIP/2.0/UDP b;branch=z9hG4bK2, SIP/2.0/TCP c;branch=z9hG4bK3 ")
	assert.Equal(t, []string{"z9hG4bK1", "z9hG4bK2", "z9hG4bK3"}, ptBranches(h))
	assert.Equal(t, "SIP/2.0/UDP b;branch=z9hG4bK2, SIP/2.0/TCP c;branch=z9hG4bK3", h.Fields()[1].Value, "value is trimmed")

	h.Add("From", "<sip:a@x>;tag=1")
	h.Add("From", "<sip:b@x>;tag=2")
	assert.Equal(t, "1", h.From().Tag(), "the first From wins")
	h.Add("t", "<sip:c@x>")
	assert.Equal(t, "sip:c@x", h.To().URI.String())
	h.Add("Call-ID", "id1")
	assert.Equal(t, "id1", h.CallID())
	h.Add("CSeq", "5 MESSAGE")
	assert.Equal(t, CSeq{Seq: 5, Method: "MESSAGE"}, h.CSeq())
	h.Add("Contact", "<sip:a@h1>")
	h.Add("m", "<sip:a@h2>, <sip:a@h3>")
	require.Len(t, h.Contact(), 3)
	assert.Equal(t, "h3", h.Contact()[2].URI.Host)
	h.Add("Max-Forwards", "70")
	mf, ok := h.MaxForwards()
	assert.True(t, ok)
	assert.Equal(t, 70, mf)
	h.Add("c", "application/sdp")
	assert.True(t, h.ContentType().Is("application/sdp"))
	h.Add("Content-Length", "12")
	cl, ok := h.ContentLength()
	assert.True(t, ok)
	assert.Equal(t, 12, cl)

	// An invalid value is kept raw, and the typed value reports it.
	h2 := &Header{}
	h2.Add("Max-Forwards", "lots")
	_, ok = h2.MaxForwards()
	assert.False(t, ok)
	assert.Equal(t, "lots", h2.Get("Max-Forwards"))
	h2.Add("Via", "nonsense")
	assert.Empty(t, h2.Via())
	h2.Add("Via", "SIP/2.0/UDP ok;branch=z9hG4bK1")
	assert.Equal(t, []string{"z9hG4bK1"}, ptBranches(h2), "a bad Via line does not hide a good one")
}

func TestHeaderInsert(t *testing.T) {
	h := ptHeader(
		"Max-Forwards", "70",
		"Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
		"To", "<sip:b@x>",
	)
	h.Insert("Via", "SIP/2.0/TCP new;branch=z9hG4bKnew")
	assert.Equal(t, []string{"z9hG4bKnew", "z9hG4bK1", "z9hG4bK2"}, ptBranches(h))
	top, ok := h.TopVia()
	require.True(t, ok)
	assert.Equal(t, "new", top.Host)
	assert.Equal(t, "Max-Forwards", h.Fields()[0].Name, "inserted before the first Via, not at the top")
	assert.Equal(t, "Via", h.Fields()[1].Name)
	assert.Equal(t, "SIP/2.0/TCP new;branch=z9hG4bKnew", h.Fields()[1].Value)

	// Compact spelling matches the full name.
	h.Insert("v", "SIP/2.0/UDP newer;branch=z9hG4bKnewer")
	assert.Equal(t, "z9hG4bKnewer", h.Via()[0].Branch())
	assert.Equal(t, "v", h.Fields()[1].Name)

	// Without a field of the name, Insert puts it at the top.
	h.Insert("Route", "<sip:p1;lr>")
	assert.Equal(t, "Route", h.Fields()[0].Name)
	h.Insert("Route", "<sip:p0;lr>")
	assert.Equal(t, []string{"<sip:p0;lr>", "<sip:p1;lr>"}, h.Values("Route"))
	assert.Equal(t, 7, h.Len())

	h2 := &Header{}
	h2.Insert("Via", "SIP/2.0/UDP only;branch=z9hG4bK1")
	assert.Equal(t, []string{"z9hG4bK1"}, ptBranches(h2))
}

func TestHeaderSet(t *testing.T) {
	h := ptHeader(
		"Via", "SIP/2.0/UDP a;branch=z9hG4bK1",
		"X-A", "1",
		"v", "SIP/2.0/UDP b;branch=z9hG4bK2",
		"Max-Forwards", "70",
		"X-a", "2",
	)
	h.Set("Via", "SIP/2.0/TCP c;branch=z9hG4bK3")
	assert.Equal(t, []string{"z9hG4bK3"}, ptBranches(h))
	assert.Equal(t, [][2]string{
		{"Via", "SIP/2.0/TCP c;branch=z9hG4bK3"},
		{"X-A", "1"},
		{"Max-Forwards", "70"},
		{"X-a", "2"},
	}, ptFields(h))

	h.Set("x-a", " 3 ")
	assert.Equal(t, [][2]string{
		{"Via", "SIP/2.0/TCP c;branch=z9hG4bK3"},
		{"X-A", "3"},
		{"Max-Forwards", "70"},
	}, ptFields(h), "spelling and place of the first field are kept")

	h.Set("Max-Forwards", "69")
	mf, ok := h.MaxForwards()
	assert.True(t, ok)
	assert.Equal(t, 69, mf)
	h.Set("Max-Forwards", "256")
	_, ok = h.MaxForwards()
	assert.False(t, ok)

	h.Set("CSeq", "2 BYE")
	assert.Equal(t, CSeq{Seq: 2, Method: "BYE"}, h.CSeq())
	assert.Equal(t, "CSeq", h.Fields()[h.Len()-1].Name, "a new field goes at the end")
	h.Set("cseq", "3 BYE")
	assert.Equal(t, CSeq{Seq: 3, Method: "BYE"}, h.CSeq())
	h.Set("CSeq", "bad")
	assert.Equal(t, CSeq{}, h.CSeq())

	h.Set("From", "<sip:a@x>;tag=1")
	h.Add("From", "<sip:b@x>;tag=2")
	assert.Equal(t, "1", h.From().Tag())
	h.Set("From", "<sip:c@x>;tag=3")
	assert.Equal(t, "3", h.From().Tag())
	assert.Equal(t, []string{"<sip:c@x>;tag=3"}, h.Values("From"))

	h.Set("To", "<sip:b@x>")
	h.Set("To", h.Get("To")+";tag=totag")
	assert.Equal(t, "totag", h.To().Tag())

	h.Set("Call-ID", "x1")
	assert.Equal(t, "x1", h.CallID())
	h.Set("i", "x2")
	assert.Equal(t, "x2", h.CallID())

	h.Set("Contact", "<sip:a@h1>, <sip:a@h2>")
	assert.Len(t, h.Contact(), 2)
	h.Set("m", "*")
	require.Len(t, h.Contact(), 1)
	assert.True(t, h.Contact()[0].Wildcard)

	h.Set("Content-Type", "text/plain;charset=utf-8")
	assert.Equal(t, "utf-8", h.ContentType().Params.Value("charset"))
	h.Set("Content-Length", "7")
	cl, ok := h.ContentLength()
	assert.True(t, ok)
	assert.Equal(t, 7, cl)
	h.Set("l", "x")
	_, ok = h.ContentLength()
	assert.False(t, ok)
}

func TestHeaderDel(t *testing.T) {
	h := ptHeader(
		"Via", "SIP/2.0/UDP a;branch=z9hG4bK1",
		"From", "<sip:a@x>;tag=1",
		"v", "SIP/2.0/UDP b;branch=z9hG4bK2",
		"To", "<sip:b@x>",
		"Call-ID", "c",
		"CSeq", "1 INVITE",
		"Contact", "<sip:a@h>",
		"Max-Forwards", "70",
		"Content-Type", "application/sdp",
		"l", "0",
		"X-Keep", "yes",
	)
	h.Del("via")
	assert.Nil(t, h.Via())
	_, ok := h.TopVia()
	assert.False(t, ok)
	assert.False(t, h.Has("v"))
	h.Del("f")
	assert.Equal(t, Address{}, h.From())
	h.Del("TO")
	assert.Equal(t, Address{}, h.To())
	h.Del("i")
	assert.Equal(t, "", h.CallID())
	h.Del("CSeq")
	assert.Equal(t, CSeq{}, h.CSeq())
	h.Del("m")
	assert.Nil(t, h.Contact())
	h.Del("Max-Forwards")
	_, ok = h.MaxForwards()
	assert.False(t, ok)
	h.Del("c")
	assert.True(t, h.ContentType().IsZero())
	h.Del("Content-Length")
	_, ok = h.ContentLength()
	assert.False(t, ok)
	h.Del("X-Absent")
	assert.Equal(t, [][2]string{{"X-Keep", "yes"}}, ptFields(h))
	assert.Equal(t, 1, h.Len())
}

func TestHeaderRemoveFirst(t *testing.T) {
	h := ptHeader(
		"Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
		"Subject", "one, two",
		"Via", "SIP/2.0/UDP c;branch=z9hG4bK3",
		"Route", "<sip:p1;lr>,<sip:p2;lr>",
	)
	require.True(t, h.RemoveFirst("Via"))
	assert.Equal(t, []string{"z9hG4bK2", "z9hG4bK3"}, ptBranches(h), "only the first element of the first line")
	assert.Equal(t, "SIP/2.0/UDP b;branch=z9hG4bK2", h.Get("Via"))
	assert.Equal(t, 4, h.Len())

	require.True(t, h.RemoveFirst("v"))
	assert.Equal(t, []string{"z9hG4bK3"}, ptBranches(h))
	assert.Equal(t, 3, h.Len(), "the emptied line is gone")
	require.True(t, h.RemoveFirst("VIA"))
	assert.Nil(t, h.Via())
	assert.False(t, h.RemoveFirst("Via"))

	require.True(t, h.RemoveFirst("Route"))
	assert.Equal(t, []string{"<sip:p2;lr>"}, h.Values("Route"))

	// Subject is not a list: the whole field goes.
	require.True(t, h.RemoveFirst("Subject"))
	assert.False(t, h.Has("Subject"))
	assert.False(t, h.RemoveFirst("X-Absent"))

	// A quoted comma is not an element boundary.
	h2 := ptHeader("Contact", `"a, b" <sip:a@x>, <sip:b@x>`)
	require.Len(t, h2.Contact(), 2)
	require.True(t, h2.RemoveFirst("Contact"))
	require.Len(t, h2.Contact(), 1)
	assert.Equal(t, "sip:b@x", h2.Contact()[0].URI.String())
}

func TestHeaderOpsOnParsedMessage(t *testing.T) {
	req := ptRequest(t, ptResponseLikeRequest)
	require.Len(t, req.Via(), 3)

	req.Insert("Via", "SIP/2.0/TCP proxy.example.com;branch=z9hG4bKproxy")
	assert.Equal(t, []string{"z9hG4bKproxy", "z9hG4bK1", "z9hG4bK2", "z9hG4bK3"}, ptBranches(&req.Header))
	require.True(t, req.RemoveFirst("Via"))
	require.True(t, req.RemoveFirst("Via"))
	assert.Equal(t, []string{"z9hG4bK2", "z9hG4bK3"}, ptBranches(&req.Header))

	req.Set("Max-Forwards", "69")
	req.Add("Record-Route", "<sip:proxy.example.com;lr>")
	req.Del("Subject")
	m2 := ptParse(t, req.String())
	assert.Empty(t, ptSameMessage(req, m2))
	assert.Equal(t, []string{"z9hG4bK2", "z9hG4bK3"}, ptBranches(m2.Headers()))
	mf, _ := m2.Headers().MaxForwards()
	assert.Equal(t, 69, mf)
}

var ptResponseLikeRequest = ptBuild(`INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1, SIP/2.0/TCP p2.example.com;branch=z9hG4bK2
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK3
Max-Forwards: 70
From: <sip:alice@atlanta.example.com>;tag=1
To: <sip:bob@biloxi.example.com>
Call-ID: abc
CSeq: 1 INVITE
Subject: remove me
`, "")

func TestHeaderClone(t *testing.T) {
	h := ptHeader(
		"Via", "SIP/2.0/UDP a;branch=z9hG4bK1",
		"Contact", "<sip:a@h1>",
		"From", "<sip:a@x>;tag=1",
	)
	c := h.Clone()
	c.Add("Via", "SIP/2.0/UDP b;branch=z9hG4bK2")
	c.Add("Contact", "<sip:a@h2>")
	c.Set("From", "<sip:a@x>;tag=2")
	c.Add("X-New", "1")
	assert.Equal(t, []string{"z9hG4bK1"}, ptBranches(h))
	assert.Len(t, h.Contact(), 1)
	assert.Equal(t, "1", h.From().Tag())
	assert.Equal(t, 3, h.Len())
	assert.Equal(t, []string{"z9hG4bK1", "z9hG4bK2"}, ptBranches(&c))
	assert.Equal(t, "2", c.From().Tag())
}

func TestParseViaValue(t *testing.T) {
	tests := []struct {
		in   string
		want Via
		out  string
	}{
		{"SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds",
			Via{Transport: "UDP", Host: "pc33.atlanta.com", Params: "branch=z9hG4bK776asdhds"},
			"SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds"},
		{"SIP/2.0/TCP [2001:db8::1]:5061;rport",
			Via{Transport: "TCP", Host: "2001:db8::1", Port: 5061, Params: "rport"},
			"SIP/2.0/TCP [2001:db8::1]:5061;rport"},
		{"sip / 2.0 / ws 192.0.2.1:80",
			Via{Transport: "ws", Host: "192.0.2.1", Port: 80},
			"SIP/2.0/ws 192.0.2.1:80"},
	}
	for _, tt := range tests {
		v, err := ParseVia(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, v)
		assert.Equal(t, tt.out, v.String())
		back, err := ParseVia(v.String())
		require.NoError(t, err)
		assert.Equal(t, v, back)
	}
	for _, bad := range []string{"", "SIP/2.0/UDP", "SIP/2.0 h", "SIP/2.0/UDP h:0", "SIP/2.0/UDP h;", "SIP/2.0/UDP [::1"} {
		_, err := ParseVia(bad)
		var pe *ParseError
		require.True(t, errors.As(err, &pe), "%q", bad)
		assert.Equal(t, "Via", pe.Header)
	}
}

func TestCSeqAndMediaTypeValues(t *testing.T) {
	assert.Equal(t, "4294967295 INVITE", CSeq{Seq: 1<<32 - 1, Method: "INVITE"}.String())

	mt, err := ParseMediaType(`multipart/related ; type="application/rlmi+xml";boundary=b1`)
	require.NoError(t, err)
	assert.Equal(t, "multipart", mt.Type)
	assert.Equal(t, "related", mt.Subtype)
	assert.Equal(t, "multipart/related", mt.Value())
	assert.Equal(t, `multipart/related;type="application/rlmi+xml";boundary=b1`, mt.String())
	assert.True(t, mt.Is("Multipart/Related"))
	assert.True(t, mt.Is("multipart/*"))
	assert.False(t, mt.Is("multipart/mixed"))
	assert.False(t, mt.Is("multipart"))
	assert.False(t, mt.IsZero())
	assert.Equal(t, "application/sdp", MediaType{Type: "application", Subtype: "sdp"}.String())
	assert.True(t, MediaType{}.IsZero())
	for _, bad := range []string{"", "text", "text/", "/plain", "te xt/plain", "text/plain;", "text/plain;a=\"b"} {
		_, err := ParseMediaType(bad)
		var pe *ParseError
		require.True(t, errors.As(err, &pe), "%q", bad)
		assert.Equal(t, "Content-Type", pe.Header)
	}
}
