package timer_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/timer"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  timer.Config
		err  error
	}{
		{"zero value", timer.Config{}, nil},
		{"7200", timer.Config{Interval: 7200 * time.Second}, nil},
		{"Min-SE only raises the default interval", timer.Config{MinSE: 3600 * time.Second}, nil},
		{"Min-SE 90 exactly", timer.Config{Interval: 90 * time.Second, MinSE: 90 * time.Second}, nil},
		{"Min-SE below 90", timer.Config{MinSE: 60 * time.Second}, timer.ErrMinSETooSmall},
		{"interval below default Min-SE", timer.Config{Interval: 60 * time.Second}, timer.ErrIntervalTooSmall},
		{"interval below Min-SE", timer.Config{Interval: 1000 * time.Second, MinSE: 1200 * time.Second}, timer.ErrIntervalTooSmall},
		{"interval too large", timer.Config{Interval: timer.MaxInterval + time.Second}, timer.ErrIntervalTooLarge},
		{"negative interval", timer.Config{Interval: -time.Second}, timer.ErrIntervalTooSmall},
		{"bad refresher", timer.Config{Refresher: 42}, timer.ErrBadConfig},
		{"bad method", timer.Config{Method: 42}, timer.ErrBadConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.err == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.err)
			assert.Panics(t, func() { newEnv(t, tt.cfg, timer.UAC) })
		})
	}
}

// AT-P1-1: UAS negotiation on the initial INVITE, and the refreshee timer
// at SE − min(32, SE/3).
func TestUASInitialInvite(t *testing.T) {
	e := newEnv(t, timer.Config{}, timer.UAS)
	inv := e.request("INVITE", "Supported: timer", "Session-Expires: 1800", "Min-SE: 90")
	res := response(t, inv, 200, "Contact: <sip:bob@192.0.2.2:5060>")
	before := res.String()
	require.NoError(t, e.s.CheckRequest(inv))
	e.s.PrepareResponse(inv, res)

	assert.Equal(t, "1800;refresher=uac", res.Get("Session-Expires"))
	assert.Equal(t, []string{"timer"}, res.Require())
	assert.Equal(t, []string{"timer"}, res.Supported())
	assert.False(t, res.Has("Min-SE"), "no Min-SE in a 2xx")
	assert.Equal(t, "<sip:bob@192.0.2.2:5060>", res.Get("Contact"))
	// The mirrored fields are untouched: everything before is still there,
	// byte for byte, in order.
	for _, h := range []string{"Via", "To", "From", "Call-ID", "CSeq"} {
		assert.Equal(t, inv.Get(h), res.Get(h), h)
	}
	assert.Contains(t, res.String(), before[:len(before)-len("Content-Length: 0\r\n\r\n")])
	assert.Contains(t, res.Get("To"), "user=phone")

	assert.True(t, e.s.Active())
	assert.Equal(t, 1800*time.Second, e.s.Interval())
	assert.Equal(t, timer.RefresherRemote, e.s.Refresher())
	assert.Equal(t, timer.RefresherUAC, e.s.RefresherRole())
	assert.True(t, e.s.NextRefreshAt().IsZero())
	assert.Equal(t, epoch.Add(sec(1768)), e.s.ExpiresAt())

	e.at(sec(1768) - time.Millisecond)
	assert.Empty(t, e.expired)
	e.at(sec(1768))
	assert.Equal(t, []time.Duration{sec(1768)}, e.expired)
	assert.Equal(t, []sip.Reason{timer.SessionTimeout}, e.reasons)
	assert.Equal(t, `SIP;cause=408;text="Session timeout"`, e.reasons[0].String())
	assert.Equal(t, timer.Expired, e.s.State())
	assert.Empty(t, e.refresh)
}

// The refreshee expiry is SE − min(32, SE/3) for every interval.
func TestExpiryOffset(t *testing.T) {
	tests := []struct {
		se     int
		expiry time.Duration
	}{
		{90, sec(60)},
		{95, sec(95) - sec(95)/3},
		{96, sec(64)},
		{120, sec(88)},
		{1800, sec(1768)},
		{7200, sec(7168)},
	}
	for _, tt := range tests {
		t.Run(itoa(tt.se), func(t *testing.T) {
			e := newEnv(t, timer.Config{}, timer.UAS)
			e.answer(e.request("INVITE", "Supported: timer", "Session-Expires: "+itoa(tt.se)))
			assert.Equal(t, epoch.Add(tt.expiry), e.s.ExpiresAt())
			e.at(tt.expiry - time.Millisecond)
			assert.Empty(t, e.expired)
			e.at(tt.expiry)
			assert.Equal(t, []time.Duration{tt.expiry}, e.expired)
		})
	}
}

