package interop

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/presence"
	"github.com/sipua-go/sipua/presence/pidf"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/transport"
	"github.com/sipua-go/sipua/sip/ua"
)

// presenceUsers are the subscribers of the presence Kamailio.
var presenceUsers = map[string]string{"alice": "alice123", "bob": "bob123", "carol": "carol123"}

// xcapDoc is one document for the sqlite "xcap" table that presence_xml
// (pres-rules) and rls (resource-lists, rls-services) read.
type xcapDoc struct {
	user, template string
	docType        int // 2 pres-rules, 4 resource-lists, 8 rls-services
	auid           string
}

var xmlComment = regexp.MustCompile(`(?s)<!--.*?-->\n?`)

// presenceDB creates the sqlite database of kamailio/presence.cfg: the
// standard, auth_db and presence tables, alice, bob and carol, and the
// XCAP documents made from the templates in kamailio/xcap (@USER@,
// @DOMAIN@, @ENTRIES@ replaced, comments dropped).
func presenceDB(t *testing.T, dir string, docs []xcapDoc, members []string) string {
	t.Helper()
	need(t, "sqlite3", "sqlite3")
	db := filepath.Join(dir, "kamailio.sqlite")
	var sql bytes.Buffer
	for _, f := range []string{"standard-create.sql", "auth_db-create.sql", "presence-create.sql"} {
		b, err := os.ReadFile(filepath.Join("/usr/share/kamailio/db_sqlite", f))
		if err != nil && os.Getenv("CI") == "true" {
			t.Fatalf("kamailio sqlite schema missing (Debian package kamailio-sqlite-modules): %v", err)
		} else if err != nil {
			t.Skipf("kamailio sqlite schema missing (apt-get install kamailio-sqlite-modules): %v", err)
		}
		sql.Write(b)
	}
	users := make([]string, 0, len(presenceUsers))
	for u := range presenceUsers {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		fmt.Fprintf(&sql, "INSERT INTO subscriber (username, domain, password) VALUES ('%s', 'example.test', '%s');\n", u, presenceUsers[u])
	}
	var entries strings.Builder
	for i, m := range members {
		if i > 0 {
			entries.WriteString("\n")
		}
		fmt.Fprintf(&entries, "    <entry uri=%q/>", m)
	}
	for _, d := range docs {
		b, err := os.ReadFile(filepath.Join("kamailio", "xcap", d.template))
		require.NoError(t, err)
		doc := xmlComment.ReplaceAllString(string(b), "")
		doc = strings.NewReplacer("@USER@", d.user, "@DOMAIN@", "example.test", "@ENTRIES@", entries.String()).Replace(doc)
		fmt.Fprintf(&sql, "INSERT INTO xcap (username, domain, doc, doc_type, etag, source, doc_uri, port) VALUES ('%s', 'example.test', '%s', %d, 'sipua-%s-%d', 0, '/xcap-root/%s/users/sip:%s@example.test/index', 0);\n",
			d.user, strings.ReplaceAll(doc, "'", "''"), d.docType, d.user, d.docType, d.auid, d.user)
	}
	sql.WriteString("PRAGMA journal_mode=WAL;\n")
	sq := exec.Command("sqlite3", db)
	sq.Stdin = &sql
	out, err := sq.CombinedOutput()
	require.NoError(t, err, "sqlite3: %s", out)
	return db
}

