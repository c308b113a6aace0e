package sse_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/internal/ssetest"
	"github.com/ssebridge/ssebridge/sse"
)

// decodeFrames reads stream with the independent decoder of ssetest and
// returns its records; the stream must end cleanly.
func decodeFrames(t testing.TB, stream []byte) []ssetest.Record {
	t.Helper()
	recs, err := ssetest.DecodeAll(stream)
	if err != nil {
		t.Fatalf("decoding %q: %v", stream, err)
	}
	return recs
}

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name           string
		id, typ, data  string
		frame          string
		wantData       string // as a client reads it back
		defaultTypeOut bool
	}{
		{
			name: "one line", id: "1", data: "hello",
			frame:    "id: 1\ndata: hello\n\n",
			wantData: "hello",
		},
		{
			name: "no id", data: "hello",
			frame:    "data: hello\n\n",
			wantData: "hello",
		},
		{
			name: "with type", id: "AQ", typ: "order.created", data: "{}",
			frame:    "id: AQ\nevent: order.created\ndata: {}\n\n",
			wantData: "{}",
		},
		{
			name: "LF", id: "1", data: "a\nb",
			frame:    "id: 1\ndata: a\ndata: b\n\n",
			wantData: "a\nb",
		},
		{
			name: "CR", id: "1", data: "a\rb",
			frame:    "id: 1\ndata: a\ndata: b\n\n",
			wantData: "a\nb",
		},
		{
			name: "CRLF", id: "1", data: "a\r\nb",
			frame:    "id: 1\ndata: a\ndata: b\n\n",
			wantData: "a\nb",
		},
		{
			name: "mixed, LF CR is two breaks", id: "1", data: "a\r\n\rb\n\rc\r\r\nd",
			frame:    "id: 1\ndata: a\ndata: \ndata: b\ndata: \ndata: c\ndata: \ndata: d\n\n",
			wantData: "a\n\nb\n\nc\n\nd",
		},
		{
			name: "empty data is still dispatched", id: "1", data: "",
			frame:    "id: 1\ndata: \n\n",
			wantData: "",
		},
		{
			name: "trailing newline kept", id: "1", data: "a\n",
			frame:    "id: 1\ndata: a\ndata: \n\n",
			wantData: "a\n",
		},
		{
			name: "only a CRLF", id: "1", data: "\r\n",
			frame:    "id: 1\ndata: \ndata: \n\n",
			wantData: "\n",
		},
		{
			name: "leading spaces kept", id: " 1", typ: " t", data: " a\n  b",
			frame:    "id:  1\nevent:  t\ndata:  a\ndata:   b\n\n",
			wantData: " a\n  b",
		},
		{
			name: "colons and field-like data", id: "a:b", data: "data: x\n: not a comment\nid: 2",
			frame:    "id: a:b\ndata: data: x\ndata: : not a comment\ndata: id: 2\n\n",
			wantData: "data: x\n: not a comment\nid: 2",
		},
		{
			name: "multi-byte UTF-8 and BOM in data", id: "é", typ: "日本", data: "\uFEFF🎉\nñ",
			frame:    "id: é\nevent: 日本\ndata: \uFEFF🎉\ndata: ñ\n\n",
			wantData: "\uFEFF🎉\nñ",
		},
		{
			name: "NUL in data", id: "1", data: "a\x00b",
			frame:    "id: 1\ndata: a\x00b\n\n",
			wantData: "a\x00b",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sse.AppendEvent([]byte("prefix"), tt.id, tt.typ, tt.data)
			if err != nil {
				t.Fatalf("AppendEvent: %v", err)
			}
			if want := "prefix" + tt.frame; string(got) != want {
				t.Fatalf("AppendEvent:\n got %q\nwant %q", got, want)
			}
			wantType := tt.typ
			if wantType == "" {
				wantType = "message"
			}
			want := []ssetest.Record{ssetest.Event{ID: tt.id, Type: wantType, Data: tt.wantData}}
			if recs := decodeFrames(t, got[len("prefix"):]); !reflect.DeepEqual(recs, want) {
				t.Errorf("read back %#v, want %#v", recs, want)
			}
		})
	}
}