// AT-P1-2: bodiless UPDATE refreshes answered with SE, Require and no
// Min-SE; the timer restarts from each; the call survives 3 × SE with the
// peer refreshing at SE/2 and expires at SE − min(32, SE/3) after the last
// refresh once the peer stops.
func TestUASUpdateRefresh(t *testing.T) {
	e := newEnv(t, timer.Config{}, timer.UAS)
	e.answer(e.request("INVITE", "Supported: timer", "Session-Expires: 1800", "Min-SE: 90"))

	last := time.Duration(0)
	for at := sec(900); at <= 3*sec(1800); at += sec(900) {
		e.at(at)
		upd := e.request("UPDATE", "Session-Expires: 1800;refresher=uac", "Supported: timer")
		res := e.answer(upd)
		assert.Equal(t, "1800;refresher=uac", res.Get("Session-Expires"))
		assert.Equal(t, 1, countToken(&res.Header, "Require", "timer"))
		assert.False(t, res.Has("Min-SE"))
		assert.Empty(t, res.Body())
		assert.True(t, res.Has("Contact"))
		assert.Equal(t, epoch.Add(at+sec(1768)), e.s.ExpiresAt(), "restarted from the UPDATE")
		last = at
	}
	assert.Empty(t, e.expired, "no expiry while the peer refreshes")
	assert.True(t, e.s.Active())

	// The peer stops refreshing.
	e.at(last + sec(1768) - time.Second)
	assert.Empty(t, e.expired)
	e.at(last + sec(1768))
	assert.Equal(t, []time.Duration{last + sec(1768)}, e.expired)
	assert.Empty(t, e.refresh)
}

// AT-P1-3 at this level: a re-INVITE refresh is handled like an UPDATE.
func TestUASReInviteRefresh(t *testing.T) {
	e := newEnv(t, timer.Config{}, timer.UAS)
	e.answer(e.request("INVITE", "Supported: timer", "Session-Expires: 1800"))
	e.at(sec(900))
	res := e.answer(e.request("INVITE", "Supported: timer", "Session-Expires: 1800;refresher=uac"))
	assert.Equal(t, "1800;refresher=uac", res.Get("Session-Expires"))
	assert.Equal(t, []string{"timer"}, res.Require())
	assert.Equal(t, epoch.Add(sec(900+1768)), e.s.ExpiresAt())
}

// AT-P1-4: Require: timer is merged once into the Require already there.
func TestRequireMerge(t *testing.T) {
	tests := []struct {
		name     string
		existing []string
		want     []string
	}{
		{"none", nil, []string{"timer"}},
		{"100rel", []string{"Require: 100rel"}, []string{"100rel", "timer"}},
		{"replaces", []string{"Require: replaces"}, []string{"replaces", "timer"}},
		{"already timer", []string{"Require: 100rel, timer"}, []string{"100rel", "timer"}},
		{"timer in other case", []string{"Require: TIMER"}, []string{"TIMER"}},
		{"two fields", []string{"Require: 100rel", "Require: replaces"}, []string{"100rel", "timer", "replaces"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, timer.Config{}, timer.UAS)
			inv := e.request("INVITE", "Supported: timer, 100rel", "Session-Expires: 1800")
			res := response(t, inv, 200, tt.existing...)
			e.s.PrepareResponse(inv, res)
			e.s.PrepareResponse(inv, res) // twice: still once
			assert.Equal(t, tt.want, res.Require())
			assert.Equal(t, 1, countToken(&res.Header, "Require", "timer"))
			assert.Equal(t, 1, countToken(&res.Header, "Supported", "timer"))
			assert.Len(t, res.Values("Session-Expires"), 1)
		})
	}
}

// AT-P1-5: Min-SE in both directions.
func TestMinSEAsUAS(t *testing.T) {
	tests := []struct {
		name    string
		cfg     timer.Config
		method  string
		hdrs    []string
		code    int
		minSE   time.Duration
		wantSE  string
		require bool
	}{
		{"INVITE 60 < 90", timer.Config{}, "INVITE", []string{"Supported: timer", "Session-Expires: 60"}, 422, sec(90), "", false},
		{"UPDATE 60 < 90", timer.Config{}, "UPDATE", []string{"Supported: timer", "Session-Expires: 60;refresher=uac"}, 422, sec(90), "", false},
		{"Require: timer counts as support", timer.Config{}, "INVITE", []string{"Require: timer", "Session-Expires: 89"}, 422, sec(90), "", false},
		{"local Min-SE 600", timer.Config{MinSE: sec(600)}, "INVITE", []string{"Supported: timer", "Session-Expires: 300"}, 422, sec(600), "", false},
		{"SE = Min-SE accepted as is", timer.Config{}, "INVITE", []string{"Supported: timer", "Session-Expires: 90"}, 0, 0, "90;refresher=uac", true},
		{"SE above our interval not lowered", timer.Config{}, "INVITE", []string{"Supported: timer", "Session-Expires: 7200"}, 0, 0, "7200;refresher=uac", true},
		{"not raised to our interval", timer.Config{Interval: sec(3600)}, "INVITE", []string{"Supported: timer", "Session-Expires: 600", "Min-SE: 90"}, 0, 0, "600;refresher=uac", true},
		{"UAC without timer support: raised to Min-SE, we refresh", timer.Config{}, "INVITE", []string{"Session-Expires: 60"}, 0, 0, "90;refresher=uas", false},
		{"malformed Session-Expires", timer.Config{}, "INVITE", []string{"Supported: timer", "Session-Expires: soon"}, 400, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg, timer.UAS)
			req := e.request(tt.method, tt.hdrs...)
			err := e.s.CheckRequest(req)
			if tt.code != 0 {
				var rej *timer.Rejection
				require.ErrorAs(t, err, &rej)
				assert.Equal(t, tt.code, rej.Code)
				assert.Equal(t, tt.minSE, rej.MinSE)
				res := rej.Response(req)
				assert.Equal(t, tt.code, res.StatusCode)
				if tt.minSE > 0 {
					assert.Equal(t, itoa(int(tt.minSE/time.Second)), res.Get("Min-SE"))
				}
				assert.False(t, e.s.Active(), "a rejection changes nothing")
				return
			}
			require.NoError(t, err)
			res := e.answer(req)
			assert.Equal(t, tt.wantSE, res.Get("Session-Expires"))
			assert.Equal(t, tt.require, res.HasToken("Require", "timer"))
		})
	}
}

