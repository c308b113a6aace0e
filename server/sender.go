package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/pubsub"
)

// A Subscribe call runs in two goroutines. Its sender fetches the
// subscription's events and sends them, one SendMsg each, with no hand-off
// between goroutines per event. The handler's goroutine watches: the
// sender's end, its progress (a send not taken within the write timeout),
// the subscription's end (a queue that overflows while a send waits), the
// client, Shutdown, the credential's expiry and the stream's maximum age.
// The handler can thus end a call whose sender is blocked in SendMsg by
// flow control: returning ends the gRPC stream, which makes that SendMsg
// return.

// errSenderStopped ends a sender that its handler stopped.
var errSenderStopped = errors.New("server: sender stopped")

// sender is the sending half of one Subscribe call.
type sender struct {
	svc     *Service
	stream  grpc.ServerStreamingServer[ssebridgev1.SubscribeResponse]
	sub     pubsub.Subscription
	timeout time.Duration
	// subscribed is when the subscription was made: events accepted
	// later are timed in the delivery latency.
	subscribed time.Time

	quit   chan struct{} // closed by stop
	result chan error    // why the sender ended, once its subscription is closed
	// watchdog fires at most timeout after a send started, while one is
	// in flight; the handler then calls overdue. It is re-armed only when
	// it has fired, so a busy stream does not reset it per message.
	watchdog *time.Timer

	mu      sync.Mutex
	stopped bool      // no send starts once set
	since   time.Time // when the send in flight started; zero between sends
	armed   bool      // whether watchdog is set
}

func newSender(svc *Service, stream grpc.ServerStreamingServer[ssebridgev1.SubscribeResponse], sub pubsub.Subscription, subscribed time.Time) *sender {
	w := time.NewTimer(time.Hour)
	w.Stop()
	return &sender{
		svc: svc, stream: stream, sub: sub, timeout: svc.writeTimeout, subscribed: subscribed,
		quit: make(chan struct{}), result: make(chan error, 1), watchdog: w,
	}
}

// run sends until the subscription or the stream ends or stop is called,
// then closes the subscription and reports why on result.
func (p *sender) run(ctx context.Context) {
	err := p.loop(ctx)
	p.sub.Close()
	p.result <- err
}

func (p *sender) loop(ctx context.Context) error {
	ready := p.sub.Ready()
	var batch []*pubsub.Event
	for {
		select {
		case <-ready:
		case <-p.quit:
			return errSenderStopped
		case <-ctx.Done():
			return ctx.Err()
		}
		var fetchErr error
		batch, fetchErr = p.sub.Fetch(batch[:0])
		err := p.sendAll(batch)
		clear(batch) // let delivered events go when the broker drops them
		if err != nil {
			return err
		}
		if fetchErr != nil {
			return fetchErr
		}
	}
}

func (p *sender) sendAll(batch []*pubsub.Event) error {
	for _, e := range batch {
		if !p.begin() {
			return errSenderStopped
		}
		err := p.svc.deliver(p.stream, e, p.subscribed)
		p.end()
		if err != nil {
			return err
		}
	}
	return nil
}

// begin records the start of a send, or reports false once stopped.
func (p *sender) begin() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	p.since = time.Now()
	if !p.armed {
		p.armed = true
		p.watchdog.Reset(p.timeout)
	}
	return true
}

// end records the end of a send.
func (p *sender) end() {
	p.mu.Lock()
	p.since = time.Time{}
	p.mu.Unlock()
}

// overdue is called when watchdog fires. It reports whether the send in
// flight has waited for the whole timeout; otherwise it re-arms watchdog
// for the send in flight, if any.
func (p *sender) overdue() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.since.IsZero() {
		p.armed = false
		return false
	}
	left := p.timeout - time.Since(p.since)
	if left <= 0 {
		return true
	}
	p.watchdog.Reset(left)
	return false
}

// stop keeps the sender from starting another send and makes it return,
// and reports whether a send is in flight, which only the end of the
// stream (or its taking) finishes. The handler calls it once.
func (p *sender) stop() (inFlight bool) {
	p.mu.Lock()
	p.stopped = true
	inFlight = !p.since.IsZero()
	p.mu.Unlock()
	close(p.quit)
	return inFlight
}
