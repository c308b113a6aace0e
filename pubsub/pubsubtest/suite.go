// Package pubsubtest is the test suite that every pubsub.Broker
// implementation runs, so that the in-memory broker and a distributed one
// keep exactly the same contract: registration before Subscribe returns,
// exact resume of multi-topic subscriptions, gap notices, bounded queues.
package pubsubtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/pubsub"
)

// Options are the settings a test needs from a broker under test.
type Options struct {
	// HistorySize is the number of events retained per topic.
	HistorySize int
	// QueueSize is the number of live events a subscriber may have waiting.
	QueueSize int
}

// NewBroker returns a fresh, empty broker configured with opts. It must
// clean the broker up with t.Cleanup. Two brokers returned by one NewBroker
// are separate logs: cursors of one are foreign to the other.
type NewBroker func(t *testing.T, opts Options) pubsub.Broker

// waitTimeout bounds every wait for an event; reaching it fails the test.
const waitTimeout = 10 * time.Second

// Run runs the suite against brokers made by newBroker.
func Run(t *testing.T, newBroker NewBroker) {
	tests := []struct {
		name string
		fn   func(*testing.T, NewBroker)
	}{
		{"PublishDelivers", testPublishDelivers},
		{"SubscribeRegistersBeforeReturning", testSubscribeRegisters},
		{"NoCursorMeansLiveOnly", testNoCursorLiveOnly},
		{"ResumeOneTopic", testResumeOneTopic},
		{"ResumeManyTopics", testResumeManyTopics},
		{"Earliest", testEarliest},
		{"SeamUnderConcurrentPublish", testSeam},
		{"GapCursorTooOld", testGapTooOld},
		{"GapCursorMalformed", testGapMalformed},
		{"GapCursorForeign", testGapForeign},
		{"GapIDResumes", testGapIDResumes},
		{"SlowSubscriberIsEnded", testSlowSubscriber},
		{"Close", testClose},
		{"Idempotency", testIdempotency},
		{"Batch", testBatch},
		{"TopicInfo", testTopicInfo},
		{"InvalidInput", testInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newBroker) })
	}
}

func publish(t *testing.T, b pubsub.Broker, topic, typ, data string) pubsub.Receipt {
	t.Helper()
	r, err := b.Publish(context.Background(), pubsub.Message{Topic: topic, Type: typ, Data: data})
	if err != nil {
		t.Fatalf("Publish(%q): %v", topic, err)
	}
	return r
}

