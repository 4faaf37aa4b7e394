package pidf

import (
	"bytes"
	"testing"
)

// FuzzPIDF checks that Parse never panics and that whatever it accepts
// encodes, parses again and encodes to the same bytes (the encoded form is
// canonical, so equal bytes mean equal documents).
func FuzzPIDF(f *testing.F) {
	f.Add([]byte(audioCodesLegacy))
	f.Add([]byte(rfcForm))
	f.Add([]byte(`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="t"><status><basic>closed</basic></status><contact priority="1">sip:a@b</contact><timestamp>2024-01-02T03:04:05.5+01:00</timestamp></tuple></presence>`))
	f.Add([]byte(`<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:v="urn:v" entity="sip:a@b"><v:thing v:type="v:kind" xmlns:w="urn:w"><w:x>1&amp;2</w:x><y xmlns="urn:y"/><?pi x?></v:thing></presence>`))
	if out, err := New("sip:alice@example.test").Open().Activity(OnThePhone).Note("in a call").DisplayName("Alice").Idle(benchTime).Marshal(); err == nil {
		f.Add(out)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		_ = d.Summary()
		if _, err := d.Encode(EncodeOptions{Legacy: true}); err != nil && d.Entity != "" {
			if _, err2 := d.Marshal(); err2 == nil {
				t.Fatalf("legacy encoding fails (%v) where the standard one does not", err)
			}
		}
		out, err := d.Marshal()
		if err != nil {
			// Only documents the model cannot write are refused: no
			// entity, a missing id, or a value that is not an XML name.
			return
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("encoded document does not parse: %v\n%s", err, out)
		}
		out2, err := again.Marshal()
		if err != nil {
			t.Fatalf("re-encoding fails: %v\n%s", err, out)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip differs:\n%s\n%s", out, out2)
		}
	})
}
