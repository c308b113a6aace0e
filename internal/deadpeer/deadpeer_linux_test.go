//go:build linux

package deadpeer_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/internal/deadpeer"
	"github.com/ssebridge/ssebridge/internal/netnstest"
)

// TestDeadPeerIsFound checks that a connection whose peer stops
// acknowledging ends with ETIMEDOUT within the configured bound, both
// while the server writes to it (TCP_USER_TIMEOUT) and while it is idle
// (keepalive). Without the options the kernel would retransmit for about
// 15 minutes, and an idle connection would wait for ever.
func TestDeadPeerIsFound(t *testing.T) {
	cfg := deadpeer.Config{Idle: time.Second, Timeout: 2 * time.Second}
	const slack = 2 * time.Second // timer granularity and a loaded machine
	tests := []struct {
		name  string
		write bool          // the server writes every 100 ms, like heartbeats
		bound time.Duration // from the last acknowledgement
	}{
		{"writing", true, cfg.Timeout + slack},
		// Probes start after Idle, and the first unanswered one is given
		// up on when Timeout has passed since the last acknowledgement, at
		// the next probe (Timeout/4, at least 1 s).
		{"idle", false, max(cfg.Idle, cfg.Timeout) + time.Second + slack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link := netnstest.New(t)
			ln := deadpeer.Listener(link.Listen(t), cfg)
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
			// One round trip, so that the connection is quiet when the
			// client stops.
			if _, err := server.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := client.Read(make([]byte, 1)); err != nil {
				t.Fatal(err)
			}

			link.Blackhole(t)
			start := time.Now()
			// The read ends with the connection; it also bounds the test.
			server.SetReadDeadline(start.Add(tt.bound))
			done := make(chan struct{})
			if tt.write {
				go func() {
					defer close(done)
					for range time.Tick(100 * time.Millisecond) {
						if _, err := server.Write([]byte(":\n")); err != nil {
							return
						}
					}
				}()
			} else {
				close(done)
			}
			_, err = server.Read(make([]byte, 1))
			elapsed := time.Since(start)
			server.Close()
			<-done
			if !errors.Is(err, syscall.ETIMEDOUT) {
				t.Fatalf("after %v: read = %v, want ETIMEDOUT (bound %v)", elapsed.Round(time.Millisecond), err, tt.bound)
			}
			t.Logf("dead peer found after %v", elapsed.Round(time.Millisecond))
		})
	}
}