func subscribe(t *testing.T, b pubsub.Broker, cursor string, topics ...string) pubsub.Subscription {
	t.Helper()
	s, err := b.Subscribe(context.Background(), topics, cursor)
	if err != nil {
		t.Fatalf("Subscribe(%v, %q): %v", topics, cursor, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// receive waits until n events have been fetched from s and returns them.
// Receive waits for n events of s and returns them, failing the test
// after a while or when more than n arrive; for a broker's own tests.
func Receive(t *testing.T, s pubsub.Subscription, n int) []*pubsub.Event {
	t.Helper()
	return receive(t, s, n)
}

func receive(t *testing.T, s pubsub.Subscription, n int) []*pubsub.Event {
	t.Helper()
	var got []*pubsub.Event
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for len(got) < n {
		var err error
		if got, err = s.Fetch(got); err != nil {
			t.Fatalf("Fetch after %d of %d events: %v", len(got), n, err)
		}
		if len(got) >= n {
			break
		}
		select {
		case <-s.Ready():
		case <-timeout.C:
			t.Fatalf("received %d of %d events within %v", len(got), n, waitTimeout)
		}
	}
	if len(got) > n {
		t.Fatalf("received %d events, want %d: extra %v", len(got), n, describe(got[n:]))
	}
	return got
}

// expectNothing checks that s, a subscriber of topic, receives nothing
// more: it publishes a fence event to topic and checks that the fence is
// the next event s receives. (A single non-blocking Fetch would pass
// while an unwanted event is still on its way, as it may be through a
// shared broker.)
func expectNothing(t *testing.T, b pubsub.Broker, s pubsub.Subscription, topic string) {
	t.Helper()
	fence := publish(t, b, topic, "fence", "fence")
	got := receive(t, s, 1)
	if got[0].ID != fence.ID {
		t.Fatalf("unexpected event before the fence: %v", describe(got))
	}
}

func describe(evs []*pubsub.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Gap != nil {
			out = append(out, fmt.Sprintf("gap(%v %v)", e.Gap.Reason, e.Gap.Topics))
			continue
		}
		out = append(out, fmt.Sprintf("%s#%d(%s)", e.Topic, e.Sequence, e.Data))
	}
	return out
}

func wantData(t *testing.T, got []*pubsub.Event, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %v, want data %v", describe(got), want)
	}
	for i, e := range got {
		if e.Gap != nil || e.Data != want[i] {
			t.Fatalf("event %d: got %v, want data %v", i, describe(got), want)
		}
	}
}

func testPublishDelivers(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{})
	s := subscribe(t, b, "", "orders")
	before := time.Now()
	r := publish(t, b, "orders", "created", "line 1\nline 2")
	got := receive(t, s, 1)
	e := got[0]
	if e.ID != r.ID || e.Topic != "orders" || e.Type != "created" || e.Data != "line 1\nline 2" || e.Sequence != 1 || e.Sequence != r.Sequence {
		t.Fatalf("got %+v, receipt %+v", e, r)
	}
	if e.Time.Before(before.Add(-time.Second)) || e.Time.After(time.Now().Add(time.Second)) || !e.Time.Equal(r.Time) {
		t.Fatalf("event time %v, receipt time %v, published at %v", e.Time, r.Time, before)
	}
	if _, err := pubsub.ParseCursor(e.ID); err != nil {
		t.Fatalf("event ID %q is not a cursor: %v", e.ID, err)
	}
	r2 := publish(t, b, "orders", "", "")
	if r2.Sequence != 2 || r2.ID == r.ID {
		t.Fatalf("second receipt %+v after %+v", r2, r)
	}
	got = receive(t, s, 1)
	if got[0].Data != "" || got[0].Type != "" || got[0].Sequence != 2 {
		t.Fatalf("second event %v", describe(got))
	}
}

func testSubscribeRegisters(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{})
	// Each event published right after Subscribe returns must arrive.
	for i := range 50 {
		topic := fmt.Sprintf("t%d", i)
		s := subscribe(t, b, "", topic)
		publish(t, b, topic, "", "x")
		wantData(t, receive(t, s, 1), "x")
	}
}

func testNoCursorLiveOnly(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{})
	publish(t, b, "a", "", "old")
	s := subscribe(t, b, "", "a")
	publish(t, b, "a", "", "new")
	wantData(t, receive(t, s, 1), "new")
	expectNothing(t, b, s, "a")
}

func testResumeOneTopic(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{HistorySize: 100})
	var ids []string
	for i := range 10 {
		ids = append(ids, publish(t, b, "a", "", fmt.Sprint(i)).ID)
	}
	s := subscribe(t, b, ids[3], "a")
	wantData(t, receive(t, s, 6), "4", "5", "6", "7", "8", "9")
	publish(t, b, "a", "", "10")
	wantData(t, receive(t, s, 1), "10")
	// Resuming from the last event replays nothing.
	s2 := subscribe(t, b, ids[9], "a")
	wantData(t, receive(t, s2, 1), "10")
	expectNothing(t, b, s2, "a")
}

