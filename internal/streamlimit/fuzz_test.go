package streamlimit_test

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/ssebridge/ssebridge/internal/streamlimit"
)

// FuzzClientAddr checks what ClientAddr promises, for any peer and
// header values (one value a line of header; none when header is empty):
//
//   - the result depends only on the last address of the last value:
//     earlier values, and earlier addresses of the last value, change
//     nothing, and ClientAddr does not modify values;
//   - when that address is an IP address, the result is that IP in its
//     canonical form (net.IP.String), a fixed point: given as the header,
//     it gives itself back;
//   - otherwise the result is what it is with no header at all: the host
//     of peer, or peer itself when it is not "host:port";
//   - so headers cannot make two peers with different hosts count as one
//     client unless one of them names that client's address: when the
//     results for peer1 and peer2 are equal, their hosts are, or a header
//     names the result.
func FuzzClientAddr(f *testing.F) {
	seeds := []struct{ peer1, header1, peer2, header2 string }{
		{"192.0.2.1:4000", "", "192.0.2.2:4000", ""},
		{"[2001:db8::1]:4000", "", "[2001:db8::2]:4000", ""},
		{"pipe", "", "@", ""},
		{"127.0.0.1:1", "198.51.100.7", "127.0.0.2:1", "198.51.100.7"},
		{"127.0.0.1:1", "203.0.113.9, 198.51.100.7", "127.0.0.1:2", "198.51.100.7,203.0.113.9"},
		{"127.0.0.1:1", "203.0.113.9\n198.51.100.8 ", "127.0.0.1:1", "198.51.100.8\n203.0.113.9"},
		{"127.0.0.1:1", "unknown", "10.0.0.1:1", "127.0.0.1"},
		{"127.0.0.1:1", "198.51.100.7,", "127.0.0.1:1", "198.51.100.7, unknown"},
		{"127.0.0.1:1", "\n", "127.0.0.1:1", " , "},
		{"[::1]:80", "::ffff:192.0.2.1", "192.0.2.1:80", ""},
		{"[::1]:80", "2001:DB8:0:0::1", "[2001:db8::1]:80", ""},
		{"[::1]:80", "fe80::1%eth0", "[fe80::1%eth0]:80", ""},
		{"[::1]:80", "[2001:db8::1]:443", "[::1]:80", "192.0.2.1:443"},
		{"[::1]:80", "\t192.0.2.1\u00a0", "[::1]:80", "1.2.3.4.5"},
		{"", "", ":0", "0.0.0.0"},
		{"[::1", "::", "host:port:extra", "::1"},
	}
	for _, s := range seeds {
		f.Add(s.peer1, s.header1, s.peer2, s.header2)
	}
	f.Fuzz(func(t *testing.T, peer1, header1, peer2, header2 string) {
		got1 := checkClientAddr(t, peer1, headerValues(header1))
		got2 := checkClientAddr(t, peer2, headerValues(header2))
		if got1 != got2 {
			return
		}
		if peerHost(peer1) == peerHost(peer2) || names(header1, got1) || names(header2, got1) {
			return
		}
		t.Errorf("ClientAddr(%q, %q) = ClientAddr(%q, %q) = %q: different peer hosts, and no header names it",
			peer1, headerValues(header1), peer2, headerValues(header2), got1)
	})
}

