package bridge_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/memory"
)

// Example wires a Handler to an in-memory broker and shows what a client
// reads: the retry line, then each event.
func Example() {
	ctx := context.Background()
	hub, err := memory.New(memory.Config{Epoch: 1}) // a fixed epoch, for fixed IDs
	if err != nil {
		panic(err)
	}
	defer hub.Close()
	h, err := bridge.New(bridge.Config{Broker: hub})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.RegisterOnShutdown(h.Shutdown) // streams end when the server shuts down
	srv.Start()
	defer srv.Close()
	defer h.Shutdown()

	resp, err := http.Get(srv.URL + "/v1/events?topic=orders")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status, resp.Header.Get("Content-Type"))

	if _, err := hub.Publish(ctx, pubsub.Message{Topic: "orders", Type: "created", Data: "{\"id\":42}\n{\"id\":43}"}); err != nil {
		panic(err)
	}
	lines := bufio.NewScanner(resp.Body)
	for blank := 0; blank < 2 && lines.Scan(); {
		fmt.Printf("%q\n", lines.Text())
		if lines.Text() == "" {
			blank++
		}
	}
	// Output:
	// 200 OK text/event-stream
	// "retry: 3000"
	// ""
	// "id: AQAAAAAAAAABAQ"
	// "event: created"
	// "data: {\"id\":42}"
	// "data: {\"id\":43}"
	// ""
}
