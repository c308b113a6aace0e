// Package server implements ssebridge's gRPC EventService over a
// pubsub.Broker, and its REST mapping through grpc-gateway.
//
// A Service is written against the pubsub interfaces only; cmd/ssebridge
// chooses the broker and wires a Service into a listener:
//
//	svc, err := server.New(server.Config{Broker: hub})
//	...
//	gs := svc.NewGRPCServer()
//	go gs.Serve(svc.Listener(lis)) // lets it close a stalled subscriber's connection
//	rest, err := svc.Gateway() // an http.Handler for the routes of GatewayRoutes()
//	...
//	svc.Shutdown()   // health NOT_SERVING, open streams end with UNAVAILABLE
//	gs.GracefulStop() // bounded by a timeout, then gs.Stop()
//
// # Errors
//
// Domain errors are mapped to gRPC statuses in one place (errors.go). Every
// status carries a google.rpc.ErrorInfo detail (domain "ssebridge") whose
// reason is the machine-readable code, the one error shape of package
// internal/apierror that REST clients receive in JSON too. Bad input is
// INVALID_ARGUMENT with a google.rpc.BadRequest detail naming the offending
// request field ("topic", "topics", "type", "idempotency_key" or "data"),
// strings that are not valid UTF-8 included: the server's codec lets such
// a request through to the checks (lenient.go) where gRPC would answer
// INTERNAL;
// a missing topic, and one the caller may not read (GetTopic never tells
// them apart), is NOT_FOUND (TOPIC_NOT_FOUND); refused credentials are
// UNAUTHENTICATED (INVALID_TOKEN, UNAUTHENTICATED) or PERMISSION_DENIED
// (FORBIDDEN), from whose reasons the REST gateway builds its
// WWW-Authenticate challenges; a closed broker, a subscriber that fell
// behind and a server that is shutting down are UNAVAILABLE; any other
// error reaches the client only as INTERNAL "internal error" and is logged.
//
// # Streams
//
// Subscribe counts against the stream limits shared with SSE
// (Config.Streams; over them RESOURCE_EXHAUSTED with a RetryInfo), sends
// its response header at once, so a quiet subscription is visibly open,
// then forwards the subscription's events (and a gap notice, when the
// broker sends one) in order, from a sender goroutine of its own while the
// handler's goroutine watches it. A subscriber whose queue overflows, or
// that does not take a message within Config.WriteTimeout, is ended as
// slow with UNAVAILABLE; so is a call at Config.MaxStreamAge. It
// resubscribes with the id of the last event it received and loses
// nothing the broker still retains. A call given up with a message still
// in flight (the client does not read) has its connection closed, when
// the listener was wrapped by Service.Listener: grpc-go cannot reset one
// stream from the server, and its status would wait behind that message.
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
