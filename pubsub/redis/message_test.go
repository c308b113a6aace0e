package redis

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// encodeBatch writes b as publishScript does.
func encodeBatch(b batch) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d %d\n", b.epoch, b.at.UnixNano())
	for _, m := range b.events {
		fmt.Fprintf(&sb, "%d %d %d %d %d\n%s%s%s", m.pos, m.seq, len(m.topic), len(m.typ), len(m.data), m.topic, m.typ, m.data)
	}
	return sb.String()
}

func TestParseBatch(t *testing.T) {
	want := batch{epoch: 42, at: time.Unix(0, 1700000000123456789), events: []message{
		{pos: 7, seq: 1, topic: "a", typ: "", data: "line one\nline two"},
		{pos: 8, seq: 3, topic: "b.c", typ: "t", data: ""},
	}}
	got, err := parseBatch(encodeBatch(want))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("parseBatch = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{
		"",
		"42\n",
		"42 x\n",
		"42 1\n7 1 1 0 9\nashort",               // data longer than the payload
		"42 1\n7 1 1 0\na",                      // four numbers
		"42 1\n7 1 1 0 18446744073709551615\na", // a length that overflows
		"hello world",
	} {
		if _, err := parseBatch(bad); err == nil {
			t.Errorf("parseBatch(%q) succeeded", bad)
		}
	}
	if b, err := parseBatch("42 1\n"); err != nil || len(b.events) != 0 {
		t.Errorf("empty batch: %+v, %v", b, err)
	}
}

// FuzzParseBatch checks that parseBatch never panics and that what it
// accepts encodes back to a payload that parses to the same batch.
func FuzzParseBatch(f *testing.F) {
	f.Add("42 1\n7 1 1 0 3\naxyz8 2 1 1 0\nbt")
	f.Add("1 0\n")
	f.Add("42 1\n7 1 1 0 99\na")
	f.Add("18446744073709551615 -1\n0 0 0 0 0\n")
	f.Fuzz(func(t *testing.T, p string) {
		b, err := parseBatch(p)
		if err != nil {
			return
		}
		again, err := parseBatch(encodeBatch(b))
		if err != nil || !reflect.DeepEqual(again, b) {
			t.Fatalf("%q: parsed %+v, re-encoded parses to %+v, %v", p, b, again, err)
		}
	})
}

// TestSeenEventLost: what a topic's stream tells of the event a replica
// saw at position 7 (time 100).
func TestSeenEventLost(t *testing.T) {
	e := seenEvent{pos: 7, topic: "a", at: 100}
	entry := func(id, at, prev string) []rueidis.XRangeEntry {
		return []rueidis.XRangeEntry{{ID: id, FieldValues: map[string]string{"t": at, "p": prev}}}
	}
	for _, tc := range []struct {
		name string
		next []rueidis.XRangeEntry
		last uint64
		lost bool
	}{
		{"the same event", entry("7-0", "100", "3"), 7, false},
		{"another event at its position", entry("7-0", "101", "3"), 9, true},
		{"trimmed, a later one follows it", entry("9-0", "100", "7"), 9, false},
		{"trimmed with later ones", entry("12-0", "100", "9"), 12, false},
		{"a later one follows an earlier one", entry("9-0", "100", "5"), 9, true},
		{"all trimmed by age", nil, 9, false},
		{"the topic ends before it", nil, 5, true},
	} {
		if got := e.lostIn(tc.next, tc.last); got != tc.lost {
			t.Errorf("%s: lost = %v, want %v", tc.name, got, tc.lost)
		}
	}
}
