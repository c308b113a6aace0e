package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// config is the command line of ssebench.
type config struct {
	Mode            string
	RPCPath         string
	Target          string
	GRPCTarget      string
	Subscribers     int
	GRPCSubscribers int
	Topics          int
	Rate            float64
	Size            int
	Duration        time.Duration
	Publishers      int
	PublishMethod   string
	MaxAhead        int
	Ceiling         bool
	ServerPID       int
	JSON            bool
	Heartbeat       time.Duration
	HeartbeatSlack  time.Duration
	DialConcurrency int
	DrainTimeout    time.Duration
	Label           string
}

// Bounds of the flags: every run is bounded in connections, rate and time.
const (
	maxSubscribers     = 50_000
	maxGRPCSubscribers = 10_000
	maxTopics          = 10_000
	maxRate            = 2_000_000
	maxSize            = 1 << 20
	maxDuration        = 10 * time.Minute
	maxPublishers      = 256
	maxDialConcurrency = 4096
)

const usageText = `usage: ssebench [flags]

ssebench loads an ssebridge server on this machine and reports what it
measured, as a table and, with --json, as one JSON line.

Modes:
  fanout   SSE subscribers (and --grpc-subscribers) receive events published
           over gRPC; reports deliveries/s, latency, loss, server CPU and
           memory, and the ceiling of the same workload measured first in
           the same run, with the ratio of deliveries/s (at --rate 0: the
           highest sustained rates); --ceiling=false skips it
  ceiling  the same subscribers against a minimal server inside the tool
           that writes pre-encoded frames: the limit of this machine
  idle     holds --subscribers idle SSE connections for --duration; reports
           server memory per connection and heartbeat punctuality
  publish  publishes as fast as acknowledgements allow (or at --rate), with
           or without subscribers; reports acknowledged events/s and,
           without subscribers, the same publishers against a gRPC server
           inside the tool that acknowledges every event at once, with the
           ratio to it; --ceiling=false skips it

--rate 0 means as fast as acknowledgements allow; in fanout and ceiling
modes publishing then also stays at most --max-ahead events ahead of the
slowest subscriber, which measures the highest rate delivered without
overflowing subscriber queues. Targets must be loopback addresses.

Flags:
`

// parseFlags parses the command line.
func parseFlags(args []string, output io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("ssebench", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprint(output, usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Mode, "mode", "fanout", "fanout, ceiling, idle, publish or rpc")
	fs.StringVar(&cfg.RPCPath, "rpc-path", "/v1/quotes/ACME:watch?interval_ms=100", "rpc: the route each SSE subscriber opens, a backend's server stream served by serve --upstream, whose events carry the backend's send time in a JSON field \"time\"")
	fs.StringVar(&cfg.Target, "target", "127.0.0.1:8080", "HTTP address (host:port) of the ssebridge server: SSE and /metrics; a comma-separated list spreads the SSE subscribers over several replicas, in turn")
	fs.StringVar(&cfg.GRPCTarget, "grpc-target", "127.0.0.1:9090", "gRPC address (host:port) of the ssebridge server; a comma-separated list spreads the publishers' connections over several replicas")
	fs.IntVar(&cfg.Subscribers, "subscribers", 100, "SSE subscribers, spread over the topics")
	fs.IntVar(&cfg.GRPCSubscribers, "grpc-subscribers", 0, "gRPC Subscribe streams, spread over the topics (fanout and publish modes)")
	fs.IntVar(&cfg.Topics, "topics", 1, "number of topics")
	fs.Float64Var(&cfg.Rate, "rate", 100, "events per second published in all; 0 = as fast as acknowledgements allow")
	fs.IntVar(&cfg.Size, "size", 256, fmt.Sprintf("bytes of data per event (at least %d)", minPayloadSize))
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to publish (idle: to hold the connections)")
	fs.IntVar(&cfg.Publishers, "publishers", 4, "concurrent publishers: unary callers or streams")
	fs.StringVar(&cfg.PublishMethod, "publish-method", "unary", "unary (one Publish call at a time per publisher) or stream (PublishStream)")
	fs.IntVar(&cfg.MaxAhead, "max-ahead", -1, "most events published ahead of the slowest subscriber of a topic; 0 = no limit; -1 = 256 at --rate 0 in fanout and ceiling modes, else no limit")
	fs.BoolVar(&cfg.Ceiling, "ceiling", true, "fanout, and publish without subscribers: measure the ceiling first and report the ratio to it")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "pid of the server, to report its CPU time and memory from /proc")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON line on stdout (the table goes to stderr)")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", 15*time.Second, "idle: the server's heartbeat interval, to judge punctuality")
	fs.DurationVar(&cfg.HeartbeatSlack, "heartbeat-slack", time.Second, "idle: how late a heartbeat may be and still count as on time")
	fs.IntVar(&cfg.DialConcurrency, "dial-concurrency", 256, "connections opened at the same time")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", 10*time.Second, "how long to wait for the last deliveries after publishing stops")
	fs.StringVar(&cfg.Label, "label", "", "free text copied into the report")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if cfg.MaxAhead < 0 {
		cfg.MaxAhead = 0
		if cfg.Rate == 0 && (cfg.Mode == "fanout" || cfg.Mode == "ceiling") {
			cfg.MaxAhead = 256
		}
	}
	return cfg, cfg.validate()
}

