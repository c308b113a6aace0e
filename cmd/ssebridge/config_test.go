package main

import (
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseServeFlags(t *testing.T) {
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	cfg, err := parseServeFlags(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":8080" || cfg.GRPCAddr != ":9090" || cfg.Heartbeat != 15*time.Second ||
		cfg.HistorySize != 1000 || cfg.MaxTopics != 16 || cfg.QueueSize != 1024 || cfg.MaxDataBytes != 1<<20 {
		t.Fatalf("defaults: %+v", cfg)
	}

	// The environment sets defaults; the command line wins.
	cfg, err = parseServeFlags(
		[]string{"--history-size", "5", "--http-addr=127.0.0.1:1"},
		env(map[string]string{"SSEBRIDGE_HISTORY_SIZE": "7", "SSEBRIDGE_QUEUE_SIZE": "9", "SSEBRIDGE_HEARTBEAT": "2s"}),
		io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HistorySize != 5 || cfg.QueueSize != 9 || cfg.Heartbeat != 2*time.Second || cfg.HTTPAddr != "127.0.0.1:1" {
		t.Fatalf("env and flags: %+v", cfg)
	}

	// --allow-tokens-without-exp: off by default, set by the flag or its
	// variable.
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want bool
	}{
		{nil, nil, false},
		{[]string{"--allow-tokens-without-exp"}, nil, true},
		{nil, map[string]string{"SSEBRIDGE_ALLOW_TOKENS_WITHOUT_EXP": "true"}, true},
		{[]string{"--allow-tokens-without-exp=false"}, map[string]string{"SSEBRIDGE_ALLOW_TOKENS_WITHOUT_EXP": "true"}, false},
	} {
		cfg, err := parseServeFlags(tc.args, env(tc.env), io.Discard)
		if err != nil || cfg.Security.AllowTokensWithoutExp != tc.want {
			t.Errorf("parseServeFlags(%q, %v): AllowTokensWithoutExp %v, %v; want %v", tc.args, tc.env, cfg.Security.AllowTokensWithoutExp, err, tc.want)
		}
	}

	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--heartbeat", "0s"}, nil, "--heartbeat"},
		{[]string{"--queue-size", "-1"}, nil, "--queue-size"},
		{[]string{"--log-format", "xml"}, nil, "--log-format"},
		{nil, map[string]string{"SSEBRIDGE_MAX_TOPICS": "many"}, "SSEBRIDGE_MAX_TOPICS"},
		{nil, map[string]string{"SSEBRIDGE_ALLOW_TOKENS_WITHOUT_EXP": "maybe"}, "SSEBRIDGE_ALLOW_TOKENS_WITHOUT_EXP"},
		{[]string{"--no-such-flag"}, nil, "no-such-flag"},
		{[]string{"extra"}, nil, "unexpected"},
	} {
		_, err := parseServeFlags(tc.args, env(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseServeFlags(%q, %v) = %v, want an error about %s", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestEveryFlagHasItsVariable(t *testing.T) {
	// The flags listed by -h, and the variables looked up.
	var usage strings.Builder
	asked := map[string]bool{}
	parseServeFlags([]string{"-h"}, func(k string) (string, bool) { asked[k] = true; return "", false }, &usage)
	flags := regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(usage.String(), -1)
	if len(flags) < 14 {
		t.Fatalf("only %d flags in the usage:\n%s", len(flags), usage.String())
	}
	for _, f := range flags {
		if !asked[envName(f[1])] {
			t.Errorf("flag --%s: %s was not looked up", f[1], envName(f[1]))
		}
	}
	if envName("max-data-bytes") != "SSEBRIDGE_MAX_DATA_BYTES" {
		t.Errorf("envName(max-data-bytes) = %s", envName("max-data-bytes"))
	}
}
