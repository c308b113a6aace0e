// Package ssetest is a Server-Sent Events client for tests: a Decoder that
// follows the WHATWG HTML standard's algorithm for interpreting an event
// stream, written independently of the bridge's encoder, and Connect, which
// opens a real stream over the network and reads it with a Decoder.
//
// It reports what an EventSource would dispatch (events with their last
// event ID, type and data) and also what a browser keeps to itself
// (comments such as heartbeats, and retry fields), so tests can check both.
package ssetest