// AT-P1-5, UAC side, and AT-P1-7's 422 path: retry at once with SE =
// Min-SE of the 422, Min-SE kept for the rest of the dialog.
func TestMinSEAsUAC(t *testing.T) {
	e := newEnv(t, timer.Config{}, timer.UAC)
	inv := e.request("INVITE")
	e.s.PrepareRequest(inv)
	assert.Equal(t, "1800", inv.Get("Session-Expires"))
	assert.Equal(t, "90", inv.Get("Min-SE"))
	assert.Equal(t, []string{"timer"}, inv.Supported())
	assert.False(t, inv.Has("Require"))

	out := e.s.HandleResponse(inv, response(t, inv, 422, "Min-SE: 3600"))
	assert.Equal(t, timer.Outcome{Action: timer.ActionRetry, SessionExpires: sec(3600), MinSE: sec(3600)}, out)
	assert.Zero(t, out.Failed, "the initial INVITE is not a refresh")

	retry := e.request("INVITE")
	e.s.PrepareRequest(retry)
	assert.Equal(t, "3600", retry.Get("Session-Expires"))
	assert.Equal(t, "3600", retry.Get("Min-SE"))

	// A 422 that does not ask for more than was sent cannot be fixed.
	assert.Equal(t, timer.Outcome{}, e.s.HandleResponse(retry, response(t, retry, 422, "Min-SE: 1800")))
	assert.Equal(t, timer.Outcome{}, e.s.HandleResponse(retry, response(t, retry, 422)))

	// The 2xx arms the timer; later refreshes keep Min-SE 3600.
	out = e.s.HandleResponse(retry, response(t, retry, 200, "Require: timer", "Session-Expires: 3600;refresher=uac"))
	assert.Equal(t, timer.Outcome{}, out)
	assert.Equal(t, timer.RefresherLocal, e.s.Refresher())
	upd := e.request("UPDATE")
	e.s.PrepareRequest(upd)
	assert.Equal(t, "3600;refresher=uac", upd.Get("Session-Expires"))
	assert.Equal(t, "3600", upd.Get("Min-SE"))
}

// AT-P1-7: a 422 to a refresh retries at once with SE = Min-SE.
func TestRefresh422(t *testing.T) {
	e := newEnv(t, timer.Config{}, timer.UAC)
	establishUAC(t, e, "1800;refresher=uac")
	e.at(sec(900))
	require.Len(t, e.refresh, 1)
	upd := e.request("UPDATE")
	e.s.PrepareRequest(upd)
	out := e.s.HandleResponse(upd, response(t, upd, 422, "Min-SE: 2400"))
	assert.Equal(t, timer.ActionRetry, out.Action)
	assert.Equal(t, sec(2400), out.SessionExpires)
	assert.Equal(t, 422, out.Failed)
	assert.Equal(t, 1, e.s.RefreshFailures())
	upd = e.request("UPDATE")
	e.s.PrepareRequest(upd)
	assert.Equal(t, "2400;refresher=uac", upd.Get("Session-Expires"))
	e.s.HandleResponse(upd, response(t, upd, 200, "Require: timer", "Session-Expires: 2400;refresher=uac"))
	assert.Equal(t, sec(2400), e.s.Interval())
	assert.Equal(t, epoch.Add(sec(900+1200)), e.s.NextRefreshAt())
}

