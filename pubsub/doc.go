// Package pubsub holds ssebridge's domain: events, cursors, topic names, and
// the Broker and Subscription interfaces that the gRPC server (package
// server) and the SSE bridge (package bridge) are written against.
//
// It imports only the standard library. Implementations live in
// subpackages: pubsub/memory is the embedded in-memory broker, pubsub/redis
// the broker that replicas share through Redis; both pass the same test
// suite, pubsub/pubsubtest (the shared broker also RunShared), and both
// build on pubsub/fanout for their subscribers' queues and resume
// decisions.
//
// # Cursors
//
// Every event gets an ID, an opaque cursor naming its position in the
// broker's log. A broker keeps one log position counter for all topics and
// delivers the events of a subscription in log order, so the ID of the last
// event a subscriber received says exactly which events of every topic of
// that subscription it has seen. Subscribing again with that ID resumes all
// topics exactly after it: nothing lost, nothing repeated.
//
// # One ordering for all replicas
//
// A shared broker keeps the same contract across replicas: one counter in
// the shared store numbers the events of all topics, every replica
// delivers to its subscribers in that order, and decides a resume from the
// store's head and history floors, never from its own view. So a cursor
// minted on any replica resumes exactly on any other, for one topic or
// many, with no loss or repeat at the seam between history and live
// events, and a cursor minted a moment ago elsewhere is never taken for
// unknown. The cursor's first byte is a format version, so that another
// form (one counter per shard, say) can come later.
//
// When a cursor cannot be honoured exactly (its events have left the
// history, it comes from another broker instance, or it cannot be parsed)
// the subscription starts with a gap notice: an Event whose Gap field is
// set. Everything still retained follows, then live events.
package pubsub
