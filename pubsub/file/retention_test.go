package file

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/pubsub"
)

// diskUsage is the size of dir's segment files.
func diskUsage(t *testing.T, dir string) int64 {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, name := range names {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

func (b *Broker) retainedBytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n int64
	for _, s := range b.segs {
		n += s.liveBytes
	}
	return n
}

// TestDiskStaysBounded: publishing 20 times the retention of a busy
// topic, next to a quiet topic whose one event stays retained, keeps the
// disk within twice the retained bytes: segments are dropped, and the
// quiet event is moved forward instead of keeping its segment. After a
// restart both topics have their history.
func TestDiskStaysBounded(t *testing.T) {
	const retain = 10_000 // 20 MB, five of the smallest segments
	cfg := Config{Dir: t.TempDir(), Fsync: FsyncNever, HistorySize: retain, Logger: slog.New(slog.DiscardHandler)}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	quiet, err := b.Publish(context.Background(), pubsub.Message{Topic: "quiet", Data: "still here"})
	if err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("x", 2000)
	ms := make([]pubsub.Message, 100)
	for i := range ms {
		ms[i] = pubsub.Message{Topic: "busy", Data: data}
	}
	var worst float64
	var last []pubsub.Receipt
	for range 20 * retain / len(ms) {
		rs, errs := b.PublishBatch(context.Background(), ms)
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		last = rs
		retained := b.retainedBytes()
		if retained >= int64(retain*len(data)) { // once the history is full
			worst = max(worst, float64(diskUsage(t, cfg.Dir))/float64(retained))
		}
	}
	t.Logf("disk usage at most %.2f times the retained bytes", worst)
	if worst > 2 {
		t.Fatalf("disk usage reached %.2f times the retained bytes, want at most 2", worst)
	}
	b.Close()

	if b, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := b.Subscribe(context.Background(), []string{"quiet", "busy"}, pubsub.Earliest)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Fetch(nil)
	if err != nil || len(got) != 1+retain || got[0].ID != quiet.ID || got[len(got)-1].ID != last[len(last)-1].ID {
		t.Fatalf("after the restart: %d events (%v), want the quiet one and %d busy ones", len(got), err, retain)
	}
}

// TestAgeRetentionOnDisk: events older than HistoryTTL leave the history
// and their segments leave the disk; a cursor from before them gets a
// GapCursorTooOld notice, after a restart too.
func TestAgeRetentionOnDisk(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cfg := Config{Dir: t.TempDir(), SegmentSize: 4096, HistoryTTL: time.Hour, Now: clock, Logger: slog.New(slog.DiscardHandler)}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	old := fill(t, b, 2000)
	full := diskUsage(t, cfg.Dir)
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	young, err := b.Publish(context.Background(), pubsub.Message{Topic: "a", Data: "young"})
	if err != nil {
		t.Fatal(err)
	}
	b.sweep()
	if left := diskUsage(t, cfg.Dir); left*10 > full {
		t.Fatalf("%d bytes on disk after the events expired, of %d", left, full)
	}
	for _, reopen := range []bool{false, true} {
		if reopen {
			b.Close()
			if b, err = New(cfg); err != nil {
				t.Fatal(err)
			}
		}
		s, err := b.Subscribe(context.Background(), []string{"a"}, old[10].ID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Fetch(nil)
		s.Close()
		if err != nil || len(got) != 2 || got[0].Gap == nil || got[0].Gap.Reason != pubsub.GapCursorTooOld || got[1].ID != young.ID {
			t.Fatalf("reopened %v: resume from an expired event: %d events, %v", reopen, len(got), err)
		}
	}
	b.Close()
}
