package server

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/pubsub"
)

// Subscribe streams the events of the requested topics, after
// req.LastEventId when it is set. A cursor the broker cannot honour exactly
// produces a gap notice first. The response header is sent as soon as the
// subscription is registered. The call ends with UNAVAILABLE when the
// subscriber falls behind, the broker closes or Shutdown is called, and
// with the client's cancellation otherwise; the subscription is always
// closed.
func (s *Service) Subscribe(req *ssebridgev1.SubscribeRequest, stream grpc.ServerStreamingServer[ssebridgev1.SubscribeResponse]) error {
	const method = "Subscribe"
	topics, err := s.validateTopics(req.GetTopics())
	if err != nil {
		return s.statusError(method, err)
	}
	if s.shuttingDown() {
		return s.statusError(method, errShuttingDown)
	}
	ctx := stream.Context()
	grant, err := s.grant(ctx)
	if err == nil {
		err = grant.CheckSubscribe(topics)
	}
	if err != nil {
		return s.statusError(method, err)
	}
	var expired <-chan time.Time // nil, never ready, for credentials that do not expire
	if !grant.Expires.IsZero() {
		t := time.NewTimer(time.Until(grant.Expires))
		defer t.Stop()
		expired = t.C
	}
	subscribed := time.Now() // events accepted before are replayed, not timed
	sub, err := s.broker.Subscribe(ctx, topics, req.GetLastEventId())
	if err != nil {
		return s.statusError(method, err)
	}
	defer sub.Close()
	s.subscribers.Inc()
	defer s.subscribers.Dec()

	// Without a header, clients and proxies cannot tell a quiet
	// subscription from one that is not open yet.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return s.statusError(method, err)
	}

	var batch []*pubsub.Event
	for {
		select {
		case <-sub.Ready():
		case <-ctx.Done():
			return s.statusError(method, ctx.Err())
		case <-s.shutdown:
			return s.statusError(method, errShuttingDown)
		case <-expired:
			return s.statusError(method, errCredentialExpired)
		}
		var fetchErr error
		batch, fetchErr = sub.Fetch(batch[:0])
		for _, e := range batch {
			if err := s.deliver(stream, e, subscribed); err != nil {
				return s.statusError(method, err)
			}
		}
		clear(batch) // let delivered events go when the broker drops them
		if fetchErr != nil {
			if errors.Is(fetchErr, pubsub.ErrSlowSubscriber) {
				s.slow.Inc()
			}
			return s.statusError(method, fetchErr)
		}
	}
}

// deliver sends one event or gap notice and counts it; an event accepted
// after subscribed is timed in the delivery latency, from its acceptance to
// the return of SendMsg (gRPC's transport then has it). An event's bytes
// are shared with its other subscribers (subscribeResponses).
func (s *Service) deliver(stream grpc.ServerStreamingServer[ssebridgev1.SubscribeResponse], e *pubsub.Event, subscribed time.Time) error {
	var b []byte
	if e.Gap == nil {
		b = e.Encoded(subscribeResponses)
	}
	var err error
	if b != nil {
		err = stream.SendMsg(b) // sent as it is by messageCodec
	} else {
		err = stream.Send(toSubscribeResponse(e))
	}
	if err != nil {
		return err
	}
	if e.Gap != nil {
		s.metrics.GapNotices.WithLabelValues(metrics.GRPC, e.Gap.Reason.String()).Inc()
	} else {
		s.delivered.Inc()
		metrics.ObserveDelivery(s.latency, e.Time, subscribed, time.Now())
	}
	return nil
}

// validateTopics checks a Subscribe request's topics: at least one, at most
// MaxTopics names (counted before duplicates are removed, which bounds the
// work), each valid. It returns them without duplicates.
func (s *Service) validateTopics(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, inField("topics", fmt.Errorf("%w: name at least one topic", pubsub.ErrNoTopics))
	}
	if len(names) > s.maxTopics {
		return nil, fmt.Errorf("%w: %d topics, the limit is %d", errTooManyTopics, len(names), s.maxTopics)
	}
	topics, err := pubsub.ValidateTopics(names)
	if err != nil {
		return nil, inField("topics", err)
	}
	return topics, nil
}
