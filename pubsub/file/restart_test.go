package file_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/file"
	"github.com/ssebridge/ssebridge/pubsub/pubsubtest"
)

func publish(t *testing.T, b pubsub.Broker, topic, data string) pubsub.Receipt {
	t.Helper()
	r, err := b.Publish(context.Background(), pubsub.Message{Topic: topic, Data: data})
	if err != nil {
		t.Fatalf("Publish(%s, %s): %v", topic, data, err)
	}
	return r
}

func dataOf(evs []*pubsub.Event) string {
	var out []string
	for _, e := range evs {
		if e.Gap != nil {
			out = append(out, "gap:"+e.Gap.Reason.String())
		} else {
			out = append(out, e.Topic+"="+e.Data)
		}
	}
	return strings.Join(out, " ")
}

// resume subscribes to topics from cursor and returns the n events it
// replays.
func resume(t *testing.T, b pubsub.Broker, cursor string, n int, topics ...string) []*pubsub.Event {
	t.Helper()
	s, err := b.Subscribe(context.Background(), topics, cursor)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return pubsubtest.Receive(t, s, n)
}

// TestRestart: closed and opened again, the log keeps its epoch and
// positions: cursors minted before resume exactly, single- and
// multi-topic; the next event takes the next position; an idempotency
// key within its window still deduplicates.
func TestRestart(t *testing.T) {
	for _, fsync := range []file.Fsync{file.FsyncAlways, file.FsyncInterval, file.FsyncNever} {
		t.Run(fsync.String(), func(t *testing.T) {
			cfg := file.Config{Dir: t.TempDir(), Fsync: fsync}
			b, err := file.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			a1 := publish(t, b, "a", "1")
			publish(t, b, "b", "1")
			keyed, err := b.Publish(context.Background(), pubsub.Message{Topic: "a", Data: "2", IdempotencyKey: "k"})
			if err != nil {
				t.Fatal(err)
			}
			publish(t, b, "b", "2")
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}

			b = open(t, cfg)
			if got := dataOf(resume(t, b, a1.ID, 3, "a", "b")); got != "b=1 a=2 b=2" {
				t.Fatalf("multi-topic resume after the restart: %s", got)
			}
			if got := dataOf(resume(t, b, a1.ID, 1, "a")); got != "a=2" {
				t.Fatalf("one-topic resume after the restart: %s", got)
			}
			retry, err := b.Publish(context.Background(), pubsub.Message{Topic: "a", Data: "2", IdempotencyKey: "k"})
			if err != nil || !retry.Duplicate || retry.ID != keyed.ID {
				t.Fatalf("retry after the restart: %+v, %v; want a duplicate of %s", retry, err, keyed.ID)
			}
			next := publish(t, b, "a", "3")
			if next.Sequence != 3 {
				t.Fatalf("sequence after the restart: %d, want 3", next.Sequence)
			}
			if got := dataOf(resume(t, b, keyed.ID, 2, "a", "b")); got != "b=2 a=3" {
				t.Fatalf("resume across the restart: %s", got)
			}
		})
	}
}

// TestOneProcessPerDirectory: a second broker on a directory in use
// fails, naming it.
func TestOneProcessPerDirectory(t *testing.T) {
	dir := t.TempDir()
	open(t, file.Config{Dir: dir})
	if _, err := file.New(file.Config{Dir: dir}); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("a second broker on %s: %v", dir, err)
	}
}

// logBuffer is a slog handler's output, safe for the broker's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestTornTail: the last frame cut short (a crash mid-write) is found at
// start: the events before it stay, the tail goes, the log says so, and
// the next event takes the torn one's position.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	b := open(t, file.Config{Dir: dir})
	first := publish(t, b, "a", "1")
	publish(t, b, "a", "2")
	torn := publish(t, b, "a", strings.Repeat("x", 100))
	b.Close()
	seg := segments(t, dir)[0]
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, fi.Size()-40); err != nil {
		t.Fatal(err)
	}

	var log logBuffer
	b = open(t, file.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if got := dataOf(resume(t, b, first.ID, 1, "a")); got != "a=2" {
		t.Fatalf("after the torn tail: %s", got)
	}
	if !strings.Contains(log.String(), "dropping a torn or corrupt tail") {
		t.Fatalf("nothing logged of the dropped tail: %q", log.String())
	}
	if next := publish(t, b, "a", "3"); next.ID != torn.ID || next.Sequence != 3 {
		t.Fatalf("the next event: %+v, want the torn one's position (%s)", next, torn.ID)
	}
}

// TestCorruptFrame: a damaged byte in the middle of the log ends it
// there: the events before stay, later segments are set aside.
func TestCorruptFrame(t *testing.T) {
	dir := t.TempDir()
	cfg := file.Config{Dir: dir, SegmentSize: 512, HistorySize: 1000}
	b := open(t, cfg)
	var rs []pubsub.Receipt
	for i := range 40 {
		rs = append(rs, publish(t, b, "a", fmt.Sprint(i)))
	}
	b.Close()
	segs := segments(t, dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	raw, err := os.ReadFile(segs[1])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-3] ^= 0xff // in the last frame of the second segment
	if err := os.WriteFile(segs[1], raw, 0o600); err != nil {
		t.Fatal(err)
	}

	b = open(t, cfg)
	info, err := b.Topic(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	got := resume(t, b, pubsub.Earliest, info.Retained, "a")
	for i, e := range got {
		if e.Data != fmt.Sprint(i) || e.ID != rs[i].ID {
			t.Fatalf("event %d after the corrupt frame: %s", i, dataOf(got))
		}
	}
	if info.Retained == 0 || info.Retained >= 40 {
		t.Fatalf("%d events kept of 40", info.Retained)
	}
	if aside, _ := filepath.Glob(filepath.Join(dir, "*.corrupt")); len(aside) != len(segs)-2 {
		t.Fatalf("set aside %v, want the %d segments after the second", aside, len(segs)-2)
	}
}

// TestNewerFormat: a segment of a newer format version is refused with a
// message that says so.
func TestNewerFormat(t *testing.T) {
	dir := t.TempDir()
	b := open(t, file.Config{Dir: dir})
	publish(t, b, "a", "1")
	b.Close()
	seg := segments(t, dir)[0]
	raw, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	raw[8] = 99 // the format version
	if err := os.WriteFile(seg, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = file.New(file.Config{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "written by a newer ssebridge (format 99") {
		t.Fatalf("opening a newer format: %v", err)
	}
}

// TestSegmentsRotateAndGo: with small segments, a steady load of one
// topic leaves a bounded number of them; reopened, the log has the same
// history, sequence and floor.
func TestSegmentsRotateAndGo(t *testing.T) {
	dir := t.TempDir()
	cfg := file.Config{Dir: dir, SegmentSize: 1024, HistorySize: 10}
	b := open(t, cfg)
	var last pubsub.Receipt
	for i := range 500 {
		last = publish(t, b, "a", fmt.Sprint(i))
	}
	if n := len(segments(t, dir)); n > 4 {
		t.Fatalf("%d segments for 10 retained events", n)
	}
	before, _ := b.Topic(context.Background(), "a")
	b.Close()
	b = open(t, cfg)
	after, err := b.Topic(context.Background(), "a")
	if err != nil || after != before {
		t.Fatalf("after reopening: %+v, %v; before %+v", after, err, before)
	}
	got := resume(t, b, pubsub.Earliest, 10, "a")
	if got[9].ID != last.ID || got[0].Data != "490" {
		t.Fatalf("replay after reopening: %s", dataOf(got))
	}
}
