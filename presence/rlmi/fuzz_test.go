package rlmi

import (
	"bytes"
	"testing"

	"github.com/sipua-go/sipua/sip"
)

// FuzzRLMI checks that Parse never panics and that whatever it accepts
// marshals, parses again and marshals to the same bytes.
func FuzzRLMI(f *testing.F) {
	f.Add([]byte(`<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:l@x" version="1" fullState="true"><resource uri="sip:a@x"><name>A</name><instance id="1" state="active" cid="A@x"/></resource></list>`))
	f.Add([]byte(`<r:list xmlns:r="urn:ietf:params:xml:ns:rlmi" xmlns:ms="urn:ms" uri="sip:l@x" version="7" fullState="false" ms:f="1"><r:resource uri="sip:a@x"><r:instance id="i" state="terminated" reason="forbidden" statusCode="403" ms:d="2157"><ms:x/></r:instance></r:resource></r:list>`))
	for _, b := range []string{lyncBody, kamailioBody} {
		if parts, err := sip.ParseMultipart(sip.MediaType{Type: "multipart", Subtype: "related", Params: sip.Params("boundary=" + boundaryOf(b))}, []byte(b)); err == nil {
			f.Add(parts[0].Body)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(data)
		if err != nil {
			return
		}
		out, err := l.Marshal()
		if err != nil {
			return // no uri, or an instance without id or state
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("marshalled list does not parse: %v\n%s", err, out)
		}
		out2, err := again.Marshal()
		if err != nil {
			t.Fatalf("re-marshalling fails: %v\n%s", err, out)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip differs:\n%s\n%s", out, out2)
		}
	})
}

func boundaryOf(body string) string {
	end := bytes.IndexByte([]byte(body), '\r')
	return body[2:end]
}

// FuzzDecodeNotify feeds whole NOTIFY bodies with their Content-Type to
// Decode. Whatever it accepts is encoded again as a multipart body and
// must decode to the same list with the same part bodies per entry.
func FuzzDecodeNotify(f *testing.F) {
	f.Add(lyncCT, []byte(lyncBody))
	f.Add(kamailioCT, []byte(kamailioBody))
	f.Add(`application/rlmi+xml`, []byte(`<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:l@x" version="1" fullState="true"/>`))
	f.Add(`multipart/related;boundary=b`, []byte("--b\r\nContent-Type: application/rlmi+xml\r\n\r\n<list xmlns=\"urn:ietf:params:xml:ns:rlmi\" uri=\"u\" version=\"0\"><resource uri=\"r\"><instance id=\"1\" state=\"active\" cid=\"c\"/></resource></list>\r\n--b\r\nContent-ID: <c>\r\n\r\nbody\r\n--b--"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		mt, err := sip.ParseMediaType(ct)
		if err != nil {
			return
		}
		n, err := Decode(mt, body)
		if err != nil {
			return
		}
		if n.List == nil {
			t.Fatal("no list")
		}
		// Re-encode: the parts the entries reference, under their own
		// Content-IDs.
		var parts []sip.Part
		for _, e := range n.Entries {
			if e.Part == nil {
				continue
			}
			if bytes.Contains(e.Part.Body, []byte("--fuzzboundary")) {
				return
			}
			parts = append(parts, NewPart(normCID(e.Instance.CID), e.Part.ContentType().String(), e.Part.Body))
		}
		ct2, body2, err := Encode(n.List, parts, EncodeOptions{Boundary: "fuzzboundary", RootCID: "root@fuzz"})
		if err != nil {
			return // the list cannot be written (no uri, ...) or a cid names a missing part
		}
		again, err := Decode(ct2, body2)
		if err != nil {
			t.Fatalf("re-encoded body does not decode: %v\n%s", err, body2)
		}
		if len(again.Entries) != len(n.Entries) {
			t.Fatalf("entries %d, again %d", len(n.Entries), len(again.Entries))
		}
		for i := range n.Entries {
			if !bytes.Equal(n.Entries[i].Body(), again.Entries[i].Body()) {
				t.Fatalf("entry %d body %q, again %q", i, n.Entries[i].Body(), again.Entries[i].Body())
			}
			if n.Entries[i].Instance.State != again.Entries[i].Instance.State {
				t.Fatalf("entry %d state %q, again %q", i, n.Entries[i].Instance.State, again.Entries[i].Instance.State)
			}
		}
	})
}
