package deadpeer

import (
	"log/slog"
	"net"
	"time"
)

// Config is how quickly dead peers are found.
type Config struct {
	// Idle is how long a connection may receive nothing before the kernel
	// sends it keepalive probes. Zero means 15 s, as in net.KeepAliveConfig.
	Idle time.Duration
	// Timeout is how long data sent on the connection (a keepalive probe
	// included) may go unacknowledged before the kernel aborts it. It must
	// be positive.
	//
	// Keepalive probes follow each other every Timeout/4 (at least 1 s).
	// On Linux the kernel drops an idle connection at the first probe
	// after Timeout has passed with a probe unanswered: about
	// max(Idle, Timeout) plus one interval after the peer's last packet.
	// Elsewhere 4 unanswered probes drop it: after about Idle + Timeout.
	Timeout time.Duration
	// Logger reports connections whose options could not be set (they are
	// kept, with the system's defaults). Nil discards the reports.
	Logger *slog.Logger
}

// probes is the number of unanswered keepalive probes that drop a
// connection where TCP_USER_TIMEOUT does not exist.
const probes = 4

// Timeout returns the Config.Timeout that finds a dead peer of an event
// stream within 2×heartbeat + writeTimeout of its last acknowledgement:
// heartbeat + writeTimeout. The stream writes at least once per
// heartbeat, so the first unacknowledged write leaves within a heartbeat
// of the peer's end, and the kernel gives up on it heartbeat +
// writeTimeout later. That is longer than a live client may take to
// acknowledge a write after a heartbeat's silence on a slow network.
func Timeout(heartbeat, writeTimeout time.Duration) time.Duration {
	return heartbeat + writeTimeout
}

// Configure sets the keepalive and user-timeout options of cfg on conn.
// Connections other than *net.TCPConn are left alone.
func Configure(conn net.Conn, cfg Config) error {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return nil
	}
	interval := max(cfg.Timeout/probes, time.Second)
	if err := tc.SetKeepAliveConfig(net.KeepAliveConfig{
		Enable:   true,
		Idle:     cfg.Idle,
		Interval: interval,
		Count:    probes,
	}); err != nil {
		return err
	}
	return setUserTimeout(tc, cfg.Timeout)
}

// Listener returns a listener that accepts from ln and configures each
// connection with cfg before returning it.
func Listener(ln net.Listener, cfg Config) net.Listener {
	return &listener{Listener: ln, cfg: cfg}
}

type listener struct {
	net.Listener
	cfg Config
}

// Accept waits for the next connection and configures it.
func (l *listener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := Configure(conn, l.cfg); err != nil && l.cfg.Logger != nil {
		l.cfg.Logger.Warn("cannot set dead-peer detection on a connection", "remote", conn.RemoteAddr().String(), "error", err)
	}
	return conn, nil
}
