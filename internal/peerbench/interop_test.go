package peerbench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/transport"
	"github.com/sipua-go/sipua/sip/ua"
)

// The interop tests exchange OPTIONS and MESSAGE between sipua and sipgo
// v1.7.2 on 127.0.0.1, in both directions, over UDP and TCP. Run them with
//
//	go test -count=5 -race -run Interop ./...

// Every case finishes within 10 s: its exchanges share one context of
// caseTimeout, and each of the (at most three) teardown steps gets
// closeTimeout.
const (
	caseTimeout  = 7 * time.Second
	closeTimeout = time.Second
)

const interopBody = "hello from the interop test ✓"

var interopTransports = []struct {
	name    string // as in a Via and ua.Target
	network string // as in ua.Config.Listen and sipgo's ListenAndServe
}{
	{"UDP", "udp"},
	{"TCP", "tcp"},
}

// wireLog collects what sipua's transport sent and received, to show the
// wire messages when a case fails.
type wireLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *wireLog) add(dir string, ev transport.Event) {
	data := string(ev.Data)
	if ev.Msg != nil && data == "" {
		data = ev.Msg.String()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("--- sipua %s %s %s %s\n%s", dir, ev.Transport, ev.Local, ev.Remote, data))
}

func (l *wireLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// trace returns a Trace for ua.Config that records every message and
// dumps them when the test fails or skips, or always with INTEROP_TRACE=1.
func (l *wireLog) trace(t *testing.T) *transport.Trace {
	t.Cleanup(func() {
		if t.Failed() || t.Skipped() || os.Getenv("INTEROP_TRACE") == "1" {
			t.Logf("sipua wire trace:\n%s", l)
		}
	})
	return &transport.Trace{
		Sent:     func(ev transport.Event) { l.add("sent", ev) },
		Received: func(ev transport.Event) { l.add("received", ev) },
		Dropped: func(ev transport.Event, err error) {
			l.add(fmt.Sprintf("dropped (%v)", err), ev)
		},
	}
}

// bounded runs f and fails the test if it does not return within d, so
// that a stuck Close cannot hang the suite.
func bounded(t *testing.T, what string, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Errorf("%s did not return within %v", what, d)
	}
}

// newSipuaUA starts a sipua UA listening on one transport on 127.0.0.1 and
// closes it when the test ends.
func newSipuaUA(t *testing.T, network string, wl *wireLog) *ua.UA {
	t.Helper()
	u, err := ua.New(ua.Config{
		Listen:    []string{network + ":127.0.0.1:0"},
		UserAgent: "sipua-interop",
		Trace:     wl.trace(t),
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		assert.NoError(t, u.Close(ctx))
	})
	return u
}

// newSipgoUA builds a sipgo user agent and closes it when the test ends.
func newSipgoUA(t *testing.T) *sipgo.UserAgent {
	t.Helper()
	gua, err := sipgo.NewUA(sipgo.WithUserAgent("sipgo-interop"), sipgo.WithUserAgentHostname("127.0.0.1"))
	require.NoError(t, err)
	t.Cleanup(func() { bounded(t, "sipgo UserAgent.Close", closeTimeout, func() { _ = gua.Close() }) })
	return gua
}

// recorder hands the bodies a handler saw to the test goroutine.
type recorder chan string

func (r recorder) record(body []byte) {
	select {
	case r <- string(body):
	default: // a retransmission seen twice; the first is enough
	}
}

func (r recorder) wait(ctx context.Context, t *testing.T) string {
	t.Helper()
	select {
	case b := <-r:
		return b
	case <-ctx.Done():
		t.Fatalf("handler never saw the MESSAGE: %v", ctx.Err())
		return ""
	}
}

