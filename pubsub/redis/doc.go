// Package redis is a pubsub.Broker on Redis (7.x), for replicas that share
// topics, history, cursors and idempotency keys: a cursor minted on any
// replica resumes exactly on any other.
//
// # Ordering contract
//
// One counter, the head of the log, numbers the events of all topics from
// 1; an event's cursor is (epoch, position), as the memory broker's. One
// Lua script, run once per batch of publishes, checks each idempotency
// key, takes the next position and the topic's next sequence, appends
// the event to its topic's stream with the position as entry ID and the
// topic's previous position as a field (the stream trims itself by count,
// and the first entry left tells the topic's floor, the newest position
// it dropped), and publishes the batch as one message on one Pub/Sub
// channel; Redis runs scripts one at a time, so positions, streams and
// the channel agree on one order. All keys carry one hash tag ({prefix}),
// so they live in one slot.
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
// write, and cursors of the old one get honest gap notices. A Redis that
// lost only its last events (appendfsync everysec and a crash, a failover
// to a replica that lagged) would hand their positions out again: each
// replica remembers the newest event it has seen and, every check and
// before the first message of every new Pub/Sub connection, asks Redis
// whether the log still has it; when it does not, the replica gives the
// log a new epoch (a compare-and-set, so replicas agree on one). On any
// change of epoch a replica ends its subscriptions (they resume with a
// gap notice), since positions of the new epoch may repeat those its
// subscribers have had.
//
// A topic that retains no event, and that no replica has said for three
// expiry passes it has subscribers of, is removed; the log keeps the
// highest floor of removed topics, which a new topic starts from, as the
// memory broker does.
//
// Redis Cluster sharding across slots is not supported: the whole log is
// one slot (a cluster still works, on one shard).
package redis
