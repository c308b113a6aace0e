package server_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/memory"
)

// batching is a broker with the pubsub.BatchPublisher capability that
// publishes each batch one by one and records the batch sizes; a batch
// waits until the test lets it go, so that requests pile up behind it.
type batching struct {
	pubsub.Broker
	mu      sync.Mutex
	sizes   []int
	release chan struct{}
}

func (b *batching) PublishBatch(ctx context.Context, ms []pubsub.Message) ([]pubsub.Receipt, []error) {
	<-b.release
	b.mu.Lock()
	b.sizes = append(b.sizes, len(ms))
	b.mu.Unlock()
	rs, errs := make([]pubsub.Receipt, len(ms)), make([]error, len(ms))
	for i, m := range ms {
		rs[i], errs[i] = b.Broker.Publish(ctx, m)
	}
	return rs, errs
}

// TestPublishStreamBatches: the events of a PublishStream call that
// arrive while a batch is being published go to a BatchPublisher as one
// batch; the acknowledgements keep the stream's order and indexes, and an
// invalid event gets its error at its own index without failing the
// others.
func TestPublishStreamBatches(t *testing.T) {
	b := &batching{release: make(chan struct{})}
	e := newEnv(t, envConfig{broker: func(h *memory.Hub) pubsub.Broker { b.Broker = h; return b }})
	ps, err := e.client.PublishStream(streamContext(t))
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		topic := "t"
		if i == 30 {
			topic = "not a topic"
		}
		if err := ps.Send(&ssebridgev1.PublishStreamRequest{Event: &ssebridgev1.PublishRequest{Topic: topic, Data: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	ps.CloseSend()
	close(b.release) // the first batch (of one, at least) goes; the rest waited behind it
	var acks []*ssebridgev1.PublishAck
	for len(acks) < n {
		resp, err := ps.Recv()
		if err != nil {
			t.Fatalf("after %d acknowledgements: %v", len(acks), err)
		}
		acks = append(acks, resp.GetAcks()...)
	}
	var seqs []uint64
	for i, a := range acks {
		if a.GetIndex() != uint64(i) {
			t.Fatalf("acknowledgement %d has index %d", i, a.GetIndex())
		}
		if (a.GetError() != nil) != (i == 30) {
			t.Fatalf("acknowledgement %d: error %v", i, a.GetError())
		}
		if a.GetError() == nil {
			seqs = append(seqs, a.GetResult().GetSequence())
		}
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("sequences %v: not in stream order", seqs)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	biggest := 0
	for _, s := range b.sizes {
		biggest = max(biggest, s)
	}
	if biggest < 2 {
		t.Fatalf("batch sizes %v: the waiting events were not batched", b.sizes)
	}
}