// TestInteropSipgoClientSipuaServer: sipgo's client sends OPTIONS and a
// MESSAGE to a sipua UA.
func TestInteropSipgoClientSipuaServer(t *testing.T) {
	for _, tc := range interopTransports {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
			defer cancel()

			// sipua server.
			wl := &wireLog{}
			srv := newSipuaUA(t, tc.network, wl)
			bodies := make(recorder, 1)
			contentTypes := make(chan string, 1)
			srv.HandleFunc(sip.MethodMessage, func(w ua.ResponseWriter, r *ua.Request) {
				select {
				case contentTypes <- r.Get("Content-Type"):
				default:
				}
				bodies.record(r.Body())
				_ = w.Respond(w.NewResponse(200, "OK"))
			})
			addrs := srv.Addrs()
			require.Len(t, addrs, 1)
			require.Equal(t, tc.name, addrs[0].Transport)
			srvAddr := addrs[0].AddrPort

			// sipgo client.
			gua := newSipgoUA(t)
			client, err := sipgo.NewClient(gua, sipgo.WithClientHostname("127.0.0.1"))
			require.NoError(t, err)

			recipient := func() gosip.Uri {
				var uri gosip.Uri
				s := fmt.Sprintf("sip:bob@%s", srvAddr)
				if tc.name != "UDP" {
					s += ";transport=" + tc.network
				}
				require.NoError(t, gosip.ParseUri(s, &uri))
				return uri
			}

			// OPTIONS.
			opts := gosip.NewRequest(gosip.OPTIONS, recipient())
			res, err := client.Do(ctx, opts)
			require.NoError(t, err, "sipgo OPTIONS")
			assert.Equal(t, 200, res.StatusCode, "OPTIONS: %s", res.StartLine())
			assert.Equal(t, tc.name, res.Transport())
			if to := res.To(); assert.NotNil(t, to) {
				assert.NotEmpty(t, to.Params.GetOr("tag", ""), "a final response carries a To tag")
			}
			if h := res.GetHeader("Server"); assert.NotNil(t, h) {
				assert.Equal(t, "sipua-interop", h.Value())
			}
			if h := res.GetHeader("Allow"); assert.NotNil(t, h) {
				assert.Contains(t, h.Value(), "MESSAGE")
			}

			// MESSAGE with a text/plain body.
			msg := gosip.NewRequest(gosip.MESSAGE, recipient())
			msg.AppendHeader(gosip.NewHeader("Content-Type", "text/plain;charset=UTF-8"))
			msg.SetBody([]byte(interopBody))
			res, err = client.Do(ctx, msg)
			require.NoError(t, err, "sipgo MESSAGE")
			assert.Equal(t, 200, res.StatusCode, "MESSAGE: %s", res.StartLine())
			assert.Equal(t, msg.CallID().Value(), res.CallID().Value())
			assert.Equal(t, msg.CSeq().SeqNo, res.CSeq().SeqNo)
			assert.Equal(t, gosip.MESSAGE, res.CSeq().MethodName)
			if cl := res.ContentLength(); assert.NotNil(t, cl) {
				assert.EqualValues(t, 0, *cl)
			}

			assert.Equal(t, interopBody, bodies.wait(ctx, t), "body seen by the sipua handler")
			assert.Equal(t, "text/plain;charset=UTF-8", <-contentTypes)
		})
	}
}

