// Package streamlimit is the stream accounting shared by every kind of
// long-lived stream ssebridge serves: SSE streams (package bridge) and gRPC
// Subscribe calls (package server). cmd/ssebridge creates one Limiter and
// passes it to both, so that --max-streams and --max-streams-per-client
// count every stream, whatever its transport.
//
// It also holds the rule that spreads the ends of streams limited by
// --max-stream-age (MaxAge), so that both transports apply the same one.
package streamlimit
