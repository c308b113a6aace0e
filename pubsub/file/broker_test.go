package file_test

import (
	"log/slog"
	"testing"

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
