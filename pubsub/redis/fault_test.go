package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/internal/redistest"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/pubsubtest"
	"github.com/ssebridge/ssebridge/pubsub/redis"
)

// waitTimeout bounds every wait of these tests.
const waitTimeout = 20 * time.Second

// wantInOrder checks that got is data "0" .. "n-1" of one topic, each
// once, in order, with nothing after.
func wantInOrder(t *testing.T, got []*pubsub.Event, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("received %d events, want %d", len(got), n)
	}
	for i, e := range got {
		if e.Data != fmt.Sprint(i) {
			t.Fatalf("event %d has data %q (sequence %d), want %d", i, e.Data, e.Sequence, i)
		}
	}
}

func publishN(t *testing.T, b pubsub.Broker, topic string, from, to int, size int) {
	t.Helper()
	pad := strings.Repeat("x", size)
	for i := from; i < to; i++ {
		if _, err := b.Publish(t.Context(), pubsub.Message{Topic: topic, Type: pad[:min(size, 8)], Data: fmt.Sprint(i)}); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
}

func replicas(t *testing.T, srv *redistest.Server, n int) []*redis.Broker {
	t.Helper()
	cfg := redis.Config{Prefix: fmt.Sprintf("fault%d", logs.Add(1)), HistorySize: 100_000, QueueSize: 100_000}
	var rs []*redis.Broker
	for range n {
		rs = append(rs, newBroker(t, srv, cfg))
	}
	return rs
}

// subscribeLive subscribes to topic's live events, until the test ends.
func subscribeLive(t *testing.T, b pubsub.Broker, topic string) pubsub.Subscription {
	t.Helper()
	s, err := b.Subscribe(t.Context(), []string{topic}, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// TestPubSubConnectionKilled: Redis closes every Pub/Sub connection in the
// middle of a run of publishes; the subscriber of the other replica still
// gets every event once, in order (read back from the stream).
func TestPubSubConnectionKilled(t *testing.T) {
	srv := redistest.Start(t)
	rs := replicas(t, srv, 2)
	s := subscribeLive(t, rs[1], "a")
	publishN(t, rs[0], "a", 0, 500, 0)
	if n, err := srv.Do(ctxT(t), "CLIENT", "KILL", "TYPE", "pubsub"); err != nil || n != ":2" {
		t.Fatalf("CLIENT KILL TYPE pubsub = %q, %v; want :2 (one connection per replica)", n, err)
	}
	publishN(t, rs[0], "a", 500, 1000, 0)
	wantInOrder(t, pubsubtest.Receive(t, s, 1000), 1000)
}

// TestPubSubOutputBufferOverflow: events larger than the Pub/Sub output
// buffer limit make Redis drop the subscriber connections, again and
// again, in the middle of a run of publishes; every event of the run still
// arrives once, in order.
func TestPubSubOutputBufferOverflow(t *testing.T) {
	srv := redistest.Start(t, "--client-output-buffer-limit", "pubsub 16kb 8kb 1")
	rs := replicas(t, srv, 2)
	s := subscribeLive(t, rs[1], "a")
	big := strings.Repeat("y", 64<<10)
	for i := range 400 {
		if i%50 == 25 {
			if _, err := rs[0].Publish(t.Context(), pubsub.Message{Topic: "b", Data: big}); err != nil {
				t.Fatal(err)
			}
		}
		publishN(t, rs[0], "a", i, i+1, 0)
	}
	wantInOrder(t, pubsubtest.Receive(t, s, 400), 400)
	if !strings.Contains(srv.Log(), "output buffer limits") {
		t.Fatalf("Redis did not drop a Pub/Sub connection for its output buffer; its log:\n%s", srv.Log())
	}
}

// TestRedisStopped: while Redis is down, Publish and Subscribe fail with
// ErrUnavailable, Healthy says so, and an open subscription stays open;
// once Redis is back (its AOF kept every acknowledged event), the health
// turns good again and delivery resumes with every event once.
func TestRedisStopped(t *testing.T) {
	srv := redistest.Start(t)
	rs := replicas(t, srv, 2)
	s := subscribeLive(t, rs[1], "a")
	publishN(t, rs[0], "a", 0, 10, 0)
	wantInOrder(t, pubsubtest.Receive(t, s, 10), 10)

	srv.Kill()
	waitHealth(t, rs[1], false)
	if _, err := rs[0].Publish(t.Context(), pubsub.Message{Topic: "a", Data: "lost?"}); !errors.Is(err, pubsub.ErrUnavailable) {
		t.Fatalf("Publish with Redis down: %v, want ErrUnavailable", err)
	}
	if _, err := rs[0].Subscribe(t.Context(), []string{"a"}, pubsub.Earliest); !errors.Is(err, pubsub.ErrUnavailable) {
		t.Fatalf("Subscribe with Redis down: %v, want ErrUnavailable", err)
	}
	if got, err := s.Fetch(nil); err != nil || len(got) != 0 {
		t.Fatalf("the open subscription: %d events, %v; want it open and empty", len(got), err)
	}

	srv.Restart()
	waitHealth(t, rs[1], true)
	waitHealth(t, rs[0], true)
	publishN(t, rs[0], "a", 10, 20, 0)
	got := pubsubtest.Receive(t, s, 10)
	for i, e := range got {
		if e.Data != fmt.Sprint(10+i) {
			t.Fatalf("after the restart, event %d is %q, want %d", i, e.Data, 10+i)
		}
	}
}

// waitHealth waits until b's health is good (ok) or bad.
func waitHealth(t *testing.T, b *redis.Broker, ok bool) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for (b.Healthy() == nil) != ok {
		select {
		case <-b.HealthChanged():
		case <-deadline:
			t.Fatalf("health still %v after %v, want ok=%v", b.Healthy(), waitTimeout, ok)
		}
	}
}

// TestDataLostMeansNewEpoch: after FLUSHALL (a Redis restarted without
// persistence), the log starts a new epoch: an old cursor gets a
// GapCursorUnknown notice, never a silent reuse of its position.
func TestDataLostMeansNewEpoch(t *testing.T) {
	srv := redistest.Start(t)
	rs := replicas(t, srv, 1)
	old, err := rs[0].Publish(t.Context(), pubsub.Message{Topic: "a", Data: "before"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do(ctxT(t), "FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	fresh, err := rs[0].Publish(t.Context(), pubsub.Message{Topic: "a", Data: "after"})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.ID == old.ID {
		t.Fatalf("the first event after the data loss reuses the cursor %s", old.ID)
	}
	s, err := rs[0].Subscribe(t.Context(), []string{"a"}, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := pubsubtest.Receive(t, s, 2)
	if got[0].Gap == nil || got[0].Gap.Reason != pubsub.GapCursorUnknown || got[1].Data != "after" {
		t.Fatalf("resume from a cursor of the lost log: %+v %+v, want a GapCursorUnknown notice then \"after\"", got[0], got[1])
	}
}

// TestRedisRefusesWrites: a Redis that answers "not now" (too few
// replicas for min-replicas-to-write, out of memory) refuses the publish
// with ErrUnavailable, stores nothing, and takes it once it can again.
func TestRedisRefusesWrites(t *testing.T) {
	srv := redistest.Start(t)
	rs := replicas(t, srv, 1)
	s := subscribeLive(t, rs[0], "a")
	for _, conf := range [][2]string{{"min-replicas-to-write", "1"}, {"maxmemory", "1"}} {
		if _, err := srv.Do(ctxT(t), "CONFIG", "SET", conf[0], conf[1]); err != nil {
			t.Fatal(err)
		}
		_, err := rs[0].Publish(t.Context(), pubsub.Message{Topic: "a", Data: "refused"})
		if !errors.Is(err, pubsub.ErrUnavailable) {
			t.Fatalf("Publish with %s %s: %v, want ErrUnavailable", conf[0], conf[1], err)
		}
		if _, err := srv.Do(ctxT(t), "CONFIG", "SET", conf[0], "0"); err != nil {
			t.Fatal(err)
		}
	}
	publishN(t, rs[0], "a", 0, 1, 0)
	wantInOrder(t, pubsubtest.Receive(t, s, 1), 1)
}
