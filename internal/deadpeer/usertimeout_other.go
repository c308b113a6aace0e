//go:build !linux

package deadpeer

import (
	"net"
	"time"
)

// setUserTimeout does nothing: this system has no TCP_USER_TIMEOUT, and
// keepalive probes alone find idle dead peers.
func setUserTimeout(conn *net.TCPConn, d time.Duration) error { return nil }
