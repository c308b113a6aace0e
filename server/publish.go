package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/ssebridge/ssebridge/auth"
	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/pubsub"
)

const (
	// maxAcksWaiting bounds the acknowledgements waiting to be sent: when
	// that many wait, the receiving side stops publishing until the client
	// reads.
	maxAcksWaiting = 1024

	// maxAcksPerResponse bounds the acknowledgements packed into one
	// PublishStreamResponse. 256 successful ones take about 13 KiB: the
	// response fits one HTTP/2 frame, and grpc-go marshals it into a
	// buffer from its 16 KiB pool. Above 32 KiB grpc-go would take a
	// 1 MiB buffer, and clear it, for every response. Even with long
	// error messages a full response stays well under the 4 MiB that gRPC
	// clients accept by default.
	maxAcksPerResponse = 256
)

// Publish validates one event and publishes it to the broker. See the
// EventService documentation in events.proto for the errors.
func (s *Service) Publish(ctx context.Context, req *ssebridgev1.PublishRequest) (*ssebridgev1.PublishResponse, error) {
	grant, err := s.grant(ctx)
	if err != nil {
		return nil, s.callError(ctx, "Publish", err)
	}
	r, err := s.publish(ctx, grant, req)
	if err != nil {
		return nil, s.callError(ctx, "Publish", err)
	}
	return toPublishResponse(r), nil
}

// publish is Publish with domain errors: it publishes req if grant allows
// it.
func (s *Service) publish(ctx context.Context, grant *auth.Grant, req *ssebridgev1.PublishRequest) (pubsub.Receipt, error) {
	m := toMessage(req)
	if err := s.admitPublish(grant, m); err != nil {
		return pubsub.Receipt{}, err
	}
	start := time.Now()
	r, err := s.broker.Publish(ctx, m)
	if err == nil {
		s.recordPublished(ctx, r, time.Since(start))
	}
	return r, err
}

// recordPublished records one event published in took.
func (s *Service) recordPublished(ctx context.Context, r pubsub.Receipt, took time.Duration) {
	s.metrics.PublishDuration.Observe(took.Seconds())
	if !r.Duplicate {
		s.published[transportOf(ctx)].Inc()
	}
}

// publishBatch publishes the requests that grant allows, in order, with
// one call of a broker that is a pubsub.BatchPublisher (else one Publish
// each), and returns a receipt or an error for each request.
func (s *Service) publishBatch(ctx context.Context, grant *auth.Grant, reqs []*ssebridgev1.PublishRequest) ([]pubsub.Receipt, []error) {
	receipts, errs := make([]pubsub.Receipt, len(reqs)), make([]error, len(reqs))
	ms := make([]pubsub.Message, 0, len(reqs))
	at := make([]int, 0, len(reqs)) // index in reqs of each message
	for i, req := range reqs {
		m := toMessage(req)
		if errs[i] = s.admitPublish(grant, m); errs[i] == nil {
			ms, at = append(ms, m), append(at, i)
		}
	}
	if len(ms) == 0 {
		return receipts, errs
	}
	start := time.Now()
	rs, berrs := publishTo(ctx, s.broker, ms)
	// Each event of a batch is observed with its share of the batch's
	// time, so the histogram counts events.
	each := time.Since(start) / time.Duration(len(ms))
	for k, i := range at {
		receipts[i], errs[i] = rs[k], berrs[k]
		if berrs[k] == nil {
			s.recordPublished(ctx, rs[k], each)
		}
	}
	return receipts, errs
}

// publishTo publishes ms to b in order: in one call when b is a
// pubsub.BatchPublisher.
func publishTo(ctx context.Context, b pubsub.Broker, ms []pubsub.Message) ([]pubsub.Receipt, []error) {
	if bp, ok := b.(pubsub.BatchPublisher); ok && len(ms) > 1 {
		return bp.PublishBatch(ctx, ms)
	}
	rs, errs := make([]pubsub.Receipt, len(ms)), make([]error, len(ms))
	for i, m := range ms {
		rs[i], errs[i] = b.Publish(ctx, m)
	}
	return rs, errs
}

// admitPublish checks m and whether grant may publish it now.
func (s *Service) admitPublish(grant *auth.Grant, m pubsub.Message) error {
	if err := pubsub.ValidateMessage(m); err != nil {
		return err
	}
	if !grant.Expires.IsZero() && time.Now().After(grant.Expires) {
		return fmt.Errorf("%w: the credential expired at %v", auth.ErrInvalidToken, grant.Expires)
	}
	if err := checkPublish(grant, m.Topic); err != nil {
		return err
	}
	if s.limiter != nil {
		if ok, wait := s.limiter.allow(grant.Subject, time.Now()); !ok {
			return &rateLimitedError{retryAfter: wait}
		}
	}
	if len(m.Data) > s.maxData {
		return dataTooLarge(len(m.Data), s.maxData)
	}
	return nil
}

