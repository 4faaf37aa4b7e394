package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/dialog"
	"github.com/sipua-go/sipua/dialog/sdpneg"
	"github.com/sipua-go/sipua/presence"
	"github.com/sipua-go/sipua/presence/pidf"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/auth"
	"github.com/sipua-go/sipua/sip/ua"
)

const domain = "example.test"

var passwords = map[string]string{"alice": "alice-pw", "bob": "bob-pw"}

// autoanswerBin is the autoanswer example, built once by TestMain.
var autoanswerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "softphone-test")
	if err != nil {
		panic(err)
	}
	autoanswerBin = filepath.Join(dir, "autoanswer")
	if out, err := exec.Command("go", "build", "-o", autoanswerBin, "../autoanswer").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build ../autoanswer: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer runs the registrar (digest), the redirect server for
// INVITE and MESSAGE, and the presence server, as quickstart does.
func startServer(t *testing.T) string {
	t.Helper()
	server, err := ua.New(ua.Config{UserAgent: "test-server"})
	require.NoError(t, err)
	t.Cleanup(func() { closeWithin(t, server.Close) })
	digest, err := auth.NewServer(auth.ServerConfig{Realm: domain})
	require.NoError(t, err)
	reg := ua.NewRegistrar(server, ua.RegistrarConfig{Auth: digest, Domains: []string{domain},
		Password: func(user, _ string) (string, bool) { p, ok := passwords[user]; return p, ok }})
	server.Handle(sip.MethodRegister, reg)
	server.Handle(sip.MethodInvite, reg.Redirect())
	server.Handle(sip.MethodMessage, reg.Redirect())
	comp := presence.NewCompositor(server, presence.CompositorConfig{})
	server.Handle(sip.MethodPublish, comp)
	server.Handle(sip.MethodSubscribe, presence.NewNotifier(server, presence.NotifierConfig{Compositor: comp}))
	return server.Addrs()[0].AddrPort.String()
}

func closeWithin(t *testing.T, f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = f(ctx)
}

// bob is an in-process peer registered as sip:bob@example.test: his
// dialog layer answers every call and accepts transfers (calling the
// target directly), his UA takes MESSAGE, and he publishes "available".
type bob struct {
	ua       *ua.UA
	ep       *ua.UserEndpoint
	layer    *dialog.Layer
	messages chan string // out-of-dialog and in-dialog bodies received
	sessions chan *dialog.Session
}

func startBob(t *testing.T, server string) *bob {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := &bob{messages: make(chan string, 16), sessions: make(chan *dialog.Session, 4)}
	var err error
	b.ua, err = ua.New(ua.Config{UserAgent: "test-bob"})
	require.NoError(t, err)
	t.Cleanup(func() { closeWithin(t, b.ua.Close) })
	b.ep, err = ua.NewUserEndpoint(b.ua, ua.UserEndpointConfig{AOR: "sip:bob@" + domain,
		Credentials: auth.Credentials{Password: passwords["bob"]}, Registrars: []string{server}, Expires: 600 * time.Second})
	require.NoError(t, err)
	require.NoError(t, b.ep.Establish(ctx))
	t.Cleanup(func() { closeWithin(t, b.ep.Terminate) })
	media := sdpneg.AudioOnly("127.0.0.1", 41000)
	// Static: the calls bob places for a transfer go straight to the
	// Refer-To URI, not to the redirect server.
	b.layer, err = dialog.New(dialog.Static{Agent: b.ua, Identity: b.ep.Address()}, dialog.Config{Media: &media,
		OnInvite: func(s *dialog.Session) {
			s.OnEvent(b.onEvent)
			b.sessions <- s
			go func() { _ = s.Accept(context.Background(), nil) }()
		},
		OnEvent: b.onEvent,
		OnRefer: func(*dialog.Session, sip.URI, *sip.Request) bool { return true },
	})
	require.NoError(t, err)
	t.Cleanup(func() { closeWithin(t, b.layer.Close) })
	b.ua.HandleFunc(sip.MethodMessage, func(w ua.ResponseWriter, r *ua.Request) {
		_ = w.Respond(w.NewResponse(sip.StatusOK, ""))
		b.messages <- string(r.Body())
	})
	pub, err := presence.NewPublication(presence.PublicationConfig{UA: b.ua, Sender: b.ep, Resource: b.ep.Address().URI})
	require.NoError(t, err)
	doc, err := pidf.New(b.ep.Address().URI.String()).Open().Note("at my desk").Marshal()
	require.NoError(t, err)
	require.NoError(t, pub.Publish(ctx, presence.Body{ContentType: pidf.ContentType, Data: doc}))
	return b
}