func testResumeManyTopics(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{HistorySize: 100})
	type pub struct{ topic, data, id string }
	var pubs []pub
	topics := []string{"a", "b", "c"}
	for i := range 30 {
		topic := topics[(i*7)%3]
		data := fmt.Sprintf("%s%d", topic, i)
		pubs = append(pubs, pub{topic, data, publish(t, b, topic, "", data).ID})
	}
	// A subscriber of a and b resumes from every possible event of a or b:
	// it gets exactly the later events of a and b, in publish order.
	for k, from := range pubs {
		if from.topic == "c" {
			continue
		}
		var want []string
		for _, p := range pubs[k+1:] {
			if p.topic != "c" {
				want = append(want, p.data)
			}
		}
		// Each fence has a topic of its own, which no later subscriber
		// replays.
		fence := fmt.Sprintf("fence.%d", k)
		s := subscribe(t, b, from.id, "a", "b", fence)
		got := receive(t, s, len(want))
		wantData(t, got, want...)
		expectNothing(t, b, s, fence)
		s.Close()
	}
}

func testEarliest(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{HistorySize: 3})
	for i := range 5 {
		publish(t, b, "a", "", fmt.Sprint(i))
	}
	s := subscribe(t, b, pubsub.Earliest, "a")
	wantData(t, receive(t, s, 3), "2", "3", "4")
	expectNothing(t, b, s, "a")
}

// testSeam subscribes while another goroutine publishes: every subscriber
// must see one contiguous run of sequences, ending with the last event.
func testSeam(t *testing.T, newBroker NewBroker) {
	const n = 3000
	b := newBroker(t, Options{HistorySize: n, QueueSize: n})
	first := publish(t, b, "a", "", "0")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i < n; i++ {
			if _, err := b.Publish(context.Background(), pubsub.Message{Topic: "a", Data: fmt.Sprint(i)}); err != nil {
				t.Errorf("Publish: %v", err)
				return
			}
		}
	}()
	type joined struct {
		sub   pubsub.Subscription
		after uint64 // sequence the subscription resumes after
	}
	var subs []joined
	for i := range 20 {
		if i%2 == 0 {
			subs = append(subs, joined{subscribe(t, b, first.ID, "a"), 1})
		} else {
			subs = append(subs, joined{subscribe(t, b, pubsub.Earliest, "a"), 0})
		}
	}
	wg.Wait()
	for i, j := range subs {
		want := n - int(j.after)
		got := receive(t, j.sub, want)
		for k, e := range got {
			if e.Sequence != j.after+uint64(k)+1 {
				t.Fatalf("subscriber %d: event %d has sequence %d, want %d", i, k, e.Sequence, j.after+uint64(k)+1)
			}
		}
	}
}

func wantGap(t *testing.T, e *pubsub.Event, reason pubsub.GapReason, sent string, topics ...string) {
	t.Helper()
	if e.Gap == nil {
		t.Fatalf("first item is %v, want a gap notice", describe([]*pubsub.Event{e}))
	}
	if e.Gap.Reason != reason || e.Gap.LastEventID != sent || fmt.Sprint(e.Gap.Topics) != fmt.Sprint(topics) {
		t.Fatalf("gap %+v, want reason %v, topics %v, last event id %q", e.Gap, reason, topics, sent)
	}
	if _, err := pubsub.ParseCursor(e.ID); err != nil {
		t.Fatalf("gap notice ID %q is not a cursor: %v", e.ID, err)
	}
	if e.Topic != "" || e.Data != "" || e.Sequence != 0 {
		t.Fatalf("gap notice carries event fields: %+v", e)
	}
}

func testGapTooOld(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{HistorySize: 3})
	var ids []string
	for i := range 10 {
		ids = append(ids, publish(t, b, "a", "", fmt.Sprint(i)).ID)
		publish(t, b, "b", "", fmt.Sprint(i))
	}
	publish(t, b, "c", "", "c0")
	// a and b retain 7, 8, 9; c retains everything it had.
	s := subscribe(t, b, ids[2], "a", "c")
	got := receive(t, s, 5)
	wantGap(t, got[0], pubsub.GapCursorTooOld, ids[2], "a")
	wantData(t, got[1:], "7", "8", "9", "c0")
	// A cursor still covered by the history gives no gap.
	s2 := subscribe(t, b, ids[7], "a")
	wantData(t, receive(t, s2, 2), "8", "9")
}

