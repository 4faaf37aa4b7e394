package interop

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/transaction"
	"github.com/sipua-go/sipua/sip/ua"
)

// kamailioProc is one Kamailio process that a test can stop by its PID
// and start again on the same port.
type kamailioProc struct {
	*kamailio
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
	once sync.Once
}

// kamailioDB creates the sqlite database (subscribers alice and bob).
func kamailioDB(t *testing.T, dir string) string {
	t.Helper()
	need(t, "sqlite3", "sqlite3")
	db := filepath.Join(dir, "kamailio.sqlite")
	var schema bytes.Buffer
	for _, f := range []string{"standard-create.sql", "auth_db-create.sql"} {
		b, err := os.ReadFile(filepath.Join("/usr/share/kamailio/db_sqlite", f))
		if err != nil && os.Getenv("CI") == "true" {
			t.Fatalf("kamailio sqlite schema missing (Debian package kamailio-sqlite-modules): %v", err)
		} else if err != nil {
			t.Skipf("kamailio sqlite schema missing (apt-get install kamailio-sqlite-modules): %v", err)
		}
		schema.Write(b)
	}
	schema.WriteString("INSERT INTO subscriber (username, domain, password) VALUES ('alice','example.test','alice123'),('bob','example.test','bob123');\n")
	sq := exec.Command("sqlite3", db)
	sq.Stdin = &schema
	out, err := sq.CombinedOutput()
	require.NoError(t, err, "sqlite3: %s", out)
	return db
}

// runKamailio starts Kamailio with a configuration of ./kamailio on port.
func runKamailio(t *testing.T, cfgName string, port int) *kamailioProc {
	t.Helper()
	bin := need(t, "kamailio", "kamailio")
	dir := t.TempDir()
	db := kamailioDB(t, dir)
	k := &kamailioProc{kamailio: &kamailio{port: port, ctl: "unix:" + filepath.Join(dir, "ctl"), log: &lockedBuffer{}},
		dir: dir, done: make(chan struct{})}
	cfg, _ := filepath.Abs(filepath.Join("kamailio", cfgName))
	k.cmd = exec.Command(bin, "-f", cfg, "-DD", "-E", "-P", filepath.Join(dir, "pid"), "-Y", dir,
		"-A", "SIP_PORT="+strconv.Itoa(port),
		"-A", `DBURL="sqlite://`+db+`"`,
		"-A", `CTL_SOCK="`+k.ctl+`"`)
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
	return k
}

// stop ends Kamailio by the PID in its pid file (SIGTERM, then SIGKILL
// for the whole process group after 10 s) and waits for it.
func (k *kamailioProc) stop(t *testing.T) {
	k.once.Do(func() {
		pid := k.cmd.Process.Pid
		if b, err := os.ReadFile(filepath.Join(k.dir, "pid")); err == nil {
			if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				pid = p
			}
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-k.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
			<-k.done
		}
		_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL) // children left behind, if any
	})
}

func (k *kamailioProc) addr() string { return "127.0.0.1:" + strconv.Itoa(k.port) }

// ulDump returns kamcmd ul.dump's output.
func (k *kamailioProc) ulDump(t *testing.T) string {
	t.Helper()
	kamcmd := need(t, "kamcmd", "kamailio")
	out, err := exec.Command(kamcmd, "-s", k.ctl, "ul.dump").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// A UserEndpoint registers with digest; the binding is in Kamailio's
// location table with the interval asked; a query returns it; Terminate
// removes it.
func TestKamailioUserEndpointRegister(t *testing.T) {
	k := runKamailio(t, "registrar.cfg", freeUDPPort(t))
	u, err := ua.New(ua.Config{})
	require.NoError(t, err)
	defer u.Close(context.Background())
	k.waitReady(t, u)

	var mu sync.Mutex
	var events []ua.Event
	e, err := ua.NewUserEndpoint(u, ua.UserEndpointConfig{AOR: `"Alice" <sip:alice@example.test>`,
		Credentials: auth.Credentials{Password: "alice123"}, Registrars: []string{k.addr()}, Expires: 600 * time.Second,
		OnEvent: func(ev ua.Event) { mu.Lock(); events = append(events, ev); mu.Unlock() }})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, e.Establish(ctx))
	contact := "sip:alice@" + u.Addrs()[0].AddrPort.String()
	dump := k.ulDump(t)
	assert.Contains(t, dump, "alice")
	assert.Contains(t, dump, contact)
	assert.Regexp(t, `Expires: (59\d|600)\b`, dump, "an expiry near the 600 s asked")

	bs, err := e.Bindings(ctx)
	require.NoError(t, err)
	require.Len(t, bs, 1)
	assert.Equal(t, contact, bs[0].URI.String())

	require.NoError(t, e.Terminate(ctx))
	assert.NotContains(t, k.ulDump(t), contact, "Terminate removed the binding")
	mu.Lock()
	defer mu.Unlock()
	var regStates []ua.RegistrationState
	for _, ev := range events {
		if r, ok := ev.(*ua.RegistrationStateChanged); ok {
			regStates = append(regStates, r.State)
		}
	}
	assert.Equal(t, []ua.RegistrationState{ua.Registering, ua.Registered, ua.Unregistering, ua.Unregistered}, regStates)
}

