// Command quotes-gateway is library mode in a few lines: a grpc-gateway
// server for the quote ticker (examples/quotes/cmd/quoted) with an
// rpcsse.Bridge in front, so that its streaming routes also answer
// EventSource with Server-Sent Events.
//
//	go run ./examples/quotes/cmd/quoted &
//	go run ./examples/quotes/cmd/quotes-gateway --backend 127.0.0.1:9000 --listen 127.0.0.1:8081
//	curl -N -H 'Accept: text/event-stream' '127.0.0.1:8081/v1/quotes/ACME:watch'
//	curl '127.0.0.1:8081/v1/quotes/ACME:watch?limit=2'   # grpc-gateway's own answer
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/reflect/protoreflect"

	quotesv1 "github.com/ssebridge/ssebridge/examples/quotes/gen/quotes/v1"
	"github.com/ssebridge/ssebridge/rpcsse"
)

func main() {
	backend := flag.String("backend", "127.0.0.1:9000", "the quote ticker's gRPC address")
	listen := flag.String("listen", "127.0.0.1:8081", "the HTTP address to serve")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *backend, *listen); err != nil {
		log.Error("quotes-gateway", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, backend, listen string) error {
	conn, err := grpc.NewClient(backend, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()

	// The grpc-gateway service as generated...
	gw := runtime.NewServeMux()
	if err := quotesv1.RegisterQuoteServiceHandlerClient(ctx, gw, quotesv1.NewQuoteServiceClient(conn)); err != nil {
		return err
	}
	// ...and the few lines of library mode.
	b, err := rpcsse.New(rpcsse.Config{Logger: log})
	if err != nil {
		return err
	}
	if err := b.Add(rpcsse.Backend{Conn: conn, Services: []protoreflect.FullName{"quotes.v1.QuoteService"}}); err != nil {
		return err
	}
	h, err := b.Handler(gw)
	if err != nil {
		return err
	}

	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Printf("quotes-gateway on http://%s, backend %s\n", lis.Addr(), backend)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		b.Shutdown()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return b.Wait(wctx)
}
