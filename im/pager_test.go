package im_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/im"
	"github.com/sipua-go/sipua/im/imtest"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transaction"
	"github.com/sipua-go/sipua/sip/ua"
)

func newUA(t *testing.T, cfg ua.Config) *ua.UA {
	t.Helper()
	u, err := ua.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = u.Close(context.Background()) })
	return u
}

func alicePager(t *testing.T, u *ua.UA) *im.Pager {
	t.Helper()
	p, err := im.NewPager(im.PagerConfig{UA: u, From: sip.Address{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.test"}}})
	require.NoError(t, err)
	return p
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// RFC 3428 §4/§7: a MESSAGE of any content type is answered 200 and
// delivered with its sender, type and body.
func TestPagerSendReceive(t *testing.T) {
	bob := imtest.New(t, imtest.Config{})
	alice := alicePager(t, newUA(t, ua.Config{}))

	res, err := alice.SendText(ctx(t), bob.URI, "hello bob")
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	assert.False(t, im.Accepted(res))
	m := bob.Next(t, 5*time.Second)
	assert.Equal(t, "sip:alice@example.test", m.From.URI.String())
	assert.Equal(t, "text/plain", m.ContentType)
	assert.Equal(t, "hello bob", m.Text())
	assert.Equal(t, "UDP", m.Transport)

	_, err = alice.Send(ctx(t), bob.URI, "application/json", []byte(`{"x":1}`))
	require.NoError(t, err)
	m = bob.Next(t, 5*time.Second)
	assert.Equal(t, "application/json", m.ContentType)
	assert.JSONEq(t, `{"x":1}`, string(m.Body))
}

// 202 Accepted (a store-and-forward server, RFC 3428 §7) is a success.
func TestPagerAccepted202(t *testing.T) {
	srv := newUA(t, ua.Config{})
	srv.HandleFunc("MESSAGE", func(w ua.ResponseWriter, r *ua.Request) { _ = w.Respond(w.NewResponse(202, "")) })
	alice := alicePager(t, newUA(t, ua.Config{}))
	to := sip.URI{Scheme: "sip", User: "store", Host: "127.0.0.1", Port: int(srv.Addrs()[0].AddrPort.Port())}
	res, err := alice.SendText(ctx(t), to, "later")
	require.NoError(t, err)
	assert.True(t, im.Accepted(res))
}

// AT-P3-2: messages that arrive before the application attaches a handler
// are answered 200 and buffered, then delivered in order.
func TestPagerBuffersUntilHandler(t *testing.T) {
	bob := imtest.New(t, imtest.Config{Hold: true})
	alice := alicePager(t, newUA(t, ua.Config{}))
	for i := range 5 {
		res, err := alice.SendText(ctx(t), bob.URI, "m"+strconv.Itoa(i))
		require.NoError(t, err)
		require.Equal(t, 200, res.StatusCode)
	}
	assert.Equal(t, 5, bob.Pager.Pending())
	got := make(chan string, 10)
	bob.Pager.OnMessage(func(m *im.Message) { got <- m.Text() })
	for i := range 5 {
		select {
		case s := <-got:
			assert.Equal(t, "m"+strconv.Itoa(i), s)
		case <-time.After(5 * time.Second):
			t.Fatal("buffered message not delivered")
		}
	}
	// After the handler is attached, messages flow straight through.
	_, err := alice.SendText(ctx(t), bob.URI, "live")
	require.NoError(t, err)
	select {
	case s := <-got:
		assert.Equal(t, "live", s)
	case <-time.After(5 * time.Second):
		t.Fatal("live message not delivered")
	}
}

// A full buffer refuses with 480 rather than drop what it answered 200.
func TestPagerBufferFull(t *testing.T) {
	bobUA := newUA(t, ua.Config{})
	_, err := im.NewPager(im.PagerConfig{UA: bobUA, Buffer: 2})
	require.NoError(t, err)
	alice := alicePager(t, newUA(t, ua.Config{}))
	to := sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: int(bobUA.Addrs()[0].AddrPort.Port())}
	for range 2 {
		_, err := alice.SendText(ctx(t), to, "x")
		require.NoError(t, err)
	}
	_, err = alice.SendText(ctx(t), to, "x")
	var de *im.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 480, de.StatusCode)
	assert.True(t, de.Temporary())
}

// Size rules: over the receiver's limit → 513 Message Too Large (a
// *DeliveryError wrapping the *ua.StatusError); over our own limit → a
// *SizeError before anything is sent.
func TestPagerSizeLimits(t *testing.T) {
	bob := imtest.New(t, imtest.Config{MaxSize: 100})
	alice := alicePager(t, newUA(t, ua.Config{}))
	_, err := alice.SendText(ctx(t), bob.URI, strings.Repeat("a", 200))
	var de *im.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 513, de.StatusCode)
	var se *ua.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 513, se.StatusCode())
	assert.False(t, de.Temporary())

	small, err := im.NewPager(im.PagerConfig{UA: newUA(t, ua.Config{}), MaxSize: 10})
	require.NoError(t, err)
	_, err = small.SendText(ctx(t), bob.URI, strings.Repeat("a", 11))
	var sz *im.SizeError
	require.ErrorAs(t, err, &sz)
	assert.True(t, errors.Is(err, im.ErrTooLarge))
	assert.Equal(t, 11, sz.Size)
	assert.Equal(t, 10, sz.Limit)
	assert.Equal(t, 0, bob.Pager.Pending())
	select {
	case m := <-bob.Messages:
		t.Fatalf("refused message was delivered: %q", m.Text())
	default:
	}
}

