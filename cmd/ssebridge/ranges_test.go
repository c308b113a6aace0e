package main

import (
	"context"
	"flag"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFlagRanges checks every bound of flagRanges through the command
// line: the bound itself is accepted, the value just past it is refused
// with a message naming the flag, the value and the range; 0 is accepted
// where it has a meaning and refused otherwise.
func TestFlagRanges(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	// Flags whose values depend on another flag get it set too.
	context := map[string][]string{"max-stream-age-jitter": {"--max-stream-age", "168h"}}
	for _, r := range flagRanges {
		lo, hi := r.in.text()
		below, above := pastBounds(t, r.in)
		if below == "0" {
			below = "-1" // 0 is tested below
		}
		cases := []struct {
			value string
			ok    bool
		}{{lo, true}, {hi, true}, {below, false}, {above, false}, {"0", r.zero != ""}}
		for _, tc := range cases {
			t.Run(r.flag+"="+tc.value, func(t *testing.T) {
				args := append([]string{"--" + r.flag, tc.value}, context[r.flag]...)
				_, err := parseServeFlags(args, noEnv, io.Discard)
				if tc.ok {
					if err != nil {
						t.Fatalf("parseServeFlags(%q) = %v, want it accepted", args, err)
					}
					return
				}
				value := tc.value
				if _, isDuration := r.in.(interval[time.Duration]); isDuration && value == "0" {
					value = "0s" // as the flag prints it
				}
				want := "--" + r.flag + " " + value + " is out of range: it must be between " + lo + " and " + hi
				if r.zero != "" {
					want += ", or 0 for "
				}
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("parseServeFlags(%q) = %v, want an error starting %q", args, err, want)
				}
			})
		}
	}
	// The environment is checked the same way.
	_, err := parseServeFlags(nil, func(k string) (string, bool) { return "1ns", k == "SSEBRIDGE_HEARTBEAT" }, io.Discard)
	if want := "--heartbeat 1ns is out of range: it must be between 1s and 1h"; err == nil || err.Error() != want {
		t.Errorf("SSEBRIDGE_HEARTBEAT=1ns: %v, want %q", err, want)
	}
}

// pastBounds returns, in the flag's syntax, the values just below and
// just above the interval b.
func pastBounds(t *testing.T, b bounds) (below, above string) {
	switch b := b.(type) {
	case interval[time.Duration]:
		return (b.lo - 1).String(), (b.hi + 1).String()
	case interval[int]:
		return strconv.Itoa(b.lo - 1), strconv.Itoa(b.hi + 1)
	case interval[float64]:
		return strconv.FormatFloat(math.Nextafter(b.lo, math.Inf(-1)), 'g', -1, 64),
			strconv.FormatFloat(math.Nextafter(b.hi, math.Inf(1)), 'g', -1, 64)
	}
	t.Fatalf("bounds of type %T", b)
	return "", ""
}

// TestFlagRangesCoverNumericFlags: every numeric flag of serve has a range
// of its own type, and every range names a flag.
func TestFlagRangesCoverNumericFlags(t *testing.T) {
	ranges := map[string]bounds{}
	for _, r := range flagRanges {
		if ranges[r.flag] != nil {
			t.Errorf("two ranges for --%s", r.flag)
		}
		ranges[r.flag] = r.in
	}
	for _, f := range numericFlags(t) {
		b, ok := ranges[f.name]
		if !ok {
			t.Errorf("--%s (%T) has no range in flagRanges", f.name, f.value)
			continue
		}
		delete(ranges, f.name)
		if !b.contains(f.value) && !b.isZero(f.value) {
			t.Errorf("--%s: the default %v is outside its range, or of another type than %T", f.name, f.value, b)
		}
	}
	for name := range ranges {
		t.Errorf("flagRanges names --%s, which is not a numeric flag of serve", name)
	}
}

type numericFlag struct {
	name  string
	value any // its default, as flag.Getter returns it
}

// numericFlags lists the flags of serve whose values are numbers or
// durations.
func numericFlags(t *testing.T) []numericFlag {
	t.Helper()
	var out []numericFlag
	serveFlags(new(serveConfig)).VisitAll(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok {
			return // lists and maps of names
		}
		switch v := g.Get().(type) {
		case int, int64, uint, uint64, float64, time.Duration:
			out = append(out, numericFlag{f.Name, v})
		}
	})
	return out
}

// TestReadmeStatesFlagRanges: the README's configuration section holds the
// table of ranges as readmeRanges renders it.
func TestReadmeStatesFlagRanges(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := readmeRanges(); !strings.Contains(string(readme), want) {
		t.Errorf("README.md lacks the table of flag ranges; it should read:\n%s", want)
	}
}

// TestProcessRefusesOutOfRangeFlag runs the real binary with a value out
// of range: it exits with status 2 before listening, and says why.
func TestProcessRefusesOutOfRangeFlag(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "ssebridge")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	// Before ranges, the server started and served: the timeout ends it.
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--heartbeat", "1ns", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--dev")
	out, err := cmd.CombinedOutput()
	exit, ok := err.(*exec.ExitError)
	if !ok || exit.ExitCode() != 2 {
		t.Fatalf("ssebridge serve --heartbeat 1ns: %v, want exit status 2\n%s", err, out)
	}
	if want := "ssebridge: --heartbeat 1ns is out of range: it must be between 1s and 1h\n"; string(out) != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

// TestNoHistoryWarns: --history-size 0 is accepted, and the log says at
// start that clients then cannot resume.
func TestNoHistoryWarns(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.HistorySize = 0 })
	if logs := s.logs.String(); !strings.Contains(logs, "level=WARN msg=\"--history-size 0: no event is retained, so clients cannot resume") {
		t.Errorf("no warning about --history-size 0 in the log:\n%s", logs)
	}
}