// runPresenceKamailio starts kamailio/presence.cfg on a free port of
// 127.0.0.1, with the RLS (rls + pua, tables in db_text) when rls is set.
func runPresenceKamailio(t *testing.T, rls bool, docs []xcapDoc, members []string) *kamailioProc {
	t.Helper()
	bin := need(t, "kamailio", "kamailio")
	for _, m := range []string{"presence", "presence_xml", "rls", "pua"} {
		if found, _ := filepath.Glob("/usr/lib/*/kamailio/modules/" + m + ".so"); len(found) == 0 {
			if os.Getenv("CI") == "true" {
				t.Fatalf("kamailio module %s missing (Debian package kamailio-presence-modules)", m)
			}
			t.Skipf("kamailio module %s missing (apt-get install kamailio-presence-modules)", m)
		}
	}
	dir := t.TempDir()
	db := presenceDB(t, dir, docs, members)
	port := freeUDPPort(t)
	k := &kamailioProc{kamailio: &kamailio{port: port, ctl: "unix:" + filepath.Join(dir, "ctl"), log: &lockedBuffer{}},
		dir: dir, done: make(chan struct{})}
	cfg, _ := filepath.Abs(filepath.Join("kamailio", "presence.cfg"))
	args := []string{"-f", cfg, "-DD", "-E", "-P", filepath.Join(dir, "pid"), "-Y", dir, "-m", "64", "-M", "8",
		"-A", "SIP_PORT=" + strconv.Itoa(port),
		"-A", `DBURL="sqlite://` + db + `"`,
		"-A", `CTL_SOCK="` + k.ctl + `"`,
		"-A", `SERVER_ADDR="sip:127.0.0.1:` + strconv.Itoa(port) + `"`}
	if rls {
		// rls and pua tables in db_text: empty tables with the headers
		// of Debian's dbtext schema
		text := filepath.Join(dir, "dbtext")
		require.NoError(t, os.MkdirAll(text, 0o755))
		src := "/usr/share/kamailio/dbtext/kamailio"
		version, err := os.ReadFile(filepath.Join(src, "version"))
		require.NoError(t, err)
		head, _, _ := strings.Cut(string(version), "\n")
		require.NoError(t, os.WriteFile(filepath.Join(text, "version"),
			[]byte(head+"\n1:rls_watchers:3\n2:rls_presentity:1\n3:pua:7\n"), 0o644))
		for _, tbl := range []string{"rls_watchers", "rls_presentity", "pua"} {
			b, err := os.ReadFile(filepath.Join(src, tbl))
			require.NoError(t, err)
			h, _, _ := strings.Cut(string(b), "\n")
			require.NoError(t, os.WriteFile(filepath.Join(text, tbl), []byte(h+"\n"), 0o644))
		}
		args = append(args, "-A", "WITH_RLS",
			"-A", `RLS_ADDR="sip:rls@127.0.0.1:`+strconv.Itoa(port)+`"`,
			"-A", `DBTEXTURL="text://`+text+`"`)
	}
	k.cmd = exec.Command(bin, args...)
	k.cmd.Stdout, k.cmd.Stderr = k.log, k.log
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, k.cmd.Start())
	go func() { _ = k.cmd.Wait(); close(k.done) }()
	t.Cleanup(func() {
		k.stop(t)
		if t.Failed() {
			t.Logf("kamailio :%d log:\n%s", port, k.log.String())
		}
	})
	probe, err := ua.New(ua.Config{})
	require.NoError(t, err)
	defer probe.Close(context.Background())
	k.waitReady(t, probe)
	return k
}

// sqlite runs one query on the Kamailio database.
func (k *kamailioProc) sqlite(t *testing.T, query string) string {
	t.Helper()
	out, err := exec.Command("sqlite3", filepath.Join(k.dir, "kamailio.sqlite"), query).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return strings.TrimSpace(string(out))
}

// wire records the SIP messages one UA sent and received.
type wire struct {
	mu   sync.Mutex
	msgs []wireMsg
}

type wireMsg struct {
	sent bool
	msg  sip.Message
}

func (w *wire) trace() *transport.Trace {
	rec := func(sent bool) func(transport.Event) {
		return func(e transport.Event) {
			m, err := sip.ParseMessage(bytes.Clone(e.Data))
			if err != nil {
				return
			}
			w.mu.Lock()
			w.msgs = append(w.msgs, wireMsg{sent: sent, msg: m})
			w.mu.Unlock()
		}
	}
	return &transport.Trace{Sent: rec(true), Received: rec(false)}
}