func testGapMalformed(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{HistorySize: 3})
	for i := range 5 {
		publish(t, b, "a", "", fmt.Sprint(i))
	}
	for _, bad := range []string{"garbage", "AQ", "!!!", "\x00", string(make([]byte, 300))} {
		s := subscribe(t, b, bad, "a")
		got := receive(t, s, 4)
		wantGap(t, got[0], pubsub.GapCursorMalformed, bad, "a")
		wantData(t, got[1:], "2", "3", "4")
		publish(t, b, "a", "", "live")
		wantData(t, receive(t, s, 1), "live")
		s.Close()
		// Keep the history at 2, 3, 4 for the next cursor.
		b = newBroker(t, Options{HistorySize: 3})
		for i := range 5 {
			publish(t, b, "a", "", fmt.Sprint(i))
		}
	}
}

func testGapForeign(t *testing.T, newBroker NewBroker) {
	other := newBroker(t, Options{})
	foreign := publish(t, other, "a", "", "elsewhere").ID
	b := newBroker(t, Options{HistorySize: 10})
	publish(t, b, "a", "", "0")
	publish(t, b, "a", "", "1")
	s := subscribe(t, b, foreign, "a")
	got := receive(t, s, 3)
	wantGap(t, got[0], pubsub.GapCursorUnknown, foreign, "a")
	wantData(t, got[1:], "0", "1")
	// A cursor of this broker from the future is unknown too.
	c, err := pubsub.ParseCursor(got[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	future := pubsub.Cursor{Epoch: c.Epoch, Position: c.Position + 1000}.String()
	s2 := subscribe(t, b, future, "a")
	got = receive(t, s2, 3)
	wantGap(t, got[0], pubsub.GapCursorUnknown, future, "a")
}

func testGapIDResumes(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{HistorySize: 3})
	for i := range 6 {
		publish(t, b, "a", "", fmt.Sprint(i))
	}
	s := subscribe(t, b, "not-a-cursor", "a")
	got := receive(t, s, 4)
	wantGap(t, got[0], pubsub.GapCursorMalformed, "not-a-cursor", "a")
	// Reconnecting with the gap notice's ID replays the same events,
	// without a new notice: nothing more was lost.
	s2 := subscribe(t, b, got[0].ID, "a")
	wantData(t, receive(t, s2, 3), "3", "4", "5")
}

func testSlowSubscriber(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{HistorySize: 100, QueueSize: 4})
	slow := subscribe(t, b, "", "a", "b")
	fast := subscribe(t, b, "", "a")
	var got []*pubsub.Event
	for i := range 20 {
		publish(t, b, "a", "", fmt.Sprint(i)) // never blocks on slow
		got = append(got, receive(t, fast, 1)...)
	}
	if len(got) != 20 {
		t.Fatalf("fast subscriber got %d events", len(got))
	}
	// A broker that tells of the end apart from Ready does so without a
	// Fetch: a consumer blocked on its client learns of the overflow.
	if en, ok := slow.(pubsub.EndNotifier); ok {
		select {
		case <-en.Done():
		case <-time.After(waitTimeout):
			t.Fatal("EndNotifier.Done not closed after the queue overflowed")
		}
		if err := en.Err(); !errors.Is(err, pubsub.ErrSlowSubscriber) {
			t.Fatalf("EndNotifier.Err = %v, want ErrSlowSubscriber", err)
		}
	}
	if en, ok := fast.(pubsub.EndNotifier); ok {
		if err := en.Err(); err != nil {
			t.Fatalf("EndNotifier.Err of a live subscription = %v", err)
		}
		other := subscribe(t, b, "", "c")
		en = other.(pubsub.EndNotifier)
		other.Close()
		<-en.Done()
		if err := en.Err(); !errors.Is(err, pubsub.ErrUnsubscribed) {
			t.Fatalf("EndNotifier.Err after Close = %v, want ErrUnsubscribed", err)
		}
	}
	// The slow one is ended, its queue dropped, and it is unregistered.
	timeout := time.After(waitTimeout)
	for {
		_, err := slow.Fetch(nil)
		if errors.Is(err, pubsub.ErrSlowSubscriber) {
			break
		}
		if err != nil {
			t.Fatalf("slow subscriber ended with %v, want ErrSlowSubscriber", err)
		}
		select {
		case <-slow.Ready():
		case <-timeout:
			t.Fatal("slow subscriber was not ended")
		}
	}
	for _, name := range []string{"a", "b"} {
		info, err := b.Topic(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"a": 1, "b": 0}[name]; info.Subscribers != want {
			t.Fatalf("topic %s has %d subscribers after the slow one ended, want %d", name, info.Subscribers, want)
		}
	}
	// It resumes from history without loss.
	resumed := subscribe(t, b, got[2].ID, "a")
	if n := len(receive(t, resumed, 17)); n != 17 {
		t.Fatalf("resumed with %d events", n)
	}
}

