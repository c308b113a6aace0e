package sse_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/ssebridge/ssebridge/internal/ssetest"
	"github.com/ssebridge/ssebridge/sse"
)

// FuzzEncodeRoundTrip checks the encoder against the independent decoder of
// internal/ssetest: whatever AppendEvent accepts is read back unchanged
// (line breaks in data read as LF, as the standard says); whatever it
// rejects is unrepresentable: written naively, it would not read back
// unchanged. One rejection is policy rather than necessity, and is
// exempt from the second check: NUL in an event type. An empty id is
// accepted: the frame then has no id line.
func FuzzEncodeRoundTrip(f *testing.F) {
	for _, seed := range [][3]string{
		{"1", "", "hello"},
		{"AQAAAAAAAAAqAQ", "order.created", "{\"a\":1}"},
		{"1", "", ""},
		{"1", "t", "a\r\nb\rc\nd"},
		{"1", "", "\r\n\r\n"},
		{"1", "", "a\n"},
		{" 1", " t", " x"},
		{"1", "message", "data: x\n\nid: 2\n"},
		{"é", "日本", "\uFEFF🎉"},
		{"", "", "x"},
		{"1\n", "", "x"},
		{"1\x00", "", "x"},
		{"1", "a\rb", "x"},
		{"1", "a\x00", "x"},
		{"1", "", "\xe2\x82"},
		{"\xff", "", "x"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, id, typ, data string) {
		frame, err := sse.AppendEvent([]byte("x"), id, typ, data)
		why := unrepresentable(id, typ, data)
		if err != nil {
			if string(frame) != "x" {
				t.Fatalf("AppendEvent changed dst on error: %q", frame)
			}
			if why == "" {
				t.Fatalf("AppendEvent(%q, %q, %q) rejected representable input: %v", id, typ, data, err)
			}
			// Without its policy violations, would the input be accepted?
			policyOnly := unrepresentable(id, strings.ReplaceAll(typ, "\x00", ""), data) == ""
			if !policyOnly && readsBack(naiveFrame(id, typ, data), id, typ, data) {
				t.Fatalf("AppendEvent(%q, %q, %q) rejected input that a naive frame carries: %v", id, typ, data, err)
			}
			return
		}
		if why != "" {
			t.Fatalf("AppendEvent(%q, %q, %q) accepted input with %s: %q", id, typ, data, why, frame)
		}
		if !bytes.HasPrefix(frame, []byte("x")) {
			t.Fatalf("AppendEvent did not append to dst: %q", frame)
		}
		if !readsBack(frame[1:], id, typ, data) {
			t.Fatalf("frame %q does not read back as (%q, %q, %q): %#v",
				frame[1:], id, typ, data, decodeAllRecords(frame[1:]))
		}
	})
}

// readsBack reports whether frame decodes as exactly one event with id,
// typ and data, and nothing else.
func readsBack(frame []byte, id, typ, data string) bool {
	if typ == "" {
		typ = "message"
	}
	want := []ssetest.Record{ssetest.Event{ID: id, Type: typ, Data: normalizeLineBreaks(data)}}
	return reflect.DeepEqual(decodeAllRecords(frame), want)
}

func decodeAllRecords(frame []byte) []ssetest.Record {
	recs, err := ssetest.DecodeAll(frame)
	if err != nil {
		// An incomplete frame: never what was asked for.
		return append(recs, nil)
	}
	return recs
}

// naiveFrame writes a frame without any check, splitting data into lines
// as AppendEvent does, without an id line for an empty id.
func naiveFrame(id, typ, data string) []byte {
	var b strings.Builder
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	if typ != "" {
		b.WriteString("event: " + typ + "\n")
	}
	for _, line := range strings.Split(normalizeLineBreaks(data), "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	return []byte(b.String())
}

func normalizeLineBreaks(s string) string {
	return strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
}
