package redistest_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssebridge/ssebridge/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRestartKeepsAcknowledgedWrites: a write the server acknowledged
// survives kill -9 and a restart on the same port (append-only file,
// fsync on every write).
func TestRestartKeepsAcknowledgedWrites(t *testing.T) {
	s := redistest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if got, err := s.Do(ctx, "SET", "k", "v"); err != nil || got != "+OK" {
		t.Fatalf("SET = %q, %v", got, err)
	}
	s.Kill()
	if _, err := s.Do(ctx, "PING"); err == nil {
		t.Fatal("PING answered after Kill")
	}
	s.Restart()
	if got, err := s.Do(ctx, "EXISTS", "k"); err != nil || got != ":1" {
		t.Fatalf("EXISTS k after the restart = %q, %v; want :1", got, err)
	}
	if _, err := s.Do(ctx, "NOSUCHCOMMAND"); err == nil {
		t.Fatal("an unknown command did not fail")
	}
}