func testClose(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{})
	s := subscribe(t, b, "", "a")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Fetch(nil); !errors.Is(err, pubsub.ErrUnsubscribed) {
		t.Fatalf("Fetch after Close: %v, want ErrUnsubscribed", err)
	}
	publish(t, b, "a", "", "after close")
	info, err := b.Topic(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if info.Subscribers != 0 {
		t.Fatalf("%d subscribers after Close", info.Subscribers)
	}
}

func testIdempotency(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{})
	s := subscribe(t, b, "", "a")
	m := pubsub.Message{Topic: "a", Data: "once", IdempotencyKey: "k1"}
	r1, err := b.Publish(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := b.Publish(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Duplicate || !r2.Duplicate || r2.ID != r1.ID || r2.Sequence != r1.Sequence {
		t.Fatalf("first %+v, retry %+v", r1, r2)
	}
	// The same key on another topic is another event.
	if r3, err := b.Publish(context.Background(), pubsub.Message{Topic: "b", Data: "x", IdempotencyKey: "k1"}); err != nil || r3.Duplicate {
		t.Fatalf("other topic: %+v, %v", r3, err)
	}
	publish(t, b, "a", "", "next")
	wantData(t, receive(t, s, 2), "once", "next")
}

// testBatch publishes a batch of several topics, with an invalid message
// and an idempotency key used twice in it, through PublishBatch when the
// broker has it (else one by one): the same receipts, errors and
// deliveries as publishing each in order.
func testBatch(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{HistorySize: 10})
	s := subscribe(t, b, "", "a", "b")
	ms := []pubsub.Message{
		{Topic: "a", Data: "a1"},
		{Topic: "b", Data: "b1", Type: "t"},
		{Topic: "bad topic", Data: "x"},
		{Topic: "a", Data: "a2\nwith a line", IdempotencyKey: "k"},
		{Topic: "a", Data: "retry of a2", IdempotencyKey: "k"},
		{Topic: "b", Data: ""},
	}
	var rs []pubsub.Receipt
	var errs []error
	if bp, ok := b.(pubsub.BatchPublisher); ok {
		rs, errs = bp.PublishBatch(context.Background(), ms)
	} else {
		for _, m := range ms {
			r, err := b.Publish(context.Background(), m)
			rs, errs = append(rs, r), append(errs, err)
		}
	}
	if len(rs) != len(ms) || len(errs) != len(ms) {
		t.Fatalf("%d receipts and %d errors for %d messages", len(rs), len(errs), len(ms))
	}
	for i, err := range errs {
		if i == 2 {
			if !errors.Is(err, pubsub.ErrInvalidTopic) {
				t.Fatalf("message 2: %v, want ErrInvalidTopic", err)
			}
		} else if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if rs[4].ID != rs[3].ID || !rs[4].Duplicate || rs[3].Duplicate {
		t.Fatalf("retry in the batch: %+v, first %+v", rs[4], rs[3])
	}
	if rs[0].Sequence != 1 || rs[3].Sequence != 2 || rs[1].Sequence != 1 || rs[5].Sequence != 2 {
		t.Fatalf("sequences: %+v", rs)
	}
	got := receive(t, s, 4)
	wantData(t, got, "a1", "b1", "a2\nwith a line", "")
	for i, k := range []int{0, 1, 3, 5} {
		if got[i].ID != rs[k].ID || got[i].Topic != ms[k].Topic || got[i].Type != ms[k].Type || !got[i].Time.Equal(rs[k].Time) {
			t.Fatalf("event %d = %+v, receipt %+v", i, got[i], rs[k])
		}
	}
	// The batch is history too, and resumes at any of its events.
	wantData(t, receive(t, subscribe(t, b, rs[1].ID, "a", "b"), 2), "a2\nwith a line", "")
}

func testTopicInfo(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{HistorySize: 2})
	if _, err := b.Topic(context.Background(), "a"); !errors.Is(err, pubsub.ErrTopicNotFound) {
		t.Fatalf("Topic before creation: %v, want ErrTopicNotFound", err)
	}
	subscribe(t, b, "", "a") // a topic exists from its first subscribe
	publish(t, b, "b.x", "", "1")
	publish(t, b, "b.x", "", "2")
	last := publish(t, b, "b.x", "", "3")
	info, err := b.Topic(context.Background(), "b.x")
	if err != nil {
		t.Fatal(err)
	}
	want := pubsub.TopicInfo{Name: "b.x", Retained: 2, LastSequence: 3, LastEventID: last.ID, Subscribers: 0}
	if info != want {
		t.Fatalf("Topic = %+v, want %+v", info, want)
	}
	all, err := b.Topics(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "a" || all[0].Subscribers != 1 || all[1].Name != "b.x" {
		t.Fatalf("Topics = %+v", all)
	}
	some, err := b.Topics(context.Background(), "b.")
	if err != nil || len(some) != 1 || some[0].Name != "b.x" {
		t.Fatalf("Topics(b.) = %+v, %v", some, err)
	}
}

func testInvalidInput(t *testing.T, newBroker NewBroker) {
	b := newBroker(t, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		m    pubsub.Message
		want error
	}{
		{pubsub.Message{Topic: ""}, pubsub.ErrInvalidTopic},
		{pubsub.Message{Topic: "a b"}, pubsub.ErrInvalidTopic},
		{pubsub.Message{Topic: "a..b"}, pubsub.ErrInvalidTopic},
		{pubsub.Message{Topic: "a", Type: "ssebridge.gap"}, pubsub.ErrInvalidType},
		{pubsub.Message{Topic: "a", Type: "x\ny"}, pubsub.ErrInvalidType},
		{pubsub.Message{Topic: "a", IdempotencyKey: string(make([]byte, 200))}, pubsub.ErrInvalidIdempotencyKey},
		{pubsub.Message{Topic: "a\xff"}, pubsub.ErrInvalidTopic},
		{pubsub.Message{Topic: "a", Data: "ok \xff"}, pubsub.ErrInvalidData},
	} {
		if _, err := b.Publish(ctx, tc.m); !errors.Is(err, tc.want) {
			t.Errorf("Publish(%+v) = %v, want %v", tc.m, err, tc.want)
		}
	}
	if _, err := b.Subscribe(ctx, nil, ""); !errors.Is(err, pubsub.ErrNoTopics) {
		t.Errorf("Subscribe(no topics) = %v", err)
	}
	if _, err := b.Subscribe(ctx, []string{"ok", "not ok"}, ""); !errors.Is(err, pubsub.ErrInvalidTopic) {
		t.Errorf("Subscribe(bad topic) = %v", err)
	}
	// Nothing was created by the failed calls.
	if all, err := b.Topics(ctx, ""); err != nil || len(all) != 0 {
		t.Errorf("Topics after bad input = %+v, %v", all, err)
	}
}
