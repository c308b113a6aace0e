package main

import (
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/ssebridge/ssebridge/internal/deadpeer"
)

// deadPeers is how the listeners find clients that vanished without
// closing their connection (internal/deadpeer): TCP keepalive probes a
// connection after a heartbeat interval in which nothing arrived, and
// TCP_USER_TIMEOUT aborts one whose sent data has gone unacknowledged for
// heartbeat + write timeout. An event stream writes at least once per
// heartbeat, so its dead client is found within 2×heartbeat + write
// timeout, and the stream ends and frees its slots.
func (c serveConfig) deadPeers(log *slog.Logger) deadpeer.Config {
	return deadpeer.Config{
		Idle:    c.Heartbeat,
		Timeout: deadpeer.Timeout(c.Heartbeat, c.WriteTimeout),
		Logger:  log,
	}
}

// findDeadPeers returns ln with every listener set to configure the
// connections it accepts with cfg.
func (ln listeners) findDeadPeers(cfg deadpeer.Config) listeners {
	ln.http = deadpeer.Listener(ln.http, cfg)
	ln.grpc = deadpeer.Listener(ln.grpc, cfg)
	if ln.internal != nil {
		ln.internal = deadpeer.Listener(ln.internal, cfg)
	}
	return ln
}

// grpcKeepalive makes the gRPC server ping a connection on which nothing
// has arrived for a heartbeat interval, and close it when the ping is not
// answered within the write timeout. A Subscribe stream sends nothing
// while its topics are quiet; the pings find its dead client even through
// a TCP proxy, which TCP keepalive cannot see past.
func (c serveConfig) grpcKeepalive() grpc.ServerOption {
	return grpc.KeepaliveParams(keepalive.ServerParameters{Time: c.Heartbeat, Timeout: c.WriteTimeout})
}
