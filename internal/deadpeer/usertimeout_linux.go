package deadpeer

import (
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// setUserTimeout sets TCP_USER_TIMEOUT on conn to d, in milliseconds.
func setUserTimeout(conn *net.TCPConn, d time.Duration) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var sockErr error
	err = rc.Control(func(fd uintptr) {
		sockErr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
	})
	if err == nil {
		err = sockErr
	}
	if err != nil {
		return fmt.Errorf("deadpeer: setting TCP_USER_TIMEOUT: %w", err)
	}
	return nil
}
