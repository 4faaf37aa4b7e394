package sip

import (
	"strconv"
	"testing"
)

// FuzzParseDiagnostics checks that ms-diagnostics values never panic the
// parser and that an accepted value, written back from its code and
// parameters, parses to the same code, reason, source and parameters.
func FuzzParseDiagnostics(f *testing.F) {
	f.Add(`2157;reason="Presence subscription to a user in another tenant is not allowed";source="sip.contoso.com"`)
	f.Add(`1033;reason="Previous hop server component did not report diagnostic information";Domain="contoso.com";PeerServer="edge.contoso.com";source="sip.fabrikam.com"`)
	f.Add(`4001`)
	f.Add(` 52001 ; reason = "x\"y" ; appName=InboundRouting`)
	f.Add(`abc;reason="x"`)
	f.Fuzz(func(t *testing.T, v string) {
		d, err := ParseDiagnostics(v)
		if err != nil {
			return
		}
		if d.Code < 0 {
			t.Fatalf("%q: negative code %d", v, d.Code)
		}
		if d.Reason != d.Params.Value("reason") || d.Source != d.Params.Value("source") {
			t.Fatalf("%q: reason/source differ from the parameters", v)
		}
		w := strconv.Itoa(d.Code)
		if d.Params != "" {
			w += ";" + string(d.Params)
		}
		again, err := ParseDiagnostics(w)
		if err != nil {
			t.Fatalf("%q rewritten as %q does not parse: %v", v, w, err)
		}
		if again.Code != d.Code || again.Reason != d.Reason || again.Source != d.Source || again.Params != d.Params {
			t.Fatalf("%q rewritten as %q parses as %+v, was %+v", v, w, again, d)
		}
	})
}
