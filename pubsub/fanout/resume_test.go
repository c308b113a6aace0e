package fanout_test

import (
	"slices"
	"testing"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/fanout"
)

func TestPlan(t *testing.T) {
	const epoch, head = 7, 100
	at := func(pos uint64) string { return pubsub.Cursor{Epoch: epoch, Position: pos}.String() }
	topics := []fanout.TopicFloor{{Name: "a", Floor: 10}, {Name: "b", Floor: 40}}
	for _, tc := range []struct {
		name      string
		cursor    string
		replay    bool
		from      uint64
		reason    pubsub.GapReason
		gapID     string
		gapTopics []string
	}{
		{name: "live only", cursor: "", from: head},
		{name: "earliest", cursor: pubsub.Earliest, replay: true},
		{name: "exact", cursor: at(50), replay: true, from: 50},
		{name: "at the highest floor", cursor: at(40), replay: true, from: 40},
		{name: "at head", cursor: at(head), replay: true, from: head},
		{name: "too old for b", cursor: at(20), replay: true, from: 20, reason: pubsub.GapCursorTooOld, gapID: at(20), gapTopics: []string{"b"}},
		{name: "too old for both", cursor: at(5), replay: true, from: 5, reason: pubsub.GapCursorTooOld, gapID: at(5), gapTopics: []string{"a", "b"}},
		{name: "past head", cursor: at(head + 1), replay: true, reason: pubsub.GapCursorUnknown, gapID: at(10), gapTopics: []string{"a", "b"}},
		{name: "other epoch", cursor: pubsub.Cursor{Epoch: epoch + 1, Position: 50}.String(), replay: true, reason: pubsub.GapCursorUnknown, gapID: at(10), gapTopics: []string{"a", "b"}},
		{name: "malformed", cursor: "not a cursor", replay: true, reason: pubsub.GapCursorMalformed, gapID: at(10), gapTopics: []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := fanout.ParseResume(tc.cursor).Plan(epoch, head, topics)
			if st.Replay != tc.replay || st.From != tc.from {
				t.Errorf("Replay %v From %d, want %v %d", st.Replay, st.From, tc.replay, tc.from)
			}
			if tc.reason == 0 {
				if st.Gap != nil {
					t.Errorf("gap notice %+v, want none", st.Gap.Gap)
				}
				return
			}
			if st.Gap == nil {
				t.Fatalf("no gap notice, want %v", tc.reason)
			}
			g := st.Gap.Gap
			if g.Reason != tc.reason || st.Gap.ID != tc.gapID || !slices.Equal(g.Topics, tc.gapTopics) || g.LastEventID != tc.cursor {
				t.Errorf("gap %v id %q topics %v sent %q, want %v %q %v %q", g.Reason, st.Gap.ID, g.Topics, g.LastEventID, tc.reason, tc.gapID, tc.gapTopics, tc.cursor)
			}
		})
	}
}

// TestPlanLowestFloorWithoutDrops: a notice of a log that dropped nothing
// resumes from position 0, which replays everything.
func TestPlanLowestFloorWithoutDrops(t *testing.T) {
	st := fanout.ParseResume("x").Plan(3, 9, []fanout.TopicFloor{{Name: "a"}})
	if want := (pubsub.Cursor{Epoch: 3}).String(); st.Gap == nil || st.Gap.ID != want {
		t.Fatalf("gap %+v, want ID %q", st.Gap, want)
	}
}