// requests returns the requests of a method sent (or received).
func (w *wire) requests(method string, sent bool) []*sip.Request {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*sip.Request
	for _, m := range w.msgs {
		if r, ok := m.msg.(*sip.Request); ok && m.sent == sent && r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// responses returns the final responses received to requests of method.
func (w *wire) responses(method string) []*sip.Response {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*sip.Response
	for _, m := range w.msgs {
		if r, ok := m.msg.(*sip.Response); ok && !m.sent && r.CSeq().Method == method && r.StatusCode >= 200 {
			out = append(out, r)
		}
	}
	return out
}

// presenceEndpoint is a sipua user of the presence Kamailio: a UA with a
// UserEndpoint whose outbound proxy is Kamailio (no REGISTER needed).
func presenceEndpoint(t *testing.T, k *kamailioProc, user string) (*ua.UA, *ua.UserEndpoint, *wire) {
	t.Helper()
	w := &wire{}
	u, err := ua.New(ua.Config{UserAgent: "sipua-interop-" + user, Trace: w.trace()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = u.Close(context.Background()) })
	e, err := ua.NewUserEndpoint(u, ua.UserEndpointConfig{AOR: "sip:" + user + "@example.test",
		Credentials: auth.Credentials{Password: presenceUsers[user]}, Registrars: []string{k.addr()}})
	require.NoError(t, err)
	return u, e, w
}

// waitFor reads events until ok accepts one, at most d.
func waitFor[T any](t *testing.T, ch <-chan T, d time.Duration, what string, ok func(T) bool) T {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-ch:
			if ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s within %v", what, d)
		}
	}
}

func pidfBody(t *testing.T, doc *pidf.Document) presence.Body {
	t.Helper()
	b, err := doc.Marshal()
	require.NoError(t, err)
	return presence.Body{ContentType: pidf.ContentType, Data: b}
}

func hasActivity(s pidf.Summary, a pidf.Activity) bool {
	for _, x := range s.Activities {
		if x == a {
			return true
		}
	}
	return false
}