// A content type outside Accept is answered 415.
func TestPagerUnsupportedType(t *testing.T) {
	bob := imtest.New(t, imtest.Config{Accept: []string{"text/plain"}})
	alice := alicePager(t, newUA(t, ua.Config{}))
	_, err := alice.Send(ctx(t), bob.URI, "application/json", []byte("{}"))
	var de *im.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 415, de.StatusCode)
	assert.Equal(t, "text/plain", de.Response.Get("Accept"))
}

// RFC 3428 §9: a MESSAGE over 1300 bytes goes over TCP when the UA has a
// TCP listener (the UA core switches); a small one stays on UDP; without
// a TCP listener the large one is refused with a *SizeError.
func TestPagerLargeMessageSwitchesToTCP(t *testing.T) {
	bob := imtest.New(t, imtest.Config{TCP: true})
	aliceUA := newUA(t, ua.Config{Listen: []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}})
	alice := alicePager(t, aliceUA)

	_, err := alice.SendText(ctx(t), bob.URI, "small")
	require.NoError(t, err)
	assert.Equal(t, "UDP", bob.Next(t, 5*time.Second).Transport)

	big := strings.Repeat("x", 1200) // with the headers, over 1300 bytes
	_, err = alice.SendText(ctx(t), bob.URI, big)
	require.NoError(t, err)
	m := bob.Next(t, 5*time.Second)
	assert.Equal(t, "TCP", m.Transport)
	assert.Equal(t, big, m.Text())

	udpOnly := alicePager(t, newUA(t, ua.Config{}))
	_, err = udpOnly.SendText(ctx(t), bob.URI, big)
	var sz *im.SizeError
	require.ErrorAs(t, err, &sz)
	assert.True(t, sz.Congestion)
	assert.Greater(t, sz.Size, 1300)
}

// No answer: a *DeliveryError whose Timeout() is true (Timer F).
func TestPagerTimeout(t *testing.T) {
	silent := newUA(t, ua.Config{}) // no MESSAGE handler... but it answers 405; use a closed port instead
	port := int(silent.Addrs()[0].AddrPort.Port())
	require.NoError(t, silent.Close(context.Background()))
	alice := alicePager(t, newUA(t, ua.Config{Timers: transaction.Config{T1: 5 * time.Millisecond}}))
	_, err := alice.SendText(ctx(t), sip.URI{Scheme: "sip", User: "nobody", Host: "127.0.0.1", Port: port}, "anyone?")
	var de *im.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.True(t, de.Timeout(), "%v", err)
	assert.Equal(t, 0, de.StatusCode)
}

// Concurrent senders and one receiver: every message arrives once.
func TestPagerConcurrent(t *testing.T) {
	bob := imtest.New(t, imtest.Config{})
	alice := alicePager(t, newUA(t, ua.Config{}))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := alice.SendText(ctx(t), bob.URI, strconv.Itoa(i))
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for range 20 {
		seen[bob.Next(t, 5*time.Second).Text()] = true
	}
	assert.Len(t, seen, 20)
}

// A redirect server's 302 is followed to the registered contact (at most
// three times); with NoRedirect it is a DeliveryError.
func TestPagerFollowsRedirect(t *testing.T) {
	bob := imtest.New(t, imtest.Config{})
	redirect := newUA(t, ua.Config{})
	redirect.HandleFunc("MESSAGE", func(w ua.ResponseWriter, r *ua.Request) {
		res := w.NewResponse(302, "")
		res.Set("Contact", "<"+bob.URI.String()+">")
		_ = w.Respond(res)
	})
	to := sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: int(redirect.Addrs()[0].AddrPort.Port())}
	alice := alicePager(t, newUA(t, ua.Config{}))
	res, err := alice.SendText(ctx(t), to, "via the redirect")
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "via the redirect", bob.Next(t, 5*time.Second).Text())

	strict, err := im.NewPager(im.PagerConfig{UA: newUA(t, ua.Config{}), NoRedirect: true})
	require.NoError(t, err)
	_, err = strict.SendText(ctx(t), to, "no")
	var de *im.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 302, de.StatusCode)
}
