package interop

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
)

// need returns the path of a peer program, skipping outside CI when it is
// missing and failing under CI=true.
func need(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed in CI (Debian package %s): %v", name, pkg, err)
		}
		t.Skipf("%s not installed (apt-get install %s); the interop tests run in CI", name, pkg)
	}
	return p
}

// kamailio is a registrar started for one test, on a free port of 127.0.0.1.
type kamailio struct {
	port int
	ctl  string
	log  *lockedBuffer
}

// lockedBuffer collects a process's output while the test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startKamailio(t *testing.T) *kamailio {
	t.Helper()
	bin := need(t, "kamailio", "kamailio")
	dir := t.TempDir()
	db := kamailioDB(t, dir)

	k := &kamailio{port: freeUDPPort(t), ctl: "unix:" + filepath.Join(dir, "ctl"), log: &lockedBuffer{}}
	cfg, _ := filepath.Abs(filepath.Join("kamailio", "registrar.cfg"))
	cmd := exec.Command(bin, "-f", cfg, "-DD", "-E", "-P", filepath.Join(dir, "pid"), "-Y", dir,
		"-A", "SIP_PORT="+strconv.Itoa(k.port),
		"-A", `DBURL="sqlite://`+db+`"`,
		"-A", `CTL_SOCK="`+k.ctl+`"`)
	cmd.Stdout, cmd.Stderr = k.log, k.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("kamailio log:\n%s", k.log.String())
		}
	})
	return k
}

func (k *kamailio) target() ua.Target {
	return ua.Target{Transport: "UDP", AddrPort: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(k.port))}
}

// waitReady sends OPTIONS until the registrar answers (bounded).
func (k *kamailio) waitReady(t *testing.T, u *ua.UA) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		uri, _ := sip.ParseURI("sip:127.0.0.1:" + strconv.Itoa(k.port))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		res, err := u.Do(ctx, sip.NewRequest("OPTIONS", uri), k.target())
		cancel()
		if err == nil && res.StatusCode == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio did not answer OPTIONS: %v\n%s", err, k.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A REGISTER from ua.Do is challenged by Kamailio with digest (401,
// qop=auth), sipua answers it, and the binding is in Kamailio's location
// table.
func TestKamailioRegisterWithDigest(t *testing.T) {
	k := startKamailio(t)
	kamcmd := need(t, "kamcmd", "kamailio")
	u, err := ua.New(ua.Config{Credentials: func(realm string) (auth.Credentials, bool) {
		return auth.Credentials{Username: "alice", Password: "alice123"}, realm == "example.test"
	}})
	require.NoError(t, err)
	defer u.Close(context.Background())
	k.waitReady(t, u)

	local := u.Addrs()[0].AddrPort
	uri, _ := sip.ParseURI("sip:example.test")
	reg := sip.NewRequest("REGISTER", uri)
	reg.Set("From", "<sip:alice@example.test>")
	reg.Set("To", "<sip:alice@example.test>")
	reg.Set("Contact", "<sip:alice@"+local.String()+">")
	reg.Set("Expires", "600")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := u.Do(ctx, reg, k.target())
	require.NoError(t, err, "kamailio log:\n%s", k.log.String())
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, uint32(2), reg.CSeq().Seq, "one 401, then the authorized REGISTER")
	require.NotEmpty(t, res.Contact())
	exp, _ := res.Contact()[0].Params.Get("expires")
	assert.Equal(t, "600", exp)

	out, err := exec.Command(kamcmd, "-s", k.ctl, "ul.dump").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "alice")
	assert.Contains(t, string(out), "sip:alice@"+local.String())

	// A wrong password is refused with a typed error, not a loop.
	bad, err := ua.New(ua.Config{Credentials: func(string) (auth.Credentials, bool) {
		return auth.Credentials{Username: "alice", Password: "nope"}, true
	}})
	require.NoError(t, err)
	defer bad.Close(context.Background())
	reg2 := sip.NewRequest("REGISTER", uri)
	reg2.Set("From", "<sip:alice@example.test>")
	reg2.Set("To", "<sip:alice@example.test>")
	reg2.Set("Contact", "<sip:alice@"+bad.Addrs()[0].AddrPort.String()+">")
	_, err = bad.Do(ctx, reg2, k.target())
	var se *ua.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 401, se.StatusCode())
	assert.ErrorIs(t, err, auth.ErrAuthFailed)
}