// alice publishes through Kamailio's presence server (presence +
// presence_xml, sqlite) with a presence.Publication on a UserEndpoint,
// answering the 407: initial (no SIP-If-Match, a body), refresh (the
// entity-tag of the initial 200, no body; Kamailio answers with a NEW
// entity-tag), modify (SIP-If-Match = that new entity-tag, the full body)
// and remove (Expires: 0). Bob's Watcher sees open, on-the-phone and then
// the state Kamailio sends after the removal. Carol, whom alice's
// pres-rules block, is refused: Kamailio accepts her SUBSCRIBE and at
// once terminates it with reason rejected.
func TestKamailioPresencePublishAndWatch(t *testing.T) {
	k := runPresenceKamailio(t, false, []xcapDoc{
		{"alice", "pres-rules-block-carol.xml", 2, "pres-rules"},
		{"bob", "pres-rules.xml", 2, "pres-rules"},
		{"carol", "pres-rules.xml", 2, "pres-rules"},
	}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	aliceUA, alice, aliceWire := presenceEndpoint(t, k, "alice")
	bobUA, bob, bobWire := presenceEndpoint(t, k, "bob")
	aliceURI := alice.Address().URI

	// Bob watches alice before she publishes anything.
	seen := make(chan presence.ContactEvent, 64)
	watcher, err := presence.NewWatcher(presence.WatcherConfig{UA: bobUA, Sender: bob, Expires: 120 * time.Second,
		OnEvent: func(ev presence.ContactEvent) {
			t.Logf("bob sees %s: %s %+v reason=%q", ev.URI, ev.State, ev.Presence, ev.Reason)
			seen <- ev
		}})
	require.NoError(t, err)
	defer watcher.Close(context.Background())
	require.NoError(t, watcher.Add(ctx, aliceURI))
	waitFor(t, seen, 10*time.Second, "active subscription to alice", func(ev presence.ContactEvent) bool {
		return ev.State == presence.Active
	})

	// alice publishes; the first refresh comes 1 s after the initial 200,
	// later ones after Kamailio's granted 600 s as usual.
	pubEvents := make(chan presence.PublicationEvent, 64)
	var refreshes sync.Mutex
	first := true
	pub, err := presence.NewPublication(presence.PublicationConfig{UA: aliceUA, Sender: alice, Resource: aliceURI,
		Expires: 600 * time.Second,
		RefreshAfter: func(granted time.Duration) time.Duration {
			refreshes.Lock()
			defer refreshes.Unlock()
			if first {
				first = false
				return time.Second
			}
			return presence.DefaultRefreshAfter(granted)
		},
		OnEvent: func(ev presence.PublicationEvent) { t.Logf("alice publication: %+v", ev); pubEvents <- ev }})
	require.NoError(t, err)

	require.NoError(t, pub.Publish(ctx, pidfBody(t, pidf.New(aliceURI.String()).Open().DisplayName("Alice").Note("available"))))
	assert.Equal(t, presence.Published, pub.State())
	etag1 := pub.ETag()
	require.NotEmpty(t, etag1)
	assert.Regexp(t, `^a\.\d+\.\d+\.\d+\.\d+$`, etag1, "Kamailio's entity-tag format")
	assert.WithinDuration(t, time.Now().Add(600*time.Second), pub.ExpiresAt(), 5*time.Second)
	waitFor(t, seen, 10*time.Second, "alice open", func(ev presence.ContactEvent) bool {
		return ev.Presence.Basic == pidf.Open && ev.Presence.Note == "available"
	})

	// The refresh.
	waitFor(t, pubEvents, 10*time.Second, "refresh answered", func(ev presence.PublicationEvent) bool {
		sc, ok := ev.(presence.PublicationStateChanged)
		return ok && sc.From == presence.Refreshing && sc.To == presence.Published
	})
	etag2 := pub.ETag()
	assert.NotEqual(t, etag1, etag2, "Kamailio replaces the entity-tag on a refresh")
	assert.Equal(t, etag2, k.sqlite(t, "SELECT etag FROM presentity WHERE username='alice'"), "the presentity row holds the new entity-tag")

	// The modify carries the NEW entity-tag.
	require.NoError(t, pub.Publish(ctx, pidfBody(t, pidf.New(aliceURI.String()).Open().DisplayName("Alice").
		Activity(pidf.OnThePhone).Note("in a call"))))
	etag3 := pub.ETag()
	ev := waitFor(t, seen, 10*time.Second, "alice on the phone", func(ev presence.ContactEvent) bool {
		return hasActivity(ev.Presence, pidf.OnThePhone)
	})
	assert.Equal(t, pidf.Open, ev.Presence.Basic)
	assert.Equal(t, "in a call", ev.Presence.Note)

	// The remove.
	require.NoError(t, pub.Remove(ctx))
	assert.Equal(t, presence.Removed, pub.State())
	// Kamailio deletes the presentity row once the NOTIFYs are out,
	// possibly after the 200.
	assert.Eventually(t, func() bool { return k.sqlite(t, "SELECT etag FROM presentity WHERE username='alice'") == "" },
		5*time.Second, 100*time.Millisecond, "the publication is gone from the presentity table")
	after := waitFor(t, seen, 10*time.Second, "alice's state after the removal", func(ev presence.ContactEvent) bool {
		return ev.Presence.Basic == pidf.Closed || ev.State == presence.Terminated
	})
	t.Logf("after the removal bob sees: state %s, basic %q, body %q", after.State, after.Presence.Basic, after.Body)
	assert.Equal(t, presence.Active, after.State, "the subscription stays active")
	assert.Equal(t, pidf.Closed, after.Presence.Basic, "Kamailio sends a closed PIDF for a removed publication")

	// On the wire: the four PUBLISHes that Kamailio accepted (the first
	// one was challenged with 407; the endpoint then sends the
	// credentials with every PUBLISH, and Kamailio accepts them).
	challenged := map[uint32]bool{}
	var codes []int
	var etags []string
	for _, r := range aliceWire.responses(sip.MethodPublish) {
		codes = append(codes, r.StatusCode)
		if r.StatusCode == 407 {
			challenged[r.CSeq().Seq] = true
		}
		if r.StatusCode == 200 {
			etags = append(etags, r.Get("SIP-ETag"))
		}
	}
	assert.Equal(t, []int{407, 200, 200, 200, 200}, codes)
	var pubs []*sip.Request
	for _, r := range aliceWire.requests(sip.MethodPublish, true) {
		if !challenged[r.CSeq().Seq] {
			pubs = append(pubs, r)
		}
	}
	require.Len(t, pubs, 4, "initial, refresh, modify, remove")
	initial, refresh, modify, remove := pubs[0], pubs[1], pubs[2], pubs[3]
	assert.Empty(t, initial.Get("SIP-If-Match"))
	assert.Equal(t, "600", initial.Get("Expires"))
	assert.Contains(t, string(initial.Body()), "<basic>open</basic>")
	assert.Equal(t, etag1, refresh.Get("SIP-If-Match"))
	assert.Empty(t, refresh.Body(), "a refresh has no body")
	assert.Empty(t, refresh.Get("Content-Type"), "nor a Content-Type")
	assert.Equal(t, etag2, modify.Get("SIP-If-Match"), "the modify uses the entity-tag of the refresh's 200")
	assert.Contains(t, string(modify.Body()), "on-the-phone")
	assert.Equal(t, etag3, remove.Get("SIP-If-Match"))
	assert.Equal(t, "0", remove.Get("Expires"))
	assert.Empty(t, remove.Body())
	require.Len(t, etags, 4)
	assert.Equal(t, []string{etag1, etag2, etag3}, etags[:3], "each 2xx's entity-tag was kept and used next")
	t.Logf("entity-tags: initial %s, refresh %s, modify %s, remove %s", etag1, etag2, etag3, etags[3])

	// NOTIFYs bob got, for the record.
	for _, n := range bobWire.requests(sip.MethodNotify, false) {
		t.Logf("NOTIFY to bob: %s, %s, %d bytes", n.Get("Subscription-State"), n.Get("Content-Type"), len(n.Body()))
	}

	// Carol is refused by alice's pres-rules.
	carolUA, carol, carolWire := presenceEndpoint(t, k, "carol")
	states := make(chan presence.SubscriptionStateChanged, 16)
	sub, err := presence.NewSubscription(presence.SubscriptionConfig{UA: carolUA, Sender: carol, Resource: aliceURI,
		Expires: 120 * time.Second,
		OnEvent: func(ev presence.SubscriptionEvent) {
			if sc, ok := ev.(presence.SubscriptionStateChanged); ok {
				states <- sc
			}
		}})
	require.NoError(t, err)
	defer sub.Close(context.Background())
	start := time.Now()
	// Kamailio answers 200 and sends the terminating NOTIFY right away, so
	// Subscribe may already return that termination as its outcome.
	if err := sub.Subscribe(ctx); err != nil {
		var se *presence.SubscriptionError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "rejected", se.Reason)
	}
	select {
	case <-sub.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("carol's subscription is %s, not terminated", sub.State())
	}
	t.Logf("carol's subscription terminated after %v: %v", time.Since(start), sub.Err())
	require.NotNil(t, sub.Err())
	assert.Equal(t, "rejected", sub.Err().Reason)
	assert.Zero(t, sub.Err().StatusCode)
	sc := waitFor(t, states, time.Second, "Terminated event", func(sc presence.SubscriptionStateChanged) bool {
		return sc.To == presence.Terminated
	})
	assert.Equal(t, "rejected", sc.Cause.Reason)
	res := carolWire.responses(sip.MethodSubscribe)
	require.NotEmpty(t, res)
	assert.Equal(t, 200, res[len(res)-1].StatusCode, "Kamailio answers 200, not 403")
	notifies := carolWire.requests(sip.MethodNotify, false)
	require.Len(t, notifies, 1)
	st, err := notifies[0].SubscriptionState()
	require.NoError(t, err)
	assert.Equal(t, "terminated", st.State)
	assert.Equal(t, "rejected", st.Reason)
	assert.Empty(t, notifies[0].Body())
}

