// Package redistest runs a real redis-server for a test: on a free
// loopback port, in the test's temporary directory, with the append-only
// file on and fsync'ed on every write (so a restart loses no acknowledged
// write), and stopped when the test ends. Its methods let fault tests
// stop, kill and restart the server on the same port and data.
//
// redis-server (Debian package redis-server, installed by make test) must
// be on PATH; without it the test fails, naming the package.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"io"
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
)

// startTimeout bounds the wait for a server to accept connections.
const startTimeout = 20 * time.Second

// Server is one redis-server process for one test. Its methods are safe
// for concurrent use.
type Server struct {
	// Addr is the server's address, "127.0.0.1:PORT"; it does not change
	// across restarts.
	Addr string

	t    testing.TB
	dir  string
	args []string // of redis-server, without the port
	// ready is the log line that says the server serves.
	ready string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}   // closed when cmd has exited
	log  strings.Builder // the server's output, every run
}

// Log returns what the server has written so far, in every run: where a
// test finds that Redis did what the test made it do ("... closed ASAP for
// overcoming of output buffer limits").
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Start starts a redis-server for t, with extra configuration arguments
// ("--client-output-buffer-limit", "pubsub 1kb 1kb 0", say), and stops it
// when t ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found (Debian package redis-server; make test installs it): %v", err)
	}
	s := &Server{t: t, dir: t.TempDir(), Addr: freeAddr(t), ready: "Ready to accept connections"}
	s.args = append([]string{
		"--bind", "127.0.0.1", "--dir", s.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "",
		"--protected-mode", "no", "--daemonize", "no", "--loglevel", "notice",
	}, extra...)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Kill() })
	return s
}

// StartSentinel starts a Redis Sentinel for t that monitors master under
// the name "main" (a quorum of one), and stops it when t ends. Its URL
// names the sentinel and the master set, as the --broker flag takes it.
func StartSentinel(t testing.TB, master *Server) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir(), Addr: freeAddr(t), ready: "+monitor master"}
	host, port, _ := net.SplitHostPort(master.Addr)
	conf := filepath.Join(s.dir, "sentinel.conf")
	text := fmt.Sprintf("sentinel monitor main %s %s 1\nsentinel down-after-milliseconds main 1000\n", host, port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s.args = []string{conf, "--sentinel", "--bind", "127.0.0.1", "--dir", s.dir, "--protected-mode", "no", "--daemonize", "no"}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Kill() })
	return s
}

// SentinelURL is the address of a sentinel (StartSentinel) as the
// --broker flag takes it: the sentinel's address and the master set.
func (s *Server) SentinelURL() string { return "redis://" + s.Addr + "/0?master_set=main" }

// URL is the server's address as the --broker flag takes it.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the server and waits until it serves, which it says on its
// standard output (s.ready).
func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command("redis-server", append(append([]string{}, s.args...), "--port", port)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: starting redis-server: %w", err)
	}
	done := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if !signalled && strings.Contains(sc.Text(), s.ready) {
				signalled = true
				close(ready)
			}
		}
		io.Copy(io.Discard, out)
		cmd.Wait()
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-done:
	case <-time.After(startTimeout):
		cmd.Process.Kill()
		<-done
	}
	return fmt.Errorf("redistest: redis-server on %s did not start:\n%s", s.Addr, s.Log())
}

// Stop stops the server with SIGTERM (it writes its data and exits) and
// waits for it.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill kills the server with SIGKILL and waits for it: what the append-only
// file holds survives, nothing else.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(startTimeout):
		cmd.Process.Kill()
		<-done
	}
}

// Restart starts the server again after Stop or Kill, on the same port
// and data.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Do sends one command to the server on a connection of its own and
// returns the reply's first line ("+OK", ":3", "$5" ...); for tests that
// poke the server (CLIENT KILL, CONFIG SET, FLUSHALL) without a client
// library.
func (s *Server) Do(ctx context.Context, args ...string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") {
		return "", fmt.Errorf("redistest: %s: %s", strings.Join(args, " "), line[1:])
	}
	return line, nil
}
