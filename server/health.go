package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/pubsub"
)

// healthService is grpc-go's health service whose Watch calls end once the
// Service shuts down, after telling the watcher the final status.
// GracefulStop waits for every open call, and grpc-go clients that check
// health keep a Watch open per connection: without this, one such client
// would hold a graceful stop until the drain deadline.
type healthService struct {
	*health.Server
	shutdown <-chan struct{}
}

// Watch streams the serving status of req's service, as grpc-go's health
// service does, until the client leaves or the Service shuts down; then it
// sends the final status if the watcher does not have it yet and ends
// with UNAVAILABLE.
func (h healthService) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	w := &watchStream{Health_WatchServer: stream, ctx: ctx}
	done := make(chan error, 1)
	go func() { done <- h.Server.Watch(req, w) }()
	select {
	case err := <-done:
		return err
	case <-h.shutdown:
	}
	cancel()
	<-done // no Send of w's runs from here on
	if err := stream.Context().Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	final := healthpb.HealthCheckResponse_SERVICE_UNKNOWN
	if resp, err := h.Check(context.Background(), req); err == nil {
		final = resp.GetStatus()
	}
	if !w.sent || w.last != final {
		if err := stream.Send(&healthpb.HealthCheckResponse{Status: final}); err != nil {
			return err
		}
	}
	return status.Error(codes.Unavailable, "server shutting down")
}

// watchStream is a Watch stream with its own context, that remembers the
// last status sent.
type watchStream struct {
	healthpb.Health_WatchServer
	ctx  context.Context
	sent bool
	last healthpb.HealthCheckResponse_ServingStatus
}

func (w *watchStream) Context() context.Context { return w.ctx }

func (w *watchStream) Send(resp *healthpb.HealthCheckResponse) error {
	if err := w.Health_WatchServer.Send(resp); err != nil {
		return err
	}
	w.sent, w.last = true, resp.GetStatus()
	return nil
}

// setServing sets the serving status of the services this Service reports
// in the health service.
func (s *Service) setServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(ssebridgev1.EventService_ServiceDesc.ServiceName, st)
}

// followBrokerHealth reports NOT_SERVING while the broker cannot deliver
// (pubsub.Health), SERVING again once it can, until Shutdown, which makes
// it NOT_SERVING for good. It runs in its own goroutine, started by New
// for a broker with that capability.
func (s *Service) followBrokerHealth(h pubsub.Health) {
	defer close(s.healthDone)
	for {
		err := h.Healthy()
		if err != nil {
			s.log.Warn("broker unavailable: reporting NOT_SERVING", "error", err)
		}
		s.setServing(err == nil)
		select {
		case <-h.HealthChanged():
		case <-s.shutdown:
			return
		}
	}
}

// Ready returns nil when the Service takes new clients: not shutting down,
// and its broker able to deliver. It is what readiness checks (/readyz)
// report.
func (s *Service) Ready() error {
	if s.shuttingDown() {
		return errShuttingDown
	}
	if h, ok := s.broker.(pubsub.Health); ok {
		return h.Healthy()
	}
	return nil
}
