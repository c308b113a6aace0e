package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runCLI runs one command of the binary in process, as main does, with
// the environment given (none when nil), and returns its output and error.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	lookupEnv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var out, errOut bytes.Buffer
	switch args[0] {
	case "publish":
		err = publishCommand(ctx, args[1:], lookupEnv, strings.NewReader(stdin), &out, &errOut)
	case "subscribe":
		err = subscribeCommand(ctx, args[1:], lookupEnv, &out, &errOut)
	default:
		err = run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	}
	return out.String(), errOut.String(), err
}

// publishLine is what "ssebridge publish" prints: ID sequence=N time=T
// [duplicate].
var publishLine = regexp.MustCompile(`^(\S+) sequence=(\d+) time=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)( duplicate)?\n$`)

// cliPublish publishes with "ssebridge publish" and returns the event's id.
func cliPublish(t *testing.T, addr string, args ...string) string {
	t.Helper()
	out, errOut, err := runCLI(t, nil, "", append([]string{"publish", "--addr", addr}, args...)...)
	m := publishLine.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("publish %q: %v\nstdout: %q\nstderr: %s", args, err, out, errOut)
	}
	return m[1]
}

// TestPublishCommand publishes with "ssebridge publish" in every way it
// offers and checks what an SSE subscriber receives and what the command
// prints.
func TestPublishCommand(t *testing.T) {
	s := startServer(t, nil)
	sse := s.sse(t, "/v1/events?topic=orders", "")
	expect := func(id, typ, data string) {
		t.Helper()
		if e := next(t, sse); e.ID != id || e.Type != typ || e.Data != data {
			t.Fatalf("SSE event %+v, want id %s type %s data %q", e, id, typ, data)
		}
	}

	// Flags, through run as main calls it.
	out, errOut, err := runCLI(t, nil, "", "publish", "--addr", s.grpcAddr, "--topic", "orders", "--type", "created", "--data", `{"id":1}`)
	m := publishLine.FindStringSubmatch(out)
	if err != nil || m == nil || m[2] != "1" || m[4] != "" || errOut != "" {
		t.Fatalf("publish = %v, stdout %q, stderr %q", err, out, errOut)
	}
	if at, _ := time.Parse(time.RFC3339, m[3]); time.Since(at) > time.Minute || time.Since(at) < -time.Minute {
		t.Errorf("publish time %s is not now", m[3])
	}
	expect(m[1], "created", `{"id":1}`)

	// Data from standard input; one final line break is dropped.
	out, _, err = runCLI(t, nil, "first line\r\nsecond line\n", "publish", "--addr", s.grpcAddr, "--topic", "orders", "--data", "-")
	if m = publishLine.FindStringSubmatch(out); err != nil || m == nil || m[2] != "2" {
		t.Fatalf("publish --data - = %v, %q", err, out)
	}
	expect(m[1], "message", "first line\nsecond line")

	// An idempotency key: the second publish is a duplicate with the same id.
	first := cliPublish(t, s.grpcAddr, "--topic", "orders", "--data", "once", "--idempotency-key", "k1")
	out, _, err = runCLI(t, nil, "", "publish", "--addr", s.grpcAddr, "--topic", "orders", "--data", "once", "--idempotency-key", "k1")
	if m = publishLine.FindStringSubmatch(out); err != nil || m == nil || m[1] != first || m[2] != "3" || m[4] != " duplicate" {
		t.Fatalf("publish with a repeated key = %v, %q; want %s sequence=3 ... duplicate", err, out, first)
	}
	expect(first, "message", "once")

	// The environment sets flags; the command line wins; --json prints the
	// response in the REST API's JSON.
	env := map[string]string{"SSEBRIDGE_ADDR": s.grpcAddr, "SSEBRIDGE_TOPIC": "elsewhere", "SSEBRIDGE_JSON": "true"}
	out, _, err = runCLI(t, env, "", "publish", "--topic", "orders", "--type", "paid", "--data", "4")
	var resp struct {
		ID        string `json:"id"`
		Sequence  string `json:"sequence"`
		Time      string `json:"time"`
		Duplicate *bool  `json:"duplicate"`
	}
	if err != nil || strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &resp) != nil ||
		resp.ID == "" || resp.Sequence != "4" || resp.Time == "" || resp.Duplicate == nil || *resp.Duplicate {
		t.Fatalf("publish --json = %v, %q", err, out)
	}
	expect(resp.ID, "paid", "4")
}

