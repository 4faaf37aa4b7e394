package pidf_test

import (
	"fmt"

	"github.com/sipua-go/sipua/presence/pidf"
)

func ExampleNew() {
	doc := pidf.New("sip:alice@example.test").Open().Activity(pidf.OnThePhone).
		Note("in a call").DisplayName("Alice")
	body, err := doc.Marshal()
	if err != nil {
		panic(err)
	}
	fmt.Println(pidf.ContentType)
	fmt.Println(string(body))
	// Output:
	// application/pidf+xml
	// <?xml version="1.0" encoding="UTF-8"?>
	// <presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" xmlns:ci="urn:ietf:params:xml:ns:pidf:cipid" entity="sip:alice@example.test"><tuple id="t1"><status><basic>open</basic></status><note>in a call</note></tuple><dm:person id="p1"><rpid:activities><rpid:on-the-phone/></rpid:activities><ci:display-name>Alice</ci:display-name></dm:person></presence>
}

func ExampleDocument_Encode_legacy() {
	doc := pidf.New("sip:4001@gw.example.test").Open().Activity(pidf.OnThePhone).DisplayName("Front Desk")
	body, _ := doc.Encode(pidf.EncodeOptions{Legacy: true})
	fmt.Println(string(body))
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:ci="urn:ietf:params:xml:ns:pidf:cipid" xmlns:ep="urn:ietf:params:xml:ns:pidf:status:rpid-status" entity="sip:4001@gw.example.test"><tuple id="t1"><status><basic>open</basic><ep:activities><ep:activity>on-the-phone</ep:activity></ep:activities></status><ci:display-name>Front Desk</ci:display-name></tuple></presence>
}

func ExampleParse() {
	body := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:ep="urn:ietf:params:xml:ns:pidf:status:rpid-status"
    xmlns:ci="urn:ietf:params:xml:ns:pidf:cipid" entity="sip:4001@gw.example.test">
 <tuple id="4001">
  <status><basic>open</basic><ep:activities><ep:activity>on-the-phone</ep:activity></ep:activities></status>
  <ci:display-name>Front Desk</ci:display-name>
 </tuple>
</presence>`)
	doc, err := pidf.Parse(body)
	if err != nil {
		panic(err)
	}
	s := doc.Summary()
	fmt.Println(s.Basic, s.Activities, s.DisplayName)
	// Output: open [on-the-phone] Front Desk
}

func ExampleDocument_Summary() {
	doc := &pidf.Document{
		Entity: "sip:bob@example.test",
		Tuples: []pidf.Tuple{{ID: "t", Status: pidf.Status{Basic: pidf.Closed}}},
		Persons: []pidf.Person{{
			ID:         "p",
			Activities: &pidf.Activities{Values: []pidf.Activity{pidf.Holiday}},
			Notes:      []pidf.Note{{Lang: "en", Text: "back on Monday"}},
		}},
	}
	fmt.Printf("%+v\n", doc.Summary())
	// Output: {Basic:closed Activities:[holiday] Note:back on Monday DisplayName:}
}
