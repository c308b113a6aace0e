package pubsub

import "errors"

// Errors returned by brokers and by the validation functions. They are
// wrapped with detail; test for them with errors.Is.
var (
	// ErrInvalidTopic: a topic name does not follow the grammar of
	// ValidateTopic.
	ErrInvalidTopic = errors.New("pubsub: invalid topic")
	// ErrInvalidType: an event type does not follow the rules of
	// ValidateType.
	ErrInvalidType = errors.New("pubsub: invalid event type")
	// ErrInvalidIdempotencyKey: an idempotency key is too long or holds
	// control characters.
	ErrInvalidIdempotencyKey = errors.New("pubsub: invalid idempotency key")
	// ErrInvalidData: event data is not valid UTF-8.
	ErrInvalidData = errors.New("pubsub: invalid event data")
	// ErrNoTopics: a subscription names no topic.
	ErrNoTopics = errors.New("pubsub: no topics")
	// ErrTopicNotFound: the topic does not exist.
	ErrTopicNotFound = errors.New("pubsub: topic not found")
	// ErrSlowSubscriber ends a subscription whose queue overflowed because
	// it did not take its events fast enough. The subscriber can resubscribe
	// with the ID of the last event it received.
	ErrSlowSubscriber = errors.New("pubsub: subscriber fell behind")
	// ErrUnsubscribed ends a subscription that was closed by its owner.
	ErrUnsubscribed = errors.New("pubsub: subscription closed")
	// ErrClosed: the broker has been closed.
	ErrClosed = errors.New("pubsub: broker closed")
	// ErrUnavailable: the broker cannot reach the store it keeps its log
	// in (a Redis that is down, a full disk). Nothing was stored: a
	// publish that fails with it may be retried, with the same
	// idempotency key, and open subscriptions stay open and resume when
	// the store returns.
	ErrUnavailable = errors.New("pubsub: broker unavailable")
)
