package sip

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want URI
		out  string // String(); "" means the input itself
	}{
		{"user and host", "sip:alice@atlanta.com",
			URI{Scheme: "sip", User: "alice", Host: "atlanta.com"}, ""},
		{"host only", "sip:atlanta.com",
			URI{Scheme: "sip", Host: "atlanta.com"}, ""},
		{"sips with password and transport", "sips:alice:secretword@atlanta.com;transport=tcp",
			URI{Scheme: "sips", User: "alice", Password: "secretword", Host: "atlanta.com", Params: "transport=tcp"}, ""},
		{"telephone user with password and user=phone", "sip:+1-212-555-1212:1234@gateway.com;user=phone",
			URI{Scheme: "sip", User: "+1-212-555-1212", Password: "1234", Host: "gateway.com", Params: "user=phone"}, ""},
		{"IPv4", "sip:alice@192.0.2.4",
			URI{Scheme: "sip", User: "alice", Host: "192.0.2.4"}, ""},
		{"IPv4 with port", "sip:alice@192.0.2.4:5060",
			URI{Scheme: "sip", User: "alice", Host: "192.0.2.4", Port: 5060}, ""},
		{"host name with port", "sip:alice@example.com:65535",
			URI{Scheme: "sip", User: "alice", Host: "example.com", Port: 65535}, ""},
		{"IPv6 without port", "sip:[2001:db8::10]",
			URI{Scheme: "sip", Host: "2001:db8::10"}, ""},
		{"IPv6 with port and params", "sip:bob@[2001:db8::10]:5070;transport=tcp",
			URI{Scheme: "sip", User: "bob", Host: "2001:db8::10", Port: 5070, Params: "transport=tcp"}, ""},
		{"IPv4-mapped IPv6", "sips:[::ffff:192.0.2.1]:5061",
			URI{Scheme: "sips", Host: "::ffff:192.0.2.1", Port: 5061}, ""},
		{"lr", "sip:p1.example.com;lr",
			URI{Scheme: "sip", Host: "p1.example.com", Params: "lr"}, ""},
		{"maddr and ttl", "sip:alice@atlanta.com;maddr=239.255.255.1;ttl=15",
			URI{Scheme: "sip", User: "alice", Host: "atlanta.com", Params: "maddr=239.255.255.1;ttl=15"}, ""},
		{"maddr IPv6", "sip:alice@atlanta.com;maddr=[2001:db8::1]",
			URI{Scheme: "sip", User: "alice", Host: "atlanta.com", Params: "maddr=[2001:db8::1]"}, ""},
		{"headers", "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
			URI{Scheme: "sip", Host: "atlanta.com", Params: "method=REGISTER", Headers: "to=alice%40atlanta.com"}, ""},
		{"several headers", "sips:bob@biloxi.com?subject=project%20x&priority=urgent",
			URI{Scheme: "sips", User: "bob", Host: "biloxi.com", Headers: "subject=project%20x&priority=urgent"}, ""},
		{"user with user-unreserved", "sip:alice;day=tuesday@atlanta.com",
			URI{Scheme: "sip", User: "alice;day=tuesday", Host: "atlanta.com"}, ""},
		{"underscore in host", "sip:svc@host_name.example.com",
			URI{Scheme: "sip", User: "svc", Host: "host_name.example.com"}, ""},
		{"upper-case scheme", "SIP:Alice@AtLanta.COM",
			URI{Scheme: "sip", User: "Alice", Host: "AtLanta.COM"}, "sip:Alice@AtLanta.COM"},
		{"mixed-case sips", "SiPs:bob@example.com",
			URI{Scheme: "sips", User: "bob", Host: "example.com"}, "sips:bob@example.com"},
		{"unneeded escape is resolved", "sip:%61lice@x",
			URI{Scheme: "sip", User: "alice", Host: "x"}, "sip:alice@x"},
		{"escaped space", "sip:alice%20smith@x",
			URI{Scheme: "sip", User: "alice smith", Host: "x"}, ""},
		{"escaped at sign", "sip:a%40b@x",
			URI{Scheme: "sip", User: "a@b", Host: "x"}, ""},
		{"lower-case hex escape", "sip:a%2fb%3a@x",
			URI{Scheme: "sip", User: "a/b:", Host: "x"}, "sip:a/b%3A@x"},
		{"escaped password", "sip:user:p%40ss@h",
			URI{Scheme: "sip", User: "user", Password: "p@ss", Host: "h"}, ""},
		{"leading zero port", "sip:h:05060",
			URI{Scheme: "sip", Host: "h", Port: 5060}, "sip:h:5060"},
		{"tel global", "tel:+1-201-555-0123",
			URI{Scheme: "tel", User: "+1-201-555-0123"}, ""},
		{"tel with phone-context", "tel:+1-201-555-0123;phone-context=example.com",
			URI{Scheme: "tel", User: "+1-201-555-0123", Params: "phone-context=example.com"}, ""},
		{"tel local", "tel:7042;phone-context=example.com",
			URI{Scheme: "tel", User: "7042", Params: "phone-context=example.com"}, ""},
		{"tel upper case", "TEL:+1(201)555.0123",
			URI{Scheme: "tel", User: "+1(201)555.0123"}, "tel:+1(201)555.0123"},
		{"urn uuid", "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
			URI{Scheme: "urn", Opaque: "uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"}, ""},
		{"mailto", "mailto:alice@example.com",
			URI{Scheme: "mailto", Opaque: "alice@example.com"}, ""},
		{"http kept verbatim", "HTTP://www.example.com/a?b=c;d",
			URI{Scheme: "http", Opaque: "//www.example.com/a?b=c;d"}, "http://www.example.com/a?b=c;d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseURI(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, u)
			out := tt.out
			if out == "" {
				out = tt.in
			}
			assert.Equal(t, out, u.String())

			// parse(String(u)) == u
			u2, err := ParseURI(u.String())
			require.NoError(t, err)
			assert.Equal(t, u, u2)
			assert.True(t, u.Equal(u2))
		})
	}
}

