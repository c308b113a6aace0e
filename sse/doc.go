// Package sse is ssebridge's Server-Sent Events engine (the
// "server-sent events" section of the WHATWG HTML standard): the wire
// format, and a Server that drains a Source into a long-lived stream. It
// knows nothing of topics, brokers, credentials or Prometheus; package
// bridge serves the event topics with it, package console the stats
// stream.
//
// # Encoding
//
// AppendEvent, AppendComment and AppendRetry cannot produce a malformed
// frame: they reject what a client could not read back unchanged. An event
// may have no id (its frame then has no id line, and the client keeps its
// last event ID). NewFrame encodes an Event once into a *Frame, immutable,
// to share between all the streams that send the event.
//
// # Streams
//
// Server.Serve starts a stream at once with status 200, Content-Type
// text/event-stream, Cache-Control no-cache and X-Accel-Buffering no (so
// that nginx does not buffer it), then a "retry:" line (Config.Retry), all
// flushed before any event. It then writes the frames its Source has
// ready, each batch in one pooled buffer with one write and one flush, and
// a ": keep-alive" comment after Config.Heartbeat without a write, so that
// proxies keep the stream open and a client that is gone is noticed.
//
// Each write has its own deadline (Config.WriteTimeout), so
// http.Server.WriteTimeout does not cut streams and a client that does
// not take its data in time is disconnected. On HTTP/2 the deadline is
// disarmed after each flush, since an armed deadline resets an idle
// stream. A stalled client, a Source that ends (with ErrSlowClient, say),
// Server.Shutdown, Config.MaxAge (less a random part of
// Config.MaxAgeJitter, between batches, never inside one) and
// Stream.Expires all end the response normally, so that EventSource
// reconnects, with Last-Event-ID.
//
// # Connections
//
// A detached stream (Stream.Detach) over HTTP/1.1 takes the connection
// over from net/http (Hijack) once it has started: the response carries
// Connection: close and no chunked framing, ends with the connection, and
// the handler and net/http's per-connection buffers and goroutines are
// gone, so an idle stream costs a few kilobytes. Clients that hang up are
// noticed through one epoll set for all connections on Linux (package
// internal/hangup), elsewhere through a read per connection. Headers a
// middleware set before Serve (CORS, say) are sent as they are.
// http.Server.Shutdown does not wait for taken-over connections:
// Server.Wait does.
//
// # Metrics
//
// A Server reports to a Metrics: streams started and ended, events
// delivered, their delivery latency and slow disconnects.
package sse
