package server_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/memory"
	"github.com/ssebridge/ssebridge/server"
)

// publishN publishes n events to topic, with data "0", "1", ..., and
// returns their receipts.
func (e *env) publishN(t *testing.T, topic string, n int) []*ssebridgev1.PublishResponse {
	t.Helper()
	out := make([]*ssebridgev1.PublishResponse, n)
	for i := range n {
		out[i] = e.publish(t, &ssebridgev1.PublishRequest{Topic: topic, Data: strconv.Itoa(i)})
	}
	return out
}

// wantEvents receives len(want) events and fails unless they are exactly
// the events of the receipts want, in order.
func wantEvents(t *testing.T, stream grpc.ServerStreamingClient[ssebridgev1.SubscribeResponse], want []*ssebridgev1.PublishResponse) {
	t.Helper()
	for i, r := range want {
		ev := recvEvent(t, stream)
		if ev.GetId() != r.GetId() || ev.GetSequence() != r.GetSequence() {
			t.Fatalf("event %d: id %q sequence %d, want id %q sequence %d",
				i, ev.GetId(), ev.GetSequence(), r.GetId(), r.GetSequence())
		}
	}
}

// recvGap receives the next item and fails unless it is a gap notice.
func recvGap(t *testing.T, stream grpc.ServerStreamingClient[ssebridgev1.SubscribeResponse]) *ssebridgev1.Gap {
	t.Helper()
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	gap := resp.GetGap()
	if gap == nil {
		t.Fatalf("Recv: got %v, want a gap notice", resp)
	}
	return gap
}

// TestSubscribeHeaderAtOnce checks that a subscription with nothing to
// deliver still sends its response header, so a client (or grpc-gateway)
// sees that the stream is open.
func TestSubscribeHeaderAtOnce(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	stream, err := e.client.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: []string{"quiet"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatalf("Header of a quiet subscription: %v", err)
	}
	if got := testutil.ToFloat64(e.metrics.Subscribers.WithLabelValues(metrics.GRPC)); got != 1 {
		t.Errorf("subscribers gauge = %v, want 1", got)
	}
}

func TestSubscribeResume(t *testing.T) {
	e := newEnv(t, envConfig{})
	receipts := e.publishN(t, "log", 5)
	stream := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"log"}, LastEventId: receipts[1].GetId()})
	wantEvents(t, stream, receipts[2:])
	// Then live events, with nothing repeated or lost at the seam.
	live := e.publishN(t, "log", 1)
	wantEvents(t, stream, live)
}

func TestSubscribeResumeMultiTopic(t *testing.T) {
	e := newEnv(t, envConfig{})
	var receipts []*ssebridgev1.PublishResponse
	for i := range 6 {
		topic := []string{"a", "b", "c"}[i%3]
		receipts = append(receipts, e.publish(t, &ssebridgev1.PublishRequest{Topic: topic, Data: strconv.Itoa(i)}))
	}
	// Resuming after the 2nd event replays a, b (not c, not subscribed).
	stream := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"a", "b"}, LastEventId: receipts[1].GetId()})
	wantEvents(t, stream, []*ssebridgev1.PublishResponse{receipts[3], receipts[4]})
}

func TestSubscribeGap(t *testing.T) {
	tests := []struct {
		name   string
		cursor func(e *env, receipts []*ssebridgev1.PublishResponse) string
		reason ssebridgev1.GapReason
		label  string
	}{
		{"malformed", func(*env, []*ssebridgev1.PublishResponse) string { return "not a cursor!" },
			ssebridgev1.GapReason_GAP_REASON_CURSOR_MALFORMED, "cursor_malformed"},
		{"unknown epoch", func(e *env, _ []*ssebridgev1.PublishResponse) string {
			return pubsub.Cursor{Epoch: e.hub.Epoch() + 1, Position: 1}.String()
		}, ssebridgev1.GapReason_GAP_REASON_CURSOR_UNKNOWN, "cursor_unknown"},
		{"too old", func(_ *env, r []*ssebridgev1.PublishResponse) string { return r[0].GetId() },
			ssebridgev1.GapReason_GAP_REASON_CURSOR_TOO_OLD, "cursor_too_old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const retained = 3
			e := newEnv(t, envConfig{hub: memory.Config{HistorySize: retained}})
			receipts := e.publishN(t, "log", 5)
			cursor := tt.cursor(e, receipts)
			stream := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"log"}, LastEventId: cursor})

			gap := recvGap(t, stream)
			if gap.GetReason() != tt.reason || gap.GetLastEventId() != cursor || gap.GetId() == "" ||
				len(gap.GetTopics()) != 1 || gap.GetTopics()[0] != "log" {
				t.Errorf("gap = %v, want reason %v, last_event_id %q, topics [log] and an id", gap, tt.reason, cursor)
			}
			wantEvents(t, stream, receipts[len(receipts)-retained:])
			if got := testutil.ToFloat64(e.metrics.GapNotices.WithLabelValues(metrics.GRPC, tt.label)); got != 1 {
				t.Errorf("gap notices{%s} = %v, want 1", tt.label, got)
			}

			// The gap's id replays what is retained.
			again := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"log"}, LastEventId: gap.GetId()})
			if tt.reason == ssebridgev1.GapReason_GAP_REASON_CURSOR_TOO_OLD {
				recvGap(t, again) // still too old: the same notice again
			}
			wantEvents(t, again, receipts[len(receipts)-retained:])
		})
	}
}

