package rlmi_test

import (
	"fmt"

	"github.com/sipua-go/sipua/presence/pidf"
	"github.com/sipua-go/sipua/presence/rlmi"
	"github.com/sipua-go/sipua/sip"
)

func ExampleDecode() {
	ct, _ := sip.ParseMediaType(`multipart/related;type="application/rlmi+xml";start="<list@example.test>";boundary=b1`)
	body := "--b1\r\n" +
		"Content-ID: <list@example.test>\r\n" +
		"Content-Type: application/rlmi+xml\r\n\r\n" +
		`<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:app@example.test" version="0" fullState="false">` +
		`<resource uri="sip:x@othertenant.example"><instance id="0" state="terminated" reason="forbidden" statusCode="403" ms-diagnostics="2157"/></resource>` +
		`<resource uri="sip:bob@example.test"><instance id="1" state="active" cid="bob@example.test"/></resource></list>` + "\r\n" +
		"--b1\r\n" +
		"Content-ID: <bob@example.test>\r\n" +
		"Content-Type: application/pidf+xml\r\n\r\n" +
		`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@example.test"><tuple id="t"><status><basic>open</basic></status></tuple></presence>` + "\r\n" +
		"--b1--\r\n"
	n, err := rlmi.Decode(ct, []byte(body))
	if err != nil {
		panic(err)
	}
	for _, e := range n.Entries {
		diag, _ := e.Instance.Diagnostics()
		fmt.Println(e.URI, e.Instance.State, e.Instance.Reason, e.Instance.StatusCode(), diag.Code)
		if e.ContentType().Is(pidf.ContentType) {
			doc, _ := pidf.Parse(e.Body())
			fmt.Println("  basic:", doc.Summary().Basic)
		}
	}
	// Output:
	// sip:x@othertenant.example terminated forbidden 403 2157
	// sip:bob@example.test active  0 0
	//   basic: open
}

func ExampleEncode() {
	doc, _ := pidf.New("sip:bob@example.test").Open().Marshal()
	list := &rlmi.List{
		URI: "sip:buddies@example.test", Version: 1, FullState: true,
		Resources: []rlmi.Resource{
			{URI: "sip:bob@example.test", Instances: []rlmi.Instance{{ID: "1", State: rlmi.Active, CID: "bob@example.test"}}},
			{URI: "sip:carol@example.test", Instances: []rlmi.Instance{{ID: "2", State: rlmi.Pending}}},
		},
	}
	ct, body, err := rlmi.Encode(list, []sip.Part{rlmi.NewPart("bob@example.test", pidf.ContentType, doc)},
		rlmi.EncodeOptions{Boundary: "b1", RootCID: "list@example.test"})
	if err != nil {
		panic(err)
	}
	fmt.Println(ct)
	fmt.Println(len(body) > 0)
	// Output:
	// multipart/related;boundary=b1;type="application/rlmi+xml";start="<list@example.test>"
	// true
}

func ExampleList_Marshal() {
	l := &rlmi.List{URI: "sip:buddies@example.test", Version: 2, Resources: []rlmi.Resource{
		{URI: "sip:erin@example.test", Instances: []rlmi.Instance{{ID: "e", State: rlmi.Terminated, Reason: "rejected"}}},
	}}
	out, _ := l.Marshal()
	fmt.Println(string(out))
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:buddies@example.test" version="2" fullState="false"><resource uri="sip:erin@example.test"><instance id="e" state="terminated" reason="rejected"/></resource></list>
}
