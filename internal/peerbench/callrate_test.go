package peerbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The call-rate comparison: SIPp as UAC with its built-in "uac" scenario
// (INVITE, optional 100/180/183, 200, ACK, a pause of -d, BYE, 200) over
// UDP against two answering programs, each run as its own process so that
// /proc gives each one's CPU time the same way:
//
//   - sipua: examples/autoanswer (built from the main module) with -quiet
//     and -session-expires 1800: every call negotiates SDP (package sdpneg)
//     and gets an RFC 4028 session timer;
//   - sipgo: cmd/sipgoanswer, github.com/emiago/sipgo v1.7.2's
//     DialogServerCache answering with a fixed SDP, no session timer.
//
// TestCallRate takes minutes, so it runs only when asked:
//
//	PEERBENCH_CALLRATE=1 go test -run TestCallRate -v -timeout 15m .
//
// It raises the rate step by step (PEERBENCH_CALL_RATES, default
// 500 to 4000 calls/s by 500), each step held for
// PEERBENCH_CALL_STEP (default 30s) with at most rate × step calls, and
// for each server stops at the first step that fails. A step passes when
// SIPp exits 0, every call succeeded, and SIPp actually offered at least
// 95 % of the rate (on two cores SIPp itself can fall short: then the step
// says nothing about the server and counts as failed). Retransmissions
// (SIPp resends INVITE or BYE after 500 ms without an answer) are
// reported, and the highest rate with none is reported separately. The
// servers take turns at each rate so that drift in machine load affects
// both alike. PEERBENCH_CALL_SERVERS picks the servers (default
// sipua,sipgo) and PEERBENCH_CALL_DURATION the pause between ACK and BYE
// (default 100ms). The whole run is bounded by callRateBudget.
//
// TestCallRateSmoke runs a few calls at a low rate through both servers
// whenever sipp is installed.
func TestCallRate(t *testing.T) {
	if os.Getenv("PEERBENCH_CALLRATE") == "" {
		t.Skip("set PEERBENCH_CALLRATE=1 to run the call-rate comparison (minutes)")
	}
	sippBin := needSIPp(t)
	step := envDuration(t, "PEERBENCH_CALL_STEP", 30*time.Second)
	hold := envDuration(t, "PEERBENCH_CALL_DURATION", 100*time.Millisecond)
	rates := []int{500, 1000, 1500, 2000, 2500, 3000, 3500, 4000}
	if s := os.Getenv("PEERBENCH_CALL_RATES"); s != "" {
		rates = nil
		for _, f := range strings.Split(s, ",") {
			r, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(t, err)
			rates = append(rates, r)
		}
	}
	names := []string{"sipua", "sipgo"}
	if s := os.Getenv("PEERBENCH_CALL_SERVERS"); s != "" {
		names = strings.Split(s, ",")
	}
	deadline := time.Now().Add(callRateBudget)

	type state struct {
		srv        *answerer
		best       int  // highest passing rate
		bestClean  int  // ... with zero retransmissions at it and every rate below
		retransmit bool // a passing step had retransmissions
		stopped    bool
		rows       []string
	}
	var servers []*state
	for _, name := range names {
		servers = append(servers, &state{srv: startAnswerer(t, name)})
	}
	for _, rate := range rates {
		for _, s := range servers {
			if s.stopped {
				continue
			}
			// A step needs its duration plus SIPp's drain; give up before
			// the budget is spent rather than overrun it.
			if time.Until(deadline) < step+20*time.Second {
				t.Logf("%s: time budget reached before %d calls/s", s.srv.name, rate)
				s.stopped = true
				t.Logf("%s exit: %s", s.srv.name, strings.TrimSpace(s.srv.stop(t)))
				continue
			}
			res := runCallStep(t, sippBin, s.srv, rate, step, hold, true)
			row := res.row(s.srv.name, rate)
			t.Log(row)
			s.rows = append(s.rows, row)
			if !res.ok {
				s.stopped = true
				t.Logf("%s exit: %s", s.srv.name, strings.TrimSpace(s.srv.stop(t)))
				continue
			}
			s.best = rate
			s.retransmit = s.retransmit || res.retrans > 0
			if !s.retransmit {
				s.bestClean = rate
			}
		}
	}
	for _, s := range servers {
		if !s.stopped {
			t.Logf("%s exit: %s", s.srv.name, strings.TrimSpace(s.srv.stop(t)))
		}
	}
	t.Log("call-rate table (SIPp -sn uac, UDP, " + hold.String() + " calls, " + step.String() + " per step):")
	t.Log(callRowHeader)
	for _, s := range servers {
		for _, r := range s.rows {
			t.Log(r)
		}
	}
	for _, s := range servers {
		t.Logf("RESULT %s: highest rate with zero failed calls: %d calls/s; with zero retransmissions too: %d calls/s",
			s.srv.name, s.best, s.bestClean)
		if s.best == 0 {
			t.Errorf("%s passed no step: the setup is broken or the server cannot take %d calls/s", s.srv.name, rates[0])
		}
	}
}

