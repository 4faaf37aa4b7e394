package interop

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip/ua"
)

// instance is one examples/autoanswer process behind the dispatcher.
type instance struct {
	port int
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// startInstance runs autoanswer on 127.0.0.1:port until the test ends and
// waits for its "answering on" line.
func startInstance(t *testing.T, bin string, port int) *instance {
	t.Helper()
	in := &instance{port: port, out: &lockedBuffer{}, done: make(chan struct{})}
	in.cmd = exec.Command(bin, "-listen", "127.0.0.1:"+strconv.Itoa(port))
	in.cmd.Stdout, in.cmd.Stderr = in.out, in.out
	require.NoError(t, in.cmd.Start())
	go func() { _ = in.cmd.Wait(); close(in.done) }()
	t.Cleanup(func() {
		in.kill()
		if t.Failed() {
			t.Logf("autoanswer :%d output:\n%s", port, in.out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(in.out.String(), "answering on") {
		select {
		case <-in.done:
			t.Fatalf("autoanswer :%d exited:\n%s", port, in.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("autoanswer :%d did not start:\n%s", port, in.out.String())
		}
	}
	return in
}

// answered counts the INVITEs the instance has answered so far.
func (in *instance) answered() int { return strings.Count(in.out.String(), ": INVITE from ") }

// kill ends the instance at once (SIGKILL): no BYE, no goodbye, as when
// a machine dies.
func (in *instance) kill() {
	_ = in.cmd.Process.Kill()
	<-in.done
}

// interrupt stops the instance as an operator would (SIGINT: every
// session ends with BYE) and returns its output.
func (in *instance) interrupt(t *testing.T) string {
	t.Helper()
	require.NoError(t, in.cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-in.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("autoanswer :%d did not stop", in.port)
	}
	return in.out.String()
}

// startDispatcher runs Kamailio with kamailio/dispatcher.cfg on a free
// port, with the instances as dispatcher set 1.
func startDispatcher(t *testing.T, instances ...*instance) *kamailioProc {
	t.Helper()
	bin := need(t, "kamailio", "kamailio")
	dir := t.TempDir()
	var list strings.Builder
	for _, in := range instances {
		fmt.Fprintf(&list, "1 sip:127.0.0.1:%d 0 0\n", in.port)
	}
	dsList := filepath.Join(dir, "dispatcher.list")
	require.NoError(t, os.WriteFile(dsList, []byte(list.String()), 0o644))

	port := freeUDPPort(t)
	k := &kamailioProc{kamailio: &kamailio{port: port, ctl: "unix:" + filepath.Join(dir, "ctl"), log: &lockedBuffer{}},
		dir: dir, done: make(chan struct{})}
	cfg, _ := filepath.Abs(filepath.Join("kamailio", "dispatcher.cfg"))
	k.cmd = exec.Command(bin, "-f", cfg, "-DD", "-E", "-P", filepath.Join(dir, "pid"), "-Y", dir,
		"-A", "SIP_PORT="+strconv.Itoa(port),
		"-A", `DS_LIST="`+dsList+`"`,
		"-A", `CTL_SOCK="`+k.ctl+`"`,
		"-A", "DS_PING_INTERVAL=1", // seconds between OPTIONS probes
		"-A", "FR_TIMER=1000") // ms without any response before a destination counts as failed
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

var dsDest = regexp.MustCompile(`URI: (sip:\S+)\s+FLAGS: (\S+)`)

// dsFlags returns each destination's state from kamcmd dispatcher.list:
// "AP" active and probed, "IP" inactive and probed.
func (k *kamailioProc) dsFlags(t *testing.T) map[int]string {
	t.Helper()
	kamcmd := need(t, "kamcmd", "kamailio")
	out, err := exec.Command(kamcmd, "-s", k.ctl, "dispatcher.list").CombinedOutput()
	require.NoError(t, err, "%s", out)
	flags := map[int]string{}
	for _, m := range dsDest.FindAllStringSubmatch(string(out), -1) {
		_, p, _ := strings.Cut(strings.TrimPrefix(m[1], "sip:"), ":")
		n, _ := strconv.Atoi(p)
		flags[n] = m[2]
	}
	return flags
}

// waitDS waits until the destination on port is in state (bounded).
func (k *kamailioProc) waitDS(t *testing.T, port int, state string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		f := k.dsFlags(t)
		if f[port] == state {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("dispatcher destination :%d is %q, not %q, after %v", port, f[port], state, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Two examples/autoanswer instances behind one Kamailio dispatcher
// (kamailio/dispatcher.cfg, the configuration docs/scaling.md explains).
// SIPp calls through the proxy (sipp/uac_via_proxy.xml: ACK and BYE
// follow Record-Route and Contact to the instance that answered):
//
//  1. both instances up: every call succeeds and both answer some;
//  2. one instance is killed (SIGKILL) and calls start at once: the calls
//     hashed to it time out there (408 after fr_timer) and fail over to
//     the other instance, so every call still succeeds;
//  3. the instance starts again on its port: the OPTIONS probe puts it
//     back into the set, and it answers calls again;
//  4. it is killed again, and this time no call is sent until the probe
//     alone has taken it out: then no call needs a failover.
func TestDispatcherTwoInstances(t *testing.T) {
	sipp(t)
	need(t, "kamailio", "kamailio")
	need(t, "kamcmd", "kamailio")
	started := time.Now()
	bin := buildExample(t, "autoanswer")
	a := startInstance(t, bin, freeUDPPort(t))
	b := startInstance(t, bin, freeUDPPort(t))
	k := startDispatcher(t, a, b)

	probe, err := ua.New(ua.Config{})
	require.NoError(t, err)
	defer probe.Close(context.Background())
	k.waitReady(t, probe)
	k.waitDS(t, a.port, "AP", 10*time.Second)
	k.waitDS(t, b.port, "AP", 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	sc, _ := filepath.Abs(scenario("uac_via_proxy.xml"))
	calls := func(n int) {
		t.Helper()
		out, err := runSIPp(t, ctx, "-sf", sc, "-s", "svc", "-p", strconv.Itoa(freeUDPPort(t)),
			"-m", strconv.Itoa(n), "-r", "20", "-d", "200", k.addr())
		require.NoError(t, err, "sipp (exit status 0 = every call succeeded):\n%s", out)
	}
	failovers := func() int { return strings.Count(k.log.String(), "failover INVITE") }

	// 1. Both instances answer.
	calls(40)
	a1, b1 := a.answered(), b.answered()
	t.Logf("phase 1: 40 calls, instance A answered %d, B %d", a1, b1)
	assert.Equal(t, 40, a1+b1, "each call answered once")
	assert.Positive(t, a1, "instance A answered none")
	assert.Positive(t, b1, "instance B answered none")
	assert.Zero(t, failovers())

	// 2. B dies; calls go on at once.
	b.kill()
	calls(20)
	a2, f2 := a.answered(), failovers()
	t.Logf("phase 2: B killed, 20 calls, A answered %d, %d failed over from B", a2-a1, f2)
	assert.Equal(t, a1+20, a2, "A answered every call")
	assert.Positive(t, f2, "some calls were hashed to the dead instance and failed over")
	assert.Equal(t, "IP", k.dsFlags(t)[b.port], "B is inactive (and probed)")

	// 3. B comes back on its port; the probe puts it back.
	b = startInstance(t, bin, b.port)
	back := k.waitDS(t, b.port, "AP", 10*time.Second)
	calls(40)
	a3, b3 := a.answered(), b.answered()
	t.Logf("phase 3: B restarted, active again after %v; 40 calls, A answered %d, B %d", back.Round(time.Millisecond), a3-a2, b3)
	assert.Equal(t, 40, a3-a2+b3)
	assert.Positive(t, b3, "the restarted instance answered none")
	assert.Equal(t, f2, failovers(), "no failover while both are up")

	// 4. B dies again; the OPTIONS probe alone takes it out.
	b.kill()
	down := k.waitDS(t, b.port, "IP", 10*time.Second)
	calls(20)
	a4 := a.answered()
	t.Logf("phase 4: B killed, out of the set after %v by probing; 20 calls, A answered %d", down.Round(time.Millisecond), a4-a3)
	assert.Equal(t, a3+20, a4)
	assert.Equal(t, f2, failovers(), "no call was sent to the instance the probe took out")

	// The survivor ends cleanly: every session it answered has ended.
	text := a.interrupt(t)
	assert.Contains(t, text, fmt.Sprintf("%d calls answered, %d ended", a4, a4))
	t.Logf("total %v", time.Since(started).Round(time.Millisecond))
}
