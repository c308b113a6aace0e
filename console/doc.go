// Package console serves ssebridge's web console and the stats stream that
// feeds its chart.
//
// # Routes
//
// Handler.Register adds:
//
//	GET /                 the console page
//	GET /console/{file}   its script, style sheet and icon
//	GET /v1/stats         the stats stream (text/event-stream)
//
// Every file of the console is embedded in the binary: the page loads
// nothing from another origin and works offline. Its Content-Security-Policy
// allows only the server's own origin. The page uses only what the server
// already offers to everyone: the browser's native EventSource on
// /v1/events, the REST mapping POST /v1/topics/{topic}/events to publish,
// and /v1/stats.
//
// # The stats stream
//
// GET /v1/stats sends one SSE event of type "stats" per Config.StatsInterval
// (1s by default), whose data is one line of JSON (see Stats):
//
//	{"time":"2026-01-02T15:04:05.123Z","published_total":42,"delivered_total":84,
//	 "published_per_second":3,"delivered_per_second":6,
//	 "subscribers":2,"subscribers_by_transport":{"grpc":1,"sse":1}}
//
// The numbers are read from the same Prometheus collectors that /metrics
// exposes (internal/metrics), so the console and /metrics never disagree.
// The stats stream's own viewers are not subscribers and are not counted.
//
// All viewers share one sampler: it reads the collectors and encodes the
// event once per interval, however many viewers there are, and runs only
// while at least one viewer is connected. A viewer that falls behind skips
// to the latest sample rather than queueing old ones. A viewer joining a
// running sampler receives the latest sample at once; the first viewer
// waits one interval, since a rate needs two readings.
//
// The stream is written by package sse, like the event streams: a
// deadline on every write (Config.WriteTimeout), a ": keep-alive" comment
// after 15s without a sample, and a normal end at Shutdown. It sends no
// retry line, and stays in net/http, so http.Server.Shutdown waits for it.
package console
