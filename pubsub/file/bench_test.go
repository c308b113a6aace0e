package file

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/pubsub"
)

// benchLog returns a directory holding a log of n retained events of
// topic "a" (data: 256 bytes), and their IDs.
func benchLog(b *testing.B, n int) (Config, []string) {
	b.Helper()
	cfg := Config{Dir: b.TempDir(), Fsync: FsyncNever, HistorySize: n, Logger: slog.New(slog.DiscardHandler)}
	br, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	rs := fillPadded(b, br, n, 250)
	if err := br.Close(); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return cfg, ids
}

// BenchmarkStartup opens a log of 1,000,000 retained events: the time to
// read it back and index it (the files in the page cache).
func BenchmarkStartup(b *testing.B) {
	const n = 1_000_000
	cfg, _ := benchLog(b, n)
	b.ResetTimer()
	for b.Loop() {
		br, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		br.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReplay resumes from the 100,000th newest of 1,000,000 retained
// events: reading the replay from the segment files.
func BenchmarkReplay(b *testing.B) {
	const n, back = 1_000_000, 100_000
	cfg, ids := benchLog(b, n)
	br, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		s, err := br.Subscribe(context.Background(), []string{"a"}, ids[n-back-1])
		if err != nil {
			b.Fatal(err)
		}
		got, err := s.Fetch(nil)
		if err != nil || len(got) != back {
			b.Fatalf("%d events, %v", len(got), err)
		}
		s.Close()
	}
	b.ReportMetric(float64(back)*float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkPublishBatch: 4 publishers, each with one batch of 256
// 256-byte events in flight, as four PublishStream calls do; per event.
func BenchmarkPublishBatch(b *testing.B) {
	for _, fsync := range []Fsync{FsyncAlways, FsyncInterval} {
		b.Run(fsync.String(), func(b *testing.B) {
			br, err := New(Config{Dir: b.TempDir(), Fsync: fsync, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			ms := make([]pubsub.Message, 256)
			for i := range ms {
				ms[i] = pubsub.Message{Topic: "a", Data: strings.Repeat("x", 256)}
			}
			var left atomic.Int64
			left.Store(int64(b.N))
			b.ResetTimer()
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for left.Add(-int64(len(ms))) > -int64(len(ms)) {
						if _, errs := br.PublishBatch(context.Background(), ms); errs[0] != nil {
							b.Error(errs[0])
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}
