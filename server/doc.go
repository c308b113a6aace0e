// Package server implements ssebridge's gRPC EventService over a
// pubsub.Broker, and its REST mapping through grpc-gateway.
//
// A Service is written against the pubsub interfaces only; cmd/ssebridge
// chooses the broker and wires a Service into a listener:
//
//	svc, err := server.New(server.Config{Broker: hub})
//	...
//	gs := svc.NewGRPCServer()
//	go gs.Serve(lis)
//	rest, err := svc.Gateway() // an http.Handler for /v1/topics...
//	...
//	svc.Shutdown()   // health NOT_SERVING, open streams end with UNAVAILABLE
//	gs.GracefulStop() // bounded by a timeout, then gs.Stop()
//
// # Errors
//
// Domain errors are mapped to gRPC statuses in one place (errors.go). Bad
// input is INVALID_ARGUMENT with a google.rpc.BadRequest detail naming the
// offending request field ("topic", "topics", "type", "idempotency_key" or
// "data"), strings that are not valid UTF-8 included: the server's codec
// lets such a request through to the checks (lenient.go) where gRPC would
// answer INTERNAL; a missing topic is NOT_FOUND; a closed broker, a subscriber that
// fell behind and a server that is shutting down are UNAVAILABLE; any other
// error reaches the client only as INTERNAL "internal error" and is logged.
//
// # Streams
//
// Subscribe sends its response header at once, so a quiet subscription is
// visibly open, then forwards the subscription's events (and a gap notice,
// when the broker sends one) in order. A subscriber whose queue overflows is
// ended with UNAVAILABLE; it resubscribes with the id of the last event it
// received and loses nothing the broker still retains.
//
// PublishStream publishes events in the order received and acknowledges
// them in the same order. One goroutine receives and publishes; the
// handler's goroutine sends, packing every acknowledgement that is ready
// into one response, so a busy stream needs far fewer responses than
// events. A bad event is acknowledged with an error and the stream goes on.
//
// # Concurrency
//
// A Service is safe for concurrent use by any number of calls; it holds no
// per-call state outside the call. Shutdown may be called from any
// goroutine, any number of times.
package server
