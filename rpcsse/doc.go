// Package rpcsse serves gRPC server-streaming methods as Server-Sent
// Events: a backend's `rpc WatchQuotes(WatchQuotesRequest) returns (stream
// Quote)` with a google.api.http GET binding becomes a text/event-stream
// on that route, which a browser's EventSource reads, resumes and retries
// by itself. The backend does not change.
//
// # Library mode
//
// A grpc-gateway user mounts a Bridge in front of the ServeMux of their
// generated handlers:
//
//	gw := runtime.NewServeMux()
//	quotesv1.RegisterQuoteServiceHandlerClient(ctx, gw, quotesv1.NewQuoteServiceClient(conn))
//	b, _ := rpcsse.New(rpcsse.Config{})
//	_ = b.Add(rpcsse.Backend{Conn: conn, Services: []protoreflect.FullName{"quotes.v1.QuoteService"}})
//	h, _ := b.Handler(gw)
//	http.ListenAndServe(addr, h)
//
// A GET request that accepts text/event-stream, for a route of a
// server-streaming method, is served by the Bridge; every other request
// goes to the gateway, as before. The descriptors come from the program's
// own registry (protoregistry.GlobalFiles), or from Backend.Files (the
// proxy mode of `ssebridge serve --upstream` loads them from a descriptor
// set or the backend's server reflection and uses dynamic messages).
//
// # Requests
//
// The request message is built as grpc-gateway builds it, with its
// runtime: path parameters (runtime.PopulateFieldFromPath), then the query
// parameters the path does not set (runtime.PopulateQueryParameters;
// unknown ones are ignored, as there). A value that does not fit its field
// is answered 400 with the JSON error, and the backend is not called. The
// query parameters last_event_id and access_token are ssebridge's own and
// never set fields.
//
// The client's Last-Event-ID (the header an EventSource sends on
// reconnection, or the last_event_id query parameter) goes to the backend
// as the gRPC metadata "last-event-id" and, when the method's options name
// a request field (last_event_id_field), in that field. The Authorization
// header (or an Authorizer's credentials) and the headers and cookies of
// Config.ForwardHeaders and Config.ForwardCookies are forwarded as
// metadata; nothing else of the request is.
//
// # Events
//
// Each message is one event whose data is the message in protojson
// (JSON field names, unpopulated fields included, as grpc-gateway writes
// them; Config.ProtoNames for proto names), without grpc-gateway's
// {"result": ...} wrapper. Its id and type come from the method's
// ssebridge.v1.stream option (ssebridgev1.StreamOptions, or
// MethodOptions in Go): the id from a field, the type from a field, from
// the set case of a oneof, or a fixed name; without the option, events
// have no id and the type "message". The stream's headers and retry line
// are sent at once; heartbeats, write deadlines, the maximum age and the
// HTTP/1.1 take-over are package sse's.
//
// # Ends and errors
//
//   - The backend ends the stream normally: an EndEvent ("end", data {})
//     and the end of the response. A page that expects a finite stream
//     calls close() on it; otherwise its EventSource reconnects.
//   - The backend fails the call before its first message, within
//     Config.FirstResponseWait, with a permanent code (INVALID_ARGUMENT,
//     NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED, UNIMPLEMENTED,
//     FAILED_PRECONDITION, OUT_OF_RANGE, ALREADY_EXISTS): no stream, but
//     the HTTP status grpc-gateway maps from the code and the status as
//     JSON. An EventSource does not reconnect.
//   - Any other status (UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED,
//     DEADLINE_EXCEEDED, INTERNAL, ...), or any status after the first
//     message: an ErrorEvent ("error", data the google.rpc.Status as JSON:
//     code, message, details) without an id, and the end of the response.
//     The EventSource reconnects with the id of the last message it got.
//     A page's listener for "error" also receives the EventSource's own
//     connection errors: the bridge's are MessageEvents with data, the
//     browser's plain Events without.
//
// The backend's status is passed on as it sent it. Statuses grpc-go makes
// up on this side of the call (the backend unreachable, the connection
// lost) reach clients with their code and a fixed message, never the
// addresses and internals of grpc-go's own message.
//
// # Flow control
//
// Each stream holds at most Config.QueueLength encoded messages; when its
// client is slower, the stream stops reading from the backend, so that
// gRPC flow control holds the backend back, and memory per stream stays
// bounded. A client that does not take a write within the write timeout
// is disconnected. When the client goes away, its backend call is
// cancelled at once.
package rpcsse
