package interop

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
	"github.com/sipua-go/sipua/timer"
)

// buildExample compiles examples/NAME into a temporary directory.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "../../examples/"+name)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s:\n%s", name, out)
	return bin
}

// startExample runs an example binary until the test ends and returns
// its output so far, read line by line into lines.
func startExample(t *testing.T, bin string, args ...string) (cmd *exec.Cmd, lines <-chan string, output func() string) {
	t.Helper()
	cmd = exec.Command(bin, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(t, cmd.Start())
	ch := make(chan string, 1024)
	var all strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			select {
			case ch <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = pw.Close()
	})
	return cmd, ch, func() string { _ = pw.Close(); <-done; return all.String() }
}

// SIPp calls examples/autoanswer and refreshes each session with a bodiless
// UPDATE and with a re-INVITE; every 200 must carry Session-Expires with
// refresher=uac and Require: timer (ACCEPTANCE P1; SIPp's check_it fails
// the call otherwise). The example then hangs up nothing (SIPp sends BYE)
// and reports every call ended.
func TestSIPpRefreshesAutoanswer(t *testing.T) {
	sipp(t)
	bin := buildExample(t, "autoanswer")
	port := freeUDPPort(t)
	target := "127.0.0.1:" + strconv.Itoa(port)
	cmd, lines, output := startExample(t, bin, "-listen", target, "-session-expires", "1800", "-min-se", "90")
	waitLine(t, lines, "answering on")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	abs, _ := filepath.Abs(scenario("uac_timer_refresh.xml"))
	out, err := runSIPp(t, ctx, "-sf", abs, "-p", strconv.Itoa(freeUDPPort(t)), "-m", "20", "-r", "20", target)
	require.NoError(t, err, "sipp:\n%s", out)

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait())
	text := output()
	assert.Contains(t, text, "20 calls answered, 20 ended")
	assert.Equal(t, 40, strings.Count(text, "session refreshed"), "one UPDATE and one re-INVITE refresh per call")
	assert.NotContains(t, text, "media changed", "a refresh with the same SDP changes no media")
	assert.NotContains(t, text, "refresh failed")
}

func waitLine(t *testing.T, lines <-chan string, prefix string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, prefix) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q line", prefix)
		}
	}
}

// SIPp answers a sipua call and names the caller as refresher; on the
// fake clock, at half the 90 s interval sipua refreshes with an UPDATE
// that SIPp checks, then hangs up.
func TestSipuaRefreshesTowardSIPp(t *testing.T) {
	sipp(t)
	port := freeUDPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	abs, _ := filepath.Abs(scenario("uas_timer.xml"))
	done := make(chan error, 1)
	var out []byte
	go func() {
		var err error
		out, err = runSIPp(t, ctx, "-sf", abs, "-p", strconv.Itoa(port), "-m", "1", "-deadcall_wait", "0")
		done <- err
	}()
	fake := clock.NewFake(time.Unix(1.7e9, 0))
	u, err := ua.New(ua.Config{Clock: fake})
	require.NoError(t, err)
	defer u.Close(context.Background())
	from, _ := sip.ParseAddress("<sip:alice@example.test>")
	l, err := dialog.New(dialog.Static{Agent: u, Identity: from}, dialog.Config{SessionTimer: timer.Config{Interval: 90 * time.Second}})
	require.NoError(t, err)
	refreshed := make(chan dialog.Refreshed, 4)
	to := sip.URI{Scheme: "sip", User: "sipp", Host: "127.0.0.1", Port: port}
	// The caller runs on a fake clock, so a lost INVITE would never be
	// retransmitted: wait until SIPp has bound its port.
	waitUDPBound(t, port)
	s, err := l.Invite(ctx, to, dialog.InviteOptions{
		SDP:    []byte("v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"),
		Target: ua.Target{Transport: "UDP", AddrPort: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))},
		OnEvent: func(_ *dialog.Session, ev dialog.Event) {
			if r, ok := ev.(dialog.Refreshed); ok {
				refreshed <- r
			}
		}})
	require.NoError(t, err)
	assert.Equal(t, timer.RefresherLocal, s.SessionTimer().Refresher())
	fake.Advance(45 * time.Second)
	select {
	case r := <-refreshed:
		assert.True(t, r.Local)
		assert.Equal(t, 90*time.Second, r.Interval)
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh")
	}
	require.NoError(t, s.Hangup(ctx))
	select {
	case err := <-done:
		require.NoError(t, err, "sipp:\n%s", out)
	case <-ctx.Done():
		t.Fatal("sipp did not finish")
	}
}

// waitUDPBound waits until another process has bound 127.0.0.1:port.
func waitUDPBound(t *testing.T, port int) {
	t.Helper()
	for i := 0; i < 300; i++ {
		c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return // taken: SIPp is listening
		}
		_ = c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on UDP port %d", port)
}
