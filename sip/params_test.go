package sip

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParamsGet(t *testing.T) {
	type lookup struct {
		name, value string
		ok          bool
	}
	tests := []struct {
		name    string
		p       Params
		len     int
		lookups []lookup
	}{
		{"empty", "", 0, []lookup{{"tag", "", false}}},
		{"Via parameters", "branch=z9hG4bK776asdhds;rport;received=192.0.2.1", 3, []lookup{
			{"branch", "z9hG4bK776asdhds", true},
			{"BRANCH", "z9hG4bK776asdhds", true},
			{"rport", "", true},
			{"RPort", "", true},
			{"received", "192.0.2.1", true},
			{"maddr", "", false},
			{"branc", "", false},
			{"", "", false},
		}},
		{"case-insensitive names in the data", "Transport=TCP;LR", 2, []lookup{
			{"transport", "TCP", true},
			{"lr", "", true},
		}},
		{"quoted values", `+sip.instance="<urn:uuid:1>";x="a\"b;c";y=2`, 3, []lookup{
			{"+sip.instance", "<urn:uuid:1>", true},
			{"x", `a"b;c`, true},
			{"y", "2", true},
		}},
		{"empty quoted value", `a="";b`, 2, []lookup{
			{"a", "", true},
			{"b", "", true},
		}},
		{"white space around ; and =", "tag = 1 ; x=2 ;lr", 3, []lookup{
			{"tag", "1", true},
			{"x", "2", true},
			{"lr", "", true},
		}},
		{"first of repeated names wins", "a=1;A=2", 2, []lookup{{"a", "1", true}}},
		{"IPv6 value", "received=[2001:db8::1];rport=5060", 2, []lookup{
			{"received", "[2001:db8::1]", true},
			{"rport", "5060", true},
		}},
		{"value with '='", "a=b=c", 1, []lookup{{"a", "b=c", true}}},
		// A Params built by hand is not validated; reading it must not panic.
		{"unterminated quote built by hand", `a="x;b=2`, 1, []lookup{{"a", `"x;b=2`, true}, {"b", "", false}}},
		{"lone quote built by hand", `a="`, 1, []lookup{{"a", `"`, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.len, tt.p.Len())
			for _, l := range tt.lookups {
				v, ok := tt.p.Get(l.name)
				assert.Equal(t, l.ok, ok, "Get(%q) present", l.name)
				assert.Equal(t, l.value, v, "Get(%q)", l.name)
				assert.Equal(t, l.ok, tt.p.Has(l.name), "Has(%q)", l.name)
				assert.Equal(t, l.value, tt.p.Value(l.name), "Value(%q)", l.name)
			}
			n := 0
			tt.p.Each(func(string, string) { n++ })
			assert.Equal(t, tt.len, n, "Each visits Len parameters")
		})
	}
}

func TestParamsEach(t *testing.T) {
	p := Params(`branch=z9hG4bK1; rport ;x="q \"v\"";Lr`)
	var got [][2]string
	p.Each(func(name, value string) { got = append(got, [2]string{name, value}) })
	assert.Equal(t, [][2]string{
		{"branch", "z9hG4bK1"},
		{"rport", ""},
		{"x", `q "v"`},
		{"Lr", ""},
	}, got)
}

