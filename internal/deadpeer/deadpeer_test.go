package deadpeer_test

import (
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssebridge/ssebridge/internal/deadpeer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTimeout(t *testing.T) {
	if got, want := deadpeer.Timeout(15*time.Second, 10*time.Second), 25*time.Second; got != want {
		t.Errorf("Timeout(15s, 10s) = %v, want %v", got, want)
	}
}

// TestOtherConnections checks that connections other than TCP are left
// alone.
func TestOtherConnections(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := deadpeer.Configure(a, deadpeer.Config{Timeout: time.Second}); err != nil {
		t.Errorf("Configure(net.Pipe) = %v, want nil", err)
	}
}