// establishUAC sends the initial INVITE and handles a 2xx carrying se (""
// for none) at the current time.
func establishUAC(t *testing.T, e *env, se string) {
	t.Helper()
	inv := e.request("INVITE")
	e.s.PrepareRequest(inv)
	var hdrs []string
	if se != "" {
		hdrs = []string{"Require: timer", "Supported: timer", "Session-Expires: " + se}
	}
	require.Equal(t, timer.Outcome{}, e.s.HandleResponse(inv, response(t, inv, 200, hdrs...)))
}

// AT-P1-6: role stability when directions flip.
func TestRoleStabilityUASRefresher(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  timer.Config
		hdrs []string
	}{
		{"preference local", timer.Config{Refresher: timer.RefresherLocal}, []string{"Supported: timer", "Session-Expires: 1800"}},
		{"preference UAS", timer.Config{Refresher: timer.RefresherUAS}, []string{"Supported: timer", "Session-Expires: 1800"}},
		{"peer asks uas", timer.Config{}, []string{"Supported: timer", "Session-Expires: 1800;refresher=uas"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg, timer.UAS)
			res := e.answer(e.request("INVITE", tt.hdrs...))
			assert.Equal(t, "1800;refresher=uas", res.Get("Session-Expires"))
			assert.Equal(t, timer.RefresherLocal, e.s.Refresher())
			assert.Equal(t, timer.RefresherUAS, e.s.RefresherRole())
			assert.Equal(t, epoch.Add(sec(900)), e.s.NextRefreshAt())

			for i := 1; i <= 3; i++ {
				e.at(sec(900 * i))
				require.Len(t, e.refresh, i)
				assert.Equal(t, "UPDATE", e.s.RefreshMethod(true))
				assert.Equal(t, "INVITE", e.s.RefreshMethod(false))
				upd := e.request(e.s.RefreshMethod(true))
				e.s.PrepareRequest(upd)
				assert.Equal(t, "1800;refresher=uac", upd.Get("Session-Expires"), "we are the UAC of this request and stay refresher")
				out := e.s.HandleResponse(upd, response(t, upd, 200, "Require: timer", "Session-Expires: 1800;refresher=uac"))
				assert.Equal(t, timer.Outcome{}, out)
				assert.Equal(t, timer.RefresherLocal, e.s.Refresher())
				assert.Equal(t, timer.RefresherUAS, e.s.RefresherRole(), "still the dialog's UAS")
				assert.Equal(t, epoch.Add(sec(900*i+900)), e.s.NextRefreshAt())
			}

			// The peer sends a re-INVITE (hold) without a refresher: the
			// role is kept, so our 2xx says uas again.
			res = e.answer(e.request("INVITE", "Supported: timer", "Session-Expires: 1800"))
			assert.Equal(t, "1800;refresher=uas", res.Get("Session-Expires"))
			assert.Equal(t, timer.RefresherLocal, e.s.Refresher())
			// The peer's request naming us (uas of its request) keeps it too.
			res = e.answer(e.request("UPDATE", "Supported: timer", "Session-Expires: 1800;refresher=uas"))
			assert.Equal(t, "1800;refresher=uas", res.Get("Session-Expires"))
			assert.Equal(t, timer.RefresherLocal, e.s.Refresher())
			assert.Empty(t, e.expired)
		})
	}
}

// AT-P1-6 from the caller's side: the peer (UAS) refreshes; our own
// requests name it uas and never take the role.
func TestRoleStabilityUACRefreshee(t *testing.T) {
	e := newEnv(t, timer.Config{}, timer.UAC)
	establishUAC(t, e, "1800;refresher=uas")
	assert.Equal(t, timer.RefresherRemote, e.s.Refresher())
	assert.Equal(t, timer.RefresherUAS, e.s.RefresherRole())
	assert.Equal(t, epoch.Add(sec(1768)), e.s.ExpiresAt())

	e.at(sec(300))
	hold := e.request("INVITE")
	e.s.PrepareRequest(hold)
	assert.Equal(t, "1800;refresher=uas", hold.Get("Session-Expires"))
	e.s.HandleResponse(hold, response(t, hold, 200, "Require: timer", "Session-Expires: 1800;refresher=uas"))
	assert.Equal(t, timer.RefresherRemote, e.s.Refresher())

	// The peer refreshes; it is the UAC of its UPDATE: refresher=uac.
	e.at(sec(1200))
	res := e.answer(e.request("UPDATE", "Supported: timer", "Session-Expires: 1800;refresher=uac"))
	assert.Equal(t, "1800;refresher=uac", res.Get("Session-Expires"))
	assert.Equal(t, timer.RefresherRemote, e.s.Refresher())
	assert.Equal(t, timer.RefresherUAS, e.s.RefresherRole())
	assert.Equal(t, epoch.Add(sec(1200+1768)), e.s.ExpiresAt())
	assert.Empty(t, e.refresh)
}