// The examples against Kamailio: examples/presence-publisher publishes
// alice's state with digest, refreshes it every second (each refresh gets
// a new entity-tag), toggles the activity on SIGUSR1 and removes the
// state on SIGINT; examples/watcher, as bob, prints each of these
// changes, and as carol prints the refusal by alice's pres-rules.
func TestKamailioPresenceExamples(t *testing.T) {
	k := runPresenceKamailio(t, false, []xcapDoc{
		{"alice", "pres-rules-block-carol.xml", 2, "pres-rules"},
		{"bob", "pres-rules.xml", 2, "pres-rules"},
		{"carol", "pres-rules.xml", 2, "pres-rules"},
	}, nil)
	publisher := buildExample(t, "presence-publisher")
	watcher := buildExample(t, "watcher")

	bobCmd, bobLines, bobOut := startExample(t, watcher, "-server", k.addr(), "-user", "sip:bob@example.test",
		"-password", "bob123", "-watch", "sip:alice@example.test,sip:carol@example.test", "-duration", "40s")
	waitLine(t, bobLines, "sip:alice@example.test: active")
	carolCmd, carolLines, carolOut := startExample(t, watcher, "-server", k.addr(), "-user", "sip:carol@example.test",
		"-password", "carol123", "-watch", "sip:alice@example.test", "-duration", "40s")
	waitLine(t, carolLines, "sip:alice@example.test: terminated reason=rejected")

	pubCmd, pubLines, pubOut := startExample(t, publisher, "-server", k.addr(), "-user", "sip:alice@example.test",
		"-password", "alice123", "-activity", "on-the-phone", "-note", "in a call", "-expires", "600", "-refresh", "1s")
	waitLine(t, pubLines, `published open, on-the-phone ("in a call") etag=a.`)
	waitLine(t, bobLines, `sip:alice@example.test: active, open, on-the-phone ("in a call")`)
	waitLine(t, pubLines, "refreshed etag=a.")
	waitLine(t, pubLines, "refreshed etag=a.")

	require.NoError(t, pubCmd.Process.Signal(syscall.SIGUSR1))
	waitLine(t, pubLines, `modified open ("available") etag=a.`)
	waitLine(t, bobLines, `sip:alice@example.test: active, open ("available")`)

	require.NoError(t, pubCmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, pubCmd.Wait(), "the publisher exits 0")
	waitLine(t, bobLines, "sip:alice@example.test: active, closed")
	require.NoError(t, bobCmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, carolCmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, bobCmd.Wait())
	require.NoError(t, carolCmd.Wait())

	pubText := pubOut()
	t.Logf("publisher:\n%s", pubText)
	t.Logf("bob's watcher:\n%s", bobOut())
	t.Logf("carol's watcher:\n%s", carolOut())
	etags := regexp.MustCompile(`etag=(\S+)`).FindAllStringSubmatch(pubText, -1)
	require.GreaterOrEqual(t, len(etags), 4)
	for i := 1; i < len(etags); i++ {
		assert.NotEqual(t, etags[i-1][1], etags[i][1], "Kamailio gave every 2xx a new entity-tag")
	}
	assert.Contains(t, pubText, "\nremoved\n")
	assert.Empty(t, k.sqlite(t, "SELECT etag FROM presentity WHERE username='alice'"))
}
