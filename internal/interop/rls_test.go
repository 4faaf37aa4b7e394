package interop

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/presence"
	"github.com/sipua-go/sipua/presence/pidf"
	"github.com/sipua-go/sipua/presence/rlmi"
	"github.com/sipua-go/sipua/sip"
)

// The members of every user's list sip:buddies@example.test, in the
// descending order that Kamailio 5.6's rls needs with db_text (see
// kamailio/xcap/resource-lists.xml): dave blocks every watcher but alice,
// erin has no pres-rules (pending), the others allow the domain.
var buddies = []string{"sip:erin@example.test", "sip:dave@example.test", "sip:carol@example.test",
	"sip:bob@example.test", "sip:alice@example.test"}

const buddiesList = "sip:buddies@example.test"

// runRLSKamailio starts kamailio/presence.cfg in its WITH_RLS mode with
// the XCAP documents of ../shared/interop's RLS mode.
func runRLSKamailio(t *testing.T) *kamailioProc {
	t.Helper()
	var docs []xcapDoc
	for _, u := range []string{"alice", "bob", "carol"} {
		docs = append(docs,
			xcapDoc{u, "pres-rules.xml", 2, "pres-rules"},
			xcapDoc{u, "resource-lists.xml", 4, "resource-lists"},
			xcapDoc{u, "rls-services.xml", 8, "rls-services"})
	}
	docs = append(docs, xcapDoc{"dave", "pres-rules-dave.xml", 2, "pres-rules"})
	return runPresenceKamailio(t, true, docs, buddies)
}

// listState is a resource's state as the test compares it.
type listState struct {
	state  presence.SubscriptionState
	reason string
	basic  pidf.Basic
	note   string
}

func stateOf(t *testing.T, r presence.Resource) listState {
	s := listState{state: r.State, reason: r.Reason}
	if len(r.Body) > 0 {
		d, err := pidf.Parse(r.Body)
		if assert.NoError(t, err, "PIDF of %s: %q", r.URI, r.Body) {
			sum := d.Summary()
			s.basic, s.note = sum.Basic, sum.Note
		}
	}
	return s
}

