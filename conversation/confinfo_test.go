package conversation_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/conversation"
)

// After RFC 4575 §6.1's example (trimmed to what the roster models).
const rfc4575Full = `<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"
  entity="sips:conf233@example.com" state="full" version="1">
  <conference-description>
    <subject>Agenda: This month's goals</subject>
    <service-uris><entry><uri>http://sharepoint/salesgroup/</uri><purpose>web-page</purpose></entry></service-uris>
  </conference-description>
  <conference-state><user-count>33</user-count><active>true</active></conference-state>
  <users>
    <user entity="sip:bob@example.com" state="full">
      <display-text>Bob Hoskins</display-text>
      <endpoint entity="sip:bob@pc33.example.com">
        <display-text>Bob's Laptop</display-text>
        <status>disconnected</status>
        <disconnection-method>departed</disconnection-method>
      </endpoint>
    </user>
    <user entity="sip:alice@example.com" state="full">
      <display-text>Alice</display-text>
      <roles><entry>presenter</entry></roles>
      <endpoint entity="sip:4kfk4j392jsu@example.com;grid=433kj4j3u">
        <status>connected</status>
        <joining-method>dialed-out</joining-method>
        <media id="1"><type>audio</type><label>34567</label><status>sendrecv</status></media>
      </endpoint>
    </user>
  </users>
</conference-info>`

func TestParseConferenceInfo(t *testing.T) {
	ci, err := conversation.ParseConferenceInfo([]byte(rfc4575Full))
	require.NoError(t, err)
	assert.Equal(t, "sips:conf233@example.com", ci.Entity)
	assert.Equal(t, uint32(1), ci.Version)
	assert.Equal(t, "Agenda: This month's goals", ci.Subject)
	require.Len(t, ci.Users, 2)
	assert.Equal(t, "Bob Hoskins", ci.Users[0].DisplayText)
	assert.Equal(t, "disconnected", ci.Users[0].Endpoints[0].Status)
	assert.Equal(t, []string{"presenter"}, ci.Users[1].Roles)
	assert.Equal(t, conversation.MediaInfo{ID: "1", Type: "audio", Label: "34567", Status: "sendrecv"}, ci.Users[1].Endpoints[0].Media[0])

	b, err := ci.Marshal()
	require.NoError(t, err)
	again, err := conversation.ParseConferenceInfo(b)
	require.NoError(t, err)
	assert.Equal(t, ci, again)

	for _, bad := range []string{"", "<conference-info/>",
		`<conference-info xmlns="urn:other" entity="x" version="1"/>`,
		`<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="x"/>`,
		`<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="x" version="1" state="odd"/>`,
		`<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="x" version="1"><users><user/></users></conference-info>`} {
		_, err := conversation.ParseConferenceInfo([]byte(bad))
		assert.ErrorIs(t, err, conversation.ErrConferenceInfo, bad)
	}
}

// RFC 4575 §4.6: full documents replace the roster, partial ones merge by
// entity with version + 1; a gap or a partial first asks for the full
// state; old versions are ignored.
func TestRosterApply(t *testing.T) {
	var r conversation.Roster
	doc := func(state string, v uint32, users ...conversation.User) *conversation.ConferenceInfo {
		return &conversation.ConferenceInfo{Entity: "sip:conf@example.com", State: state, Version: v, Users: users}
	}
	bob := conversation.User{Entity: "sip:bob@example.com", DisplayText: "Bob",
		Endpoints: []conversation.Endpoint{{Entity: "sip:bob@pc", Status: "connected"}}}

	_, needFull := r.Apply(doc("partial", 1, bob))
	assert.True(t, needFull, "a partial document before any full one")

	ch, needFull := r.Apply(doc("full", 3, bob))
	assert.False(t, needFull)
	require.Len(t, ch.Added, 1)
	assert.Equal(t, uint32(3), r.Version())

	ch, _ = r.Apply(doc("full", 3, bob, conversation.User{Entity: "sip:x@example.com"}))
	assert.Empty(t, ch.Added, "a repeated version is ignored")

	carol := conversation.User{Entity: "sip:carol@example.com", State: "full",
		Endpoints: []conversation.Endpoint{{Entity: "sip:carol@pc", Status: "alerting"}}}
	ch, _ = r.Apply(doc("partial", 4, carol))
	require.Len(t, ch.Added, 1)
	p, _ := r.Participant("sip:carol@example.com")
	assert.False(t, p.Connected())

	ch, _ = r.Apply(doc("partial", 5, conversation.User{Entity: "sip:carol@example.com", State: "partial",
		Endpoints: []conversation.Endpoint{{Entity: "sip:carol@pc", State: "partial", Status: "connected"}}}))
	require.Len(t, ch.Updated, 1)
	p, _ = r.Participant("sip:carol@example.com")
	assert.True(t, p.Connected())

	_, needFull = r.Apply(doc("partial", 7, carol))
	assert.True(t, needFull, "version gap")

	ch, _ = r.Apply(doc("partial", 6, conversation.User{Entity: "sip:bob@example.com", State: "deleted"}))
	require.Len(t, ch.Removed, 1)
	assert.Len(t, r.Participants(), 1)

	ch, _ = r.Apply(doc("full", 9, bob))
	assert.Len(t, ch.Added, 1)
	assert.Len(t, ch.Removed, 1)
}

// Parse → Marshal → Parse gives the same document; nothing panics.
func FuzzParseConferenceInfo(f *testing.F) {
	f.Add([]byte(rfc4575Full))
	f.Add([]byte(`<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="x" state="partial" version="7"><users><user entity="sip:a@b" state="deleted"/></users></conference-info>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ci, err := conversation.ParseConferenceInfo(b)
		if err != nil {
			return
		}
		out, err := ci.Marshal()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := conversation.ParseConferenceInfo(out)
		if err != nil {
			t.Fatalf("reparse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(ci, again) {
			t.Fatalf("round trip changed\n%#v\n%#v", ci, again)
		}
	})
}
