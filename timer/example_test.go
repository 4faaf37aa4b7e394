package timer_test

import (
	"fmt"
	"time"

	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/internal/sched"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/timer"
)

func mustRequest(raw string) *sip.Request {
	m, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		panic(err)
	}
	return m.(*sip.Request)
}

const exampleInvite = "INVITE sip:bob@example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" +
	"To: <sip:bob@example.com>\r\n" +
	"From: <sip:alice@example.com>;tag=1\r\n" +
	"Call-ID: c1\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Supported: timer\r\n" +
	"Session-Expires: 1800\r\n" +
	"Min-SE: 90\r\n" +
	"Content-Length: 0\r\n\r\n"

// A UAS answers an INVITE that asks for a session timer; the peer then
// stops refreshing and the session expires at 1800 − 32 = 1768 s.
func ExampleSession_PrepareResponse() {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	s := sched.New(clk)
	defer s.Close()

	st := timer.New(timer.Config{}, timer.UAS, s, timer.Hooks{
		Expired: func(r sip.Reason) {
			fmt.Printf("expired after %v: BYE with Reason: %s\n", clk.Now().Sub(start), r)
		},
	})
	inv := mustRequest(exampleInvite)
	if err := st.CheckRequest(inv); err != nil {
		fmt.Println(err) // a *timer.Rejection: send rej.Response(inv)
		return
	}
	res := sip.NewResponse(inv, 200, "")
	st.PrepareResponse(inv, res)
	fmt.Println("Session-Expires:", res.Get("Session-Expires"))
	fmt.Println("Require:", res.Get("Require"))
	fmt.Println("refresher:", st.Refresher())

	clk.Advance(2 * time.Hour)
	// Output:
	// Session-Expires: 1800;refresher=uac
	// Require: timer
	// refresher: remote
	// expired after 29m28s: BYE with Reason: SIP;cause=408;text="Session timeout"
}

// A UAC that refreshes: Hooks.Refresh fires at half the interval, the
// dialog sends an UPDATE through PrepareRequest and hands the 200 to
// HandleResponse, which restarts the timer.
func ExampleSession_HandleResponse() {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	s := sched.New(clk)
	defer s.Close()

	var st *timer.Session
	st = timer.New(timer.Config{Interval: 7200 * time.Second}, timer.UAC, s, timer.Hooks{
		Refresh: func() {
			upd := mustRequest("UPDATE sip:bob@example.com SIP/2.0\r\nCSeq: 2 UPDATE\r\nContent-Length: 0\r\n\r\n")
			upd.Method = st.RefreshMethod(true)
			st.PrepareRequest(upd)
			fmt.Printf("at %v: %s Session-Expires: %s\n", clk.Now().Sub(start), upd.Method, upd.Get("Session-Expires"))
			ok := sip.NewResponse(upd, 200, "")
			ok.Set("Session-Expires", "7200;refresher=uac")
			st.HandleResponse(upd, ok)
		},
	})

	inv := mustRequest("INVITE sip:bob@example.com SIP/2.0\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
	st.PrepareRequest(inv)
	fmt.Println("INVITE Session-Expires:", inv.Get("Session-Expires"), "Min-SE:", inv.Get("Min-SE"))
	ok := sip.NewResponse(inv, 200, "")
	ok.Set("Require", "timer")
	ok.Set("Session-Expires", "7200;refresher=uac")
	out := st.HandleResponse(inv, ok)
	fmt.Println("action:", out.Action, "refresher:", st.Refresher(), "next refresh in", st.NextRefreshAt().Sub(clk.Now()))

	clk.Advance(4 * time.Hour)
	// Output:
	// INVITE Session-Expires: 7200 Min-SE: 90
	// action: none refresher: local next refresh in 1h0m0s
	// at 1h0m0s: UPDATE Session-Expires: 7200;refresher=uac
	// at 2h0m0s: UPDATE Session-Expires: 7200;refresher=uac
	// at 3h0m0s: UPDATE Session-Expires: 7200;refresher=uac
	// at 4h0m0s: UPDATE Session-Expires: 7200;refresher=uac
}

// An INVITE asking for less than the local Min-SE is rejected with 422.
func ExampleRejection() {
	s := sched.New(clock.NewFake(time.Time{}))
	defer s.Close()
	st := timer.New(timer.Config{MinSE: 300 * time.Second}, timer.UAS, s, timer.Hooks{})
	inv := mustRequest(exampleInvite) // Session-Expires: 1800
	inv.Set("Session-Expires", "120")
	if rej, ok := st.CheckRequest(inv).(*timer.Rejection); ok {
		res := rej.Response(inv)
		fmt.Println(res.StatusCode, res.Reason, "Min-SE:", res.Get("Min-SE"))
	}
	// Output:
	// 422 Session Interval Too Small Min-SE: 300
}