// Bob subscribes to the resource list sip:buddies@example.test of
// Kamailio's rls (Supported: eventlist). Every member ends with its own
// state: dave terminated with reason rejected (his pres-rules block bob),
// erin pending (no pres-rules), carol and bob active with Kamailio's dummy
// PIDF, alice active with the PIDF she published. When alice publishes a
// new state, a partial NOTIFY (fullState="false") names alice only, and
// only alice's resource changes.
func TestKamailioRLSListSubscription(t *testing.T) {
	k := runRLSKamailio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	aliceUA, alice, _ := presenceEndpoint(t, k, "alice")
	aliceURI := alice.Address().URI
	pub, err := presence.NewPublication(presence.PublicationConfig{UA: aliceUA, Sender: alice, Resource: aliceURI})
	require.NoError(t, err)
	defer pub.Close(context.Background())
	require.NoError(t, pub.Publish(ctx, pidfBody(t, pidf.New(aliceURI.String()).Open().Note("at her desk"))))

	bobUA, bob, bobWire := presenceEndpoint(t, k, "bob")
	list, err := sip.ParseURI(buddiesList)
	require.NoError(t, err)
	var mu sync.Mutex
	var changes []presence.ResourceStateChanged
	changed := make(chan presence.ResourceStateChanged, 256)
	sub, err := presence.NewSubscription(presence.SubscriptionConfig{UA: bobUA, Sender: bob, Resource: list,
		EventList: true, Expires: 60 * time.Second,
		OnEvent: func(ev presence.SubscriptionEvent) {
			switch ev := ev.(type) {
			case presence.ResourceStateChanged:
				t.Logf("resource %s: %s → %s reason=%q %s %d bytes", ev.Resource.URI, ev.From, ev.Resource.State,
					ev.Resource.Reason, ev.Resource.ContentType, len(ev.Resource.Body))
				mu.Lock()
				changes = append(changes, ev)
				mu.Unlock()
				changed <- ev
			case presence.SubscriptionStateChanged:
				t.Logf("list subscription: %s → %s %v", ev.From, ev.To, ev.Cause)
			}
		}})
	require.NoError(t, err)
	defer sub.Close(context.Background())
	require.NoError(t, sub.Subscribe(ctx))

	want := map[string]listState{
		"sip:erin@example.test":  {state: presence.Pending},
		"sip:dave@example.test":  {state: presence.Terminated, reason: "rejected"},
		"sip:carol@example.test": {state: presence.Active, basic: pidf.Open, note: "Available"},
		"sip:bob@example.test":   {state: presence.Active, basic: pidf.Open, note: "Available"},
		"sip:alice@example.test": {state: presence.Active, basic: pidf.Open, note: "at her desk"},
	}
	complete := func() bool {
		for _, r := range sub.Resources() {
			if w, ok := want[r.URI]; ok && stateOf(t, r) != w {
				return false
			}
		}
		return len(sub.Resources()) == len(want)
	}
	// Kamailio's notifier usually sends the complete full state 0.05 to
	// 1 s after the 200; rarely some members follow in a partial NOTIFY.
	// A refresh always brings a complete full state (../shared/interop).
	deadline := time.Now().Add(6 * time.Second)
	for !complete() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !complete() {
		t.Logf("full state incomplete after 6 s; refreshing: %+v", sub.Resources())
		require.NoError(t, sub.Refresh())
		assert.Eventually(t, complete, 6*time.Second, 100*time.Millisecond)
	}
	assert.Equal(t, presence.Active, sub.State(), "the list subscription itself stays active")
	got := map[string]listState{}
	var order []string
	for _, r := range sub.Resources() {
		got[r.URI] = stateOf(t, r)
		order = append(order, r.URI)
	}
	assert.Equal(t, want, got)
	assert.Equal(t, buddies, order, "resources in the order of the RLMI")
	dave, _ := sub.Resource("sip:dave@example.test")
	require.NotNil(t, dave.Cause())
	assert.Equal(t, "rejected", dave.Cause().Reason)
	assert.Empty(t, dave.Body, "no state document for a refused member")
	erin, _ := sub.Resource("sip:erin@example.test")
	assert.Empty(t, erin.Body, "none for a pending one")

	// On the wire: 200 with Require: eventlist, RLMI NOTIFYs.
	res := bobWire.responses(sip.MethodSubscribe)
	require.NotEmpty(t, res)
	last := res[len(res)-1]
	assert.Equal(t, 200, last.StatusCode)
	assert.Contains(t, last.Get("Require"), "eventlist")
	notifies := bobWire.requests(sip.MethodNotify, false)
	require.GreaterOrEqual(t, len(notifies), 2)
	for _, n := range notifies {
		assert.Contains(t, n.Get("Content-Type"), "multipart/related")
		assert.Contains(t, n.Get("Content-Type"), "application/rlmi+xml")
		l := decodeRLMI(t, n)
		var rs []string
		for _, r := range l.Resources {
			for _, in := range r.Instances {
				rs = append(rs, fmt.Sprintf("%s id=%s state=%s reason=%q cid=%q", r.URI, in.ID, in.State, in.Reason, in.CID))
			}
			if len(r.Instances) == 0 {
				rs = append(rs, r.URI+" (no instance)")
			}
		}
		t.Logf("NOTIFY version=%d fullState=%v (%s):\n  %s", l.Version, l.FullState, n.Get("Subscription-State"), strings.Join(rs, "\n  "))
	}
	first := decodeRLMI(t, notifies[0])
	assert.True(t, first.FullState)
	assert.Equal(t, buddiesList, first.URI)

	// alice's new state arrives as a partial update of alice only.
	mu.Lock()
	before := len(changes)
	mu.Unlock()
	nBefore := len(notifies)
	require.NoError(t, pub.Publish(ctx, pidfBody(t, pidf.New(aliceURI.String()).Open().Activity(pidf.OnThePhone).Note("in a call"))))
	ev := waitFor(t, changed, 5*time.Second, "alice's change", func(ev presence.ResourceStateChanged) bool {
		return ev.Resource.URI == "sip:alice@example.test" && strings.Contains(string(ev.Resource.Body), "on-the-phone")
	})
	assert.Equal(t, presence.Active, ev.Resource.State)
	time.Sleep(1500 * time.Millisecond) // anything else the notifier sends for this change
	mu.Lock()
	after := append([]presence.ResourceStateChanged(nil), changes[before:]...)
	mu.Unlock()
	for _, c := range after {
		assert.Equal(t, "sip:alice@example.test", c.Resource.URI, "only alice changed")
	}
	notifies = bobWire.requests(sip.MethodNotify, false)
	require.Greater(t, len(notifies), nBefore)
	partial := decodeRLMI(t, notifies[nBefore])
	assert.False(t, partial.FullState, "a partial update")
	require.Len(t, partial.Resources, 1)
	assert.Equal(t, "sip:alice@example.test", partial.Resources[0].URI)
	assert.Greater(t, partial.Version, decodeRLMI(t, notifies[nBefore-1]).Version)
	got = map[string]listState{}
	for _, r := range sub.Resources() {
		got[r.URI] = stateOf(t, r)
	}
	want["sip:alice@example.test"] = listState{state: presence.Active, basic: pidf.Open, note: "in a call"}
	assert.Equal(t, want, got, "the other members kept their state")

	// Unsubscribe: Kamailio's rls ends the list with reason timeout.
	require.NoError(t, sub.Unsubscribe(ctx))
	assert.Equal(t, presence.Terminated, sub.State())
	notifies = bobWire.requests(sip.MethodNotify, false)
	st, err := notifies[len(notifies)-1].SubscriptionState()
	require.NoError(t, err)
	assert.Equal(t, "terminated", st.State)
	t.Logf("final NOTIFY: %s, %d bytes", notifies[len(notifies)-1].Get("Subscription-State"), len(notifies[len(notifies)-1].Body()))
}