// AT-P1-7: each failure path of a refresh this UA owes.
func TestRefreshFailures(t *testing.T) {
	tests := []struct {
		name     string
		role     timer.Role
		code     int // 0: transaction timeout
		hdrs     []string
		action   timer.Action
		min, max time.Duration
	}{
		{"491 owning the Call-ID", timer.UAC, 491, nil, timer.ActionRetryLater, 2100 * time.Millisecond, 4 * time.Second},
		{"491 not owning the Call-ID", timer.UAS, 491, nil, timer.ActionRetryLater, 0, 2 * time.Second},
		{"503 with Retry-After", timer.UAC, 503, []string{"Retry-After: 10"}, timer.ActionRetryLater, sec(10), sec(10)},
		{"503 without Retry-After", timer.UAC, 503, nil, timer.ActionRetryLater, sec(434), sec(434)},
		{"503 Retry-After beyond expiry", timer.UAC, 503, []string{"Retry-After: 3600"}, timer.ActionRetryLater, sec(434), sec(434)},
		{"500", timer.UAS, 500, nil, timer.ActionRetryLater, sec(434), sec(434)},
		{"408", timer.UAC, 408, nil, timer.ActionEnd, 0, 0},
		{"481", timer.UAS, 481, nil, timer.ActionEnd, 0, 0},
		{"timeout", timer.UAC, 0, nil, timer.ActionEnd, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, timer.Config{Refresher: timer.RefresherLocal}, tt.role)
			if tt.role == timer.UAC {
				establishUAC(t, e, "1800;refresher=uac")
			} else {
				e.answer(e.request("INVITE", "Supported: timer", "Session-Expires: 1800"))
			}
			require.Equal(t, timer.RefresherLocal, e.s.Refresher())
			e.at(sec(900))
			require.Len(t, e.refresh, 1)
			upd := e.request("UPDATE")
			e.s.PrepareRequest(upd)
			var out timer.Outcome
			if tt.code == 0 {
				out = e.s.HandleResponse(upd, nil)
			} else {
				out = e.s.HandleResponse(upd, response(t, upd, tt.code, tt.hdrs...))
			}
			wantFailed := tt.code
			if wantFailed == 0 {
				wantFailed = 408
			}
			assert.Equal(t, tt.action, out.Action)
			assert.Equal(t, wantFailed, out.Failed)
			assert.Equal(t, 1, e.s.RefreshFailures())
			if tt.action == timer.ActionEnd {
				assert.Equal(t, timer.SessionTimeout, out.Reason)
				assert.Equal(t, timer.Expired, e.s.State())
				e.at(sec(3600))
				assert.Empty(t, e.expired, "no hook after ActionEnd")
				assert.Len(t, e.refresh, 1)
				return
			}
			assert.GreaterOrEqual(t, out.After, tt.min)
			assert.LessOrEqual(t, out.After, tt.max)
			assert.Equal(t, epoch.Add(sec(900)+out.After), e.s.NextRefreshAt())
			e.at(sec(900) + out.After)
			assert.Len(t, e.refresh, 2, "Refresh is called again for the retry")
			// This time it works.
			upd = e.request("UPDATE")
			e.s.PrepareRequest(upd)
			assert.Equal(t, "1800;refresher=uac", upd.Get("Session-Expires"))
			e.s.HandleResponse(upd, response(t, upd, 200, "Session-Expires: 1800;refresher=uac"))
			assert.Equal(t, epoch.Add(sec(900)+out.After+sec(1768)), e.s.ExpiresAt())
			assert.Empty(t, e.expired)
		})
	}
}

// AT-P1-7: 503 after 503 until too little time is left, then the session
// expires at SE − min(32, SE/3) after the last good refresh.
func TestRefreshRepeated503Expires(t *testing.T) {
	e := newEnv(t, timer.Config{}, timer.UAC)
	establishUAC(t, e, "1800;refresher=uac")
	e.onRefr = func() {
		upd := e.request("UPDATE")
		e.s.PrepareRequest(upd)
		e.s.HandleResponse(upd, response(t, upd, 503))
	}
	e.at(sec(3600))
	assert.Equal(t, []time.Duration{sec(1768)}, e.expired)
	assert.Greater(t, len(e.refresh), 3)
	assert.Equal(t, len(e.refresh), e.s.RefreshFailures())
	for _, r := range e.refresh {
		assert.Less(t, r, sec(1768))
	}
}

// AT-P1-7: no final response by SE − min(32, SE/3) → expired.
func TestRefreshNoResponse(t *testing.T) {
	e := newEnv(t, timer.Config{}, timer.UAC)
	establishUAC(t, e, "1800;refresher=uac")
	assert.Equal(t, epoch.Add(sec(900)), e.s.NextRefreshAt())
	e.at(sec(900))
	require.Len(t, e.refresh, 1)
	e.s.PrepareRequest(e.request("UPDATE")) // sent; no response ever comes
	e.at(sec(1768) - time.Millisecond)
	assert.Empty(t, e.expired)
	e.at(sec(1768))
	assert.Equal(t, []time.Duration{sec(1768)}, e.expired)
	assert.Equal(t, timer.SessionTimeout, e.reasons[0])
}

