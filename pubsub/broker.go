package pubsub

import "context"

// Broker publishes events to topics and subscribes to them. Implementations
// are safe for concurrent use.
type Broker interface {
	// Publish appends an event to m.Topic, creating the topic if needed, and
	// fans it out to the topic's subscribers without waiting for them. It
	// returns an error wrapping ErrInvalidTopic, ErrInvalidType,
	// ErrInvalidData or ErrInvalidIdempotencyKey for bad input (see
	// ValidateMessage), and ErrClosed after the broker
	// closed.
	Publish(ctx context.Context, m Message) (Receipt, error)

	// Subscribe registers a subscriber to topics and returns once it is
	// registered: every event published after Subscribe returns is
	// delivered. With a non-empty cursor (an event ID, or Earliest) the
	// retained events after the cursor are delivered first, with no loss or
	// repetition at the seam between history and live events. A cursor that
	// cannot be honoured exactly never fails the call: the subscription
	// starts with a gap notice instead (see Event.Gap). Topics are
	// validated as by ValidateTopics.
	Subscribe(ctx context.Context, topics []string, cursor string) (Subscription, error)

	// Topic describes one topic, or returns ErrTopicNotFound.
	Topic(ctx context.Context, name string) (TopicInfo, error)

	// Topics describes the topics whose names start with prefix, sorted by
	// name.
	Topics(ctx context.Context, prefix string) ([]TopicInfo, error)
}

// Subscription is one subscriber's registration with a broker: the events
// of its topics, in log order, as a queue the subscriber drains.
//
// Ready and Fetch are for the one goroutine that consumes the subscription;
// Close may be called from any goroutine, more than once.
type Subscription interface {
	// Ready returns a channel that receives a value when Fetch may have
	// something new: events, or the end of the subscription. It is the same
	// channel for the life of the subscription.
	Ready() <-chan struct{}

	// Fetch appends the events ready for delivery to dst, in order, and
	// returns the extended slice. It never blocks. Once the subscription has
	// ended, Fetch returns the error that ended it: ErrSlowSubscriber,
	// ErrUnsubscribed after Close, or ErrClosed when the broker closed.
	Fetch(dst []*Event) ([]*Event, error)

	// Close ends the subscription and frees its queue.
	Close() error
}

// BatchPublisher is an optional capability of a Broker whose publishes
// cost a round trip to a store: it publishes several messages at once, in
// order, in one round trip. Find it by a type assertion; without it,
// publish one by one.
type BatchPublisher interface {
	// PublishBatch publishes ms in order, each as Publish would, and
	// returns a receipt or an error for each, at the same index.
	PublishBatch(ctx context.Context, ms []Message) ([]Receipt, []error)
}

// Health is an optional capability of a Broker whose delivery depends on a
// store outside the process (a Redis, a disk): it tells whether the broker
// can store and deliver events now, so that readiness checks move new
// clients elsewhere while it cannot. Find it by a type assertion; a Broker
// without it is always able to.
type Health interface {
	// Healthy returns nil while the broker can store and deliver events,
	// else an error wrapping ErrUnavailable.
	Healthy() error
	// HealthChanged returns a channel that receives a value each time
	// Healthy may have changed. It is the same channel every time.
	HealthChanged() <-chan struct{}
}

// EndNotifier is an optional capability of a Subscription: it tells of
// the subscription's end apart from Ready, to a consumer that is blocked
// elsewhere (sending to a slow client, say) and must learn that its queue
// overflowed without draining it. Find it by a type assertion.
type EndNotifier interface {
	// Done returns a channel that is closed when the subscription ends,
	// for whatever reason. It is the same channel every time.
	Done() <-chan struct{}
	// Err returns nil while the subscription is live, and then the error
	// Fetch returns: ErrSlowSubscriber, ErrUnsubscribed or ErrClosed.
	Err() error
}