func decodeRLMI(t *testing.T, n *sip.Request) *rlmi.List {
	t.Helper()
	d, err := rlmi.Decode(n.ContentType(), n.Body())
	require.NoError(t, err, "RLMI NOTIFY:\n%s", n)
	return d.List
}

// examples/watcher -list, as bob, against Kamailio's rls prints every
// member of sip:buddies@example.test with its own state, and the partial
// update that examples/presence-publisher, as alice, causes.
func TestKamailioRLSWatcherExample(t *testing.T) {
	k := runRLSKamailio(t)
	publisher := buildExample(t, "presence-publisher")
	watcher := buildExample(t, "watcher")

	cmd, lines, output := startExample(t, watcher, "-server", k.addr(), "-user", "sip:bob@example.test",
		"-password", "bob123", "-watch", buddiesList, "-list", "-expires", "60", "-duration", "40s")
	var out strings.Builder
	want := []string{
		buddiesList + " sip:erin@example.test: pending",
		buddiesList + " sip:dave@example.test: terminated reason=rejected",
		buddiesList + ` sip:carol@example.test: active, open ("Available")`,
		buddiesList + ` sip:bob@example.test: active, open ("Available")`,
		buddiesList + ` sip:alice@example.test: active, open ("Available")`,
	}
	seen := map[string]bool{}
	deadline := time.After(15 * time.Second)
	for len(seen) < len(want) {
		select {
		case l := <-lines:
			out.WriteString(l + "\n")
			for _, w := range want {
				if l == w {
					seen[w] = true
				}
			}
		case <-deadline:
			t.Fatalf("not every member with its state; got:\n%s", out.String())
		}
	}

	pub, pubLines, _ := startExample(t, publisher, "-server", k.addr(), "-user", "sip:alice@example.test",
		"-password", "alice123", "-activity", "on-the-phone", "-note", "in a call")
	waitLine(t, pubLines, "published open, on-the-phone")
	waitLine(t, lines, buddiesList+` sip:alice@example.test: active, open, on-the-phone ("in a call")`)
	require.NoError(t, pub.Process.Signal(syscall.SIGINT))
	require.NoError(t, pub.Wait())
	waitLine(t, lines, buddiesList+" sip:alice@example.test: active, closed")

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait())
	text := output()
	t.Logf("watcher:\n%s", text)
	assert.Contains(t, text, buddiesList+" (list): terminated")
	assert.True(t, strings.HasSuffix(text, "done\n"))
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "sip:dave@example.test") {
			assert.Equal(t, buddiesList+" sip:dave@example.test: terminated reason=rejected", l, "dave never changes")
		}
	}
}
