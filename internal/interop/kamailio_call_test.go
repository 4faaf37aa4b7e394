package interop

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/dialog/sdpneg"
	"github.com/sipua-go/sipua/internal/clock"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
	"github.com/sipua-go/sipua/timer"
)

// Alice and bob register at a record-routing Kamailio; alice calls bob
// through it with a 90 s session timer that she refreshes; three UPDATE
// refreshes travel through the proxy (the route set of the dialog), each
// answered with Session-Expires, and the BYE too. The two sipua UAs share
// a fake clock (Kamailio runs in real time: nothing waits on it).
func TestKamailioRecordRoutedCallWithRefreshes(t *testing.T) {
	k := runKamailio(t, "proxy.cfg", freeUDPPort(t))
	fake := clock.NewFake(time.Unix(1.7e9, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	phone := func(user, password string) (*ua.UA, *ua.UserEndpoint) {
		u, err := ua.New(ua.Config{Clock: fake})
		require.NoError(t, err)
		t.Cleanup(func() { _ = u.Close(context.Background()) })
		ep, err := ua.NewUserEndpoint(u, ua.UserEndpointConfig{AOR: "sip:" + user + "@example.test",
			Credentials: auth.Credentials{Password: password}, Registrars: []string{k.addr()}, Expires: 600 * time.Second})
		require.NoError(t, err)
		return u, ep
	}
	aliceUA, alice := phone("alice", "alice123")
	k.waitReady(t, aliceUA)
	require.NoError(t, alice.Establish(ctx))
	_, bob := phone("bob", "bob123")
	require.NoError(t, bob.Establish(ctx))

	bobMedia := sdpneg.AudioOnly("127.0.0.1", 40002)
	incoming := make(chan *dialog.Session, 1)
	bobRefreshed := make(chan dialog.Refreshed, 8)
	_, err := dialog.New(bob, dialog.Config{Media: &bobMedia, OnInvite: func(s *dialog.Session) {
		s.OnEvent(func(_ *dialog.Session, ev dialog.Event) {
			if r, ok := ev.(dialog.Refreshed); ok {
				bobRefreshed <- r
			}
		})
		incoming <- s
		go func() { _ = s.Accept(context.Background(), nil) }()
	}})
	require.NoError(t, err)
	aliceMedia := sdpneg.AudioOnly("127.0.0.1", 40000)
	calls, err := dialog.New(alice, dialog.Config{Media: &aliceMedia,
		SessionTimer: timer.Config{Interval: 90 * time.Second, Refresher: timer.RefresherUAC}})
	require.NoError(t, err)
	aliceRefreshed := make(chan dialog.Refreshed, 8)
	call, err := calls.Invite(ctx, bob.Address().URI, dialog.InviteOptions{OnEvent: func(_ *dialog.Session, ev dialog.Event) {
		if r, ok := ev.(dialog.Refreshed); ok {
			aliceRefreshed <- r
		}
	}})
	require.NoError(t, err)
	in := <-incoming
	routes := call.Dialog().RouteSet()
	require.Len(t, routes, 1, "Kamailio record-routed the INVITE")
	assert.Contains(t, routes[0], k.addr())
	assert.Equal(t, routes, reversed(in.Dialog().RouteSet()))
	require.Eventually(t, func() bool { return in.State() == dialog.Established }, 5*time.Second, time.Millisecond)

	for i := 0; i < 3; i++ {
		fake.Advance(45 * time.Second)
		for _, ch := range []chan dialog.Refreshed{aliceRefreshed, bobRefreshed} {
			select {
			case r := <-ch:
				assert.Equal(t, "UPDATE", r.Method)
				assert.Equal(t, 90*time.Second, r.Interval)
				assert.Equal(t, "uac", r.Refresher)
			case <-time.After(5 * time.Second):
				t.Fatalf("refresh %d did not pass through Kamailio", i+1)
			}
		}
	}
	assert.Equal(t, dialog.Established, in.State(), "bob's timer was restarted by every refresh")
	require.NoError(t, call.Hangup(ctx))
	select {
	case <-in.Done():
		assert.Equal(t, dialog.RemoteBye, in.Err().Cause)
	case <-time.After(5 * time.Second):
		t.Fatal("the BYE did not pass through Kamailio")
	}
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}