// TestPublishCommandErrors checks that bad input and an unreachable
// service are errors that say what is wrong.
func TestPublishCommandErrors(t *testing.T) {
	s := startServer(t, nil)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of the error
	}{
		{"no topic", []string{"--data", "x"}, []string{"--topic is required"}},
		{"bad topic", []string{"--topic", "no spaces", "--data", "x"}, []string{"publish to no spaces: invalid argument", "topic"}},
		{"reserved type", []string{"--topic", "t", "--type", "ssebridge.x", "--data", "x"}, []string{"invalid argument", "type"}},
		{"unknown flag", []string{"--topic", "t", "--nope"}, []string{"not defined: -nope"}},
		{"arguments", []string{"--topic", "t", "data"}, []string{`unexpected arguments: ["data"]`}},
		{"bad timeout", []string{"--topic", "t", "--timeout", "0s"}, []string{"--timeout must be positive"}},
		{"missing CA file", []string{"--topic", "t", "--tls-ca", filepath.Join(t.TempDir(), "none.pem")}, []string{"--tls-ca", "no such file"}},
		{"TLS to a plaintext server", []string{"--topic", "t", "--tls"}, []string{"is unavailable"}},
		{"unreachable", []string{"--addr", closedAddr, "--topic", "t"}, []string{"the service at " + closedAddr + " is unavailable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"publish", "--addr", s.grpcAddr}, tc.args...)
			out, _, err := runCLI(t, nil, "", args...)
			if err == nil {
				t.Fatalf("publish %q succeeded: %q", tc.args, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("publish %q: error %q does not contain %q", tc.args, err, w)
				}
			}
			if out != "" {
				t.Errorf("publish %q printed %q on failure", tc.args, out)
			}
		})
	}
	if _, _, err := runCLI(t, nil, "", "frobnicate"); err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Errorf("an unknown command: %v", err)
	}
}

// cliSubscriber is "ssebridge subscribe" running in process, with its
// standard output and error read line by line.
type cliSubscriber struct {
	out, notices chan string // closed at the end of the output
	cancel       func()
	done         chan error
}

func startCLISubscriber(t *testing.T, args ...string) *cliSubscriber {
	t.Helper()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	c := &cliSubscriber{out: make(chan string, 1000), notices: make(chan string, 100), cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := run(ctx, append([]string{"subscribe"}, args...), nil, outW, errW)
		outW.Close()
		errW.Close()
		c.done <- err
	}()
	for r, ch := range map[io.Reader]chan string{outR: c.out, errR: c.notices} {
		go func() {
			defer close(ch)
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				ch <- sc.Text()
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-c.done:
		case <-time.After(waitTimeout):
			t.Error("subscribe did not end after its context")
		}
	})
	return c
}

// line returns the next line of ch, failing the test when none comes.
func line(t *testing.T, what string, ch chan string) string {
	t.Helper()
	select {
	case l, ok := <-ch:
		if !ok {
			t.Fatalf("%s ended", what)
		}
		return l
	case <-time.After(waitTimeout):
		t.Fatalf("no %s line within %v", what, waitTimeout)
		return ""
	}
}

// notice returns the next notice on standard error that contains want.
func (c *cliSubscriber) notice(t *testing.T, want string) string {
	t.Helper()
	for {
		if l := line(t, "subscribe's standard error", c.notices); strings.Contains(l, want) {
			return l
		}
	}
}