func (b *bob) onEvent(s *dialog.Session, ev dialog.Event) {
	switch ev := ev.(type) {
	case dialog.MessageReceived:
		b.messages <- string(ev.Request.Body())
	case dialog.Transferred:
		b.sessions <- ev.Session
	}
}

// message sends alice a pager-mode MESSAGE through the redirect server.
func (b *bob) message(ctx context.Context, to sip.URI, text string) error {
	req := sip.NewRequest(sip.MethodMessage, to)
	req.Set("To", "<"+to.String()+">")
	req.Set("Content-Type", "text/plain")
	req.SetBody([]byte(text))
	_, err := b.ep.Do(ctx, req)
	var se *ua.StatusError
	if !errors.As(err, &se) || se.StatusCode() != sip.StatusMovedTemporarily {
		return err
	}
	again := sip.NewRequest(sip.MethodMessage, se.Response.Contact()[0].URI)
	for _, h := range []string{"From", "To", "Call-ID", "Content-Type"} {
		again.Set(h, req.Get(h))
	}
	again.SetBody(req.Body())
	again.Set("CSeq", sip.CSeq{Seq: req.CSeq().Seq + 1, Method: sip.MethodMessage}.String())
	_, err = b.ua.Do(ctx, again, ua.Target{})
	return err
}

// startAutoanswer runs the autoanswer example binary on a loopback port
// until the test ends and returns its UDP port and its output so far.
func startAutoanswer(t *testing.T) (port string, output func() string) {
	t.Helper()
	cmd := exec.Command(autoanswerBin, "-listen", "127.0.0.1:0")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(t, cmd.Start())
	var mu sync.Mutex
	var all strings.Builder
	first := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			all.WriteString(sc.Text() + "\n")
			mu.Unlock()
			select {
			case first <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
		_ = pw.Close()
		<-done
	})
	output = func() string {
		mu.Lock()
		defer mu.Unlock()
		return all.String()
	}
	select {
	case line := <-first:
		m := regexp.MustCompile(`UDP:127\.0\.0\.1:(\d+)`).FindStringSubmatch(line)
		require.NotNil(t, m, "autoanswer said %q", line)
		return m[1], output
	case <-time.After(10 * time.Second):
		t.Fatalf("autoanswer did not start: %s", output())
	}
	return "", nil
}

// knownLeaks names goroutines of the library allowed to outlive the
// softphone; none since UA.Close ends every live transaction.
var knownLeaks []string

// goroutines counts the live goroutines except the caller's, knownLeaks
// and a test goroutine waiting in assert.Eventually.
func goroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
next:
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 || strings.Contains(g, "assert.Eventually") {
			continue
		}
		for _, k := range knownLeaks {
			if strings.Contains(g, k) {
				continue next
			}
		}
		count++
	}
	return count
}

// session drives the softphone's standard input and reads what it
// prints, in order.
type session struct {
	t    *testing.T
	in   *io.PipeWriter
	out  *syncBuffer
	mark int // expectations are looked for after the last match
	done chan error
}

func startSoftphone(t *testing.T, args ...string) *session {
	pr, pw := io.Pipe()
	s := &session{t: t, in: pw, out: &syncBuffer{}, done: make(chan error, 1)}
	go func() { s.done <- run(context.Background(), args, pr, s.out) }()
	t.Cleanup(func() { _ = pw.Close() })
	return s
}