func TestSubscribeInvalidArgument(t *testing.T) {
	e := newEnv(t, envConfig{server: server.Config{MaxTopics: 3}})
	tests := []struct {
		name     string
		topics   []string
		reason   string
		mentions []string
	}{
		{"no topics", nil, "no_topics", []string{"no topics"}},
		{"too many topics", []string{"a", "b", "c", "d"}, "too_many_topics", []string{"4", "3"}},
		{"bad name", []string{"ok", "x..y"}, "invalid_topic", []string{`"x..y"`}},
		{"name too long", []string{strings.Repeat("n", 129)}, "invalid_topic", []string{"129", "128"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rejected := e.metrics.Rejected.WithLabelValues(metrics.GRPC, tt.reason)
			before := testutil.ToFloat64(rejected)
			stream, err := e.client.Subscribe(t.Context(), &ssebridgev1.SubscribeRequest{Topics: tt.topics})
			if err != nil {
				t.Fatal(err)
			}
			_, err = stream.Recv()
			wantBadRequest(t, err, "topics", tt.mentions...)
			if got := testutil.ToFloat64(rejected) - before; got != 1 {
				t.Errorf("rejected{%s} grew by %v, want 1", tt.reason, got)
			}
		})
	}
	// Duplicates count against the limit as sent, but are subscribed once.
	stream := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"dup", "dup", "dup"}})
	r := e.publish(t, &ssebridgev1.PublishRequest{Topic: "dup"})
	wantEvents(t, stream, []*ssebridgev1.PublishResponse{r})
	info, err := e.client.GetTopic(t.Context(), &ssebridgev1.GetTopicRequest{Topic: "dup"})
	if err != nil {
		t.Fatal(err)
	}
	if got := info.GetTopic().GetSubscribers(); got != 1 {
		t.Errorf("subscribers of dup = %d, want 1", got)
	}
}

// TestSubscribeSlow lets a subscriber fall behind: the client does not read,
// so the server blocks in Send once flow control is exhausted and the hub's
// queue overflows. The stream then ends with UNAVAILABLE, and resubscribing
// with the last id received loses nothing.
func TestSubscribeSlow(t *testing.T) {
	e := newEnv(t, envConfig{
		hub: memory.Config{QueueSize: 4, HistorySize: 100_000},
		// Fixed flow-control windows (no BDP growth) bound what the
		// transport buffers for a client that does not read.
		dialOption: []grpc.DialOption{grpc.WithInitialWindowSize(64 << 10), grpc.WithInitialConnWindowSize(64 << 10)},
	})
	stream := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"firehose"}})

	// Publish until the hub has dropped the subscriber.
	data := strings.Repeat("x", 1024)
	var receipts []*ssebridgev1.PublishResponse
	for {
		receipts = append(receipts, e.publish(t, &ssebridgev1.PublishRequest{Topic: "firehose", Data: data}))
		info, err := e.client.GetTopic(t.Context(), &ssebridgev1.GetTopicRequest{Topic: "firehose"})
		if err != nil {
			t.Fatal(err)
		}
		if info.GetTopic().GetSubscribers() == 0 {
			break
		}
		if len(receipts) == 50_000 {
			t.Fatal("subscriber still registered after 50,000 events of 1 KiB")
		}
	}

	var last *ssebridgev1.Event
	var err error
	for {
		var resp *ssebridgev1.SubscribeResponse
		resp, err = stream.Recv()
		if err != nil {
			break
		}
		ev := resp.GetEvent()
		if want := uint64(1); last != nil {
			want = last.GetSequence() + 1
			if ev.GetSequence() != want {
				t.Fatalf("sequence %d after %d", ev.GetSequence(), last.GetSequence())
			}
		} else if ev.GetSequence() != want {
			t.Fatalf("first sequence %d, want 1", ev.GetSequence())
		}
		last = ev
	}
	st := wantCode(t, err, codes.Unavailable)
	if !strings.Contains(st.Message(), "last_event_id") {
		t.Errorf("message %q does not tell to resubscribe with last_event_id", st.Message())
	}
	if last == nil {
		t.Fatal("no event before the disconnect")
	}
	t.Logf("disconnected after %d of %d events", last.GetSequence(), len(receipts))
	if got := testutil.ToFloat64(e.metrics.SlowDisconnects.WithLabelValues(metrics.GRPC)); got != 1 {
		t.Errorf("slow disconnects = %v, want 1", got)
	}

	again := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"firehose"}, LastEventId: last.GetId()})
	wantEvents(t, again, receipts[last.GetSequence():])
}

func TestBrokerClosed(t *testing.T) {
	e := newEnv(t, envConfig{})
	stream := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"t"}})
	if err := e.hub.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := stream.Recv()
	wantCode(t, err, codes.Unavailable)
	_, err = e.client.Publish(t.Context(), &ssebridgev1.PublishRequest{Topic: "t"})
	wantCode(t, err, codes.Unavailable)
	s2, err := e.client.Subscribe(t.Context(), &ssebridgev1.SubscribeRequest{Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s2.Recv()
	wantCode(t, err, codes.Unavailable)
}
