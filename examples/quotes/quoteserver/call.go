package quoteserver

import (
	"context"
	"errors"
	"sync/atomic"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Call is one WatchQuotes or WatchNews call, as reported on Server.Calls:
// the test hook that tells a test what a client asked the backend and
// what the backend did, without sleeping.
//
// The exported fields are set before the call is reported and never
// change; the methods may be called from any goroutine.
type Call struct {
	// Method is the call's full method name, such as
	// quotesv1.QuoteService_WatchQuotes_FullMethodName.
	Method string
	// Request is a copy of the call's request: a
	// *quotesv1.WatchQuotesRequest or a *quotesv1.WatchNewsRequest.
	Request proto.Message
	// Metadata is a copy of the call's incoming metadata (keys in lower
	// case), such as "last-event-id" and "authorization".
	Metadata metadata.MD
	// AfterSeq is the seq a WatchQuotes call resumes after: the request's
	// after_seq, else the number in the metadata "last-event-id", else 0
	// (from the first quote). Always 0 for WatchNews.
	AfterSeq uint64

	sent atomic.Uint64
	fail atomic.Pointer[status.Status]
	done chan struct{}
	err  error // written once, before done is closed
}

// newCall returns a Call that has sent nothing yet.
func newCall(method string, req proto.Message, md metadata.MD, after uint64) *Call {
	return &Call{
		Method:   method,
		Request:  proto.Clone(req),
		Metadata: md.Copy(),
		AfterSeq: after,
		done:     make(chan struct{}),
	}
}

// Sent returns the number of messages the call has sent so far: those
// whose Send returned without error.
func (c *Call) Sent() uint64 {
	return c.sent.Load()
}

// Done returns a channel that is closed when the call has ended.
func (c *Call) Done() <-chan struct{} {
	return c.done
}

// Err returns why the call ended, once Done is closed (nil before):
// nil for a stream that ended normally after its limit; the cause of the
// call's context when that ended first, such as context.Canceled when the
// client went away or context.DeadlineExceeded; else the status error the
// handler returned (status.FromError gives it back), such as the one given
// to Fail, UNAVAILABLE when the server shut down, or the refusal of a bad
// request.
func (c *Call) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Fail makes the call return st right after its next message has been
// sent: an error in the middle of the stream. A call that is sending when
// Fail is called returns st after that message. An OK status ends the
// stream normally. The last Fail before the next message wins.
func (c *Call) Fail(st *status.Status) {
	c.fail.Store(st)
}

// failure returns the status given to Fail, or nil.
func (c *Call) failure() *status.Status {
	return c.fail.Load()
}

// sendError wraps the error of a failed Send. The stream is then gone, and
// gRPC cancels its context; finish waits for that to tell why.
type sendError struct {
	err error
}

func (e *sendError) Error() string { return e.err.Error() }

// finish records how the call ended, err being what its handler would
// return, and returns the error for gRPC.
func (c *Call) finish(ctx context.Context, err error) error {
	var se *sendError
	if errors.As(err, &se) {
		// gRPC cancels ctx once the handler returns, if it has not yet.
		go func() {
			<-ctx.Done()
			c.end(context.Cause(ctx))
		}()
		return se.err
	}
	if ctx.Err() != nil {
		c.end(context.Cause(ctx))
		return contextStatus(ctx)
	}
	c.end(err)
	return err
}

// end sets Err and closes Done.
func (c *Call) end(err error) {
	c.err = err
	close(c.done)
}