func TestParamsWith(t *testing.T) {
	tests := []struct {
		name        string
		p           Params
		key, value  string
		want        Params
		wantValueOf string // Get(key) afterwards
	}{
		{"append to empty", "", "tag", "abc", "tag=abc", "abc"},
		{"append", "branch=z9hG4bK1", "received", "192.0.2.1", "branch=z9hG4bK1;received=192.0.2.1", "192.0.2.1"},
		{"replace in place", "a=1;tag=x;b=2", "tag", "y", "a=1;tag=y;b=2", "y"},
		{"replace case-insensitively", "a=1;TAG=x", "tag", "y", "a=1;tag=y", "y"},
		{"replace a bare parameter", "rport;branch=b", "rport", "5060", "rport=5060;branch=b", "5060"},
		{"bare parameter", "branch=b", "rport", "", "branch=b;rport", ""},
		{"make bare", "lr=on", "lr", "", "lr", ""},
		{"quote a value with a space", "", "x", "a b", `x="a b"`, "a b"},
		{"quote and escape", "", "x", `say "hi"\`, `x="say \"hi\"\\"`, `say "hi"\`},
		{"quote a value with ';'", "", "x", "a;b", `x="a;b"`, "a;b"},
		{"quote a URN in angle brackets", "", "+sip.instance", "<urn:uuid:1>", `+sip.instance="<urn:uuid:1>"`, "<urn:uuid:1>"},
		{"token is not quoted", "", "q", "0.7", "q=0.7", "0.7"},
		{"IPv6 reference is not quoted", "", "received", "[2001:db8::1]", "received=[2001:db8::1]", "[2001:db8::1]"},
		{"bracketed non-address is quoted", "", "x", "[a b]", `x="[a b]"`, "[a b]"},
		{"bracketed with quote is quoted", "", "x", `[1"]`, `x="[1\"]"`, `[1"]`},
		{"white space in the input is normalised", "a=1 ; b=2", "c", "3", "a=1;b=2;c=3", "3"},
		{"repeated names collapse", "a=1;a=2;b", "a", "3", "a=3;b", "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.p.With(tt.key, tt.value)
			assert.Equal(t, tt.want, got)
			v, ok := got.Get(tt.key)
			assert.True(t, ok)
			assert.Equal(t, tt.wantValueOf, v)
			// With's output is valid header-parameter syntax.
			_, valid := parseParams(string(got), false)
			assert.True(t, valid, "%q", got)
		})
	}
}

func TestParamsWithout(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		key  string
		want Params
	}{
		{"only parameter", "tag=1", "tag", ""},
		{"first", "tag=1;a=2", "tag", "a=2"},
		{"middle", "a=1;tag=x;b", "tag", "a=1;b"},
		{"last", "a=1;lr", "lr", "a=1"},
		{"every occurrence, any case", "a=1;TAG=x;b;Tag=y", "tag", "a=1;b"},
		{"absent", "a=1;b=2", "tag", "a=1;b=2"},
		{"empty", "", "tag", ""},
		{"quoted value with ';'", `x="a;b";tag=1`, "x", "tag=1"},
		{"prefix is not a match", "tagx=1;tag=2", "tag", "tagx=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.p.Without(tt.key)
			assert.Equal(t, tt.want, got)
			assert.False(t, got.Has(tt.key))
		})
	}
}

func TestParseParamsSyntax(t *testing.T) {
	tests := []struct {
		in            string
		header, inURI bool // valid as header parameters / as URI parameters
	}{
		{"tag=1", true, true},
		{"lr", true, true},
		{"a;b;c=d", true, true},
		{" tag = 1 ; lr ", true, false}, // LWS around ";" and "=" in header parameters; never in a URI
		{`x="quoted ; value"`, true, false},
		{`x="unterminated`, false, false},
		{"received=[2001:db8::1]", true, true},
		{"maddr=[\x01]", false, false},
		{"x=[a b]", false, false},
		{"x=[a\"b]", false, false},
		{"url=http://x/y?z", true, false},
		{"x=%41", true, true},
		{"x=%4", true, false},
		{"x=(a)", false, true},
		{"", false, false},
		{";", false, false},
		{"a;", false, false},
		{"=1", false, false},
		{"a=", false, false},
		{"a=1,b", false, false},
		{"a b", false, false},
		{"a=b c", false, false},
		{"a=\x00", false, false},
		{"a\x7f=1", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, ok := parseParams(tt.in, false)
			assert.Equal(t, tt.header, ok, "header parameters")
			_, ok = parseParams(tt.in, true)
			assert.Equal(t, tt.inURI, ok, "URI parameters")
		})
	}
}

func TestParamsQuoteRoundTrip(t *testing.T) {
	for _, v := range []string{"", "a", "a b", `"`, `\`, `a\"b`, "ü", "<x>", "a,b;c=d"} {
		q := quote(v)
		require.Equal(t, len(q), skipQuoted(q, 0), "skipQuoted(%q)", q)
		assert.Equal(t, v, unquote(q))
	}
	assert.Equal(t, "abc", unquote("abc"))
	assert.Equal(t, `"abc`, unquote(`"abc`))
}
