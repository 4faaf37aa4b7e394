package sip

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAddress(t *testing.T) {
	sipURI := func(user, host string, params Params) URI {
		return URI{Scheme: "sip", User: user, Host: host, Params: params}
	}
	tests := []struct {
		name string
		in   string
		want Address
		out  string // String()
		tag  string
	}{
		{"quoted display name with tag",
			`"Alice" <sip:alice@atlanta.com>;tag=1928301774`,
			Address{Display: "Alice", URI: sipURI("alice", "atlanta.com", ""), Params: "tag=1928301774"},
			`"Alice" <sip:alice@atlanta.com>;tag=1928301774`, "1928301774"},
		{"escaped quotes in display name",
			`"Bob \"the builder\" B." <sip:bob@x>`,
			Address{Display: `Bob "the builder" B.`, URI: sipURI("bob", "x", "")},
			`"Bob \"the builder\" B." <sip:bob@x>`, ""},
		{"escaped backslash in display name",
			`"a\\b" <sip:bob@x>`,
			Address{Display: `a\b`, URI: sipURI("bob", "x", "")},
			`"a\\b" <sip:bob@x>`, ""},
		{"display name with comma and angle brackets",
			`"Doe, John <CEO>" <sip:j@x>`,
			Address{Display: "Doe, John <CEO>", URI: sipURI("j", "x", "")},
			`"Doe, John <CEO>" <sip:j@x>`, ""},
		{"quoted display name without space",
			`"Alice"<sip:alice@x>`,
			Address{Display: "Alice", URI: sipURI("alice", "x", "")},
			`"Alice" <sip:alice@x>`, ""},
		{"empty quoted display name",
			`"" <sip:alice@x>`,
			Address{URI: sipURI("alice", "x", "")},
			`<sip:alice@x>`, ""},
		{"unquoted display name",
			`Bob <sips:bob@biloxi.com>;tag=a6c85cf`,
			Address{Display: "Bob", URI: URI{Scheme: "sips", User: "bob", Host: "biloxi.com"}, Params: "tag=a6c85cf"},
			`"Bob" <sips:bob@biloxi.com>;tag=a6c85cf`, "a6c85cf"},
		{"unquoted display name of several tokens",
			`Anonymous  Caller <sip:c@x>`,
			Address{Display: "Anonymous  Caller", URI: sipURI("c", "x", "")},
			`"Anonymous  Caller" <sip:c@x>`, ""},
		{"unquoted UTF-8 display name",
			"Jörg <sip:j@x>",
			Address{Display: "Jörg", URI: sipURI("j", "x", "")},
			`"Jörg" <sip:j@x>`, ""},
		{"no display name",
			`<sip:alice@atlanta.com>`,
			Address{URI: sipURI("alice", "atlanta.com", "")},
			`<sip:alice@atlanta.com>`, ""},
		{"surrounding white space",
			"  <sip:alice@x>  ;tag=abc ",
			Address{URI: sipURI("alice", "x", ""), Params: "tag=abc"},
			`<sip:alice@x>;tag=abc`, "abc"},
		{"addr-spec: tag is a header parameter (RFC 3261 §20.10)",
			`sip:alice@atlanta.com;tag=88sja8x`,
			Address{URI: sipURI("alice", "atlanta.com", ""), Params: "tag=88sja8x"},
			`<sip:alice@atlanta.com>;tag=88sja8x`, "88sja8x"},
		{"addr-spec: every parameter is a header parameter",
			`sip:alice@x;transport=tcp;expires=60`,
			Address{URI: sipURI("alice", "x", ""), Params: "transport=tcp;expires=60"},
			`<sip:alice@x>;transport=tcp;expires=60`, ""},
		{"addr-spec without parameters",
			`sip:alice@x`,
			Address{URI: sipURI("alice", "x", "")},
			`<sip:alice@x>`, ""},
		{"URI parameters inside brackets",
			`<sip:p1.example.com;lr>`,
			Address{URI: sipURI("", "p1.example.com", "lr")},
			`<sip:p1.example.com;lr>`, ""},
		{"URI parameters and header parameters",
			`<sip:alice@pc33.atlanta.com;transport=tcp>;expires=3600;q=0.7`,
			Address{URI: sipURI("alice", "pc33.atlanta.com", "transport=tcp"), Params: "expires=3600;q=0.7"},
			`<sip:alice@pc33.atlanta.com;transport=tcp>;expires=3600;q=0.7`, ""},
		{"tag inside brackets is a URI parameter",
			`<sip:alice@x;tag=u>;tag=h`,
			Address{URI: sipURI("alice", "x", "tag=u"), Params: "tag=h"},
			`<sip:alice@x;tag=u>;tag=h`, "h"},
		{"RFC 5626 contact",
			`<sip:line1@192.0.2.2;transport=tcp;ob>;reg-id=1;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"`,
			Address{URI: sipURI("line1", "192.0.2.2", "transport=tcp;ob"),
				Params: `reg-id=1;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"`},
			`<sip:line1@192.0.2.2;transport=tcp;ob>;reg-id=1;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"`, ""},
		{"addr-spec with a quoted '<' in a parameter",
			`sip:alice@192.0.2.2;+sip.instance="<urn:uuid:1>";expires=60`,
			Address{URI: sipURI("alice", "192.0.2.2", ""), Params: `+sip.instance="<urn:uuid:1>";expires=60`},
			`<sip:alice@192.0.2.2>;+sip.instance="<urn:uuid:1>";expires=60`, ""},
		{"white space around parameters",
			`<sip:alice@x> ; tag = 1 ;lr`,
			Address{URI: sipURI("alice", "x", ""), Params: "tag = 1 ;lr"},
			`<sip:alice@x>;tag = 1 ;lr`, "1"},
		{"wildcard",
			`*`,
			Address{Wildcard: true},
			`*`, ""},
		{"wildcard with white space",
			" * ",
			Address{Wildcard: true},
			`*`, ""},
		{"tel addr-spec",
			`tel:+1-201-555-0123`,
			Address{URI: URI{Scheme: "tel", User: "+1-201-555-0123"}},
			`<tel:+1-201-555-0123>`, ""},
		{"tel in brackets with parameter",
			`<tel:7042;phone-context=example.com>;tag=x`,
			Address{URI: URI{Scheme: "tel", User: "7042", Params: "phone-context=example.com"}, Params: "tag=x"},
			`<tel:7042;phone-context=example.com>;tag=x`, "x"},
		{"urn in brackets",
			`<urn:service:sos>`,
			Address{URI: URI{Scheme: "urn", Opaque: "service:sos"}},
			`<urn:service:sos>`, ""},
		{"URI with headers in brackets",
			`<sip:bob@x?subject=hi&priority=urgent>`,
			Address{URI: URI{Scheme: "sip", User: "bob", Host: "x", Headers: "subject=hi&priority=urgent"}},
			`<sip:bob@x?subject=hi&priority=urgent>`, ""},
		{"quoted tag value",
			`<sip:a@x>;tag="a b"`,
			Address{URI: sipURI("a", "x", ""), Params: `tag="a b"`},
			`<sip:a@x>;tag="a b"`, "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAddress(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, a)
			assert.Equal(t, tt.out, a.String())
			assert.Equal(t, tt.tag, a.Tag())

			back, err := ParseAddress(a.String())
			require.NoError(t, err)
			assert.Equal(t, a, back, "round trip")
		})
	}
}

func TestParseAddressErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"blank", "  \t "},
		{"unterminated quoted display name", `"Alice <sip:alice@x>`},
		{"quoted display name without URI", `"Alice"`},
		{"quoted display name before addr-spec", `"Alice" sip:alice@x`},
		{"missing >", `<sip:alice@x`},
		{"missing > with display name", `Alice <sip:alice@x;tag=1`},
		{"unbalanced > in addr-spec", `sip:alice@x>`},
		{"text after >", `<sip:alice@x>junk`},
		{"second URI", `<sip:alice@x> <sip:bob@y>`},
		{"empty URI", `<>`},
		{"no URI", `Alice`},
		{"bad escape", `<sip:%zz@x>`},
		{"bad URI in addr-spec", `sip:@x;tag=1`},
		{"bad display name character", `Al@ice <sip:alice@x>`},
		{"control character in quoted display name", "\"A\x01\" <sip:alice@x>"},
		{"control character in unquoted display name", "A\x01 <sip:alice@x>"},
		{"white space in addr-spec", `sip:alice @x`},
		{"white space inside brackets", `< sip:alice@x>`},
		{"trailing ;", `<sip:alice@x>;`},
		{"empty parameter", `<sip:alice@x>;;tag=1`},
		{"unterminated quoted parameter", `<sip:alice@x>;tag="abc`},
		{"bad parameter character", `<sip:alice@x>;tag=a,b`},
		{"bad IPv6", `<sip:[zz::1]>`},
		{"bad port", `<sip:alice@x:0>`},
		{"wildcard with parameters", `*;expires=0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAddress(tt.in)
			require.Error(t, err)
			assert.Equal(t, Address{}, a)
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "%T", err)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // String() of each
	}{
		{"one", `<sip:a@x>`, []string{`<sip:a@x>`}},
		{"three forms",
			`<sip:a@x>, "Bob, Jr." <sip:b@y>;q=0.5, sip:c@z;expires=60`,
			[]string{`<sip:a@x>`, `"Bob, Jr." <sip:b@y>;q=0.5`, `<sip:c@z>;expires=60`}},
		{"quoted comma and angle brackets",
			`"a <b>, c" <sip:a@x>,Carol <sip:c@x>`,
			[]string{`"a <b>, c" <sip:a@x>`, `"Carol" <sip:c@x>`}},
		{"comma inside brackets",
			`<sip:a,b@x>, <sip:c@y>`,
			[]string{`<sip:a,b@x>`, `<sip:c@y>`}},
		{"quoted comma in parameter",
			`<sip:a@x>;+sip.instance="<urn:uuid:1>";x="p,q", <sip:b@y>;reg-id=2`,
			[]string{`<sip:a@x>;+sip.instance="<urn:uuid:1>";x="p,q"`, `<sip:b@y>;reg-id=2`}},
		{"addr-spec with quoted '<' then another",
			`sip:a@x;+sip.instance="<urn:uuid:1>", sip:b@y`,
			[]string{`<sip:a@x>;+sip.instance="<urn:uuid:1>"`, `<sip:b@y>`}},
		{"wildcard", `*`, []string{`*`}},
		{"route set", `<sip:p1.example.com;lr>,<sip:p2.example.com;lr>`,
			[]string{`<sip:p1.example.com;lr>`, `<sip:p2.example.com;lr>`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := ParseAddressList(tt.in)
			require.NoError(t, err)
			got := make([]string, len(list))
			for i, a := range list {
				got[i] = a.String()
			}
			assert.Equal(t, tt.want, got)
		})
	}

	t.Run("parameters", func(t *testing.T) {
		list, err := ParseAddressList(`"Bob, Jr." <sip:b@y>;q=0.5;expires=60, <sip:a@x;ob>;reg-id=1;+sip.instance="<urn:uuid:f81d4fae>"`)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, "Bob, Jr.", list[0].Display)
		assert.Equal(t, "0.5", list[0].Params.Value("q"))
		assert.Equal(t, "60", list[0].Params.Value("expires"))
		assert.True(t, list[1].URI.Params.Has("ob"))
		assert.Equal(t, "1", list[1].Params.Value("reg-id"))
		assert.Equal(t, "<urn:uuid:f81d4fae>", list[1].Params.Value("+sip.instance"))
	})
}

func TestParseAddressListErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"unterminated quote", `"Bob, <sip:b@y>, <sip:a@x>`},
		{"unbalanced <", `<sip:a@x, <sip:b@y>`},
		{"empty element", `<sip:a@x>,,<sip:b@y>`},
		{"bad element", `<sip:a@x>, <sip:%zz@y>`},
		{"blank element", `<sip:a@x>, , <sip:b@y>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := ParseAddressList(tt.in)
			require.Error(t, err)
			assert.Nil(t, list)
			var pe *ParseError
			assert.True(t, errors.As(err, &pe))
		})
	}
}

func TestAddressStringQuotesDisplayName(t *testing.T) {
	a := Address{Display: `say "hi" \o/`, URI: URI{Scheme: "sip", Host: "x"}, Params: "tag=1"}
	assert.Equal(t, `"say \"hi\" \\o/" <sip:x>;tag=1`, a.String())
	back, err := ParseAddress(a.String())
	require.NoError(t, err)
	assert.Equal(t, a, back)
	assert.Equal(t, "[*]", string((&Address{Wildcard: true, Display: "ignored"}).AppendTo([]byte("[")))+"]")
}
