package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/internal/streamlimit"
	"github.com/ssebridge/ssebridge/pubsub"
)

// Subscribe streams the events of the requested topics, after
// req.LastEventId when it is set. A cursor the broker cannot honour exactly
// produces a gap notice first. The call counts against the stream limits
// (Config.Streams). The response header is sent as soon as the
// subscription is registered. The call ends with UNAVAILABLE when the
// subscriber falls behind (its queue overflows, or a message is not taken
// within Config.WriteTimeout), the stream reaches its maximum age, the
// broker closes or Shutdown is called, with UNAUTHENTICATED when its
// credential expires, and with the client's cancellation otherwise; the
// subscription is always closed.
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
	release, err := s.acquireStream(ctx)
	if err != nil {
		return s.statusError(method, err)
	}
	subscribed := time.Now() // events accepted before are replayed, not timed
	sub, err := s.broker.Subscribe(ctx, topics, req.GetLastEventId())
	if err != nil {
		release()
		return s.statusError(method, err)
	}
	s.subscribers.Inc()
	end := &callEnd{svc: s, ctx: ctx, release: release}
	// Without a header, clients and proxies cannot tell a quiet
	// subscription from one that is not open yet.
	err = stream.SendHeader(metadata.MD{})
	if err != nil {
		sub.Close()
	} else {
		err = s.serveSubscription(ctx, stream, sub, subscribed, grant.Expires, end)
	}
	end.decided(err)
	end.log(err)
	return s.statusError(method, err)
}

// serveSubscription streams sub to stream until the call ends, and returns
// why. It closes sub, unless the call was abandoned with a send blocked on
// a connection the Service cannot close: then sub is closed as soon as the
// end of the call unblocks that send.
func (s *Service) serveSubscription(ctx context.Context, stream grpc.ServerStreamingServer[ssebridgev1.SubscribeResponse], sub pubsub.Subscription, subscribed, expires time.Time, end *callEnd) error {
	p := newSender(s, stream, sub, subscribed)
	defer p.watchdog.Stop()
	go p.run(ctx)

	var expired <-chan time.Time // nil, never ready, for credentials that do not expire
	if !expires.IsZero() {
		t := time.NewTimer(time.Until(expires))
		defer t.Stop()
		expired = t.C
	}
	aged, stopAge := s.maxAge.Timer()
	defer stopAge()
	var ended <-chan struct{} // nil, never ready, for brokers that tell only through Ready
	en, hasEnd := sub.(pubsub.EndNotifier)
	if hasEnd {
		ended = en.Done()
	}
	for {
		var reason error
		waitSend := true
		select {
		case err := <-p.result:
			return err
		case <-p.watchdog.C:
			if !p.overdue() {
				continue
			}
			reason, waitSend = errStalled, false
		case <-ended:
			// Usually a queue that overflowed while a send waits.
			reason = en.Err()
			if errors.Is(reason, pubsub.ErrUnsubscribed) {
				return <-p.result // closed by the sender, which has ended
			}
		case <-ctx.Done():
			reason = ctx.Err()
		case <-s.shutdown:
			reason, waitSend = errShuttingDown, false
		case <-expired:
			reason = errCredentialExpired
		case <-aged:
			reason = errMaxStreamAge
		}
		end.decided(reason)
		return s.finish(ctx, p, reason, waitSend)
	}
}

// finish stops p and returns reason, why the call ends. A send in flight
// is given until its write deadline when waitSend is set, so that the
// client gets the status after it; a send not taken by then (the call
// then ends as stalled), or in flight when the call must end at once
// (Shutdown, a stall), is abandoned: the call's connection is closed (see
// conns.go), because the status could only follow bytes the client is not
// taking.
func (s *Service) finish(ctx context.Context, p *sender, reason error, waitSend bool) error {
	if !p.stop() {
		<-p.result // the sender is not blocked: it ends at once
		return reason
	}
	for waitSend {
		select {
		case <-p.result:
			return reason
		case <-p.watchdog.C:
			if p.overdue() {
				reason, waitSend = errStalled, false
			}
		case <-s.shutdown:
			waitSend = false
		}
	}
	if s.conns.closeConn(ctx) {
		// Closing the connection cancels the call's context, which ends
		// the send; the bound is only a guard.
		select {
		case <-p.result:
		case <-time.After(s.writeTimeout):
		}
	}
	return reason
}

// acquireStream counts a new stream of the call's client in the stream
// limits: its peer's address, or the last address of the trusted
// Config.ClientAddrHeader metadata when that is set and present.
func (s *Service) acquireStream(ctx context.Context) (release func(), err error) {
	var addr string
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	var values []string
	if s.addrHeader != "" {
		values = metadata.ValueFromIncomingContext(ctx, s.addrHeader)
	}
	return s.streams.Acquire(streamlimit.ClientAddr(addr, values))
}

// callEnd accounts for the end of one Subscribe call as soon as it is
// decided, before a send in flight is waited for: the call stops counting
// as a subscriber and against the stream limits, and a slow one is counted
// as such. Only the handler's goroutine uses it.
type callEnd struct {
	svc     *Service
	ctx     context.Context
	release func() // frees the call's slot in the stream limits
	done    bool   // subscriber gauge and stream limits updated
	slow    bool   // counted as a slow disconnect
}

// decided records why the call ends; the reason may turn into a stall
// while a send in flight is waited for, so it may be called again.
func (c *callEnd) decided(reason error) {
	if !c.done {
		c.done = true
		c.svc.subscribers.Dec()
		c.release()
	}
	if !c.slow && (errors.Is(reason, pubsub.ErrSlowSubscriber) || errors.Is(reason, errStalled)) {
		c.slow = true
		c.svc.slow.Inc()
		c.svc.log.Info("grpc subscriber disconnected as slow", "peer", peerAddr(c.ctx), "reason", reason.Error())
	}
}

// log logs the end of the call, unless it was logged as slow.
func (c *callEnd) log(err error) {
	if !c.slow && err != nil {
		c.svc.log.Debug("grpc subscription ended", "peer", peerAddr(c.ctx), "reason", err.Error())
	}
}

// peerAddr returns the address of the call's peer, for logs.
func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// deliver sends one event or gap notice and counts it; an event accepted
// after subscribed is timed in the delivery latency, from its acceptance to
// the return of SendMsg (gRPC's transport then has it). An event's bytes
// are shared with its other subscribers (subscribeResponse).
func (s *Service) deliver(stream grpc.ServerStreamingServer[ssebridgev1.SubscribeResponse], e *pubsub.Event, subscribed time.Time) error {
	var b []byte
	if e.Gap == nil {
		b = subscribeResponse(e)
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
