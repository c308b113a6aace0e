// Package pubsub holds ssebridge's domain: events, cursors, topic names, and
// the Broker and Subscription interfaces that the gRPC server (package
// server) and the SSE bridge (package bridge) are written against.
//
// It imports only the standard library. Implementations live in
// subpackages: pubsub/memory is the embedded in-memory broker; a
// distributed broker implements the same interfaces and passes the same
// test suite, pubsub/pubsubtest.
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
// When a cursor cannot be honoured exactly (its events have left the
// history, it comes from another broker instance, or it cannot be parsed)
// the subscription starts with a gap notice: an Event whose Gap field is
// set. Everything still retained follows, then live events.
package pubsub
