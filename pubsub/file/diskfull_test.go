package file_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/file"
	"github.com/ssebridge/ssebridge/pubsub/pubsubtest"
)

// smallDisk mounts a tmpfs of size bytes on a directory of t, unmounted
// when t ends: a disk that fills up. It needs root (make test runs as
// root on CI); without it the test fails, saying so.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatalf("mounting a %d-byte tmpfs on %s (the test needs root): %v", size, dir, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// TestDiskFull: once the disk is full, publishes fail with ErrUnavailable
// and the broker says it is unhealthy; nothing acknowledged is lost;
// when space returns, publishing goes on, and after a restart the log
// holds every acknowledged event once, in order.
func TestDiskFull(t *testing.T) {
	disk := smallDisk(t, 256<<10)
	filler := filepath.Join(disk, "filler")
	if err := os.WriteFile(filler, make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(disk, "log")
	cfg := file.Config{Dir: dir, HistorySize: 100_000}
	b, err := file.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { b.Close() }()
	s, err := b.Subscribe(context.Background(), []string{"a"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	data := strings.Repeat("x", 1000)
	var acked []pubsub.Receipt
	for {
		r, err := b.Publish(context.Background(), pubsub.Message{Topic: "a", Data: data})
		if err != nil {
			if !errors.Is(err, pubsub.ErrUnavailable) {
				t.Fatalf("Publish on a full disk: %v, want ErrUnavailable", err)
			}
			break
		}
		acked = append(acked, r)
		if len(acked) > 1000 {
			t.Fatal("the disk never filled up")
		}
	}
	if err := b.Healthy(); !errors.Is(err, pubsub.ErrUnavailable) {
		t.Fatalf("health with the disk full: %v, want ErrUnavailable", err)
	}
	pubsubtest.Receive(t, s, len(acked)) // every acknowledged event was delivered, and nothing else

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	more, err := b.Publish(context.Background(), pubsub.Message{Topic: "a", Data: data})
	if err != nil {
		t.Fatalf("Publish once space returned: %v", err)
	}
	acked = append(acked, more)
	if err := b.Healthy(); err != nil {
		t.Fatalf("unhealthy once space returned: %v", err)
	}
	if got := pubsubtest.Receive(t, s, 1); got[0].ID != more.ID {
		t.Fatalf("delivered %s, want %s", got[0].ID, more.ID)
	}

	b.Close()
	b = open(t, cfg)
	got := resume(t, b, pubsub.Earliest, len(acked), "a")
	for i, e := range got {
		if e.ID != acked[i].ID || e.Sequence != uint64(i+1) {
			t.Fatalf("event %d after the restart: %s (sequence %d), want %s", i, e.ID, e.Sequence, acked[i].ID)
		}
	}
}