// send types one command.
func (s *session) send(line string) {
	s.t.Helper()
	_, err := io.WriteString(s.in, line+"\n")
	require.NoError(s.t, err, "softphone stopped reading; output:\n%s", s.out.String())
}

// expect waits until want appears after the previous match and returns
// the line it is on.
func (s *session) expect(want string) string {
	s.t.Helper()
	var line string
	ok := assert.Eventually(s.t, func() bool {
		text := s.out.String()
		i := strings.Index(text[s.mark:], want)
		if i < 0 {
			return false
		}
		i += s.mark
		start := strings.LastIndexByte(text[:i], '\n') + 1
		end := strings.IndexByte(text[i:], '\n')
		if end < 0 {
			return false // the line is not complete yet
		}
		line = text[start : i+end]
		s.mark = i + end
		return true
	}, 10*time.Second, 5*time.Millisecond)
	if !ok {
		s.t.Fatalf("no %q in the output after offset %d:\n%s", want, s.mark, s.out.String())
	}
	return line
}

// expectUnordered waits until every one of wants appears after the
// previous match, in any order (a command's own line and an event it
// causes race each other).
func (s *session) expectUnordered(wants ...string) {
	s.t.Helper()
	from, end := s.mark, s.mark
	for _, want := range wants {
		s.mark = from
		s.expect(want)
		end = max(end, s.mark)
	}
	s.mark = end
}

// expectStatus waits for the next status line containing want.
func (s *session) expectStatus(want string) string {
	s.t.Helper()
	line := s.expect(want)
	require.Regexp(s.t, `^\[\w+@example\.test \| [a-z ]+ \| .* \| watching \d+\]$`, line, "a status line")
	return line
}

func (s *session) wait() error {
	select {
	case err := <-s.done:
		return err
	case <-time.After(20 * time.Second):
		s.t.Fatalf("softphone did not quit:\n%s", s.out.String())
		return nil
	}
}

// The scripted session of the brief: register, call the autoanswer
// example, send messages, hold, resume, hang up, publish, watch, quit.
func TestScriptedSession(t *testing.T) {
	server := startServer(t)
	b := startBob(t, server)
	aaPort, aaOutput := startAutoanswer(t)
	aa := "sip:autoanswer@127.0.0.1:" + aaPort
	baseline := goroutines()

	s := startSoftphone(t, "-server", server, "-user", "sip:alice@example.test", "-password", "alice-pw", "-session-expires", "600")
	s.expect("type help for commands (no media")
	s.expectStatus("[alice@example.test | unregistered | no call | watching 0]")

	s.send("register")
	assert.Contains(t, s.expect("registered alice@example.test at "), "expires 1h0m0s")
	s.expectStatus("[alice@example.test | registered | no call | watching 0]")

	s.send("call " + aa)
	s.expect("calling " + aa)
	s.expectStatus("call: ")
	assert.Contains(t, s.expect("call established with autoanswer@127.0.0.1"), "session timer 10m0s")
	s.expectStatus("| registered | call: established with autoanswer 00:0")

	s.send("say hello over the dialog")
	s.expect("said to autoanswer@127.0.0.1 (200 OK)")
	s.expectStatus("call: established with autoanswer")

	s.send("msg sip:bob@example.test hi bob, from the softphone")
	s.expect("message to bob@example.test delivered (200 OK)")
	select {
	case m := <-b.messages:
		assert.Equal(t, "hi bob, from the softphone", m)
	case <-time.After(5 * time.Second):
		t.Fatal("bob got no message")
	}

	s.send("hold")
	s.expect("call with autoanswer@127.0.0.1 on hold")
	s.expectStatus("call: on hold with autoanswer")
	s.send("resume")
	s.expect("call with autoanswer@127.0.0.1 resumed")
	s.expectStatus("call: established with autoanswer")

	s.send("status")
	s.expect("registration: registered (server " + server + ")")
	s.expect("session timer 10m0s")

	s.send("hangup")
	s.expect("call with autoanswer@127.0.0.1 ended: you hung up")
	s.expectStatus("[alice@example.test | registered | no call | watching 0]")

	s.send("publish busy in a meeting")
	s.expect(`published busy ("in a meeting")`)
	s.expectStatus("[alice@example.test | registered | no call | presence: busy | watching 0]")

	s.send("watch bob")
	s.expectUnordered("watching bob@example.test\n", `bob@example.test is available ("at my desk")`)
	s.expectStatus("| watching 1]")

	s.send("watch sip:alice@example.test")
	s.expect(`alice@example.test is busy ("in a meeting")`)
	s.send("publish on-the-phone")
	s.expect(`alice@example.test is on-the-phone`)
	s.expectStatus("presence: on-the-phone | watching 2]")

	s.send("unwatch bob")
	s.expect("stopped watching bob@example.test")
	s.expectStatus("| watching 1]")

	s.send("frobnicate")
	s.expect(`unknown command "frobnicate"`)
	s.send("answer")
	s.expect("answer: no incoming call")

	s.send("quit")
	s.expect("unregistered alice@example.test")
	s.expect("bye")
	require.NoError(t, s.wait())
	_ = s.in.Close()
	final := s.out.String()
	assert.True(t, strings.HasSuffix(final, "bye\n"), "nothing after bye:\n%s", final)

	// The autoanswer example saw one call, answered and ended by our BYE.
	assert.Eventually(t, func() bool { return strings.Contains(aaOutput(), "Established → Terminated") }, 5*time.Second, 10*time.Millisecond, aaOutput())
	assert.Contains(t, aaOutput(), "INVITE from sip:alice@example.test")

	// Everything the softphone started has ended.
	if !assert.Eventually(t, func() bool { return goroutines() <= baseline }, 10*time.Second, 20*time.Millisecond,
		"goroutines: %d, baseline %d", goroutines(), baseline) {
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
	}
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, final, s.out.String(), "nothing is printed after run returns")
}