// A 405 or 501 to an UPDATE refresh falls back to re-INVITE.
func TestUpdateRejectedFallsBackToInvite(t *testing.T) {
	e := newEnv(t, timer.Config{}, timer.UAC)
	establishUAC(t, e, "1800;refresher=uac")
	e.at(sec(900))
	require.Equal(t, "UPDATE", e.s.RefreshMethod(true))
	upd := e.request("UPDATE")
	e.s.PrepareRequest(upd)
	out := e.s.HandleResponse(upd, response(t, upd, 501))
	assert.Equal(t, timer.ActionRetry, out.Action)
	assert.Equal(t, 501, out.Failed)
	assert.Equal(t, "INVITE", e.s.RefreshMethod(true))
}

// §7.2: a 2xx without Session-Expires.
func TestUAC2xxWithoutSessionExpires(t *testing.T) {
	e := newEnv(t, timer.Config{}, timer.UAC)
	establishUAC(t, e, "")
	assert.True(t, e.s.Active(), "we asked, the peer does not support it: we refresh alone")
	assert.Equal(t, timer.RefresherLocal, e.s.Refresher())
	assert.Equal(t, sec(1800), e.s.Interval())
	e.at(sec(900))
	assert.Len(t, e.refresh, 1)

	d := newEnv(t, timer.Config{Disabled: true}, timer.UAC)
	establishUAC(t, d, "")
	assert.False(t, d.s.Active())
	assert.Equal(t, timer.RefresherAuto, d.s.Refresher())
}

// A 2xx with Session-Expires but without a refresher: this UA refreshes.
func TestUAC2xxWithoutRefresher(t *testing.T) {
	e := newEnv(t, timer.Config{}, timer.UAC)
	establishUAC(t, e, "600")
	assert.Equal(t, timer.RefresherLocal, e.s.Refresher())
	assert.Equal(t, sec(600), e.s.Interval())
	assert.Equal(t, epoch.Add(sec(300)), e.s.NextRefreshAt())
}

// As UAS, a request that asks for no timer.
func TestUASRequestWithoutSessionExpires(t *testing.T) {
	tests := []struct {
		name    string
		cfg     timer.Config
		hdrs    []string
		wantSE  string
		require bool
		local   bool
	}{
		{"supports, auto: we refresh", timer.Config{}, []string{"Supported: timer"}, "1800;refresher=uas", true, true},
		{"supports, prefer remote", timer.Config{Refresher: timer.RefresherRemote}, []string{"Supported: timer"}, "1800;refresher=uac", true, false},
		{"supports, peer Min-SE above our interval", timer.Config{}, []string{"Supported: timer", "Min-SE: 2000"}, "2000;refresher=uas", true, true},
		{"no support: we refresh, no Require", timer.Config{}, nil, "1800;refresher=uas", false, true},
		{"no support, prefer remote: still us", timer.Config{Refresher: timer.RefresherUAC}, nil, "1800;refresher=uas", false, true},
		{"disabled: nothing", timer.Config{Disabled: true}, []string{"Supported: timer"}, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg, timer.UAS)
			res := e.answer(e.request("INVITE", tt.hdrs...))
			assert.Equal(t, tt.wantSE, res.Get("Session-Expires"))
			assert.Equal(t, tt.require, res.HasToken("Require", "timer"))
			if tt.wantSE == "" {
				assert.False(t, e.s.Active())
				assert.False(t, res.Has("Supported"))
				return
			}
			assert.Equal(t, tt.local, e.s.Refresher() == timer.RefresherLocal)
		})
	}
}

