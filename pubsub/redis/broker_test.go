package redis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssebridge/ssebridge/internal/redistest"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/pubsubtest"
	"github.com/ssebridge/ssebridge/pubsub/redis"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logs numbers the logs of one test process: each NewBroker call of the
// suite is a separate log (its own prefix) on the test's redis-server.
var logs atomic.Int64

func newBroker(t *testing.T, srv *redistest.Server, cfg redis.Config) *redis.Broker {
	t.Helper()
	cfg.URL = srv.URL()
	return newBrokerAt(t, cfg)
}

// newBrokerAt returns a broker of cfg, closed when t ends.
func newBrokerAt(t *testing.T, cfg redis.Config) *redis.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	b, err := redis.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestSuite(t *testing.T) {
	pubsubtest.Run(t, func(t *testing.T, opts pubsubtest.Options) pubsub.Broker {
		srv := redistest.Start(t)
		return newBroker(t, srv, redis.Config{
			Prefix:      fmt.Sprintf("test%d", logs.Add(1)),
			HistorySize: opts.HistorySize,
			QueueSize:   opts.QueueSize,
		})
	})
}

func TestShared(t *testing.T) {
	pubsubtest.RunShared(t, func(t *testing.T, opts pubsubtest.Options, n int) []pubsub.Broker {
		srv := redistest.Start(t)
		cfg := redis.Config{Prefix: fmt.Sprintf("test%d", logs.Add(1)), HistorySize: opts.HistorySize, QueueSize: opts.QueueSize}
		var rs []pubsub.Broker
		for range n {
			rs = append(rs, newBroker(t, srv, cfg))
		}
		return rs
	})
}

// TestThroughSentinel: a URL naming a Sentinel and a master set reaches
// the master the Sentinel monitors.
func TestThroughSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	b, err := redis.New(ctx, redis.Config{URL: sentinel.SentinelURL(), Prefix: "sentinel"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Publish(ctx, pubsub.Message{Topic: "a", Data: "via sentinel"}); err != nil {
		t.Fatal(err)
	}
	if n, err := master.Do(ctx, "XLEN", "{sentinel}:ts:a"); err != nil || n != ":1" {
		t.Fatalf("the master's stream: %q, %v; want one entry", n, err)
	}
}
