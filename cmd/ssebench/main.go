// Command ssebench is ssebridge's load tool. It opens SSE subscribers over
// raw HTTP/1.1 connections (and optionally gRPC Subscribe streams),
// publishes over gRPC at a fixed rate or as fast as acknowledgements
// allow, and reports deliveries per second, end-to-end latency, lost,
// duplicated and out-of-order deliveries, and the CPU and memory of the
// server and of itself. A ceiling mode measures what the machine can do
// with a minimal server inside the tool; an idle mode holds many
// connections and reports server memory per connection and heartbeat
// punctuality. It loads servers on this machine only, for a bounded time,
// and exits by itself.
//
// Usage:
//
//	ssebench [--mode fanout|ceiling|idle|publish] [flags]
//
// Run "ssebench -h" for the flags. BENCHMARKS.md at the repository's root
// shows the runs behind the published figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "ssebench:", err)
		}
		os.Exit(2)
	}
}

// run runs one measurement as args say and prints its report: a table on
// stdout, or with --json one JSON line on stdout and the table on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	limit, err := raiseOpenFileLimit()
	if err != nil {
		return err
	}
	need := cfg.Subscribers + cfg.GRPCSubscribers + 64
	if cfg.Mode == "ceiling" || (cfg.Mode == "fanout" && cfg.Ceiling) {
		need += cfg.Subscribers // the ceiling server's ends are in this process too
	}
	if uint64(need) > limit {
		return fmt.Errorf("this run needs about %d open files; the limit is %d", need, limit)
	}

	r := &report{
		Mode:            cfg.Mode,
		Label:           cfg.Label,
		Time:            time.Now().UTC().Format(time.RFC3339),
		Machine:         readMachine(),
		Subscribers:     cfg.Subscribers,
		GRPCSubscribers: cfg.GRPCSubscribers,
		Topics:          cfg.Topics,
		Rate:            cfg.Rate,
		Size:            cfg.Size,
		DurationS:       cfg.Duration.Seconds(),
		OpenFilesLimit:  limit,
	}
	if cfg.Mode != "ceiling" {
		r.Target = cfg.Target
	}
	if cfg.Mode == "fanout" || cfg.Mode == "publish" {
		r.Publishers, r.PublishMethod, r.MaxAhead = cfg.Publishers, cfg.PublishMethod, cfg.MaxAhead
	}

	switch cfg.Mode {
	case "fanout":
		if cfg.Ceiling {
			// The same workload: the same rate, or at --rate 0 the
			// same pacing against the slowest subscriber.
			if r.Ceiling, err = measureCeiling(ctx, cfg, cfg.Rate, cfg.MaxAhead); err != nil {
				return fmt.Errorf("ceiling: %w", err)
			}
		}
		if r.Delivery, r.Publish, err = measureServer(ctx, cfg); err != nil {
			return err
		}
		if r.Ceiling != nil && r.Ceiling.DeliveriesPerSec > 0 {
			ratio := round(r.Delivery.DeliveriesPerSec/r.Ceiling.DeliveriesPerSec, 3)
			r.RatioToCeiling = &ratio
		}
	case "ceiling":
		r.MaxAhead = cfg.MaxAhead
		if r.Delivery, err = measureCeiling(ctx, cfg, cfg.Rate, cfg.MaxAhead); err != nil {
			return err
		}
	case "publish":
		if cfg.Ceiling && cfg.Subscribers+cfg.GRPCSubscribers == 0 {
			if r.PublishCeiling, err = measurePublishCeiling(ctx, cfg); err != nil {
				return fmt.Errorf("publish ceiling: %w", err)
			}
		}
		var d *deliveryReport
		if d, r.Publish, err = measureServer(ctx, cfg); err != nil {
			return err
		}
		if cfg.Subscribers+cfg.GRPCSubscribers > 0 {
			r.Delivery = d
		}
		if r.PublishCeiling != nil && r.PublishCeiling.AckedPerSec > 0 {
			ratio := round(r.Publish.AckedPerSec/r.PublishCeiling.AckedPerSec, 3)
			r.PublishRatioToCeiling = &ratio
		}
	case "idle":
		if r.Idle, err = measureIdle(ctx, cfg); err != nil {
			return err
		}
	case "rpc":
		r.RPCPath = cfg.RPCPath
		if r.Delivery, err = measureRPC(ctx, cfg); err != nil {
			return err
		}
	}

	if cfg.JSON {
		if err := r.writeJSON(stdout); err != nil {
			return err
		}
		return r.writeTable(stderr)
	}
	return r.writeTable(stdout)
}