// AT-P1-8: the knobs take effect.
func TestKnobs(t *testing.T) {
	t.Run("7200 on the wire", func(t *testing.T) {
		e := newEnv(t, timer.Config{Interval: sec(7200), Refresher: timer.RefresherUAC}, timer.UAC)
		inv := e.request("INVITE")
		e.s.PrepareRequest(inv)
		assert.Equal(t, "7200;refresher=uac", inv.Get("Session-Expires"))
		assert.Equal(t, "90", inv.Get("Min-SE"))
		e.s.HandleResponse(inv, response(t, inv, 200, "Require: timer", "Session-Expires: 7200;refresher=uac"))
		assert.Equal(t, sec(7200), e.s.Interval())
		assert.Equal(t, epoch.Add(sec(3600)), e.s.NextRefreshAt())
	})
	t.Run("odd interval and Min-SE", func(t *testing.T) {
		e := newEnv(t, timer.Config{Interval: sec(4321), MinSE: sec(1234), Refresher: timer.RefresherRemote}, timer.UAC)
		inv := e.request("INVITE")
		e.s.PrepareRequest(inv)
		assert.Equal(t, "4321;refresher=uas", inv.Get("Session-Expires"))
		assert.Equal(t, "1234", inv.Get("Min-SE"))
	})
	t.Run("UAS preference as UAC", func(t *testing.T) {
		e := newEnv(t, timer.Config{Refresher: timer.RefresherUAS}, timer.UAC)
		inv := e.request("INVITE")
		e.s.PrepareRequest(inv)
		assert.Equal(t, "1800;refresher=uas", inv.Get("Session-Expires"))
	})
	t.Run("Min-SE honoured as UAS", func(t *testing.T) {
		e := newEnv(t, timer.Config{MinSE: sec(1800)}, timer.UAS)
		var rej *timer.Rejection
		require.ErrorAs(t, e.s.CheckRequest(e.request("INVITE", "Supported: timer", "Session-Expires: 1799")), &rej)
		assert.Equal(t, sec(1800), rej.MinSE)
		assert.NoError(t, e.s.CheckRequest(e.request("INVITE", "Supported: timer", "Session-Expires: 1800")))
	})
	t.Run("method", func(t *testing.T) {
		for _, tt := range []struct {
			m            timer.Method
			allow, block string
		}{
			{timer.MethodAuto, "UPDATE", "INVITE"},
			{timer.MethodUpdate, "UPDATE", "UPDATE"},
			{timer.MethodInvite, "INVITE", "INVITE"},
		} {
			e := newEnv(t, timer.Config{Method: tt.m}, timer.UAC)
			assert.Equal(t, tt.allow, e.s.RefreshMethod(true), tt.m.String())
			assert.Equal(t, tt.block, e.s.RefreshMethod(false), tt.m.String())
		}
	})
	t.Run("other methods untouched", func(t *testing.T) {
		e := newEnv(t, timer.Config{}, timer.UAC)
		bye := e.request("BYE")
		e.s.PrepareRequest(bye)
		assert.False(t, bye.Has("Session-Expires"))
		assert.False(t, bye.Has("Supported"))
		assert.Equal(t, timer.Outcome{}, e.s.HandleResponse(bye, response(t, bye, 408)))
		assert.NoError(t, e.s.CheckRequest(e.request("OPTIONS", "Require: timer", "Session-Expires: 1")))
	})
}

// AT-P1-8: disabled mode.
func TestDisabled(t *testing.T) {
	t.Run("requests carry nothing", func(t *testing.T) {
		e := newEnv(t, timer.Config{Disabled: true}, timer.UAC)
		inv := e.request("INVITE")
		e.s.PrepareRequest(inv)
		assert.False(t, inv.Has("Supported"))
		assert.False(t, inv.Has("Session-Expires"))
		assert.False(t, inv.Has("Min-SE"))
	})
	t.Run("420 when rejecting Require: timer", func(t *testing.T) {
		e := newEnv(t, timer.Config{Disabled: true, RejectRequired: true}, timer.UAS)
		req := e.request("INVITE", "Supported: timer", "Require: timer", "Session-Expires: 1800")
		var rej *timer.Rejection
		require.ErrorAs(t, e.s.CheckRequest(req), &rej)
		assert.Equal(t, 420, rej.Code)
		res := rej.Response(req)
		assert.Equal(t, []string{"timer"}, res.Unsupported())
		assert.Equal(t, "Bad Extension", res.Reason)
		// Without Require it is simply not used.
		assert.NoError(t, e.s.CheckRequest(e.request("INVITE", "Supported: timer", "Session-Expires: 1800")))
	})
	t.Run("Require: timer answered per §9 without RejectRequired", func(t *testing.T) {
		e := newEnv(t, timer.Config{Disabled: true}, timer.UAS)
		res := e.answer(e.request("INVITE", "Supported: timer", "Require: timer", "Session-Expires: 1800"))
		assert.Equal(t, "1800;refresher=uac", res.Get("Session-Expires"))
		assert.Equal(t, []string{"timer"}, res.Require())
		assert.True(t, e.s.Active())
		assert.Equal(t, epoch.Add(sec(1768)), e.s.ExpiresAt())
		// A refresh without Session-Expires turns it off (§9, §7.2).
		e.at(sec(900))
		res = e.answer(e.request("UPDATE", "Supported: timer"))
		assert.False(t, res.Has("Session-Expires"))
		assert.False(t, e.s.Active())
		e.at(sec(7200))
		assert.Empty(t, e.expired)
	})
	t.Run("a peer's timer with the refresher on us keeps its role", func(t *testing.T) {
		e := newEnv(t, timer.Config{Disabled: true}, timer.UAS)
		e.answer(e.request("INVITE", "Supported: timer", "Session-Expires: 1800;refresher=uas"))
		assert.Equal(t, timer.RefresherLocal, e.s.Refresher())
		e.at(sec(900))
		require.Len(t, e.refresh, 1)
		upd := e.request("UPDATE")
		e.s.PrepareRequest(upd)
		assert.Equal(t, "1800;refresher=uac", upd.Get("Session-Expires"))
		assert.True(t, upd.HasToken("Supported", "timer"))
	})
	t.Run("proxy-inserted SE without support is ignored", func(t *testing.T) {
		e := newEnv(t, timer.Config{Disabled: true}, timer.UAS)
		res := e.answer(e.request("INVITE", "Session-Expires: 1800"))
		assert.False(t, res.Has("Session-Expires"))
		assert.False(t, res.Has("Require"))
		assert.False(t, e.s.Active())
	})
}

