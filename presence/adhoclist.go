package presence

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strconv"

	"github.com/sipua-go/sipua/sip"
)

// Namespaces of the Microsoft batch subscription body ([MS-PRES]
// §2.2.2.3, application/msrtc-adrl-categorylist+xml).
const (
	nsBatchSub     = "http://schemas.microsoft.com/2006/01/sip/batch-subscribe"
	nsCategoryList = "http://schemas.microsoft.com/2006/09/sip/categorylist"
)

// maxAdHocList bounds the members ParseAdHocList returns and the body
// size it reads.
const (
	maxAdHocMembers = 4096
	maxAdHocBody    = 1 << 20
)

// AdHocListBody builds the body of an ad hoc list ("batch") SUBSCRIBE as
// Microsoft servers expect it (Content-Type AdHocListContentType): a
// batchSub for self with one subscribe action listing the members and the
// categories asked for.
func AdHocListBody(self sip.URI, members []sip.URI, categories []string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<batchSub xmlns="` + nsBatchSub + `" uri="`)
	xmlEscape(&b, self.String())
	b.WriteString(`" name=""><action name="subscribe" id="1"><adhocList>`)
	for _, m := range members {
		b.WriteString(`<resource uri="`)
		xmlEscape(&b, m.String())
		b.WriteString(`"/>`)
	}
	b.WriteString(`</adhocList><categoryList xmlns="` + nsCategoryList + `">`)
	for _, c := range categories {
		b.WriteString(`<category name="`)
		xmlEscape(&b, c)
		b.WriteString(`"/>`)
	}
	b.WriteString(`</categoryList></action></batchSub>`)
	return b.Bytes()
}

func xmlEscape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s))
}

// ParseAdHocList returns the member URIs of an ad hoc list SUBSCRIBE body
// (the resources of every subscribe action), in order, without duplicates.
func ParseAdHocList(body []byte) ([]string, error) {
	if len(body) > maxAdHocBody {
		return nil, errors.New("presence: ad hoc list body too large")
	}
	var doc struct {
		XMLName xml.Name `xml:"batchSub"`
		Actions []struct {
			Name      string `xml:"name,attr"`
			Resources []struct {
				URI string `xml:"uri,attr"`
			} `xml:"adhocList>resource"`
		} `xml:"action"`
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	if err := d.Decode(&doc); err != nil {
		return nil, errors.New("presence: malformed ad hoc list body: " + err.Error())
	}
	seen := make(map[string]bool)
	var out []string
	for _, a := range doc.Actions {
		if a.Name != "" && a.Name != "subscribe" {
			continue
		}
		for _, r := range a.Resources {
			if r.URI == "" || seen[r.URI] {
				continue
			}
			if len(out) == maxAdHocMembers {
				return nil, errors.New("presence: ad hoc list has more than " + strconv.Itoa(maxAdHocMembers) + " members")
			}
			seen[r.URI] = true
			out = append(out, r.URI)
		}
	}
	return out, nil
}
