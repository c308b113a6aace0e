// Package redis is a pubsub.Broker on Redis (7.x), for replicas that share
// topics, history, cursors and idempotency keys: a cursor minted on any
// replica resumes exactly on any other.
//
// # Ordering contract
//
// One counter, the head of the log, numbers the events of all topics from
// 1; an event's cursor is (epoch, position), as the memory broker's. One
// Lua script checks the idempotency key, increments the head and the
// topic's sequence, appends the event to its topic's stream with the
// position as entry ID and the topic's previous position as a field (the
// stream trims itself by count, and the first entry left tells the
// topic's floor, the newest position it dropped), and publishes it on one
// Pub/Sub channel; Redis runs scripts one at a time,
// so positions, streams and the channel agree on one order. All keys
// carry one hash tag ({prefix}), so they live in one slot.
//
// Each replica delivers to its own subscribers in position order and
// remembers the last position it has dealt with. A Pub/Sub message whose
// position is not the next one means messages were lost (Pub/Sub drops
// them when a connection breaks or its output buffer overflows): the
// replica reads what it missed from the topics' streams before going on.
// A periodic check of the head finds the loss of the last messages of a
// quiet log, and every (re)subscription of the Pub/Sub connection starts
// with one. A subscription reads the store's head and the topics' floors
// for its resume decision (package fanout), so a cursor minted a moment
// ago on another replica is not "unknown" here.
//
// The epoch lives in Redis next to the counter: a Redis that lost its data
// (no persistence and a restart, FLUSHALL) gets a new epoch with its next
// write, and cursors of the old one get honest gap notices.
//
// Redis Cluster sharding across slots is not supported: the whole log is
// one slot (a cluster still works, on one shard).
package redis