func TestURIStringEscapes(t *testing.T) {
	tests := []struct {
		name string
		u    URI
		want string
	}{
		{"at sign and space in user", URI{Scheme: "sip", User: "a@b c", Host: "x"}, "sip:a%40b%20c@x"},
		{"colon in user", URI{Scheme: "sip", User: "a:b", Host: "x"}, "sip:a%3Ab@x"},
		{"percent in user", URI{Scheme: "sip", User: "100%", Host: "x"}, "sip:100%25@x"},
		{"user-unreserved kept", URI{Scheme: "sip", User: "a;b=c&d+e$f,g?h/i", Host: "x"}, "sip:a;b=c&d+e$f,g?h/i@x"},
		{"unreserved marks kept", URI{Scheme: "sip", User: "-_.!~*'()", Host: "x"}, "sip:-_.!~*'()@x"},
		{"non-ASCII user", URI{Scheme: "sip", User: "jörg", Host: "x"}, "sip:j%C3%B6rg@x"},
		{"at sign in password", URI{Scheme: "sip", User: "u", Password: "p@ss:w", Host: "x"}, "sip:u:p%40ss%3Aw@x"},
		{"password without user is dropped", URI{Scheme: "sip", Password: "p", Host: "x"}, "sip:x"},
		{"IPv6 host bracketed", URI{Scheme: "sips", Host: "2001:db8::1", Port: 5061}, "sips:[2001:db8::1]:5061"},
		{"tel escapes", URI{Scheme: "tel", User: "+1 201"}, "tel:+1%20201"},
		{"params and headers", URI{Scheme: "sip", Host: "h", Params: "lr;transport=tcp", Headers: "a=b"}, "sip:h;lr;transport=tcp?a=b"},
		{"opaque", URI{Scheme: "urn", Opaque: "service:sos"}, "urn:service:sos"},
		{"zero URI", URI{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.u.String())
			assert.Equal(t, "<"+tt.want+">", string(tt.u.AppendTo([]byte("<")))+">")
			if tt.want == "" || tt.u.User == "" && tt.u.Password != "" {
				return
			}
			back, err := ParseURI(tt.want)
			require.NoError(t, err)
			assert.Equal(t, tt.u, back)
		})
	}
}

func TestParseURIErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"no scheme", "alice@atlanta.com"},
		{"empty scheme", ":alice@atlanta.com"},
		{"scheme starting with a digit", "1sip:alice@atlanta.com"},
		{"bad char in scheme", "s_p:alice@atlanta.com"},
		{"sip without anything", "sip:"},
		{"bad escape hex", "sip:%G1@x"},
		{"bad escape second digit", "sip:%6Z@x"},
		{"trailing short escape in user", "sip:alice%4@x"},
		{"trailing escape in params", "sip:x;p=%4"},
		{"trailing percent in headers", "sip:x?h=%"},
		{"bad escape in password", "sip:a:%zz@x"},
		{"unterminated IPv6", "sip:[::1"},
		{"unterminated IPv6 with port", "sip:alice@[::1:5060"},
		{"bad IPv6 hex", "sip:[zz::1]"},
		{"IPv4 in brackets", "sip:[1.2.3.4]"},
		{"IPv6 with zone", "sip:[fe80::1%25eth0]"},
		{"junk after IPv6", "sip:[::1]x"},
		{"empty brackets", "sip:[]"},
		{"port zero", "sip:alice@example.com:0"},
		{"port too large", "sip:alice@example.com:65536"},
		{"port far too large", "sip:alice@example.com:99999999999"},
		{"port letters", "sip:alice@example.com:sip"},
		{"port empty", "sip:alice@example.com:"},
		{"port negative", "sip:alice@example.com:-1"},
		{"IPv6 port empty", "sip:[::1]:"},
		{"empty host", "sip:alice@"},
		{"empty host before params", "sip:alice@;lr"},
		{"empty host before port", "sip:alice@:5060"},
		{"empty user", "sip:@example.com"},
		{"empty user with password", "sip::pw@example.com"},
		{"space in user", "sip:alice smith@x"},
		{"space in host", "sip:alice@exa mple.com"},
		{"space in params", "sip:x;transport= tcp"},
		{"tab in params", "sip:x;lr\t"},
		{"space before params", "sip:x; lr"},
		{"tel with trailing space", "tel:+1;phone-context=x "},
		{"trailing space", "sip:alice@x "},
		{"control in user", "sip:al\x01ice@x"},
		{"NUL in host", "sip:alice@x\x00y"},
		{"DEL in params", "sip:x;p=\x7f"},
		{"control in bracketed param value", "sip:x;maddr=[\x01]"},
		{"space in bracketed param value", "sip:x;maddr=[a b]"},
		{"quoted URI param", "sip:x;p=\"q\""},
		{"empty params", "sip:x;"},
		{"empty param name", "sip:x;=1"},
		{"empty param value", "sip:x;p="},
		{"empty headers", "sip:x?"},
		{"bad char in headers", "sip:x?a=<b>"},
		{"bad char in host", "sip:alice@x!y"},
		{"angle bracket in host", "sip:<x>"},
		{"empty tel", "tel:"},
		{"tel with space", "tel:+1 201"},
		{"tel with at sign", "tel:+1@x"},
		{"tel bad param", "tel:+1;"},
		{"empty opaque", "urn:"},
		{"opaque with space", "urn:a b"},
		{"opaque with quote", "mailto:\"a\"@x"},
		{"opaque with angle", "urn:<x>"},
		{"opaque with NUL", "urn:a\x00b"},
		{"opaque with non-ASCII", "urn:\xc3\xa9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseURI(tt.in)
			require.Error(t, err)
			assert.Equal(t, URI{}, u)
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "%T", err)
			assert.ErrorIs(t, err, ErrMalformed)
			assert.Equal(t, -1, pe.Offset)
		})
	}
}

func TestParseURITooLong(t *testing.T) {
	long := "sip:" + strings.Repeat("a", DefaultMaxURILength) + "@x"
	_, err := ParseURI(long)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrURITooLong)
	var pe *ParseError
	assert.True(t, errors.As(err, &pe))

	atLimit := "sip:" + strings.Repeat("a", DefaultMaxURILength-6) + "@x"
	require.Len(t, atLimit, DefaultMaxURILength)
	_, err = ParseURI(atLimit)
	assert.NoError(t, err)
}