// Incoming calls are announced and answered; messages in and out of the
// call are printed; a blind transfer hands bob over to the autoanswer
// example; a second call is rejected; unregister works.
func TestIncomingCallMessagesTransfer(t *testing.T) {
	server := startServer(t)
	b := startBob(t, server)
	aaPort, aaOutput := startAutoanswer(t)
	aa := "sip:autoanswer@127.0.0.1:" + aaPort

	s := startSoftphone(t, "-server", server, "-password", "alice-pw", "-session-expires", "0")
	s.send("register")
	s.expectStatus("| registered | no call |")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice := sip.URI{Scheme: "sip", User: "alice", Host: domain}
	target, err := b.ep.Target(ctx)
	require.NoError(t, err)
	type result struct {
		s   *dialog.Session
		err error
	}
	calls := make(chan result, 1)
	go func() {
		cs, err := b.layer.Invite(ctx, alice, dialog.InviteOptions{Target: target})
		calls <- result{cs, err}
	}()
	s.expect("incoming call from bob@example.test — type answer or reject")
	s.expectStatus("call: incoming from bob")
	s.send("answer")
	// -session-expires 0: no timer of ours, but bob's is answered (RFC 4028 §9).
	assert.Contains(t, s.expect("call established with bob@example.test"), "refresher remote")
	s.expectStatus("call: established with bob")
	r := <-calls
	require.NoError(t, r.err)
	toAlice := r.s

	_, err = toAlice.Message(ctx, sip.MethodMessage, "text/plain", []byte("hello inside the call"))
	require.NoError(t, err)
	s.expect("message from bob@example.test (in call): hello inside the call")
	require.NoError(t, b.message(ctx, alice, "hello as a page"))
	s.expect("message from bob@example.test: hello as a page")
	s.send("say hi bob")
	s.expect("said to bob@example.test (200 OK)")
	assert.Equal(t, "hi bob", <-b.messages)

	s.send("transfer " + aa)
	s.expect("transferring bob@example.test to " + aa)
	s.expect("transfer to autoanswer@127.0.0.1 succeeded; hanging up")
	s.expect("call with bob@example.test ended: you hung up")
	select {
	case <-toAlice.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("bob's call with alice did not end")
	}
	var transferred *dialog.Session
	select {
	case transferred = <-b.sessions:
	case <-time.After(5 * time.Second):
		t.Fatal("bob reported no transferred call")
	}
	assert.Equal(t, dialog.Established, transferred.State())
	assert.Equal(t, "autoanswer", transferred.Request().URI.User)
	assert.Eventually(t, func() bool { return strings.Contains(aaOutput(), "INVITE from sip:bob@example.test") }, 5*time.Second, 10*time.Millisecond)
	_ = transferred.Hangup(ctx)

	// A second call, rejected.
	go func() {
		cs, err := b.layer.Invite(ctx, alice, dialog.InviteOptions{Target: target})
		calls <- result{cs, err}
	}()
	s.expect("incoming call from bob@example.test")
	s.send("reject 603")
	s.expect("call with bob@example.test ended: rejected (603")
	s.expectStatus("| registered | no call |")
	r = <-calls
	var te *dialog.TerminatedError
	require.ErrorAs(t, r.err, &te)
	assert.Equal(t, 603, te.StatusCode)

	// Calling a user who is not registered fails with the redirect
	// server's answer.
	s.send("call carol")
	s.expect("calling sip:carol@example.test")
	s.expect("call with carol@example.test ended: rejected (480 Temporarily Unavailable)")

	s.send("unregister")
	s.expect("unregistered alice@example.test")
	s.expectStatus("[alice@example.test | unregistered | no call | watching 0]")
	s.send("register")
	s.expectStatus("[alice@example.test | registered | no call | watching 0]")
	s.send("quit")
	require.NoError(t, s.wait())
}