// Two Kamailio proxies: alice registers at the primary; the primary is
// stopped by its PID; a request from alice times out there and fails over
// to the alternate, where alice registers and is reachable (bob's MESSAGE
// routed by the alternate reaches her); the primary starts again and the
// interval probe falls back to it.
func TestKamailioFailoverAndFallback(t *testing.T) {
	p1, p2 := freeUDPPort(t), freeUDPPort(t)
	k1 := runKamailio(t, "proxy.cfg", p1)
	k2 := runKamailio(t, "proxy.cfg", p2)

	bob, err := ua.New(ua.Config{Timers: transaction.Config{T1: 50 * time.Millisecond}})
	require.NoError(t, err)
	defer bob.Close(context.Background())
	k1.waitReady(t, bob)
	k2.waitReady(t, bob)

	// Timer F is 64·T1 = 3.2 s, so that a dead proxy is noticed quickly.
	alice, err := ua.New(ua.Config{Timers: transaction.Config{T1: 50 * time.Millisecond}})
	require.NoError(t, err)
	defer alice.Close(context.Background())
	got := make(chan string, 10)
	alice.HandleFunc("MESSAGE", func(w ua.ResponseWriter, r *ua.Request) {
		got <- string(r.Body())
		_ = w.Respond(w.NewResponse(200, ""))
	})
	events := make(chan ua.Event, 100)
	e, err := ua.NewUserEndpoint(alice, ua.UserEndpointConfig{AOR: "sip:alice@example.test",
		Credentials: auth.Credentials{Password: "alice123"}, Registrars: []string{k1.addr(), k2.addr()},
		Expires:  60 * time.Second,
		Failover: ua.FailoverConfig{Fallback: ua.FallbackInterval, FallbackInterval: 2 * time.Second},
		OnEvent:  func(ev ua.Event) { events <- ev }})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, e.Establish(ctx))
	contact := "sip:alice@" + alice.Addrs()[0].AddrPort.String()
	assert.Contains(t, k1.ulDump(t), contact)
	assert.NotContains(t, k2.ulDump(t), contact)

	sendVia := func(k *kamailioProc, text string) {
		t.Helper()
		req := sip.NewRequest(sip.MethodMessage, sip.URI{Scheme: "sip", User: "alice", Host: "example.test"})
		req.Set("From", "<sip:bob@example.test>")
		req.Set("Content-Type", "text/plain")
		req.SetBody([]byte(text))
		res, err := bob.Do(ctx, req, k.target())
		require.NoError(t, err, "MESSAGE via :%d", k.port)
		assert.Equal(t, 200, res.StatusCode)
		select {
		case body := <-got:
			assert.Equal(t, text, body)
		case <-time.After(5 * time.Second):
			t.Fatalf("MESSAGE via :%d did not reach alice", k.port)
		}
	}
	waitEvent := func(what string, ok func(ua.Event) bool) ua.Event {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case ev := <-events:
				t.Logf("event %T %+v", ev, ev)
				if ok(ev) {
					return ev
				}
			case <-deadline:
				t.Fatalf("no %s", what)
			}
		}
	}
	sendVia(k1, "via the primary")

	k1.stop(t) // by its PID
	opt := sip.NewRequest(sip.MethodOptions, sip.URI{Scheme: "sip", Host: "example.test"})
	res, err := e.Do(ctx, opt)
	require.NoError(t, err, "the OPTIONS failed over to the alternate")
	assert.Equal(t, 200, res.StatusCode)
	fo := waitEvent("FailedOver", func(ev ua.Event) bool { _, ok := ev.(*ua.FailedOver); return ok }).(*ua.FailedOver)
	assert.Equal(t, k1.addr(), fo.From.AddrPort.String())
	assert.Equal(t, k2.addr(), fo.To.AddrPort.String())
	var fe *ua.FailoverError
	require.ErrorAs(t, fo.Cause, &fe)
	assert.Equal(t, ua.FailoverTimeout, fe.Reason)
	waitEvent("Registered at the alternate", func(ev ua.Event) bool {
		r, ok := ev.(*ua.RegistrationStateChanged)
		return ok && r.State == ua.Registered && r.Target.AddrPort.String() == k2.addr()
	})
	assert.Contains(t, k2.ulDump(t), contact)
	sendVia(k2, "via the alternate")

	// The primary comes back on its port: the next probe falls back.
	k1 = runKamailio(t, "proxy.cfg", p1)
	k1.waitReady(t, bob)
	fb := waitEvent("FellBack", func(ev ua.Event) bool { _, ok := ev.(*ua.FellBack); return ok }).(*ua.FellBack)
	assert.Equal(t, k2.addr(), fb.From.AddrPort.String())
	assert.Equal(t, k1.addr(), fb.To.AddrPort.String())
	waitEvent("Unregistered at the alternate", func(ev ua.Event) bool {
		r, ok := ev.(*ua.RegistrationStateChanged)
		return ok && r.State == ua.Unregistered && r.Target.AddrPort.String() == k2.addr()
	})
	assert.Contains(t, k1.ulDump(t), contact)
	assert.NotContains(t, k2.ulDump(t), contact)
	tg, err := e.Target(ctx)
	require.NoError(t, err)
	assert.Equal(t, k1.addr(), tg.AddrPort.String())
	sendVia(k1, "via the primary again")

	require.NoError(t, e.Terminate(ctx))
	assert.NotContains(t, k1.ulDump(t), contact)
}
