package rpcsse_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssebridge/ssebridge/rpcsse"
)

// TestAddRefuses: Add names what it cannot serve.
func TestAddRefuses(t *testing.T) {
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const svc = "quotes.v1.QuoteService"
	watch := protoreflect.FullName(svc + ".WatchQuotes")
	for _, tc := range []struct {
		name string
		be   rpcsse.Backend
		want string
	}{
		{"unknown service", rpcsse.Backend{Services: []protoreflect.FullName{"no.Such"}}, "service no.Such not found"},
		{"not a service", rpcsse.Backend{Services: []protoreflect.FullName{"quotes.v1.Quote"}}, "is not a service"},
		{"nothing to serve", rpcsse.Backend{Services: []protoreflect.FullName{"ssebridge.v1.EventService"}}, "no server-streaming method with a google.api.http GET binding"},
		{"no such id field", rpcsse.Backend{Options: map[protoreflect.FullName]rpcsse.MethodOptions{watch: {IDField: "nope"}}}, `id_field "nope"`},
		{"id field is a message", rpcsse.Backend{Options: map[protoreflect.FullName]rpcsse.MethodOptions{watch: {IDField: "trade"}}}, "is a message, not a string, integer or enum"},
		{"two event sources", rpcsse.Backend{Options: map[protoreflect.FullName]rpcsse.MethodOptions{watch: {EventName: "q", EventOneof: "kind"}}}, "more than one of"},
		{"bad event name", rpcsse.Backend{Options: map[protoreflect.FullName]rpcsse.MethodOptions{watch: {EventName: "a\nb"}}}, "event_name"},
		{"no such last-event-id field", rpcsse.Backend{Options: map[protoreflect.FullName]rpcsse.MethodOptions{watch: {LastEventIDField: "cursor"}}}, "last_event_id_field"},
		{"options for a method not served", rpcsse.Backend{Options: map[protoreflect.FullName]rpcsse.MethodOptions{svc + ".GetQuote": {}}}, "not a served method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := rpcsse.New(rpcsse.Config{})
			if err != nil {
				t.Fatal(err)
			}
			be := tc.be
			be.Conn = conn
			if be.Services == nil {
				be.Services = []protoreflect.FullName{svc}
			}
			if err := b.Add(be); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Add: %v, want %q", err, tc.want)
			}
		})
	}

	b, _ := rpcsse.New(rpcsse.Config{})
	be := rpcsse.Backend{Name: "a", Conn: conn, Services: []protoreflect.FullName{svc}}
	if err := b.Add(be); err != nil {
		t.Fatal(err)
	}
	be.Name = "b"
	if err := b.Add(be); err == nil || !strings.Contains(err.Error(), "ambiguous routes: GET /v1/quotes/{symbol}:watch") {
		t.Errorf("the same routes twice: %v", err)
	}
	if got := b.Routes(); len(got) != 2 || got[0].Template != "/v1/quotes/{symbol}:watch" || got[1].Template != "/v1/news" {
		t.Errorf("Routes %+v, want the first backend's two routes", got)
	}
}
