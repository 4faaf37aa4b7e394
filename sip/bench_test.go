package sip

import (
	"testing"
)

// benchINVITE is the INVITE of internal/peerbench (about 1.1 KB with SDP).
var benchINVITE = []byte("INVITE sip:bob@biloxi.example.com;transport=tcp SIP/2.0\r\n" +
	"Via: SIP/2.0/TCP proxy.atlanta.example.com:5060;branch=z9hG4bK2d4790.1;received=192.0.2.101\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKnashds8;rport=5060\r\n" +
	"Max-Forwards: 69\r\n" +
	"Record-Route: <sip:proxy.atlanta.example.com;lr>\r\n" +
	"From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n" +
	"To: \"Bob\" <sip:bob@biloxi.example.com>\r\n" +
	"Call-ID: 3848276298220188511@atlanta.example.com\r\n" +
	"CSeq: 314159 INVITE\r\n" +
	"Contact: <sip:alice@192.0.2.4:5060;transport=udp>;+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"\r\n" +
	"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, REFER, NOTIFY, MESSAGE\r\n" +
	"Supported: timer, 100rel, replaces\r\n" +
	"Session-Expires: 1800\r\n" +
	"Min-SE: 90\r\n" +
	"User-Agent: sipua-bench/1.0\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 128\r\n" +
	"\r\n" +
	"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.4\r\ns=-\r\nc=IN IP4 192.0.2.4\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\na=sendrecv\r\n")

func benchRequest(b *testing.B) *Request {
	m, err := ParseMessage(benchINVITE)
	if err != nil {
		b.Fatal(err)
	}
	return m.(*Request)
}

func BenchmarkParseMessage(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchINVITE)))
	for i := 0; i < b.N; i++ {
		if _, err := ParseMessage(benchINVITE); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendTo(b *testing.B) {
	req := benchRequest(b)
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = req.AppendTo(buf[:0])
	}
}

func BenchmarkNewResponse(b *testing.B) {
	req := benchRequest(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		res := NewResponse(req, StatusOK, "")
		res.Add("Contact", "<sip:bob@192.0.2.201:5060>")
	}
}

func BenchmarkStreamParser(b *testing.B) {
	r := &repeatReader{data: benchINVITE}
	p := NewParser(r)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchINVITE)))
	for i := 0; i < b.N; i++ {
		if _, err := p.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

type repeatReader struct{ data []byte }

func (r *repeatReader) Read(p []byte) (int, error) { return copy(p, r.data), nil }

func BenchmarkParseURI(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ParseURI("sip:alice:secret@[2001:db8::10]:5061;transport=tls;lr?subject=x"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAddress(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ParseAddress(`"Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl`); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHeaderLookups(b *testing.B) {
	req := benchRequest(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		v, _ := req.TopVia()
		if v.Branch() == "" || req.From().Tag() == "" || !req.HasToken("Supported", "timer") || req.Get("Session-Expires") == "" {
			b.Fatal("lookup failed")
		}
	}
}
