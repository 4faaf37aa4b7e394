package interop

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// sipp returns the SIPp binary, skipping the test outside CI when it is
// missing and failing it in CI.
func sipp(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sipp is not installed in CI (Debian package sip-tester): %v", err)
		}
		t.Skip("sipp not installed (apt-get install sip-tester); the interop tests run in CI")
	}
	return p
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// runSIPp runs a scenario to completion (bounded by -timeout) and returns
// its output; SIPp exits 0 only when every call succeeded.
func runSIPp(t *testing.T, ctx context.Context, args ...string) ([]byte, error) {
	t.Helper()
	base := []string{"-i", "127.0.0.1", "-nostdin", "-timeout", "30s", "-timeout_error", "-max_recv_loops", "1000"}
	cmd := exec.CommandContext(ctx, sipp(t), append(base, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = t.TempDir() // SIPp writes its logs into the working directory
	err := cmd.Run()
	return out.Bytes(), err
}

func scenario(name string) string { return filepath.Join("sipp", name) }

// SIPp as UAC sends OPTIONS and MESSAGE to a sipua server, 200 of each at
// 100 per second; every one must succeed.
func TestSIPpClientToSipuaServer(t *testing.T) {
	sipp(t)
	srv, err := ua.New(ua.Config{Listen: []string{"udp:127.0.0.1:0"}})
	require.NoError(t, err)
	defer srv.Close(context.Background())
	var messages atomic.Int64
	srv.HandleFunc("MESSAGE", func(w ua.ResponseWriter, r *ua.Request) {
		if r.ContentType().Is("text/plain") && len(r.Body()) > 0 {
			messages.Add(1)
		}
		_ = w.Respond(w.NewResponse(200, ""))
	})
	target := srv.Addrs()[0].AddrPort.String()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, sc := range []string{"uac_options.xml", "uac_message.xml"} {
		abs, _ := filepath.Abs(scenario(sc))
		out, err := runSIPp(t, ctx, "-sf", abs, "-p", strconv.Itoa(freeUDPPort(t)), "-m", "200", "-r", "100", target)
		require.NoError(t, err, "%s:\n%s", sc, out)
	}
	assert.Equal(t, int64(200), messages.Load())
}

// SIPp as UAS answers MESSAGEs that sipua sends with ua.Do.
func TestSipuaClientToSIPpServer(t *testing.T) {
	sipp(t)
	port := freeUDPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	abs, _ := filepath.Abs(scenario("uas_message.xml"))
	done := make(chan error, 1)
	var out []byte
	go func() {
		var err error
		out, err = runSIPp(t, ctx, "-sf", abs, "-p", strconv.Itoa(port), "-m", "50", "-deadcall_wait", "0")
		done <- err
	}()
	cli, err := ua.New(ua.Config{})
	require.NoError(t, err)
	defer cli.Close(context.Background())
	to := ua.Target{Transport: "UDP", AddrPort: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))}
	// No wait for SIPp to bind: a MESSAGE sent before it listens is lost
	// (an unconnected UDP socket ignores port-unreachable errors) and
	// Timer E retransmits it 500 ms later.
	for i := 0; i < 50; i++ {
		uri, _ := sip.ParseURI("sip:sipp@" + to.AddrPort.String())
		req := sip.NewRequest("MESSAGE", uri)
		req.Set("From", "<sip:sipua@example.test>")
		req.Set("Content-Type", "text/plain")
		req.SetBody([]byte("hello SIPp " + strconv.Itoa(i)))
		res, err := cli.Do(ctx, req, to)
		require.NoError(t, err, "MESSAGE %d", i)
		require.Equal(t, 200, res.StatusCode)
	}
	select {
	case err := <-done:
		require.NoError(t, err, "sipp:\n%s", out)
	case <-ctx.Done():
		t.Fatal("sipp did not finish")
	}
}
