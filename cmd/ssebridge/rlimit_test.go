package main

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestRaiseOpenFileLimit lowers this process's soft limit on open files
// by one, and checks that raiseOpenFileLimit raises it back to the hard
// limit and logs both.
func TestRaiseOpenFileLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
	lowered := lim
	lowered.Cur = lim.Max - 1
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	raiseOpenFileLimit(slog.New(slog.NewTextHandler(&logs, nil)))

	var got syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &got); err != nil {
		t.Fatal(err)
	}
	if got.Cur != lim.Max {
		t.Errorf("soft limit %d after raising, want the hard limit %d", got.Cur, lim.Max)
	}
	hard := strconv.FormatUint(lim.Max, 10)
	want := `msg="open-files limit" soft=` + hard + " hard=" + hard + " raised_from=" + strconv.FormatUint(lowered.Cur, 10)
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log %q lacks %q", logs.String(), want)
	}
}
