// Package apierror is the one shape of ssebridge's API errors, on every
// transport and route: a google.rpc.Status whose details hold a
// google.rpc.ErrorInfo in the domain "ssebridge", whose reason is the
// machine-readable code in UPPER_SNAKE (INVALID_TOPIC, TOO_MANY_STREAMS,
// INVALID_TOKEN, ...), and, for bad input, a google.rpc.BadRequest naming
// the field. gRPC clients receive the status itself. HTTP clients receive
// it as JSON, with proto field names,
//
//	{"code":3,"message":"pubsub: invalid topic: empty","details":[
//	  {"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"INVALID_TOPIC","domain":"ssebridge"},
//	  {"@type":"type.googleapis.com/google.rpc.BadRequest","field_violations":[{"field":"topic","description":"..."}]}]}
//
// and the HTTP status that grpc-gateway maps from the gRPC code
// (runtime.HTTPStatusFromCode) unless a route has a more precise one
// (413, 405, 408). The REST gateway, the SSE bridge, the console and the
// catch-all routes all write errors through Write, so an error has the same
// body and status whichever route met it. Write also sets the
// WWW-Authenticate challenge (RFC 6750), built from the reason by
// Challenge, and Retry-After from a google.rpc.RetryInfo detail.
//
// Every function is safe for concurrent use.
package apierror