// checkClientAddr checks ClientAddr(peer, values) on its own and returns
// it.
func checkClientAddr(t *testing.T, peer string, values []string) string {
	kept := slices.Clone(values)
	got := streamlimit.ClientAddr(peer, values)
	if !slices.Equal(values, kept) {
		t.Fatalf("ClientAddr(%q, %q) changed values to %q", peer, kept, values)
	}
	if again := streamlimit.ClientAddr(peer, values); again != got {
		t.Fatalf("ClientAddr(%q, %q) = %q, then %q", peer, values, got, again)
	}
	fromPeer := streamlimit.ClientAddr(peer, nil)
	if want := peerHost(peer); fromPeer != want {
		t.Fatalf("ClientAddr(%q, nil) = %q, want the peer's host %q", peer, fromPeer, want)
	}
	if len(values) == 0 {
		return got
	}

	last := values[len(values)-1]
	// Only the last address of the last value counts.
	for _, other := range [][]string{
		values[len(values)-1:],
		append([]string{"192.0.2.99", "unknown"}, values...),
		append(slices.Clone(values[:len(values)-1]), "192.0.2.99,"+last),
		append(slices.Clone(values[:len(values)-1]), "unknown, "+last),
	} {
		if o := streamlimit.ClientAddr(peer, other); o != got {
			t.Fatalf("ClientAddr(%q, %q) = %q, but ClientAddr(%q, %q) = %q; only the last address should count",
				peer, values, got, peer, other, o)
		}
	}

	fields := strings.Split(last, ",")
	addr := strings.TrimSpace(fields[len(fields)-1])
	ip := net.ParseIP(addr)
	if ip == nil {
		if got != fromPeer {
			t.Fatalf("ClientAddr(%q, %q) = %q, want the peer's %q: %q is no IP address",
				peer, values, got, fromPeer, addr)
		}
		return got
	}
	if got != ip.String() {
		t.Fatalf("ClientAddr(%q, %q) = %q, want %q, the IP address %q in canonical form",
			peer, values, got, ip.String(), addr)
	}
	if p := net.ParseIP(got); p == nil || p.String() != got {
		t.Fatalf("ClientAddr(%q, %q) = %q, not a canonical IP address", peer, values, got)
	}
	if again := streamlimit.ClientAddr(peer, []string{got}); again != got {
		t.Fatalf("ClientAddr(%q, [%q]) = %q, want the canonical address itself", peer, got, again)
	}
	return got
}

// headerValues splits header into values, one a line; nil when it is
// empty.
func headerValues(header string) []string {
	if header == "" {
		return nil
	}
	return strings.Split(header, "\n")
}

// peerHost is the host of peer when it is "host:port", else peer.
func peerHost(peer string) string {
	if host, _, err := net.SplitHostPort(peer); err == nil {
		return host
	}
	return peer
}

// names reports whether the last address of the last line of header is
// the IP address addr.
func names(header, addr string) bool {
	ip := lastIP(headerValues(header))
	return ip != nil && ip.Equal(net.ParseIP(addr))
}

// lastIP is the last address of the last of values, when that is an IP
// address.
func lastIP(values []string) net.IP {
	if len(values) == 0 {
		return nil
	}
	last := values[len(values)-1]
	return net.ParseIP(strings.TrimSpace(last[strings.LastIndex(last, ",")+1:]))
}

// FuzzClientAddrPeer checks that with no header (or one that names no IP
// address) the result is the host of a "host:port" peer, whatever the
// host (an IP address of the fuzzed bytes, or a name) and the port.
func FuzzClientAddrPeer(f *testing.F) {
	f.Add([]byte{192, 0, 2, 1}, "4000", "unknown")
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}, "443", "")
	f.Add([]byte{10: 0xff, 11: 0xff, 192, 0, 2, 1}, "0", "not, an, ip")
	f.Add([]byte("localhost"), "http", "1.2.3")
	f.Add([]byte{}, "", ",")
	f.Fuzz(func(t *testing.T, host []byte, port, header string) {
		h := string(host)
		if len(host) == net.IPv4len || len(host) == net.IPv6len {
			h = net.IP(host).String()
		}
		if strings.ContainsAny(h+port, "[]") || strings.Contains(port, ":") {
			t.Skip("not a host and port that net.JoinHostPort can join")
		}
		values := []string{header}
		if lastIP(values) != nil {
			t.Skip("the header names an IP address")
		}
		peer := net.JoinHostPort(h, port)
		if got := streamlimit.ClientAddr(peer, values); got != h {
			t.Errorf("ClientAddr(%q, %q) = %q, want the host %q", peer, values, got, h)
		}
	})
}