// callRateBudget bounds TestCallRate's steps: no step starts unless it
// can end (step + 20 s) before it; a failing step may overrun by up to
// 25 s, and the builds and teardown take seconds, so the run ends within
// 10 minutes.
const callRateBudget = 8*time.Minute + 30*time.Second

// TestCallRateSmoke: 40 calls at 20/s through each server must all
// succeed. It runs whenever sipp is installed (a few seconds).
func TestCallRateSmoke(t *testing.T) {
	sippBin := needSIPp(t)
	for _, name := range []string{"sipua", "sipgo"} {
		t.Run(name, func(t *testing.T) {
			srv := startAnswerer(t, name)
			res := runCallStep(t, sippBin, srv, 20, 2*time.Second, 50*time.Millisecond, false)
			t.Log(callRowHeader)
			t.Log(res.row(name, 20))
			require.True(t, res.ok, "sipp:\n%s", res.output)
			require.Equal(t, 40, res.calls)
			require.Zero(t, res.failed)
			out := srv.stop(t)
			require.Contains(t, out, "40 calls answered, 40 ended")
		})
	}
}

func needSIPp(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sipp is not installed in CI (Debian package sip-tester): %v", err)
		}
		t.Skip("sipp not installed (apt-get install sip-tester)")
	}
	return p
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	require.NoError(t, err, name)
	return d
}

// answerer is a running server process.
type answerer struct {
	name string
	addr string // 127.0.0.1:port, UDP
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// buildAnswerer compiles the server program called name.
func buildAnswerer(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	var cmd *exec.Cmd
	switch name {
	case "sipua":
		// autoanswer belongs to the main module, two levels up: build it
		// there, with the library's own go.mod.
		root, err := filepath.Abs("../..")
		require.NoError(t, err)
		cmd = exec.Command("go", "build", "-o", bin, "./examples/autoanswer")
		cmd.Dir = root
	case "sipgo":
		cmd = exec.Command("go", "build", "-o", bin, "./cmd/sipgoanswer")
	default:
		t.Fatalf("unknown server %q (want sipua or sipgo)", name)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s:\n%s", name, out)
	return bin
}

// startAnswerer builds and starts a server on a free loopback port and
// waits until it answers OPTIONS; the test's cleanup kills it if stop was
// not called.
func startAnswerer(t *testing.T, name string) *answerer {
	t.Helper()
	bin := buildAnswerer(t, name)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	args := []string{"-listen", addr}
	if name == "sipua" {
		args = append(args, "-quiet", "-session-expires", "1800")
	}
	a := &answerer{name: name, addr: addr, out: &syncBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(bin, args...)
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	// The server dies with the test binary even when that is killed
	// before its cleanups run.
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, a.cmd.Start())
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			_ = a.cmd.Process.Kill()
			<-a.done
		}
	})
	require.NoError(t, waitAnswering(addr, 10*time.Second, a.done), "%s:\n%s", name, a.out.String())
	return a
}

// stop ends the server with SIGTERM (both print a summary line then) and
// returns its output.
func (a *answerer) stop(t *testing.T) string {
	t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(15 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
		t.Errorf("%s did not exit within 15 s of SIGTERM", a.name)
	}
	return a.out.String()
}

// cpu returns the process's user+system CPU time so far, from
// /proc/PID/stat (fields 14 and 15, in USER_HZ = 100 ticks per second).
func (a *answerer) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", a.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s) // f[0] is field 3
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// rssMiB returns the process's resident set size in MiB.
func (a *answerer) rssMiB() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// udpRcvbufErrors returns the system's count of UDP datagrams dropped for
// a full socket receive buffer (/proc/net/snmp, Udp: RcvbufErrors).
func udpRcvbufErrors() int64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var head []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		for i, h := range head {
			if h == "RcvbufErrors" && i < len(f) {
				n, _ := strconv.ParseInt(f[i], 10, 64)
				return n
			}
		}
	}
	return 0
}

func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// waitAnswering sends OPTIONS to addr every 100 ms until any response
// comes back (autoanswer -quiet prints nothing when it is ready).
func waitAnswering(addr string, limit time.Duration, exited <-chan struct{}) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	end := time.Now().Add(limit)
	buf := make([]byte, 4096)
	for i := 0; time.Now().Before(end); i++ {
		select {
		case <-exited:
			return fmt.Errorf("server exited")
		default:
		}
		l := c.LocalAddr().String()
		msg := "OPTIONS sip:" + addr + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + l + ";branch=z9hG4bK-ready" + strconv.Itoa(i) + ";rport\r\n" +
			"From: <sip:probe@127.0.0.1>;tag=probe\r\n" +
			"To: <sip:" + addr + ">\r\n" +
			"Call-ID: ready-" + strconv.Itoa(i) + "@127.0.0.1\r\n" +
			"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
		_, _ = c.Write([]byte(msg))
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 ")) {
			return nil
		}
	}
	return fmt.Errorf("no answer to OPTIONS at %s within %v", addr, limit)
}

