package file_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/file"
	"github.com/ssebridge/ssebridge/pubsub/pubsubtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, cfg file.Config) *file.Broker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	b, err := file.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestSuite(t *testing.T) {
	pubsubtest.Run(t, func(t *testing.T, opts pubsubtest.Options) pubsub.Broker {
		return open(t, file.Config{Dir: t.TempDir(), HistorySize: opts.HistorySize, QueueSize: opts.QueueSize})
	})
}

// TestMetrics: the log's syncs, writes and sizes are counted, one sync
// per write with FsyncAlways.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	b := open(t, file.Config{Dir: t.TempDir(), Registerer: reg})
	for range 3 {
		publish(t, b, "a", "x")
	}
	fsyncs, err := testutil.GatherAndCount(reg, "ssebridge_file_fsyncs_total", "ssebridge_file_writes_total", "ssebridge_file_segments", "ssebridge_file_bytes", "ssebridge_file_retained_bytes")
	if err != nil || fsyncs != 5 {
		t.Fatalf("%d metrics, %v; want 5", fsyncs, err)
	}
	want := "# HELP ssebridge_file_fsyncs_total Syncs of the file broker's log to the disk.\n# TYPE ssebridge_file_fsyncs_total counter\nssebridge_file_fsyncs_total 3\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ssebridge_file_fsyncs_total"); err != nil {
		t.Fatal(err)
	}
}

// TestCloseWhilePublishing: publishers racing Close all return, each
// publish either stored or refused with ErrClosed.
func TestCloseWhilePublishing(t *testing.T) {
	b, err := file.New(file.Config{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	started := make(chan struct{}, 8)
	for range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				if i == 10 {
					started <- struct{}{}
				}
				_, err := b.Publish(context.Background(), pubsub.Message{Topic: "a", Data: "x"})
				if errors.Is(err, pubsub.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		})
	}
	for range 8 {
		<-started
	}
	b.Close()
	wg.Wait()
}

// TestMetricsWhilePublishing: the gauges read the log's state while the
// writer moves it (a data race would show under -race).
func TestMetricsWhilePublishing(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	b := open(t, file.Config{Dir: t.TempDir(), Fsync: file.FsyncNever, Registerer: reg})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 500 {
			if _, err := b.Publish(context.Background(), pubsub.Message{Topic: "a", Data: "x"}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for {
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
			return
		default:
		}
	}
}