// TestInteropSipuaClientSipgoServer: sipua's ua.Do sends OPTIONS and a
// MESSAGE to a sipgo server.
func TestInteropSipuaClientSipgoServer(t *testing.T) {
	for _, tc := range interopTransports {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
			defer cancel()

			// sipgo server.
			gua := newSipgoUA(t)
			srv, err := sipgo.NewServer(gua)
			require.NoError(t, err)
			options := make(chan struct{}, 1)
			srv.OnOptions(func(req *gosip.Request, tx gosip.ServerTransaction) {
				select {
				case options <- struct{}{}:
				default:
				}
				res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
				res.AppendHeader(gosip.NewHeader("Allow", "OPTIONS, MESSAGE"))
				if err := tx.Respond(res); err != nil {
					t.Errorf("sipgo OPTIONS respond: %v", err)
				}
			})
			bodies := make(recorder, 1)
			contentTypes := make(chan string, 1)
			srv.OnMessage(func(req *gosip.Request, tx gosip.ServerTransaction) {
				ct := ""
				if h := req.ContentType(); h != nil {
					ct = h.Value()
				}
				select {
				case contentTypes <- ct:
				default:
				}
				bodies.record(req.Body())
				if err := tx.Respond(gosip.NewResponseFromRequest(req, 200, "OK", nil)); err != nil {
					t.Errorf("sipgo MESSAGE respond: %v", err)
				}
			})

			// Listen on port 0 and learn the port from the ready hook.
			srvCtx, stopSrv := context.WithCancel(ctx)
			ready := make(chan string, 1)
			readyCtx := context.WithValue(srvCtx, sipgo.ListenReadyCtxKey,
				sipgo.ListenReadyFuncCtxValue(func(network, addr string) { ready <- addr }))
			served := make(chan error, 1)
			go func() { served <- srv.ListenAndServe(readyCtx, tc.network, "127.0.0.1:0") }()
			t.Cleanup(func() {
				stopSrv()
				select {
				case <-served:
				case <-time.After(closeTimeout):
					t.Errorf("sipgo ListenAndServe did not return")
				}
			})
			var srvAddr netip.AddrPort
			select {
			case a := <-ready:
				srvAddr, err = netip.ParseAddrPort(a)
				require.NoError(t, err)
			case err := <-served:
				t.Fatalf("sipgo ListenAndServe: %v", err)
			case <-ctx.Done():
				t.Fatalf("sipgo did not start listening: %v", ctx.Err())
			}

			// sipua client.
			wl := &wireLog{}
			cli := newSipuaUA(t, tc.network, wl)
			target := ua.Target{Transport: tc.name, AddrPort: srvAddr}
			newReq := func(method string) *sip.Request {
				uri, err := sip.ParseURI(fmt.Sprintf("sip:bob@%s", srvAddr))
				require.NoError(t, err)
				req := sip.NewRequest(method, uri)
				req.Set("From", "<sip:alice@127.0.0.1>")
				req.Set("To", "<sip:bob@127.0.0.1>")
				return req
			}

			// OPTIONS.
			res, err := cli.Do(ctx, newReq(sip.MethodOptions), target)
			require.NoError(t, err, "sipua OPTIONS")
			assert.Equal(t, 200, res.StatusCode)
			assert.NotEmpty(t, res.To().Tag(), "a final response carries a To tag")
			assert.Equal(t, []string{"OPTIONS", "MESSAGE"}, res.Allow())
			select {
			case <-options:
			default:
				t.Error("the sipgo OPTIONS handler did not run")
			}

			// MESSAGE with a text/plain body.
			msg := newReq(sip.MethodMessage)
			msg.Set("Content-Type", "text/plain;charset=UTF-8")
			msg.SetBody([]byte(interopBody))
			res, err = cli.Do(ctx, msg, target)
			require.NoError(t, err, "sipua MESSAGE")
			assert.Equal(t, 200, res.StatusCode)
			assert.Equal(t, msg.CallID(), res.CallID())
			assert.Equal(t, msg.CSeq(), res.CSeq())
			v, ok := res.TopVia()
			if assert.True(t, ok) {
				mv, _ := msg.TopVia()
				assert.Equal(t, mv.Branch(), v.Branch())
				if tc.name == "UDP" {
					rp, present := v.RPort()
					assert.True(t, present, "sipgo answers rport")
					assert.NotZero(t, rp, "sipgo fills rport")
				}
			}

			assert.Equal(t, interopBody, bodies.wait(ctx, t), "body seen by the sipgo handler")
			assert.Equal(t, "text/plain;charset=UTF-8", <-contentTypes)
		})
	}
}
