package fanout

import "github.com/ssebridge/ssebridge/pubsub"

// Resume is a subscription's cursor as Broker.Subscribe receives it: "",
// pubsub.Earliest, or an event ID. Parse it before taking the broker's
// lock; Plan decides under it.
type Resume struct {
	text      string
	cursor    pubsub.Cursor
	malformed bool
}

// ParseResume parses a subscription's cursor. A malformed one is not an
// error: the subscription starts with a gap notice.
func ParseResume(cursor string) Resume {
	r := Resume{text: cursor}
	if cursor != "" && cursor != pubsub.Earliest {
		c, err := pubsub.ParseCursor(cursor)
		r.cursor, r.malformed = c, err != nil
	}
	return r
}

// Position returns the position of the cursor, and whether it is one
// (not "", pubsub.Earliest or malformed): a broker that reads its history
// before deciding can start reading there, since a resume that honours
// the cursor replays nothing before it.
func (r Resume) Position() (uint64, bool) {
	if r.text == "" || r.text == pubsub.Earliest || r.malformed {
		return 0, false
	}
	return r.cursor.Position, true
}

// TopicFloor is what Plan needs of one subscribed topic: its name and its
// floor, the position of the newest event it no longer retains (0 when it
// has dropped none).
type TopicFloor struct {
	Name  string
	Floor uint64
}

// Start is where a subscription starts.
type Start struct {
	// Replay tells whether the subscription replays the retained events
	// of its topics after From before its live events; without it, the
	// subscription is live only.
	Replay bool
	// From is the position after which replay starts.
	From uint64
	// Gap, when not nil, is the gap notice to deliver first.
	Gap *pubsub.Event
}

// Plan decides where a subscription to topics starts, in the log of
// epoch whose newest position is head. It must use the log's own head and
// floors (the shared store's, for a distributed broker), never one
// replica's view, so that a cursor minted a moment ago elsewhere is not
// taken for unknown:
//   - no cursor: live only;
//   - pubsub.Earliest: everything retained, without a notice;
//   - a cursor of this log no older than every topic's floor: exactly
//     the events after it;
//   - a cursor older than some topic's floor: the events after it that
//     are retained, after a GapCursorTooOld notice naming those topics;
//   - a malformed cursor, or one of another epoch or past head:
//     everything retained, after a notice (GapCursorMalformed,
//     GapCursorUnknown) whose ID resumes from the lowest floor.
func (r Resume) Plan(epoch, head uint64, topics []TopicFloor) Start {
	switch {
	case r.text == "":
		return Start{From: head}
	case r.text == pubsub.Earliest:
		return Start{Replay: true}
	case r.malformed:
		return Start{Replay: true, Gap: lowestFloorGap(pubsub.GapCursorMalformed, epoch, head, topics, r.text)}
	case r.cursor.Epoch != epoch || r.cursor.Position > head:
		return Start{Replay: true, Gap: lowestFloorGap(pubsub.GapCursorUnknown, epoch, head, topics, r.text)}
	}
	var old []string
	for _, t := range topics {
		if t.Floor > r.cursor.Position {
			old = append(old, t.Name)
		}
	}
	st := Start{Replay: true, From: r.cursor.Position}
	if len(old) > 0 {
		// Its ID is the original cursor: a new subscription from it
		// replays what this one is about to replay.
		st.Gap = &pubsub.Event{
			ID:  r.text,
			Gap: &pubsub.Gap{Reason: pubsub.GapCursorTooOld, Topics: old, LastEventID: r.text},
		}
	}
	return st
}

// lowestFloorGap is the notice of a subscription that replays everything
// retained: its ID is the lowest floor of the topics, from which a new
// subscription replays the same.
func lowestFloorGap(reason pubsub.GapReason, epoch, head uint64, topics []TopicFloor, sent string) *pubsub.Event {
	id := pubsub.Cursor{Epoch: epoch, Position: head}
	names := make([]string, len(topics))
	for i, t := range topics {
		id.Position = min(id.Position, t.Floor)
		names[i] = t.Name
	}
	return &pubsub.Event{
		ID:  id.String(),
		Gap: &pubsub.Gap{Reason: reason, Topics: names, LastEventID: sent},
	}
}