func (c *config) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	switch c.Mode {
	case "fanout", "ceiling", "idle", "publish", "rpc":
	default:
		errs = append(errs, fmt.Errorf("--mode %q: want fanout, ceiling, idle, publish or rpc", c.Mode))
	}
	check(c.PublishMethod == "unary" || c.PublishMethod == "stream", "--publish-method %q: want unary or stream", c.PublishMethod)
	check(c.Subscribers >= 0 && c.Subscribers <= maxSubscribers, "--subscribers must be within 0..%d", maxSubscribers)
	check(c.GRPCSubscribers >= 0 && c.GRPCSubscribers <= maxGRPCSubscribers, "--grpc-subscribers must be within 0..%d", maxGRPCSubscribers)
	check(c.Topics >= 1 && c.Topics <= maxTopics, "--topics must be within 1..%d", maxTopics)
	check(c.Rate >= 0 && c.Rate <= maxRate, "--rate must be within 0..%d", maxRate)
	check(c.Size >= minPayloadSize && c.Size <= maxSize, "--size must be within %d..%d", minPayloadSize, maxSize)
	check(c.Duration > 0 && c.Duration <= maxDuration, "--duration must be within 0..%v", maxDuration)
	check(c.Publishers >= 1 && c.Publishers <= maxPublishers, "--publishers must be within 1..%d", maxPublishers)
	check(c.Heartbeat > 0 && c.HeartbeatSlack >= 0, "--heartbeat must be positive and --heartbeat-slack not negative")
	check(c.DialConcurrency >= 1 && c.DialConcurrency <= maxDialConcurrency, "--dial-concurrency must be within 1..%d", maxDialConcurrency)
	check(c.DrainTimeout > 0 && c.DrainTimeout <= maxDuration, "--drain-timeout must be within 0..%v", maxDuration)
	check(c.ServerPID >= 0, "--server-pid must not be negative")
	check(c.Mode != "rpc" || strings.HasPrefix(c.RPCPath, "/"), "--rpc-path must start with /")
	if c.Mode == "fanout" || c.Mode == "ceiling" || c.Mode == "idle" || c.Mode == "rpc" {
		check(c.Subscribers+c.GRPCSubscribers > 0, "--mode %s needs subscribers", c.Mode)
	}
	if c.Mode != "ceiling" {
		if err := checkLoopback("--target", c.Target); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Mode == "fanout" || c.Mode == "publish" {
		if err := checkLoopback("--grpc-target", c.GRPCTarget); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkLoopback accepts host:port addresses on this machine only:
// localhost, 127.0.0.0/8 or ::1. The tool generates heavy traffic and
// must never aim it elsewhere. It resolves nothing.
func checkLoopback(name, addrs string) error {
	for _, addr := range strings.Split(addrs, ",") {
		if err := checkLoopbackAddr(name, addr); err != nil {
			return err
		}
	}
	return nil
}

// checkLoopbackAddr is checkLoopback for one address.
func checkLoopbackAddr(name, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", name, addr, err)
	}
	if port == "" {
		return fmt.Errorf("%s %q: no port", name, addr)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s %q: not a loopback address; ssebench only loads servers on this machine (localhost, 127.0.0.0/8, [::1])", name, addr)
}
