package sse

import "errors"

// Errors of the encoder. They are wrapped with detail; test for them with
// errors.Is.
var (
	// ErrInvalidID: an event id holds CR, LF or NUL, or is not valid UTF-8.
	ErrInvalidID = errors.New("sse: invalid event id")
	// ErrInvalidEventType: an event type holds CR, LF or NUL, or is not
	// valid UTF-8.
	ErrInvalidEventType = errors.New("sse: invalid event type")
	// ErrInvalidData: event data is not valid UTF-8.
	ErrInvalidData = errors.New("sse: invalid event data")
	// ErrInvalidComment: a comment holds CR or LF, or is not valid UTF-8.
	ErrInvalidComment = errors.New("sse: invalid comment")
)

// Why a stream ended, as passed to Ender.End, besides the errors of its
// Source. They are wrapped with detail; test for them with errors.Is.
var (
	// ErrClientGone: the client went away (closed its connection, or the
	// request's context was cancelled).
	ErrClientGone = errors.New("sse: client gone")
	// ErrShutdown: Server.Shutdown ended the stream.
	ErrShutdown = errors.New("sse: server shut down")
	// ErrMaxAge: the stream reached its maximum age (Config.MaxAge).
	ErrMaxAge = errors.New("sse: max stream age reached")
	// ErrExpired: the credential the stream was opened with expired
	// (Stream.Expires).
	ErrExpired = errors.New("sse: credential expired")
	// ErrWrite: a write to the client failed; the error also wraps the
	// write's own error (os.ErrDeadlineExceeded for a client that did not
	// take a write within Config.WriteTimeout).
	ErrWrite = errors.New("sse: write failed")
	// ErrSlowClient is for a Source to wrap in the error that ends it when
	// its client fell behind (its queue overflowed). The stream then ends
	// normally, so that the client resumes, and counts as a slow
	// disconnect (Metrics.SlowDisconnect), as does a write that misses
	// its deadline.
	ErrSlowClient = errors.New("sse: client too slow")
)
