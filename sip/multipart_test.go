package sip

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rlmiBody is shaped like RFC 4662 §5.2's example: an RLMI root part and a
// PIDF part referenced by cid.
const rlmiBody = "--50UBfW7LSCVLtggUPe5z\r\n" +
	"Content-Transfer-Encoding: binary\r\n" +
	"Content-ID: <nXYxAE@pres.example.com>\r\n" +
	"Content-Type: application/rlmi+xml;charset=\"UTF-8\"\r\n" +
	"\r\n" +
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n" +
	"<list xmlns=\"urn:ietf:params:xml:ns:rlmi\" uri=\"sip:adam-friends@pres.example.com\" version=\"1\" fullState=\"true\">\r\n" +
	"  <resource uri=\"sip:bob@example.com\"><instance id=\"juwigmtboe\" state=\"active\" cid=\"bUZBsM@pres.example.com\"/></resource>\r\n" +
	"</list>\r\n" +
	"--50UBfW7LSCVLtggUPe5z\r\n" +
	"Content-Transfer-Encoding: binary\r\n" +
	"Content-ID: <bUZBsM@pres.example.com>\r\n" +
	"Content-Type: application/pidf+xml;charset=\"UTF-8\"\r\n" +
	"\r\n" +
	"<presence entity=\"sip:bob@example.com\"/>\r\n" +
	"--50UBfW7LSCVLtggUPe5z--\r\n"

func TestParseMultipartRelated(t *testing.T) {
	ct, err := ParseMediaType(`multipart/related;type="application/rlmi+xml";start="<nXYxAE@pres.example.com>";boundary="50UBfW7LSCVLtggUPe5z"`)
	require.NoError(t, err)
	parts, err := ParseMultipart(ct, []byte(rlmiBody))
	require.NoError(t, err)
	require.Len(t, parts, 2)
	assert.Equal(t, "nXYxAE@pres.example.com", parts[0].ContentID())
	assert.True(t, parts[0].ContentType().Is("application/rlmi+xml"))
	assert.Equal(t, "UTF-8", parts[0].ContentType().Params.Value("charset"))
	assert.True(t, strings.HasPrefix(string(parts[0].Body), "<?xml"))
	assert.True(t, strings.HasSuffix(string(parts[0].Body), "</list>"), "the CRLF before a delimiter belongs to the delimiter")
	assert.Equal(t, "bUZBsM@pres.example.com", parts[1].ContentID())
	assert.Equal(t, `<presence entity="sip:bob@example.com"/>`, string(parts[1].Body))
	assert.Equal(t, "binary", parts[1].Header.Get("Content-Transfer-Encoding"))
}

func TestParseMultipartVariants(t *testing.T) {
	mixed := MediaType{Type: "multipart", Subtype: "mixed", Params: "boundary=b1"}
	tests := []struct {
		name   string
		body   string
		bodies []string
		types  []string
	}{
		{"preamble and epilogue", "This is a preamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1--\r\nepilogue", []string{"hello"}, []string{"text/plain"}},
		{"part without headers defaults to text/plain", "--b1\r\n\r\nno headers\r\n--b1--", []string{"no headers"}, []string{"text/plain"}},
		{"bare LF", "--b1\nContent-Type: application/sdp\n\nv=0\n--b1--\n", []string{"v=0"}, []string{"application/sdp"}},
		{"transport padding after delimiter", "--b1  \r\nContent-Type: a/b\r\n\r\nx\r\n--b1--", []string{"x"}, []string{"a/b"}},
		{"empty body part", "--b1\r\nContent-Type: a/b\r\n\r\n\r\n--b1--", []string{""}, []string{"a/b"}},
		{"folded part header", "--b1\r\nContent-Type: a/b;\r\n x=y\r\n\r\nz\r\n--b1--", []string{"z"}, []string{"a/b"}},
		{"three parts", "--b1\r\n\r\n1\r\n--b1\r\n\r\n2\r\n--b1\r\n\r\n3\r\n--b1--", []string{"1", "2", "3"}, []string{"text/plain", "text/plain", "text/plain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, err := ParseMultipart(mixed, []byte(tt.body))
			require.NoError(t, err)
			require.Len(t, parts, len(tt.bodies))
			for i := range parts {
				assert.Equal(t, tt.bodies[i], string(parts[i].Body))
				assert.Equal(t, tt.types[i], parts[i].ContentType().Value())
			}
		})
	}
}

