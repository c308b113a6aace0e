// Package fanout is the part of a broker that every broker shares: one
// subscriber's bounded queue (Queue, a pubsub.Subscription), the
// subscribers of one topic and the delivery of an event to them (Set),
// and the decision of where a resumed subscription starts and whether it
// gets a gap notice (Plan); and, for brokers that keep their
// idempotency keys in the process, the window of those keys
// (Idempotency). A broker keeps the log, its positions and its
// history; it calls these under the lock that orders its deliveries, so
// that every subscriber of a broker sees events in log order and the seam
// between replay and live events neither loses nor repeats one.
//
// An event reaches all of a replica's subscribers as one *pubsub.Event,
// so it is encoded once per wire form (pubsub.Event.Wire), whatever the
// number of subscribers.
package fanout
