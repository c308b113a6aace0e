//go:build linux

// Package netnstest gives a test a network of its own: two network
// namespaces, "server" and "client", joined by a veth pair, and a way to
// make the client stop sending anything (its acknowledgements included),
// as a peer whose machine has vanished does.
//
// It needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and the ip and tc
// commands of iproute2; New skips the test when not run as root. No
// traffic leaves the two namespaces.
//
// A socket belongs to the namespace of the thread that created it, for
// life. Listen and Dial create theirs from a goroutine locked to a thread
// that has entered the namespace; that thread is never unlocked, so it
// ends with its goroutine and runs nothing else.
package netnstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Link is a pair of namespaces made by New for one test, removed when the
// test ends. Its methods are safe for concurrent use.
type Link struct {
	// ServerAddr and ClientAddr are the addresses of the two ends.
	ServerAddr, ClientAddr netip.Addr

	server, client string // namespace names
	clientDev      string // the client's end of the veth pair
}

// New makes the namespaces and the link between them, and removes them
// when t ends. Without root it skips t on a developer's machine, and fails
// it in CI (CI set), where the tests run as root and a skip would hide
// that they did not run.
func New(t testing.TB) *Link {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("netnstest: network namespaces need root, and CI is set: run the tests as root")
		}
		t.Skip("netnstest: network namespaces need root")
	}
	var b [4]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	l := &Link{
		// Addresses exist only inside the two namespaces, whose routing
		// tables know nothing else: they cannot reach any other network.
		ServerAddr: netip.MustParseAddr("10.199.0.1"),
		ClientAddr: netip.MustParseAddr("10.199.0.2"),
		server:     "ssebridge-s-" + id,
		client:     "ssebridge-c-" + id,
		clientDev:  "vc" + id,
	}
	serverDev := "vs" + id
	run(t, "ip", "netns", "add", l.server)
	t.Cleanup(func() { run(t, "ip", "netns", "del", l.server) })
	run(t, "ip", "netns", "add", l.client)
	t.Cleanup(func() { run(t, "ip", "netns", "del", l.client) })
	run(t, "ip", "link", "add", serverDev, "netns", l.server, "type", "veth", "peer", "name", l.clientDev, "netns", l.client)
	for _, end := range []struct{ ns, dev, addr string }{
		{l.server, serverDev, l.ServerAddr.String()},
		{l.client, l.clientDev, l.ClientAddr.String()},
	} {
		run(t, "ip", "-n", end.ns, "addr", "add", end.addr+"/30", "dev", end.dev)
		run(t, "ip", "-n", end.ns, "link", "set", end.dev, "up")
		run(t, "ip", "-n", end.ns, "link", "set", "lo", "up")
	}
	return l
}

// Listen returns a TCP listener in the server namespace on ServerAddr and
// a free port, closed when t ends.
func (l *Link) Listen(t testing.TB) net.Listener {
	t.Helper()
	var ln net.Listener
	err := l.in(l.server, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(l.ServerAddr, 0).String())
		return err
	})
	if err != nil {
		t.Fatalf("netnstest: listening in the server namespace: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// DialContext connects from the client namespace, as net.Dialer's
// DialContext does; it fits http.Transport.DialContext.
func (l *Link) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := l.in(l.client, func() (err error) {
		// The socket is created before DialContext waits for the
		// connection, on this thread, so in the client namespace.
		var d net.Dialer
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// Blackhole makes the client's end of the link drop every packet it would
// send, until Restore: the client stops acknowledging, and the server's
// retransmissions go unanswered.
func (l *Link) Blackhole(t testing.TB) {
	t.Helper()
	run(t, "tc", "-n", l.client, "qdisc", "add", "dev", l.clientDev, "root", "blackhole")
}

// Restore undoes Blackhole.
func (l *Link) Restore(t testing.TB) {
	t.Helper()
	run(t, "tc", "-n", l.client, "qdisc", "del", "dev", l.clientDev, "root")
}

// in runs fn on a new thread in the namespace called name.
func (l *Link) in(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine.
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + name)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netnstest: entering %s: %w", name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		name = "/usr/sbin/" + name // not always on a test's PATH
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("netnstest: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