// AT-P1-8: OnSessionExpiring may extend (veto for a while).
func TestExpiringHookExtends(t *testing.T) {
	e := newEnv(t, timer.Config{}, timer.UAS)
	e.extend = func(n int) time.Duration {
		if n <= 2 {
			return sec(60)
		}
		return 0
	}
	e.answer(e.request("INVITE", "Supported: timer", "Session-Expires: 1800"))
	e.at(sec(1768))
	assert.Equal(t, 1, e.expiring)
	assert.Empty(t, e.expired)
	assert.Equal(t, epoch.Add(sec(1828)), e.s.ExpiresAt())
	e.at(sec(1828))
	assert.Equal(t, 2, e.expiring)
	assert.Empty(t, e.expired)
	e.at(sec(1888))
	assert.Equal(t, 3, e.expiring)
	assert.Equal(t, []time.Duration{sec(1888)}, e.expired)

	// A refresh during an extension restarts the normal timer.
	e = newEnv(t, timer.Config{}, timer.UAS)
	e.extend = func(int) time.Duration { return sec(600) }
	e.answer(e.request("INVITE", "Supported: timer", "Session-Expires: 1800"))
	e.at(sec(1800))
	e.answer(e.request("UPDATE", "Supported: timer", "Session-Expires: 1800;refresher=uac"))
	assert.Equal(t, epoch.Add(sec(1800+1768)), e.s.ExpiresAt())
	assert.Equal(t, 1, e.expiring)
}

func TestStop(t *testing.T) {
	e := newEnv(t, timer.Config{}, timer.UAC)
	establishUAC(t, e, "1800;refresher=uac")
	e.s.Stop()
	e.s.Stop()
	assert.Equal(t, timer.Stopped, e.s.State())
	assert.False(t, e.s.Active())
	assert.Zero(t, e.s.Interval())
	assert.True(t, e.s.NextRefreshAt().IsZero())
	assert.True(t, e.s.ExpiresAt().IsZero())
	e.at(sec(86400))
	assert.Empty(t, e.refresh)
	assert.Empty(t, e.expired)
	upd := e.request("UPDATE")
	e.s.PrepareRequest(upd)
	assert.False(t, upd.Has("Session-Expires"))
	assert.Equal(t, timer.Outcome{}, e.s.HandleResponse(upd, nil))
	res := response(t, upd, 200)
	e.s.PrepareResponse(upd, res)
	assert.False(t, res.Has("Session-Expires"))
}

func TestRejectionError(t *testing.T) {
	var err error = &timer.Rejection{Code: 422, MinSE: sec(90)}
	assert.Equal(t, "timer: reject with 422 Session Interval Too Small (Min-SE 90)", err.Error())
	var rej *timer.Rejection
	assert.True(t, errors.As(err, &rej))
}

func TestStrings(t *testing.T) {
	assert.Equal(t, "UAC", timer.UAC.String())
	assert.Equal(t, "UAS", timer.UAS.String())
	assert.Equal(t, "local", timer.RefresherLocal.String())
	assert.Equal(t, "remote", timer.RefresherRemote.String())
	assert.Equal(t, "uac", timer.RefresherUAC.String())
	assert.Equal(t, "uas", timer.RefresherUAS.String())
	assert.Equal(t, "auto", timer.RefresherAuto.String())
	assert.Equal(t, "active", timer.Active.String())
	assert.Equal(t, "idle", timer.Idle.String())
	assert.Equal(t, "expired", timer.Expired.String())
	assert.Equal(t, "stopped", timer.Stopped.String())
	assert.Equal(t, "retry-later", timer.ActionRetryLater.String())
	assert.Equal(t, "end", timer.ActionEnd.String())
	assert.Equal(t, "none", timer.ActionNone.String())
	assert.Equal(t, "retry", timer.ActionRetry.String())
	assert.Equal(t, "auto", timer.MethodAuto.String())
}

// Methods may be called from other goroutines while the scheduler fires
// timers; run with -race.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, timer.Config{Interval: sec(90)}, timer.UAS)
	e.answer(e.request("INVITE", "Supported: timer", "Session-Expires: 90;refresher=uas"))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = e.s.Interval()
				_ = e.s.NextRefreshAt()
				_ = e.s.ExpiresAt()
				_ = e.s.Refresher()
				_ = e.s.RefreshMethod(true)
			}
		}()
	}
	for i := range 50 {
		e.at(sec(45 * (i + 1)))
	}
	close(stop)
	wg.Wait()
	assert.Len(t, e.refresh, 1, "the refresh never got an answer")
	assert.Len(t, e.expired, 1)
}
