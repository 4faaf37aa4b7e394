package peerbench

import (
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip/ua"
)

// TestMessageThroughput drives a sipua server and a sipgo server with SIPp
// sending MESSAGE over UDP at increasing rates, each rate for a fixed
// time, and reports the highest rate each sustains with zero failed calls
// and zero retransmissions, with the server process's CPU time per second.
// It takes minutes, so it runs only when asked:
//
//	PEERBENCH_THROUGHPUT=1 go test -run TestMessageThroughput -v -timeout 30m .
//
// PEERBENCH_STEP sets the time per rate (default 20s) and
// PEERBENCH_RATES the rates (default 500,1000,2000,3000,4000,6000,8000).
func TestMessageThroughput(t *testing.T) {
	if os.Getenv("PEERBENCH_THROUGHPUT") == "" {
		t.Skip("set PEERBENCH_THROUGHPUT=1 to run the MESSAGE throughput comparison (minutes)")
	}
	sippBin, err := exec.LookPath("sipp")
	require.NoError(t, err, "sipp (Debian package sip-tester) is needed")
	step := 20 * time.Second
	if s := os.Getenv("PEERBENCH_STEP"); s != "" {
		step, err = time.ParseDuration(s)
		require.NoError(t, err)
	}
	rates := []int{500, 1000, 2000, 3000, 4000, 6000, 8000}
	if s := os.Getenv("PEERBENCH_RATES"); s != "" {
		rates = nil
		for _, f := range strings.Split(s, ",") {
			r, err := strconv.Atoi(f)
			require.NoError(t, err)
			rates = append(rates, r)
		}
	}
	scenario, err := filepath.Abs("../interop/sipp/uac_message.xml")
	require.NoError(t, err)

	servers := []struct {
		name  string
		start func(t *testing.T) string // returns host:port
	}{
		{"sipua", startSipuaMessageServer},
		{"sipgo", startSipgoMessageServer},
	}
	for _, srv := range servers {
		addr := srv.start(t)
		best := 0
		for _, rate := range rates {
			res := runSIPpRate(t, sippBin, scenario, addr, rate, step)
			t.Logf("%s: %5d/s for %v: ok=%v sent=%d failed=%d retrans=%d server CPU %.0f%% of one core",
				srv.name, rate, step, res.ok, res.calls, res.failed, res.retrans, 100*res.cpu.Seconds()/res.wall.Seconds())
			if !res.ok {
				break
			}
			best = rate
		}
		t.Logf("RESULT %s: highest rate with zero failures and zero retransmissions: %d MESSAGE/s", srv.name, best)
	}
}

type rateResult struct {
	ok                     bool
	calls, failed, retrans int
	cpu, wall              time.Duration
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func runSIPpRate(t *testing.T, bin, scenario, addr string, rate int, step time.Duration) rateResult {
	t.Helper()
	dir := t.TempDir()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	n := rate * int(step/time.Second)
	stat := filepath.Join(dir, "stat.csv")
	ctx, cancel := context.WithTimeout(context.Background(), step+60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-sf", scenario, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(n), "-l", strconv.Itoa(rate*4),
		"-nostdin", "-timeout", (step + 30*time.Second).String(), "-timeout_error",
		"-trace_stat", "-stf", stat, "-fd", "1", "-max_recv_loops", "10000", "-max_sched_loops", "10000", addr)
	cmd.Dir = dir
	cpu0, wall0 := cpuTime(), time.Now()
	out, err := cmd.CombinedOutput()
	res := rateResult{cpu: cpuTime() - cpu0, wall: time.Since(wall0)}
	calls, failed, retrans, perr := lastStats(stat)
	if perr != nil {
		t.Logf("sipp stats unreadable: %v\n%s", perr, out)
	}
	res.calls, res.failed, res.retrans = calls, failed, retrans
	res.ok = err == nil && perr == nil && failed == 0 && retrans == 0 && calls == n
	return res
}

// lastStats reads the cumulative counters of SIPp's last statistics row.
func lastStats(path string) (calls, failed, retrans int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = ';'
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		return 0, 0, 0, fmt.Errorf("stat file: %v, %d rows", err, len(rows))
	}
	head, last := rows[0], rows[len(rows)-1]
	col := func(name string) int {
		for i, h := range head {
			if h == name && i < len(last) {
				v, _ := strconv.Atoi(last[i])
				return v
			}
		}
		return -1
	}
	return col("SuccessfulCall(C)") + col("FailedCall(C)"), col("FailedCall(C)"), col("Retransmissions(C)"), nil
}

func startSipuaMessageServer(t *testing.T) string {
	srv, err := ua.New(ua.Config{Listen: []string{"udp:127.0.0.1:0"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	srv.HandleFunc("MESSAGE", func(w ua.ResponseWriter, r *ua.Request) {
		_ = w.Respond(w.NewResponse(200, ""))
	})
	return srv.Addrs()[0].AddrPort.String()
}

func startSipgoMessageServer(t *testing.T) string {
	gua, err := sipgo.NewUA(sipgo.WithUserAgent("sipgo-bench"), sipgo.WithUserAgentHostname("127.0.0.1"))
	require.NoError(t, err)
	srv, err := sipgo.NewServer(gua)
	require.NoError(t, err)
	srv.OnMessage(func(req *gosip.Request, tx gosip.ServerTransaction) {
		_ = tx.Respond(gosip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	readyCtx := context.WithValue(ctx, sipgo.ListenReadyCtxKey,
		sipgo.ListenReadyFuncCtxValue(func(network, addr string) { ready <- addr }))
	go func() { _ = srv.ListenAndServe(readyCtx, "udp", "127.0.0.1:0") }()
	t.Cleanup(func() { cancel(); _ = gua.Close() })
	select {
	case a := <-ready:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("sipgo did not start")
		return ""
	}
}
