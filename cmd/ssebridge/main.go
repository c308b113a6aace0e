// Command ssebridge is the gRPC-to-SSE bridge: internal services publish
// events over gRPC (or its REST mapping), browsers receive them over
// Server-Sent Events, backend consumers over gRPC streaming.
//
// Usage:
//
//	ssebridge [serve] [flags]   run the service (the default command)
//	ssebridge publish [flags]   publish one event over gRPC
//	ssebridge subscribe [flags] print events as they arrive, over gRPC
//
// Every flag has an environment variable: --history-size is
// SSEBRIDGE_HISTORY_SIZE. A flag on the command line wins over the
// variable. Run "ssebridge COMMAND -h" for the list.
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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "ssebridge:", err)
		}
		os.Exit(2)
	}
}

// run runs the command named by args[0] (serve by default) until ctx ends.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		cfg, err := parseServeFlags(args, os.LookupEnv, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stderr, listeners{}, nil)
	case "publish":
		return publishCommand(ctx, args, os.LookupEnv, stdin, stdout, stderr)
	case "subscribe":
		return subscribeCommand(ctx, args, os.LookupEnv, stdout, stderr)
	case "help":
		fmt.Fprintln(stdout, "usage: ssebridge [serve|publish|subscribe] [flags]; ssebridge COMMAND -h lists the flags of a command")
		return nil
	}
	return fmt.Errorf("unknown command %q (known: serve, publish, subscribe, help)", cmd)
}