// stop interrupts the command, as SIGINT does through main's context,
// and checks that it ends without an error.
func (c *cliSubscriber) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	select {
	case err := <-c.done:
		c.done <- err
		if err != nil {
			t.Fatalf("subscribe ended with %v after an interrupt, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("subscribe did not end after an interrupt")
	}
}

// eventLine matches subscribe's readable line of an event.
func eventLine(topic string, seq, typ, id, data string) *regexp.Regexp {
	return regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ` + regexp.QuoteMeta(topic+" #"+seq+" "+typ+" "+id+" "+data) + `$`)
}

// TestSubscribeCommand subscribes with "ssebridge subscribe" to two topics
// and checks its lines, the resume from --last-event-id, the gap notice of
// a malformed cursor, JSON lines and a clean end on interrupt.
func TestSubscribeCommand(t *testing.T) {
	s := startServer(t, nil)
	old := cliPublish(t, s.grpcAddr, "--topic", "orders", "--data", "before")

	sub := startCLISubscriber(t, "--addr", s.grpcAddr, "--topic", "orders", "--topic", "invoices")
	sub.notice(t, "subscribed to orders, invoices at "+s.grpcAddr+", new events")
	id1 := cliPublish(t, s.grpcAddr, "--topic", "orders", "--type", "created", "--data", `{"id":1}`)
	id2 := cliPublish(t, s.grpcAddr, "--topic", "invoices", "--data", "two\nlines")
	for _, want := range []*regexp.Regexp{
		eventLine("orders", "2", "created", id1, `{"id":1}`),
		eventLine("invoices", "1", "message", id2, `"two\nlines"`),
	} {
		if l := line(t, "subscribe's output", sub.out); !want.MatchString(l) {
			t.Errorf("line %q, want %s", l, want)
		}
	}
	sub.stop(t)

	// Resume after an id, topics from the environment (comma-separated)
	// replaced by the command line's.
	env := map[string]string{"SSEBRIDGE_TOPIC": "nothing,here", "SSEBRIDGE_ADDR": s.grpcAddr}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- subscribeCommand(ctx, []string{"--topic", "orders,invoices", "--last-event-id", old},
			func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &out, &errOut)
	}()
	eventually(t, "the resumed events", func() bool { return strings.Count(out.String(), "\n") == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("subscribe ended with %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || !eventLine("orders", "2", "created", id1, `{"id":1}`).MatchString(lines[0]) ||
		!strings.Contains(lines[1], " invoices #1 message "+id2+" ") ||
		!strings.Contains(errOut.String(), "subscribed to orders, invoices at "+s.grpcAddr+", after "+old) {
		t.Fatalf("resumed output:\n%s\nstandard error:\n%s", out.String(), errOut.String())
	}

	// A malformed cursor: a gap notice, then everything retained, as JSON.
	sub = startCLISubscriber(t, "--addr", s.grpcAddr, "--topic", "orders", "--last-event-id", "not-a-cursor", "--json")
	type jsonLine struct {
		Event *struct {
			ID, Topic, Type, Data, Sequence, Time string
		}
		Gap *struct {
			Reason      string
			Topics      []string
			ID          string
			LastEventID string `json:"last_event_id"`
		}
	}
	var got []jsonLine
	for range 3 {
		var l jsonLine
		raw := line(t, "subscribe's output", sub.out)
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("line %q: %v", raw, err)
		}
		got = append(got, l)
	}
	if g := got[0].Gap; g == nil || g.Reason != "GAP_REASON_CURSOR_MALFORMED" || len(g.Topics) != 1 || g.LastEventID != "not-a-cursor" || g.ID == "" {
		t.Errorf("first JSON line %+v, want a gap notice", got[0])
	}
	if e := got[1].Event; e == nil || e.ID != old || e.Sequence != "1" || e.Data != "before" || e.Topic != "orders" || e.Time == "" {
		t.Errorf("second JSON line %+v, want the first event", got[1])
	}
	if e := got[2].Event; e == nil || e.ID != id1 || e.Type != "created" {
		t.Errorf("third JSON line %+v, want the second event", got[2])
	}
	sub.stop(t)
}

// TestSubscribeCommandErrors checks that a subscription the service
// refuses, or a service that cannot be reached, ends the command with an
// error rather than retrying.
func TestSubscribeCommandErrors(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.MaxTopics = 2 })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no topic", []string{"--addr", s.grpcAddr}, "--topic is required"},
		{"bad topic", []string{"--addr", s.grpcAddr, "--topic", "a b"}, "subscribe to a b: invalid argument"},
		{"too many topics", []string{"--addr", s.grpcAddr, "--topic", "a,b,c"}, "invalid argument"},
		{"unreachable", []string{"--addr", closedAddr, "--topic", "a"}, "the service at " + closedAddr + " is unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runCLI(t, nil, "", append([]string{"subscribe"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("subscribe %q = %v, want an error containing %q", tc.args, err, tc.want)
			}
			if out != "" {
				t.Errorf("subscribe %q printed %q", tc.args, out)
			}
		})
	}
}

// serveOn runs the service with its gRPC listener on grpcLn until the
// returned stop is called (or the test ends).
func serveOn(t *testing.T, grpcLn net.Listener) (stop func()) {
	t.Helper()
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	logs := &syncBuffer{}
	go func() {
		done <- serve(ctx, defaultConfig(t), logs, listeners{http: httpLn, grpc: grpcLn}, func(listeners) { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, logs)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v\n%s", err, logs)
			}
		case <-time.After(waitTimeout):
			t.Errorf("serve did not stop\n%s", logs)
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestSubscribeCommandResumes restarts the service under a running
// "ssebridge subscribe": the command says that the stream ended, resumes
// after the last event it printed once the service is back, prints the
// gap notice of the new instance (which does not know the cursor), and
// goes on printing events.
func TestSubscribeCommandResumes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	stop := serveOn(t, ln)
	sub := startCLISubscriber(t, "--addr", addr, "--topic", "orders")
	sub.notice(t, "subscribed to orders at "+addr+", new events")
	id1 := cliPublish(t, addr, "--topic", "orders", "--data", "one")
	if l := line(t, "subscribe's output", sub.out); !eventLine("orders", "1", "message", id1, "one").MatchString(l) {
		t.Fatalf("line %q", l)
	}

	stop()
	sub.notice(t, "the stream ended (unavailable: ")
	ln, err = net.Listen("tcp", addr) // the same address, for the new instance
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, ln)
	sub.notice(t, "subscribed to orders at "+addr+", after "+id1)
	gap := line(t, "subscribe's output", sub.out)
	if !regexp.MustCompile(`^--- gap \(cursor_unknown\): orders: events after "` + id1 + `" may be missing; resuming from \S+$`).MatchString(gap) {
		t.Fatalf("after the restart: %q, want a gap notice", gap)
	}
	id2 := cliPublish(t, addr, "--topic", "orders", "--data", "two")
	if l := line(t, "subscribe's output", sub.out); !eventLine("orders", "1", "message", id2, "two").MatchString(l) {
		t.Fatalf("line %q", l)
	}
	sub.stop(t)
}

// TestCLIProcess runs the built binary: publish with data from standard
// input, a failing publish (non-zero status, message on standard error),
// and subscribe ended by SIGINT with status 0.
func TestCLIProcess(t *testing.T) {
	s := startServer(t, nil)
	bin := filepath.Join(t.TempDir(), "ssebridge")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	command := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SSEBRIDGE_ADDR="+s.grpcAddr)
		return cmd
	}

	sub := command("subscribe", "--topic", "orders")
	stdout, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := sub.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines, notices := make(chan string, 10), make(chan string, 10)
	var readers sync.WaitGroup
	for r, ch := range map[io.Reader]chan string{stdout: lines, stderr: notices} {
		readers.Go(func() {
			defer close(ch)
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				ch <- sc.Text()
			}
		})
	}
	go func() {
		readers.Wait() // Wait closes the pipes: only once they are read
		exited <- sub.Wait()
	}()
	t.Cleanup(func() {
		sub.Process.Kill()
		<-exited
	})
	if l := line(t, "subscribe's standard error", notices); !strings.Contains(l, "subscribed to orders") {
		t.Fatalf("subscribe's first notice %q", l)
	}

	pub := command("publish", "--topic", "orders", "--type", "created", "--data", "-")
	pub.Stdin = strings.NewReader(`{"id":7}` + "\n")
	out, err := pub.Output()
	m := publishLine.FindStringSubmatch(string(out))
	if err != nil || m == nil {
		t.Fatalf("publish: %v, %q", err, out)
	}
	if l := line(t, "subscribe's output", lines); !eventLine("orders", "1", "created", m[1], `{"id":7}`).MatchString(l) {
		t.Fatalf("subscribe printed %q", l)
	}

	bad := command("publish", "--topic", "bad topic", "--data", "x")
	var badErr bytes.Buffer
	bad.Stderr = &badErr
	var exit *exec.ExitError
	if err := bad.Run(); !errors.As(err, &exit) || exit.ExitCode() == 0 ||
		!strings.HasPrefix(badErr.String(), "ssebridge: publish to bad topic: invalid argument: ") {
		t.Errorf("a bad publish: %v, standard error %q; want a non-zero status and the reason", err, badErr.String())
	}

	if err := sub.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("subscribe exited with %v after SIGINT, want status 0", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("subscribe did not exit after SIGINT")
	}
}

// TestCLIWithToken runs publish and subscribe against a server that
// requires tokens: --token (or SSEBRIDGE_TOKEN) goes in the authorization
// metadata; without it both fail as unauthenticated, and a topic the token
// does not grant is denied.
func TestCLIWithToken(t *testing.T) {
	s := secured(t, nil)
	token := grantToken(t, []string{"orders.*"}, []string{"orders.created"})
	for _, args := range [][]string{
		{"publish", "--addr", s.grpcAddr, "--topic", "orders.created", "--data", "x"},
		{"subscribe", "--addr", s.grpcAddr, "--topic", "orders.created"},
	} {
		if _, _, err := runCLI(t, nil, "", args...); err == nil || !strings.Contains(err.Error(), ": unauthenticated: ") {
			t.Errorf("%s without a token: %v, want unauthenticated", args[0], err)
		}
	}

	sub := startCLISubscriber(t, "--addr", s.grpcAddr, "--token", token, "--topic", "orders.created")
	sub.notice(t, "subscribed to orders.created")
	env := map[string]string{"SSEBRIDGE_TOKEN": token}
	out, _, err := runCLI(t, env, "", "publish", "--addr", s.grpcAddr, "--topic", "orders.created", "--data", "granted")
	m := publishLine.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("publish with SSEBRIDGE_TOKEN: %v, %q", err, out)
	}
	if l := line(t, "subscribe's output", sub.out); !eventLine("orders.created", "1", "message", m[1], "granted").MatchString(l) {
		t.Errorf("subscribe printed %q", l)
	}
	_, _, err = runCLI(t, env, "", "publish", "--addr", s.grpcAddr, "--topic", "orders.deleted", "--data", "x")
	if err == nil || !strings.Contains(err.Error(), "publish to orders.deleted: permission denied: ") {
		t.Errorf("publish outside the grant: %v, want permission denied", err)
	}
	sub.stop(t)
}