// callStep is the outcome of one rate step.
type callStep struct {
	ok                 bool
	why                string // why it failed
	exitErr            error
	calls, failed      int
	retrans, dead, ooc int     // SIPp retransmissions, messages for dead calls, out-of-call messages
	offered            float64 // the rate SIPp achieved, calls/s
	callLen            string  // SIPp's mean call length
	serverCPU, sippCPU time.Duration
	wall               time.Duration
	rss                float64
	udpDrops           int64 // system-wide UDP receive-buffer drops during the step
	output             string
}

const callRowHeader = "server | target/s | offered/s | calls | failed | retrans | dead+ooc msgs | mean call length | server CPU % of one core | server CPU µs/call | SIPp CPU % | server RSS MiB | UDP rcvbuf drops | result"

func (r callStep) row(name string, rate int) string {
	res := "pass"
	if !r.ok {
		res = "FAIL: " + r.why
	}
	perCall := 0.0
	if r.calls > 0 {
		perCall = float64(r.serverCPU.Microseconds()) / float64(r.calls)
	}
	return fmt.Sprintf("%s | %d | %.0f | %d | %d | %d | %d | %s | %.1f | %.0f | %.1f | %.0f | %d | %s",
		name, rate, r.offered, r.calls, r.failed, r.retrans, r.dead+r.ooc, r.callLen,
		100*r.serverCPU.Seconds()/r.wall.Seconds(), perCall,
		100*r.sippCPU.Seconds()/r.wall.Seconds(), r.rss, r.udpDrops, res)
}

// runCallStep runs SIPp's built-in uac scenario at rate calls/s for step
// (rate × step calls) against srv and reads SIPp's final statistics;
// checkOffered fails the step when SIPp offered under 95 % of the rate.
func runCallStep(t *testing.T, bin string, srv *answerer, rate int, step, hold time.Duration, checkOffered bool) callStep {
	t.Helper()
	dir := t.TempDir()
	n := int(float64(rate) * step.Seconds())
	stat := filepath.Join(dir, "stat.csv")
	// SIPp's own -timeout ends a stuck run; the context is the backstop.
	ctx, cancel := context.WithTimeout(context.Background(), step+45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-sn", "uac", "-d", strconv.FormatInt(hold.Milliseconds(), 10),
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)),
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(n),
		// At most two seconds' worth of calls at once: a server that
		// falls behind makes SIPp throttle, and the offered rate shows it.
		"-l", strconv.Itoa(2*rate),
		"-nostdin", "-timeout", strconv.Itoa(int((step+30*time.Second).Seconds()))+"s", "-timeout_error",
		"-trace_stat", "-stf", stat, "-fd", "1",
		"-max_recv_loops", "10000", "-max_sched_loops", "10000", srv.addr)
	cmd.Dir = dir // SIPp writes its logs into the working directory
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cpu0, drops0, wall0 := srv.cpu(), udpRcvbufErrors(), time.Now()
	err := cmd.Run()
	res := callStep{exitErr: err, serverCPU: srv.cpu() - cpu0, wall: time.Since(wall0), rss: srv.rssMiB(),
		udpDrops: udpRcvbufErrors() - drops0}
	if cmd.ProcessState != nil {
		res.sippCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	res.output = tail(out.String(), 4000)
	st, perr := readSIPpStats(stat)
	if perr != nil {
		res.why = "sipp stats unreadable: " + perr.Error()
		t.Logf("%s at %d/s: %v\n%s", srv.name, rate, perr, res.output)
		return res
	}
	res.calls = st.int("SuccessfulCall(C)") + st.int("FailedCall(C)")
	res.failed = st.int("FailedCall(C)")
	res.retrans = st.int("Retransmissions(C)")
	res.dead = st.int("DeadCallMsgs(C)")
	res.ooc = st.int("OutOfCallMsgs(C)")
	res.offered, _ = strconv.ParseFloat(st["CallRate(C)"], 64)
	res.callLen = st["CallLength(C)"]
	switch {
	case err != nil:
		res.why = "sipp: " + err.Error()
	case res.failed > 0:
		res.why = fmt.Sprintf("%d failed calls", res.failed)
	case res.calls != n:
		res.why = fmt.Sprintf("%d of %d calls done", res.calls, n)
	case checkOffered && res.offered < 0.95*float64(n)/(step+hold).Seconds():
		// SIPp's cumulative rate counts the last call's duration too.
		res.why = fmt.Sprintf("SIPp offered only %.0f/s", res.offered)
	default:
		res.ok = true
	}
	if !res.ok {
		t.Logf("%s at %d/s: %s; sipp output:\n%s", srv.name, rate, res.why, res.output)
	}
	return res
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// sippStats is SIPp's last statistics row (-trace_stat), by column name.
type sippStats map[string]string

func (s sippStats) int(name string) int {
	v, _ := strconv.Atoi(s[name])
	return v
}

func readSIPpStats(path string) (sippStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = ';'
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("%d rows", len(rows))
	}
	head, last := rows[0], rows[len(rows)-1]
	st := make(sippStats, len(head))
	for i, h := range head {
		if i < len(last) {
			st[h] = last[i]
		}
	}
	return st, nil
}
