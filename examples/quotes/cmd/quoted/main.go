// Command quoted runs the example quote ticker (package quoteserver) as a
// gRPC server with server reflection and health, for ssebridge's library
// and proxy modes to serve to browsers:
//
//	go run ./examples/quotes/cmd/quoted --listen 127.0.0.1:9000
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	quotesv1 "github.com/ssebridge/ssebridge/examples/quotes/gen/quotes/v1"
	"github.com/ssebridge/ssebridge/examples/quotes/quoteserver"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "the gRPC address to serve")
	interval := flag.Duration("interval", time.Second, "time between messages, when a request gives none")
	stamp := flag.Bool("stamp-send-time", false, "set each quote's time to when it is sent (for load tests), not its market time")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *listen, quoteserver.Config{Interval: *interval, StampSendTime: *stamp, Logger: log}); err != nil {
		log.Error("quoted", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, listen string, cfg quoteserver.Config) error {
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	quotes := quoteserver.New(cfg)
	go drain(quotes.Calls())
	srv := grpc.NewServer()
	quotesv1.RegisterQuoteServiceServer(srv, quotes)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv) // v1 and v1alpha
	// The address on stdout, the one line a test or a script reads.
	fmt.Printf("quoted on %s\n", lis.Addr())
	go func() {
		<-ctx.Done()
		quotes.Shutdown() // open streams end with UNAVAILABLE: clients retry elsewhere
		srv.GracefulStop()
	}()
	return srv.Serve(lis)
}

// drain takes the calls the server reports for tests; nobody reads them
// here.
func drain(calls <-chan *quoteserver.Call) {
	for range calls {
	}
}
