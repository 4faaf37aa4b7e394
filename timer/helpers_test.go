package timer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/timer"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// env is a session under test on a fake clock, recording hook calls.
type env struct {
	t        testing.TB
	clk      *clock.Fake
	sch      *sched.Scheduler
	s        *timer.Session
	refresh  []time.Duration // offsets from epoch of Hooks.Refresh calls
	expired  []time.Duration // offsets of Hooks.Expired calls
	reasons  []sip.Reason
	expiring int
	extend   func(n int) time.Duration // Hooks.Expiring behaviour, nil = no hook
	onRefr   func()
	cseq     int
}

func newEnv(t testing.TB, cfg timer.Config, role timer.Role) *env {
	e := &env{t: t, clk: clock.NewFake(epoch), cseq: 1}
	e.sch = sched.New(e.clk)
	t.Cleanup(e.sch.Close)
	h := timer.Hooks{
		Refresh: func() {
			e.refresh = append(e.refresh, e.now())
			if e.onRefr != nil {
				e.onRefr()
			}
		},
		Expired: func(r sip.Reason) {
			e.expired = append(e.expired, e.now())
			e.reasons = append(e.reasons, r)
		},
		Expiring: func() time.Duration {
			e.expiring++
			if e.extend == nil {
				return 0
			}
			return e.extend(e.expiring)
		},
	}
	e.s = timer.New(cfg, role, e.sch, h)
	return e
}

// now returns the fake time as an offset from epoch.
func (e *env) now() time.Duration { return e.clk.Now().Sub(epoch) }

// at advances the clock to offset d from epoch.
func (e *env) at(d time.Duration) { e.clk.Set(epoch.Add(d)) }

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

// request parses a request from the peer (or one we send) with the given
// extra header lines.
func (e *env) request(method string, extra ...string) *sip.Request {
	e.t.Helper()
	e.cseq++
	var b strings.Builder
	b.WriteString(method + " sip:+15551234@example.com;user=phone SIP/2.0\r\n")
	b.WriteString("Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds" + itoa(e.cseq) + "\r\n")
	b.WriteString("Max-Forwards: 70\r\n")
	b.WriteString("To: <sip:+15551234@example.com;user=phone>\r\n")
	b.WriteString("From: Alice <sip:alice@example.com;user=phone>;tag=1928301774\r\n")
	b.WriteString("Call-ID: a84b4c76e66710@192.0.2.1\r\n")
	b.WriteString("CSeq: " + itoa(e.cseq) + " " + method + "\r\n")
	b.WriteString("Contact: <sip:alice@192.0.2.1:5060>\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	m, err := sip.ParseMessage([]byte(b.String()))
	require.NoError(e.t, err)
	return m.(*sip.Request)
}

// response builds a response to req with extra header lines.
func response(t testing.TB, req *sip.Request, code int, extra ...string) *sip.Response {
	t.Helper()
	res := sip.NewResponse(req, code, "")
	for _, h := range extra {
		name, value, ok := strings.Cut(h, ":")
		require.True(t, ok, h)
		res.Add(name, strings.TrimSpace(value))
	}
	return res
}

// answer runs the UAS path on an incoming request: CheckRequest must pass,
// then PrepareResponse on a 200 with Contact.
func (e *env) answer(req *sip.Request, extra ...string) *sip.Response {
	e.t.Helper()
	require.NoError(e.t, e.s.CheckRequest(req))
	res := response(e.t, req, 200, append([]string{"Contact: <sip:bob@192.0.2.2:5060>"}, extra...)...)
	e.s.PrepareResponse(req, res)
	return res
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

// countToken counts the elements of header name equal to tok (any case).
func countToken(h *sip.Header, name, tok string) int {
	n := 0
	for _, e := range h.Elements(name) {
		if strings.EqualFold(strings.TrimSpace(e), tok) {
			n++
		}
	}
	return n
}
