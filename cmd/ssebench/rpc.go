package main

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// The rpc mode measures streams that serve --upstream relays from a
// backend's server-streaming method: each subscriber opens --rpc-path,
// which makes a backend call of its own, and the backend sends at its own
// rate. An event's data is the backend's message in JSON, whose field
// "time" (a protobuf Timestamp, RFC 3339) is when the backend sent it: on
// one machine, the wall clock gives the latency from the backend's send to
// the parse here.

// quoteTime returns the time in the "time" field of a JSON message.
func quoteTime(data []byte) (time.Time, bool) {
	const key = `"time":"`
	i := bytes.Index(data, []byte(key))
	if i < 0 {
		return time.Time{}, false
	}
	rest := data[i+len(key):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:end]))
	return t, err == nil
}

// receivedRPC accounts for one relayed backend message.
func (s *subscriber) receivedRPC(data []byte) {
	s.deliveries++
	s.unique.Add(1)
	sent, ok := quoteTime(data)
	if !ok {
		s.invalid++
		return
	}
	s.latBatch.add(s.lat, s.now-sent.Sub(s.clock.start))
}

// measureRPC holds cfg.Subscribers streams of cfg.RPCPath for
// cfg.Duration and reports what they received.
func measureRPC(ctx context.Context, cfg *config) (*deliveryReport, error) {
	env := newSubscriberEnv(1)
	env.rpc = true
	defer env.set.closeAll()
	failed, err := env.connectPaths(ctx, cfg.Target, 1, func(int) string { return cfg.RPCPath }, cfg.Subscribers, cfg.DialConcurrency, loadBufSize)
	if failed > 0 {
		return nil, fmt.Errorf("%d of %d subscribers failed to connect: %w", failed, cfg.Subscribers, err)
	}
	// Counted from here: the connections are open, their calls started.
	before := env.set.total()
	use := startUsage(cfg.ServerPID)
	start := time.Now()
	select {
	case <-time.After(cfg.Duration):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	elapsed := time.Since(start)
	delivered := env.set.total() - before
	d, err := endReport(env, use, elapsed)
	if err != nil {
		return nil, err
	}
	d.Deliveries, d.DeliveriesPerSec, d.Drained = delivered, round(float64(delivered)/elapsed.Seconds(), 1), true
	for _, s := range env.set.all {
		d.Invalid += s.invalid
	}
	d.Overloaded = d.Disconnects > 0
	return d, nil
}
