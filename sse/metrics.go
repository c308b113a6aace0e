package sse

import "time"

// Metrics receives what a Server's streams do. Its methods are called
// concurrently, from every stream, and must not block.
type Metrics interface {
	// StreamStarted and StreamEnded count a stream that Serve starts and
	// ends: StreamStarted before the client can see the response
	// headers, so that a client that has them is counted. Answers of
	// WriteHead (HEAD requests, streams refused at shutdown) are not
	// counted.
	StreamStarted()
	StreamEnded()
	// Delivered counts n events written and flushed to a client: frames
	// that are not notices.
	Delivered(n int)
	// DeliveryLatency records, once per write, the time from the
	// acceptance of the write's oldest live event to the end of its
	// flush.
	DeliveryLatency(d time.Duration)
	// SlowDisconnect counts a stream ended because its client was too
	// slow: a write missed its deadline, or the Source ended with
	// ErrSlowClient.
	SlowDisconnect()
}

// noMetrics is the Metrics of a Config without any.
type noMetrics struct{}

func (noMetrics) StreamStarted()                {}
func (noMetrics) StreamEnded()                  {}
func (noMetrics) Delivered(int)                 {}
func (noMetrics) DeliveryLatency(time.Duration) {}
func (noMetrics) SlowDisconnect()               {}