// Without a server the softphone calls directly, and says so when asked
// for what needs one.
func TestNoServer(t *testing.T) {
	aaPort, _ := startAutoanswer(t)
	s := startSoftphone(t, "-user", "sip:dave@example.test")
	s.expectStatus("[dave@example.test | unregistered | no call | watching 0]")
	s.send("register")
	s.expect("register: no -server given")
	s.send("call 127.0.0.1:" + aaPort)
	s.expect("call established with 127.0.0.1")
	s.expectStatus("call: established with 127.0.0.1")
	s.send("call sip:x@127.0.0.1:" + aaPort)
	s.expect("call: already in a call with 127.0.0.1")
	// quit hangs up the call on the way out.
	s.send("quit")
	s.expect("call with 127.0.0.1 ended: ")
	s.expect("bye")
	require.NoError(t, s.wait())
}

func TestHelpAndFlags(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-h"}, strings.NewReader(""), &out)
	assert.ErrorIs(t, err, flag.ErrHelp)
	text := out.String()
	assert.Contains(t, text, "No media flows")
	for _, f := range []string{"-server", "-user", "-password", "-listen", "-expires", "-session-expires", "-trace"} {
		assert.Contains(t, text, f)
	}

	for _, bad := range [][]string{{"-user", "alice"}, {"-listen", "nope"}, {"-session-expires", "30"}, {"-expires", "0"}, {"extra"}} {
		out.Reset()
		assert.Error(t, run(context.Background(), bad, strings.NewReader(""), &out), strings.Join(bad, " "))
	}

	// help at the prompt lists every command and repeats the media note.
	out.Reset()
	require.NoError(t, run(context.Background(), nil, strings.NewReader("help\n"), &out))
	for _, c := range []string{"register", "unregister", "call <uri>", "answer", "reject [code]", "hangup", "hold", "resume",
		"transfer <uri>", "msg <uri> <text>", "say <text>", "status", "publish <available|busy|away|on-the-phone>", "watch <uri>", "unwatch <uri>", "quit"} {
		assert.Contains(t, out.String(), "  "+c)
	}
	assert.Contains(t, out.String(), "no media flows")
	assert.True(t, strings.HasSuffix(out.String(), "bye\n"), "the end of input quits:\n%s", out.String())
}