func TestParseMultipartErrors(t *testing.T) {
	mixed := MediaType{Type: "multipart", Subtype: "mixed", Params: "boundary=b1"}
	tests := []struct {
		name string
		ct   MediaType
		body string
	}{
		{"not multipart", MediaType{Type: "application", Subtype: "sdp"}, "--b1\r\n\r\nx\r\n--b1--"},
		{"no boundary", MediaType{Type: "multipart", Subtype: "mixed"}, "--b1\r\n\r\nx\r\n--b1--"},
		{"boundary too long", MediaType{Type: "multipart", Subtype: "mixed", Params: Params("boundary=" + strings.Repeat("b", 71))}, "x"},
		{"no delimiter", mixed, "just text"},
		{"no closing delimiter", mixed, "--b1\r\n\r\nx\r\n"},
		{"garbage after delimiter", mixed, "--b1xyz\r\n\r\nx\r\n--b1--"},
		{"part header without colon", mixed, "--b1\r\nContent-Type\r\n\r\nx\r\n--b1--"},
		{"part header with NUL", mixed, "--b1\r\nContent-Type: a/b\x00\r\n\r\nx\r\n--b1--"},
		{"part with bad content type", mixed, "--b1\r\nContent-Type: nothing\r\n\r\nx\r\n--b1--"},
		{"headers not ended", mixed, "--b1\r\nContent-Type: a/b\r\n--b1--"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMultipart(tt.ct, []byte(tt.body))
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
		})
	}
	// A body with more parts than the limit is refused.
	var b strings.Builder
	for i := 0; i <= MaxMultipartParts; i++ {
		b.WriteString("--b1\r\n\r\nx\r\n")
	}
	b.WriteString("--b1--")
	_, err := ParseMultipart(mixed, []byte(b.String()))
	require.Error(t, err)
}

func TestNewMultipartRoundTrip(t *testing.T) {
	var p1, p2 Part
	p1.Header.Add("Content-Type", "application/rlmi+xml")
	p1.Header.Add("Content-ID", "<a@x>")
	p1.Body = []byte("<list/>")
	p2.Header.Add("Content-Type", "application/pidf+xml")
	p2.Header.Add("Content-ID", "<b@x>")
	p2.Body = []byte("<presence/>")
	ct, body := NewMultipart("related", "zz9", []Part{p1, p2})
	ct.Params = ct.Params.With("type", "application/rlmi+xml")
	assert.Equal(t, `multipart/related;boundary=zz9;type="application/rlmi+xml"`, ct.String())

	parsedCT, err := ParseMediaType(ct.String())
	require.NoError(t, err)
	parts, err := ParseMultipart(parsedCT, body)
	require.NoError(t, err)
	require.Len(t, parts, 2)
	assert.Equal(t, "a@x", parts[0].ContentID())
	assert.Equal(t, "<list/>", string(parts[0].Body))
	assert.Equal(t, "<presence/>", string(parts[1].Body))
}

func FuzzParseMultipart(f *testing.F) {
	f.Add("50UBfW7LSCVLtggUPe5z", []byte(rlmiBody))
	f.Add("b1", []byte("--b1\r\n\r\nx\r\n--b1--"))
	f.Add("b1", []byte("--b1\nContent-Type: a/b\n\nv=0\n--b1--\n"))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		ct := MediaType{Type: "multipart", Subtype: "related", Params: Params("boundary=" + quoteIfNeeded(boundary))}
		parts, err := ParseMultipart(ct, body)
		if err != nil {
			return
		}
		if len(parts) > MaxMultipartParts {
			t.Fatalf("%d parts", len(parts))
		}
		// Whatever was accepted, rebuilt with a fresh boundary, parses to
		// the same bodies. The boundary must not occur in any body.
		for _, p := range parts {
			if strings.Contains(string(p.Body), "--sipua-fuzz") {
				return
			}
		}
		ct2, body2 := NewMultipart("related", "sipua-fuzz", parts)
		again, err := ParseMultipart(ct2, body2)
		if err != nil {
			t.Fatalf("rebuilt body does not parse: %v\n%q", err, body2)
		}
		if len(again) != len(parts) {
			t.Fatalf("parts %d, again %d", len(parts), len(again))
		}
		for i := range parts {
			if string(again[i].Body) != string(parts[i].Body) {
				t.Fatalf("part %d body %q, again %q", i, parts[i].Body, again[i].Body)
			}
		}
	})
}

func FuzzParseChallenges(f *testing.F) {
	f.Add(`Digest realm="atlanta.example.com", qop="auth,auth-int", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5`)
	f.Add(`Digest realm="x", nonce="1", algorithm=SHA-512-256, userhash=true, Digest realm="x", nonce="2"`)
	f.Fuzz(func(t *testing.T, v string) {
		chs, err := ParseChallenges(v)
		if err != nil {
			return
		}
		for _, c := range chs {
			again, err := ParseChallenges(c.String())
			if err != nil {
				t.Fatalf("%q re-serialized as %q does not parse: %v", v, c.String(), err)
			}
			if len(again) != 1 || len(again[0].Params) != len(c.Params) {
				t.Fatalf("%q: %q parsed as %d challenges", v, c.String(), len(again))
			}
			for i := range c.Params {
				if again[0].Params[i].Value != c.Params[i].Value {
					t.Fatalf("param %d: %q vs %q", i, c.Params[i].Value, again[0].Params[i].Value)
				}
			}
		}
	})
}
