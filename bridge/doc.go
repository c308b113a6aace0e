// Package bridge serves ssebridge's event streams over Server-Sent Events
// (the "server-sent events" section of the WHATWG HTML standard), for
// browsers' EventSource and any other SSE client. It is written against the
// pubsub.Broker interface, not a particular broker.
//
// # Routes
//
// Handler.Register adds two routes:
//
//	GET /v1/events?topic=A&topic=B   the events of topics A and B
//	GET /v1/topics/{topic}/events    the events of one topic
//
// A stream starts at once with status 200, Content-Type text/event-stream,
// Cache-Control no-cache and X-Accel-Buffering no (so that nginx does not
// buffer it), then a "retry:" line giving the client's reconnection delay
// (Config.Retry), all flushed before any event.
//
// # Events
//
// Each event is one frame:
//
//	id: <event ID>
//	event: <type>            (absent for the default type, "message")
//	data: <one line of the payload>
//	...
//	<blank line>
//
// A payload line break of any kind (CRLF, CR or LF) starts a new data line,
// so clients read every line break as LF. The id is the event's cursor: an
// opaque, URL-safe string of at most 26 characters.
//
// # Resuming
//
// A client resumes after the event it received last by sending its ID in
// the Last-Event-ID header, which EventSource does by itself when it
// reconnects, or in the last_event_id query parameter for a first
// connection; the header wins when both are present. Because the events of
// all topics of a stream share one log order, one ID resumes every topic of
// a multi-topic stream exactly: nothing lost, nothing repeated.
//
// A cursor that cannot be resumed exactly (too old, from another broker
// instance, or malformed) is never refused: the stream starts with a gap
// notice, an event of type GapEventType ("ssebridge.gap") whose data is
// one line of JSON:
//
//	{"reason":"cursor_too_old","topics":["a","b"],"last_event_id":"<cursor sent>"}
//
// reason is cursor_too_old, cursor_unknown or cursor_malformed; topics are
// the topics whose events may be missing; last_event_id is the cursor the
// client sent. The notice's id is a cursor to resume from, and the events
// the broker still retains follow it.
//
// # Heartbeats and the end of a stream
//
// A stream idle for Config.Heartbeat sends the comment ": keep-alive", so
// that proxies keep it open and a client that is gone is noticed. Each
// write has its own deadline (Config.WriteTimeout); a client that does not
// take its data in time is disconnected, as is a client whose queue of
// undelivered events overflows in the broker. In both cases, and when the
// server shuts down (Handler.Shutdown), the response ends normally, so
// EventSource reconnects and resumes from its last event ID.
//
// With Config.MaxStreamAge, every stream also ends that way once it has
// been open for MaxStreamAge less a random part of
// Config.MaxStreamAgeJitter (a tenth of it by default), between batches of
// events, never inside one. Clients then reconnect, spread over time,
// through their normal resume path: long-lived connections rebalance
// across replicas without losing or repeating an event.
//
// # Connections
//
// Over HTTP/1.1, the handler takes the connection over from net/http
// (Hijack) once a stream has started: the response carries Connection:
// close and no chunked framing, ends with the connection, and the handler
// and net/http's per-connection buffers and goroutines are gone, so an
// idle stream costs a few kilobytes. Clients that hang up are noticed
// through one epoll set for all connections on Linux (package
// internal/hangup, used by package sse), elsewhere through a read per
// connection. Headers a
// middleware set before the handler ran (CORS, say) are sent as they
// are. Over HTTP/2 streams stay in net/http. http.Server.Shutdown does
// not wait for taken-over connections: Handler.Wait does.
//
// # Errors
//
// Problems found before a stream starts are answered in the one error shape
// of ssebridge (package internal/apierror), the google.rpc.Status that the
// REST gateway writes too:
//
//	{"code":3,"message":"...","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"INVALID_TOPIC","domain":"ssebridge"},...]}
//
// with the HTTP status mapped from the gRPC code as grpc-gateway maps it:
// 400 (INVALID_ARGUMENT; reasons INVALID_TOPIC, NO_TOPICS, TOO_MANY_TOPICS,
// with a BadRequest detail naming the field "topic"), 401 or 403 (with a
// WWW-Authenticate challenge), 429 (RESOURCE_EXHAUSTED; TOO_MANY_STREAMS,
// TOO_MANY_CLIENT_STREAMS, with Retry-After and a RetryInfo detail), 503
// (UNAVAILABLE: the broker is closed) or 500 (INTERNAL; the message is then
// only "internal error"). EventSource does not reconnect after these.
// WriteError writes such a body for other HTTP code.
//
// # Encoding and the stream engine
//
// The SSE wire format and the writing of streams (heartbeats, write
// deadlines, batching, the HTTP/1.1 take-over, the maximum age, shutdown)
// live in package sse, which knows nothing of topics; the Handler adds
// validation, authorization, stream limits, the broker subscription and
// gap notices. EncodeEvent encodes a published event once for all its
// subscribers, through SharedFrame (cached in pubsub.Event.Wire.SSE).
package bridge
