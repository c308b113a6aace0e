package file

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/ssebridge/ssebridge/pubsub"
)

// fill publishes n events to topic "a" of b, in batches, with their
// index as data.
func fill(tb testing.TB, b *Broker, n int) []pubsub.Receipt { return fillPadded(tb, b, n, 0) }

// fillPadded is fill with pad bytes more of data per event.
func fillPadded(tb testing.TB, b *Broker, n, pad int) []pubsub.Receipt {
	tb.Helper()
	padding := strings.Repeat("x", pad)
	var all []pubsub.Receipt
	ms := make([]pubsub.Message, 1000)
	for len(all) < n {
		k := min(len(ms), n-len(all))
		for i := range k {
			ms[i] = pubsub.Message{Topic: "a", Data: fmt.Sprint(len(all)+i, padding)}
		}
		rs, errs := b.PublishBatch(context.Background(), ms[:k])
		for i := range k {
			if errs[i] != nil {
				tb.Fatal(errs[i])
			}
		}
		all = append(all, rs...)
	}
	return all
}

// TestResumeSeeks: with 1,000,000 events retained, a resume from the
// newest-but-one reads one frame from the disk, before and after a
// restart: the replay's start is found by binary search, not by a scan
// from the oldest event.
func TestResumeSeeks(t *testing.T) {
	const n = 1_000_000
	cfg := Config{Dir: t.TempDir(), Fsync: FsyncNever, HistorySize: n, Logger: slog.New(slog.DiscardHandler)}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rs := fill(t, b, n)
	check := func(when string) {
		before := b.framesRead.Load()
		s, err := b.Subscribe(context.Background(), []string{"a"}, rs[n-2].ID)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got, err := s.Fetch(nil)
		if err != nil || len(got) != 1 || got[0].ID != rs[n-1].ID {
			t.Fatalf("%s: resume from the newest-but-one: %d events, %v", when, len(got), err)
		}
		if read := b.framesRead.Load() - before; read != 1 {
			t.Fatalf("%s: the resume read %d frames, want 1", when, read)
		}
	}
	check("before the restart")
	b.Close()
	if b, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if info, err := b.Topic(context.Background(), "a"); err != nil || info.Retained != n {
		t.Fatalf("after the restart: %+v, %v", info, err)
	}
	check("after the restart")
}
