package hangup_test

import (
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/ssebridge/ssebridge/internal/hangup"
	"github.com/ssebridge/ssebridge/internal/netnstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair returns the two ends of a loopback TCP connection.
func pair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// watched is one watched connection and a channel closed on its hang-up.
type watched struct {
	hungUp chan struct{}
	calls  atomic.Int32
	stop   func()
}

func watch(t *testing.T, w *hangup.Watcher, conn net.Conn) *watched {
	t.Helper()
	wd := &watched{hungUp: make(chan struct{})}
	stop, err := w.Watch(conn, func() {
		if wd.calls.Add(1) == 1 {
			close(wd.hungUp)
		}
	})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	wd.stop = stop
	return wd
}

func (wd *watched) await(t *testing.T, what string) {
	t.Helper()
	select {
	case <-wd.hungUp:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no hang-up reported", what)
	}
}

func TestWatchReportsClose(t *testing.T) {
	w := hangup.NewWatcher()
	server, client := pair(t)
	wd := watch(t, w, server)
	client.Close()
	wd.await(t, "client closed")
	wd.stop()
	if n := wd.calls.Load(); n != 1 {
		t.Errorf("hungUp called %d times, want 1", n)
	}
}

func TestWatchReportsEarlierClose(t *testing.T) {
	w := hangup.NewWatcher()
	server, client := pair(t)
	client.Close()
	// Wait until the client's FIN has reached the server's socket.
	server.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := server.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after the client's close returned no error")
	}
	server.SetReadDeadline(time.Time{})
	wd := watch(t, w, server)
	wd.await(t, "client closed before Watch")
	wd.stop()
}

func TestWatchReportsReset(t *testing.T) {
	w := hangup.NewWatcher()
	server, client := pair(t)
	wd := watch(t, w, server)
	client.(*net.TCPConn).SetLinger(0) // Close sends RST
	client.Close()
	wd.await(t, "client reset")
	wd.stop()
}

// TestDataIsNotHangUp checks that bytes from the peer are not a hang-up,
// and that a stopped watch reports nothing: another connection's later
// hang-up marks the point by which they would have been reported.
func TestDataIsNotHangUp(t *testing.T) {
	w := hangup.NewWatcher()
	talking, talker := pair(t)
	stopped, stopper := pair(t)
	marker, markerPeer := pair(t)
	wTalking, wStopped, wMarker := watch(t, w, talking), watch(t, w, stopped), watch(t, w, marker)

	if _, err := talker.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	wStopped.stop()
	stopper.Close()
	markerPeer.Close()
	wMarker.await(t, "marker closed")
	if n := wTalking.calls.Load(); n != 0 {
		t.Errorf("data from the peer reported as a hang-up (%d calls)", n)
	}
	if n := wStopped.calls.Load(); n != 0 {
		t.Errorf("hang-up reported after stop (%d calls)", n)
	}
	talker.Close()
	wTalking.await(t, "talker closed")
	wTalking.stop()
	wMarker.stop()
}

func TestManyConnections(t *testing.T) {
	w := hangup.NewWatcher()
	const n = 300
	servers := make([]*watched, n)
	clients := make([]net.Conn, n)
	for i := range n {
		s, c := pair(t)
		servers[i], clients[i] = watch(t, w, s), c
	}
	for _, i := range rand.Perm(n) {
		clients[i].Close()
	}
	for i, wd := range servers {
		wd.await(t, "client closed")
		wd.stop()
		if c := wd.calls.Load(); c != 1 {
			t.Errorf("connection %d: hungUp called %d times, want 1", i, c)
		}
	}
	// Nothing is watched now: the watcher's goroutine has ended.
	goleak.VerifyNone(t)

	// And it starts again for the next connection.
	server, client := pair(t)
	wd := watch(t, w, server)
	client.Close()
	wd.await(t, "after a restart")
	wd.stop()
}

func TestWatchTLS(t *testing.T) {
	w := hangup.NewWatcher()
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS() // for its certificate only
	cfg := srv.TLS
	srv.Close()

	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		c.(*tls.Conn).Handshake()
		accepted <- c
	}()
	client, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer server.Close()
	wd := watch(t, w, server)
	client.Close()
	wd.await(t, "TLS client closed")
	wd.stop()
}

func TestNotSupported(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	_, err := hangup.NewWatcher().Watch(a, func() {})
	if !errors.Is(err, hangup.ErrNotSupported) {
		t.Errorf("Watch(net.Pipe) = %v, want ErrNotSupported", err)
	}
}

// TestWatchReportsAbort checks that a connection the kernel aborts, here
// by TCP_USER_TIMEOUT because its peer stopped acknowledging, is reported
// as hung up (EPOLLERR and EPOLLHUP), though the peer sent nothing.
func TestWatchReportsAbort(t *testing.T) {
	link := netnstest.New(t)
	ln := link.Listen(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := link.DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer server.Close()
	const userTimeout = time.Second
	rc, err := server.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(userTimeout.Milliseconds()))
	})
	if err != nil {
		t.Fatal(err)
	}

	w := hangup.NewWatcher()
	wd := watch(t, w, server)
	defer wd.stop()
	link.Blackhole(t)
	start := time.Now()
	// Data the peer never acknowledges; the write itself succeeds.
	if _, err := server.Write([]byte("data: x\n\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wd.hungUp:
		t.Logf("abort reported after %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(userTimeout + 3*time.Second):
		t.Fatal("no hang-up reported for the aborted connection")
	}
}
