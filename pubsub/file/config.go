package file

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Fsync says when the log's writes reach the disk.
type Fsync int

const (
	// FsyncAlways syncs each group of concurrent publishes before they are
	// acknowledged or delivered: a crash of the process or of the machine
	// loses no acknowledged event.
	FsyncAlways Fsync = iota
	// FsyncInterval acknowledges publishes once written to the operating
	// system and syncs every FsyncInterval: a crash of the process loses
	// nothing, a crash of the machine (power, kernel) at most the last
	// interval.
	FsyncInterval
	// FsyncNever leaves syncing to the operating system (Linux writes
	// back within about 30 s): a crash of the process loses nothing, a
	// crash of the machine what was not yet written back.
	FsyncNever
)

// ParseFsync parses "always", "interval" or "never".
func ParseFsync(s string) (Fsync, error) {
	switch s {
	case "always":
		return FsyncAlways, nil
	case "interval":
		return FsyncInterval, nil
	case "never":
		return FsyncNever, nil
	}
	return 0, fmt.Errorf("file: fsync %q: want always, interval or never", s)
}

func (f Fsync) String() string {
	return [...]string{"always", "interval", "never"}[f]
}

// MarshalText implements encoding.TextMarshaler, for flags.
func (f Fsync) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, for flags.
func (f *Fsync) UnmarshalText(b []byte) error {
	v, err := ParseFsync(string(b))
	*f = v
	return err
}

// Default values for the zero fields of Config.
const (
	DefaultHistorySize       = 1000
	DefaultHistoryTTL        = time.Hour
	DefaultQueueSize         = 1024
	DefaultIdempotencyWindow = 5 * time.Minute
	DefaultIdempotencyKeys   = 100_000
	DefaultFsyncInterval     = 100 * time.Millisecond
	DefaultSegmentSize       = 64 << 20
)

// Config configures a Broker. Every zero field but Dir takes its
// documented default; the history, queue and idempotency settings mean
// what they mean for the memory broker.
type Config struct {
	// Dir is the data directory, created if missing. Required.
	Dir string
	// Fsync is when writes reach the disk; the zero value is FsyncAlways.
	Fsync Fsync
	// FsyncInterval is the period of FsyncInterval. 0 means
	// DefaultFsyncInterval (100 ms).
	FsyncInterval time.Duration
	// SegmentSize is the size past which the log starts a new segment
	// file; segments whose events all left the history are deleted. 0
	// means DefaultSegmentSize (64 MiB).
	SegmentSize int64

	HistorySize       int
	HistoryTTL        time.Duration
	QueueSize         int
	IdempotencyWindow time.Duration
	IdempotencyKeys   int

	// Registerer, when not nil, receives the log's metrics: syncs,
	// writes, segments, bytes on disk and bytes retained.
	Registerer prometheus.Registerer
	// Logger gets what recovery found (a torn tail dropped, say); nil
	// means slog.Default().
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
}

func (c *Config) applyDefaults() error {
	if c.Dir == "" {
		return errors.New("file: no data directory")
	}
	if c.HistoryTTL < 0 || c.QueueSize < 0 || c.IdempotencyWindow < 0 || c.IdempotencyKeys < 0 || c.FsyncInterval < 0 || c.SegmentSize < 0 {
		return errors.New("file: negative setting")
	}
	c.HistorySize = cmp.Or(c.HistorySize, DefaultHistorySize)
	c.HistoryTTL = cmp.Or(c.HistoryTTL, DefaultHistoryTTL)
	c.QueueSize = cmp.Or(c.QueueSize, DefaultQueueSize)
	c.IdempotencyWindow = cmp.Or(c.IdempotencyWindow, DefaultIdempotencyWindow)
	c.IdempotencyKeys = cmp.Or(c.IdempotencyKeys, DefaultIdempotencyKeys)
	c.FsyncInterval = cmp.Or(c.FsyncInterval, DefaultFsyncInterval)
	c.SegmentSize = cmp.Or(c.SegmentSize, DefaultSegmentSize)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}