// PublishStream publishes the events of a bidirectional stream in the order
// received and acknowledges each, in the same order, with its result or its
// error. The handler's goroutine sends; one more goroutine receives and
// publishes, and hands acknowledgements over through a bounded queue. The
// sender packs every acknowledgement waiting in the queue into one
// response. The call ends cleanly once the client has closed its side and
// every acknowledgement is sent; it ends with UNAVAILABLE on Shutdown,
// after sending the acknowledgements that are ready. An event whose
// acknowledgement the client did not receive may or may not have been
// published: retry it with the same idempotency key.
func (s *Service) PublishStream(stream grpc.BidiStreamingServer[ssebridgev1.PublishStreamRequest, ssebridgev1.PublishStreamResponse]) error {
	const method = "PublishStream"
	if s.shuttingDown() {
		return s.statusError(method, errShuttingDown)
	}
	ctx := stream.Context()
	grant, err := s.grant(ctx)
	if err == nil && grant.Anonymous && !grant.Everything {
		err = fmt.Errorf("%w: anonymous clients may not publish; %s", auth.ErrUnauthenticated, hintPublishCredential)
	}
	if err != nil {
		return s.statusError(method, err)
	}
	acks := make(chan *ssebridgev1.PublishAck, maxAcksWaiting)
	stop := make(chan struct{}) // closed when the handler returns
	defer close(stop)
	var recvErr error // written by the receiver before it closes acks
	go s.receiveAndPublish(stream, grant, acks, stop, &recvErr)

	send := func(batch []*ssebridgev1.PublishAck) error {
		if len(batch) == 0 {
			return nil
		}
		return stream.Send(&ssebridgev1.PublishStreamResponse{Acks: batch})
	}
	for {
		var first *ssebridgev1.PublishAck
		var open bool
		select {
		case first, open = <-acks:
		case <-ctx.Done():
			return s.statusError(method, ctx.Err())
		case <-s.shutdown:
			batch, open := takeReady(nil, acks)
			if err := send(batch); err != nil {
				return s.statusError(method, err)
			}
			if !open {
				return s.endOfPublishStream(recvErr)
			}
			return s.statusError(method, errShuttingDown)
		}
		if !open {
			return s.endOfPublishStream(recvErr)
		}
		// The response owns its slice once sent, so each batch gets a new one.
		batch, open := takeReady([]*ssebridgev1.PublishAck{first}, acks)
		if err := send(batch); err != nil {
			return s.statusError(method, err)
		}
		if !open {
			return s.endOfPublishStream(recvErr)
		}
	}
}

// maxPublishBatch bounds the events of a PublishStream call published
// with one broker call: those received while the previous batch was being
// published.
const maxPublishBatch = 256

// receiveAndPublish is PublishStream's publishing goroutine. A goroutine
// of its own receives; this one publishes what has arrived, as one batch
// (pubsub.BatchPublisher), and queues the acknowledgements in order. It
// returns when Recv fails (io.EOF once the client closed its side),
// storing the error in *recvErr and closing acks, or when stop is closed.
func (s *Service) receiveAndPublish(
	stream grpc.BidiStreamingServer[ssebridgev1.PublishStreamRequest, ssebridgev1.PublishStreamResponse],
	grant *auth.Grant, acks chan<- *ssebridgev1.PublishAck, stop <-chan struct{}, recvErr *error,
) {
	ctx := stream.Context()
	reqs := make(chan *ssebridgev1.PublishRequest, maxPublishBatch)
	var err error // Recv's, written before reqs is closed
	go func() {
		defer close(reqs)
		for {
			var req *ssebridgev1.PublishStreamRequest
			if req, err = stream.Recv(); err != nil {
				return
			}
			select {
			case reqs <- req.GetEvent():
			case <-stop:
				return
			}
		}
	}()
	var index uint64
	for {
		batch, open := takeRequests(reqs)
		if len(batch) > 0 && !s.acknowledge(ctx, grant, batch, &index, acks, stop) {
			return
		}
		if !open {
			*recvErr = err
			close(acks)
			return
		}
	}
}

// takeRequests waits for a request on reqs, then takes those waiting
// behind it, up to maxPublishBatch. open is false once reqs is closed and
// empty.
func takeRequests(reqs <-chan *ssebridgev1.PublishRequest) (batch []*ssebridgev1.PublishRequest, open bool) {
	req, open := <-reqs
	if !open {
		return nil, false
	}
	return takeWaiting([]*ssebridgev1.PublishRequest{req}, reqs, maxPublishBatch)
}

// acknowledge publishes batch and queues an acknowledgement for each
// request, numbered from *index on. It returns false when stop closed
// first.
func (s *Service) acknowledge(ctx context.Context, grant *auth.Grant, batch []*ssebridgev1.PublishRequest,
	index *uint64, acks chan<- *ssebridgev1.PublishAck, stop <-chan struct{}) bool {
	receipts, errs := s.publishBatch(ctx, grant, batch)
	for i := range batch {
		var ack *ssebridgev1.PublishAck
		if errs[i] != nil {
			ack = &ssebridgev1.PublishAck{Index: *index, Error: s.status("PublishStream", errs[i]).Proto()}
		} else {
			ack = toPublishAck(*index, receipts[i])
		}
		*index++
		select {
		case acks <- ack:
		case <-stop:
			return false
		}
	}
	return true
}

// takeReady appends the acknowledgements waiting in acks to batch, up to
// maxAcksPerResponse in all, without blocking. open is false once acks is
// closed and empty.
func takeReady(batch []*ssebridgev1.PublishAck, acks <-chan *ssebridgev1.PublishAck) (_ []*ssebridgev1.PublishAck, open bool) {
	return takeWaiting(batch, acks, maxAcksPerResponse)
}

// takeWaiting appends to batch what waits in ch, up to limit in all,
// without blocking. open is false once ch is closed and empty.
func takeWaiting[T any](batch []T, ch <-chan T, limit int) (_ []T, open bool) {
	for len(batch) < limit {
		select {
		case v, ok := <-ch:
			if !ok {
				return batch, false
			}
			batch = append(batch, v)
		default:
			return batch, true
		}
	}
	return batch, true
}

// endOfPublishStream is the result of a PublishStream call whose receiver
// stopped with err, after every acknowledgement was sent.
func (s *Service) endOfPublishStream(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return s.statusError("PublishStream", err)
}
