package sip_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sipua-go/sipua/sip"
)

func ExampleParseMessage() {
	data := "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n" +
		"Max-Forwards: 70\r\n" +
		"To: Bob <sip:bob@biloxi.example.com>\r\n" +
		"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n" +
		"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n" +
		"CSeq: 314159 INVITE\r\n" +
		"Contact: <sip:alice@pc33.atlanta.example.com>\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Content-Length: 4\r\n" +
		"\r\n" +
		"v=0\n"
	m, err := sip.ParseMessage([]byte(data))
	if err != nil {
		fmt.Println(err)
		return
	}
	req := m.(*sip.Request)
	fmt.Println(req.Method, req.URI.User, req.URI.Host)
	fmt.Println("branch:", req.Via()[0].Branch())
	fmt.Println("from tag:", req.From().Tag())
	fmt.Println("cseq:", req.CSeq())
	fmt.Println("sdp:", req.ContentType().Is("application/sdp"))
	fmt.Printf("body: %q\n", req.Body())
	// Output:
	// INVITE bob biloxi.example.com
	// branch: z9hG4bK776asdhds
	// from tag: 1928301774
	// cseq: 314159 INVITE
	// sdp: true
	// body: "v=0\n"
}

func ExampleParseURI() {
	u, err := sip.ParseURI("sips:%61lice@[2001:db8::1]:5061;transport=tcp?subject=lunch%20now")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(u.Scheme, u.User, u.Host, u.Port)
	fmt.Println(u.HostPort())
	fmt.Println(u.Params.Value("transport"))
	fmt.Println(u)

	tel, _ := sip.ParseURI("tel:+1-201-555-0123;phone-context=example.com")
	fmt.Println(tel.Scheme, tel.User, tel.Params.Value("phone-context"))

	_, err = sip.ParseURI("sip:alice@example.com:65536")
	fmt.Println(err)
	// Output:
	// sips alice 2001:db8::1 5061
	// [2001:db8::1]:5061
	// tcp
	// sips:alice@[2001:db8::1]:5061;transport=tcp?subject=lunch%20now
	// tel +1-201-555-0123 example.com
	// sip: bad port
}

func ExampleNewResponse() {
	req, err := sip.ParseMessage([]byte("OPTIONS sip:bob@biloxi.example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\r\n" +
		"Max-Forwards: 70\r\n" +
		"To: <sip:bob@biloxi.example.com>\r\n" +
		"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n" +
		"Call-ID: a84b4c76e66710\r\n" +
		"CSeq: 63104 OPTIONS\r\n" +
		"Accept: application/sdp\r\n" +
		"Content-Length: 0\r\n\r\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	res := sip.NewResponse(req.(*sip.Request), sip.StatusOK, "")
	res.Set("To", res.Get("To")+";tag=93810874")
	res.Add("Allow", "INVITE, ACK, CANCEL, OPTIONS, BYE")
	fmt.Print(strings.ReplaceAll(res.String(), "\r\n", "\n"))
	// Output:
	// SIP/2.0 200 OK
	// Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877
	// To: <sip:bob@biloxi.example.com>;tag=93810874
	// From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
	// Call-ID: a84b4c76e66710
	// CSeq: 63104 OPTIONS
	// Allow: INVITE, ACK, CANCEL, OPTIONS, BYE
	// Content-Length: 0
}

func ExampleParser() {
	stream := "REGISTER sip:registrar.example.com SIP/2.0\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n" +
		"\r\n\r\n" + // RFC 5626 keep-alive ping
		"MESSAGE sip:bob@example.com SIP/2.0\r\nCSeq: 2 MESSAGE\r\nl: 5\r\n\r\nhello" +
		"OPTIONS sip:bob@example.com SIP/2.0\r\nCSeq: 3 OPTIONS\r\n\r\n" // no Content-Length
	p := sip.NewParser(strings.NewReader(stream))
	for {
		m, err := p.ReadMessage()
		switch {
		case errors.Is(err, sip.ErrPing):
			fmt.Println("ping: answer with CRLF")
			continue
		case err == io.EOF:
			fmt.Println("end of stream")
			return
		case errors.Is(err, sip.ErrContentLength):
			fmt.Println("framing error, close the connection:", err)
			return
		case err != nil:
			fmt.Println("bad message:", err)
			continue
		}
		fmt.Printf("%s (%q)\n", m.StartLine(), m.Body())
	}
	// Output:
	// REGISTER sip:registrar.example.com SIP/2.0 ("")
	// ping: answer with CRLF
	// MESSAGE sip:bob@example.com SIP/2.0 ("hello")
	// framing error, close the connection: sip: Content-Length missing on a stream transport in Content-Length header at offset 54
}

func ExampleParams_Get() {
	a, err := sip.ParseAddress(`<sip:alice@192.0.2.2;ob>;reg-id=1;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"`)
	if err != nil {
		fmt.Println(err)
		return
	}
	inst, ok := a.Params.Get("+sip.instance")
	fmt.Println(inst, ok)
	regID, ok := a.Params.Get("REG-ID") // names are case-insensitive
	fmt.Println(regID, ok)
	ob, ok := a.URI.Params.Get("ob") // a parameter without a value
	fmt.Printf("%q %v\n", ob, ok)
	_, ok = a.Params.Get("expires")
	fmt.Println(ok)
	// Output:
	// <urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6> true
	// 1 true
	// "" true
	// false
}

func ExampleHeader_HasToken() {
	var h sip.Header
	h.Add("Supported", "100rel, Timer;refresher=uac")
	h.Add("k", "path") // compact form of Supported
	fmt.Println(h.HasToken("Supported", "timer"))
	fmt.Println(h.HasToken("supported", "path"))
	fmt.Println(h.HasToken("Supported", "gruu"))
	fmt.Println(h.Elements("Supported"))
	// Output:
	// true
	// true
	// false
	// [100rel Timer;refresher=uac path]
}