func TestURIEqual(t *testing.T) {
	tests := []struct {
		a, b  string
		equal bool
	}{
		// RFC 3261 §19.1.4: equivalent URIs.
		{"sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp", true},
		{"sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5", true},
		{"sip:carol@chicago.com", "sip:carol@chicago.com;security=on", true},
		{"sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on", true},
		{"sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
			"sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com", true},
		{"sip:alice@atlanta.com?subject=project%20x&priority=urgent",
			"sip:alice@atlanta.com?priority=urgent&subject=project%20x", true},
		// RFC 3261 §19.1.4: not equivalent.
		{"SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP", false},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com:5060", false},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp", false},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp", false},
		{"sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting", false},
		{"sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4", false},
		{"sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off", false},
		// RFC 3261 §19.1.4: an escaped character equals itself in
		// parameters and headers too.
		{"sip:alice@x;transport=%54CP", "sip:alice@x;transport=tcp", true},
		{"sip:alice@x;maddr=%31.2.3.4", "sip:alice@x;maddr=1.2.3.4", true},
		{"sip:alice@x;p=%41", "sip:alice@x;p=b", false},
		{"sip:alice@x?subject=project%20x", "sip:alice@x?subject=project%20X", true},
		{"sip:alice@x?subject=a%26b", "sip:alice@x?subject=a&b", false},
		{"sip:alice@x?%61=1", "sip:alice@x?a=1", true},
		// More.
		{"sip:alice@x", "sips:alice@x", false},
		{"sip:alice:pw@x", "sip:alice@x", false},
		{"sip:alice@x;user=phone", "sip:alice@x", false},
		{"sip:alice@x;ttl=1", "sip:alice@x;ttl=2", false},
		{"sip:alice@x;maddr=1.2.3.4", "sip:alice@x", false},
		{"sip:alice@x?a=1", "sip:alice@x?a=1&b=2", false},
		{"sip:[2001:DB8::1]", "sip:[2001:db8::1]", true},
		{"sip:x;a=1;a=2", "sip:x;a=1;a=2", true},
		{"sip:x;a=1;a=2", "sip:x;a=1", true},
		{"sip:x;a=2;a=1", "sip:x;a=1", false},
		{"tel:+1-201-555-0123", "tel:+1-201-555-0123", true},
		{"tel:+1-201-555-0123", "TEL:+1-201-555-0123", true},
		{"tel:+1-201-555-0123", "tel:+1-201-555-0124", false},
		{"tel:7042;phone-context=example.com", "tel:7042;phone-context=example.org", false},
		{"urn:uuid:abc", "URN:uuid:abc", true},
		{"urn:uuid:abc", "urn:uuid:ABC", false},
		{"urn:uuid:abc", "sip:uuid@abc", false},
		{"mailto:a@x", "mailto:a@x", true},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			a, err := ParseURI(tt.a)
			require.NoError(t, err)
			b, err := ParseURI(tt.b)
			require.NoError(t, err)
			assert.Equal(t, tt.equal, a.Equal(b))
			assert.Equal(t, tt.equal, b.Equal(a), "symmetry")
			assert.True(t, a.Equal(a), "reflexivity")
			assert.True(t, b.Equal(b), "reflexivity")
		})
	}
}

func TestURIHostPort(t *testing.T) {
	tests := []struct{ in, want string }{
		{"sip:alice@example.com", "example.com"},
		{"sip:alice@example.com:5080", "example.com:5080"},
		{"sip:192.0.2.1", "192.0.2.1"},
		{"sip:192.0.2.1:5060", "192.0.2.1:5060"},
		{"sip:[2001:db8::1]", "[2001:db8::1]"},
		{"sips:[2001:db8::1]:5061", "[2001:db8::1]:5061"},
		{"tel:+1234", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := ParseURI(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, u.HostPort())
		})
	}
}

func TestURIIsSIP(t *testing.T) {
	for in, want := range map[string]bool{
		"sip:x": true, "SIPS:x": true, "tel:+1": false, "urn:a:b": false,
	} {
		u, err := ParseURI(in)
		require.NoError(t, err)
		assert.Equal(t, want, u.IsSIP(), in)
	}
}