func TestAppendEventRejects(t *testing.T) {
	tests := []struct {
		name          string
		id, typ, data string
		want          error
	}{
		{"LF in id", "1\n2", "", "x", sse.ErrInvalidID},
		{"CR in id", "1\r", "", "x", sse.ErrInvalidID},
		{"CRLF in id", "1\r\n", "", "x", sse.ErrInvalidID},
		{"NUL in id", "1\x00", "", "x", sse.ErrInvalidID},
		{"invalid UTF-8 in id", "\xff", "", "x", sse.ErrInvalidID},
		{"LF in type", "1", "a\nb", "x", sse.ErrInvalidEventType},
		{"CR in type", "1", "\r", "x", sse.ErrInvalidEventType},
		{"NUL in type", "1", "a\x00", "x", sse.ErrInvalidEventType},
		{"invalid UTF-8 in type", "1", "a\xc3", "x", sse.ErrInvalidEventType},
		{"invalid UTF-8 in data", "1", "", "a\xe2\x82\nb", sse.ErrInvalidData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("prefix")
			got, err := sse.AppendEvent(dst, tt.id, tt.typ, tt.data)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if string(got) != "prefix" {
				t.Errorf("dst changed to %q", got)
			}
		})
	}
}

func TestAppendComment(t *testing.T) {
	got, err := sse.AppendComment([]byte("x"), "keep-alive")
	if err != nil || string(got) != "x: keep-alive\n" {
		t.Fatalf("AppendComment = %q, %v", got, err)
	}
	if recs := decodeFrames(t, got[1:]); !reflect.DeepEqual(recs, []ssetest.Record{ssetest.Comment{Text: "keep-alive"}}) {
		t.Errorf("read back %#v", recs)
	}
	for _, bad := range []string{"a\nb", "a\r", "\r\n", "\xff"} {
		got, err := sse.AppendComment([]byte("x"), bad)
		if !errors.Is(err, sse.ErrInvalidComment) || string(got) != "x" {
			t.Errorf("AppendComment(%q) = %q, %v; want x, ErrInvalidComment", bad, got, err)
		}
	}
}

func TestAppendRetry(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{3 * time.Second, "retry: 3000\n\n"},
		{1500 * time.Millisecond, "retry: 1500\n\n"},
		{1900 * time.Microsecond, "retry: 1\n\n"},
		{0, "retry: 0\n\n"},
		{-time.Second, "retry: 0\n\n"},
	}
	for _, tt := range tests {
		got := sse.AppendRetry(nil, tt.d)
		if string(got) != tt.want {
			t.Errorf("AppendRetry(%v) = %q, want %q", tt.d, got, tt.want)
		}
		recs := decodeFrames(t, got)
		if len(recs) != 1 || recs[0].(ssetest.Retry).Delay != max(tt.d, 0).Truncate(time.Millisecond) {
			t.Errorf("AppendRetry(%v) read back as %#v", tt.d, recs)
		}
	}
}

func ExampleAppendEvent() {
	frame, err := sse.AppendEvent(nil, "AQAAAAAAAAAqAQ", "order.created", "line one\r\nline two")
	if err != nil {
		panic(err)
	}
	fmt.Print(string(frame))
	_, err = sse.AppendEvent(nil, "1\n2", "", "x")
	fmt.Println(err)
	// Output:
	// id: AQAAAAAAAAAqAQ
	// event: order.created
	// data: line one
	// data: line two
	//
	// sse: invalid event id: line break '\n' at byte 1
}

// unrepresentable says why AppendEvent must refuse (id, typ, data), or ""
// when it must accept them. It restates AppendEvent's contract
// independently of its code.
func unrepresentable(id, typ, data string) string {
	switch {
	case strings.ContainsAny(id, "\r\n\x00"):
		return "CR, LF or NUL in id"
	case strings.ContainsAny(typ, "\r\n\x00"):
		return "CR, LF or NUL in type"
	case !isUTF8(id) || !isUTF8(typ) || !isUTF8(data):
		return "invalid UTF-8"
	}
	return ""
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "") == s }
