package ssetest_test

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/ssebridge/ssebridge/internal/ssetest"
)

type (
	event   = ssetest.Event
	comment = ssetest.Comment
	retry   = ssetest.Retry
)

// decodeAll reads every record of stream and the error that ended it.
func decodeAll(r io.Reader) ([]ssetest.Record, error) {
	d := ssetest.NewDecoder(r)
	var recs []ssetest.Record
	for {
		rec, err := d.Next()
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
}

func TestDecoder(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []ssetest.Record
		end    error
	}{
		// The first four are the examples of the WHATWG HTML standard,
		// section "Server-sent events", "Event stream interpretation".
		{
			name:   "spec: data lines joined with LF",
			stream: "data: YHOO\ndata: +2\ndata: 10\n\n",
			want:   []ssetest.Record{event{Type: "message", Data: "YHOO\n+2\n10"}},
			end:    io.EOF,
		},
		{
			name:   "spec: comment, id, id reset, incomplete last event",
			stream: ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n",
			want: []ssetest.Record{
				comment{Text: "test stream"},
				event{ID: "1", Type: "message", Data: "first event"},
				event{ID: "", Type: "message", Data: "second event"},
			},
			end: io.ErrUnexpectedEOF,
		},
		{
			name:   "spec: empty data and an unterminated field",
			stream: "data\n\ndata\ndata\n\ndata:",
			want: []ssetest.Record{
				event{Type: "message", Data: ""},
				event{Type: "message", Data: "\n"},
			},
			end: io.ErrUnexpectedEOF,
		},
		{
			name:   "spec: one leading space removed",
			stream: "data:test\n\ndata: test\n\ndata:  test\n\n",
			want: []ssetest.Record{
				event{Type: "message", Data: "test"},
				event{Type: "message", Data: "test"},
				event{Type: "message", Data: " test"},
			},
			end: io.EOF,
		},
		{
			name:   "CR line ends",
			stream: "id: 7\revent: e\rdata: a\rdata: b\r\r",
			want:   []ssetest.Record{event{ID: "7", Type: "e", Data: "a\nb"}},
			end:    io.EOF,
		},
		{
			name:   "CRLF line ends",
			stream: "id: 7\r\nevent: e\r\ndata: a\r\ndata: b\r\n\r\n",
			want:   []ssetest.Record{event{ID: "7", Type: "e", Data: "a\nb"}},
			end:    io.EOF,
		},
		{
			name:   "mixed line ends; LF CR is two line ends",
			stream: "data: a\r\ndata: b\rdata: c\n\n\r\rdata: d\n\r",
			want: []ssetest.Record{
				event{Type: "message", Data: "a\nb\nc"},
				event{Type: "message", Data: "d"},
			},
			end: io.EOF,
		},
		{
			name:   "one leading BOM stripped",
			stream: "\uFEFFdata: a\n\n",
			want:   []ssetest.Record{event{Type: "message", Data: "a"}},
			end:    io.EOF,
		},
		{
			name:   "second BOM kept: unknown field",
			stream: "\uFEFF\uFEFFdata: a\n\ndata: \uFEFFb\n\n",
			want:   []ssetest.Record{event{Type: "message", Data: "\uFEFFb"}},
			end:    io.EOF,
		},
		{
			name:   "id persists across events, empty id resets it",
			stream: "id: a\ndata: 1\n\ndata: 2\n\nid:\ndata: 3\n\n",
			want: []ssetest.Record{
				event{ID: "a", Type: "message", Data: "1"},
				event{ID: "a", Type: "message", Data: "2"},
				event{ID: "", Type: "message", Data: "3"},
			},
			end: io.EOF,
		},
		{
			name:   "id with NUL ignored",
			stream: "id: 1\ndata: x\n\nid: 2\x003\ndata: y\n\n",
			want: []ssetest.Record{
				event{ID: "1", Type: "message", Data: "x"},
				event{ID: "1", Type: "message", Data: "y"},
			},
			end: io.EOF,
		},
		{
			name:   "id keeps everything after the first colon and space",
			stream: "id:  a:b \ndata: x\n\n",
			want:   []ssetest.Record{event{ID: " a:b ", Type: "message", Data: "x"}},
			end:    io.EOF,
		},
		{
			name:   "event type resets after dispatch, also without data",
			stream: "event: a\ndata: 1\n\nevent: b\n\ndata: 2\n\n",
			want: []ssetest.Record{
				event{Type: "a", Data: "1"},
				event{Type: "message", Data: "2"},
			},
			end: io.EOF,
		},
		{
			name:   "retry: only ASCII digits",
			stream: "retry: 1500\n\nretry: 15x\nretry: -1\nretry:\nretry: 1.5\nretry:  2\nretry:0\n\n",
			want:   []ssetest.Record{retry{Delay: 1500 * time.Millisecond}, retry{Delay: 0}},
			end:    io.EOF,
		},
		{
			name:   "retry saturates",
			stream: "retry: 99999999999999999999999999\n\n",
			want:   []ssetest.Record{retry{Delay: time.Duration(1<<63-1) / time.Millisecond * time.Millisecond}},
			end:    io.EOF,
		},
		{
			name:   "unknown fields and field names are exact",
			stream: "foo: bar\nData: x\ndata : y\n data: z\n\n",
			want:   nil,
			end:    io.EOF,
		},
		{
			name:   "comment without space and with colon",
			stream: ":a\n:  b: c\n",
			want:   []ssetest.Record{comment{Text: "a"}, comment{Text: " b: c"}},
			end:    io.EOF,
		},
		{
			name:   "invalid UTF-8: maximal subparts become one U+FFFD each",
			stream: "data: a\xE2\x82b\xFF\xFEc\xED\xA0\x80d\xF0\x9F\x98\n\n",
			want:   []ssetest.Record{event{Type: "message", Data: "a\uFFFDb\uFFFD\uFFFDc\uFFFD\uFFFD\uFFFDd\uFFFD"}},
			end:    io.EOF,
		},
		{
			name:   "multi-byte UTF-8 kept",
			stream: "event: ünï\ndata: 日本語 🎉\n\n",
			want:   []ssetest.Record{event{Type: "ünï", Data: "日本語 🎉"}},
			end:    io.EOF,
		},
		{
			name:   "NUL in data kept",
			stream: "data: a\x00b\n\n",
			want:   []ssetest.Record{event{Type: "message", Data: "a\x00b"}},
			end:    io.EOF,
		},
		{
			name:   "unterminated comment line",
			stream: "data: a\n\n: partial",
			want:   []ssetest.Record{event{Type: "message", Data: "a"}},
			end:    io.ErrUnexpectedEOF,
		},
		{
			name:   "empty stream",
			stream: "",
			end:    io.EOF,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, reader := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tt.stream)},
				{"byte by byte", iotest.OneByteReader(strings.NewReader(tt.stream))},
			} {
				got, err := decodeAll(reader.r)
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%s: records:\n got %#v\nwant %#v", reader.name, got, tt.want)
				}
				if err != tt.end {
					t.Errorf("%s: end: got %v, want %v", reader.name, err, tt.end)
				}
			}
		})
	}
}

func TestDecoderLastEventIDAtDispatch(t *testing.T) {
	d := ssetest.NewDecoder(strings.NewReader("id: 1\ndata: a\n\nid: 2\n\nid: 3\ndata: b\n"))
	rec, err := d.Next()
	if err != nil || rec != (event{ID: "1", Type: "message", Data: "a"}) {
		t.Fatalf("Next = %#v, %v", rec, err)
	}
	if got := d.LastEventID(); got != "1" {
		t.Errorf("LastEventID after first event = %q, want 1", got)
	}
	// "id: 2" and a blank line update the last event ID without an event;
	// "id: 3" is never followed by a blank line.
	if _, err := d.Next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("Next at end = %v, want io.ErrUnexpectedEOF", err)
	}
	if got := d.LastEventID(); got != "2" {
		t.Errorf("LastEventID at end = %q, want 2", got)
	}
}

func TestDecoderReaderError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom))
	got, err := decodeAll(r)
	if want := []ssetest.Record{event{Type: "message", Data: "a"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("records = %#v, want %#v", got, want)
	}
	if err != boom {
		t.Errorf("err = %v, want %v", err, boom)
	}
}

// FuzzDecoder checks that the decoder never panics, that what it reports
// is well formed, and that it does not depend on how the stream is split
// into reads.
func FuzzDecoder(f *testing.F) {
	for _, s := range []string{
		"data: YHOO\ndata: +2\ndata: 10\n\n",
		": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n",
		"\uFEFFid: 1\r\nevent: x\r\ndata: a\rdata\n\r\n",
		"retry: 100\n\nretry: x\n\nid: a\x00\ndata: \xE2\x82\xFF\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		whole, wholeErr := decodeAll(strings.NewReader(string(stream)))
		split, splitErr := decodeAll(iotest.OneByteReader(strings.NewReader(string(stream))))
		if !reflect.DeepEqual(whole, split) || wholeErr != splitErr {
			t.Fatalf("decoding depends on reads:\nwhole %#v %v\nsplit %#v %v", whole, wholeErr, split, splitErr)
		}
		if wholeErr != io.EOF && wholeErr != io.ErrUnexpectedEOF {
			t.Fatalf("end = %v", wholeErr)
		}
		for _, rec := range whole {
			switch r := rec.(type) {
			case ssetest.Event:
				if r.Type == "" || strings.ContainsAny(r.Type, "\r\n") {
					t.Errorf("bad type %q", r.Type)
				}
				if strings.ContainsAny(r.ID, "\r\n\x00") {
					t.Errorf("bad id %q", r.ID)
				}
				if strings.Contains(r.Data, "\r") {
					t.Errorf("CR in data %q", r.Data)
				}
				if !utf8.ValidString(r.ID) || !utf8.ValidString(r.Type) || !utf8.ValidString(r.Data) {
					t.Errorf("invalid UTF-8 in %#v", r)
				}
			case ssetest.Comment:
				if strings.ContainsAny(r.Text, "\r\n") || !utf8.ValidString(r.Text) {
					t.Errorf("bad comment %q", r.Text)
				}
			case ssetest.Retry:
				if r.Delay < 0 {
					t.Errorf("negative retry %v", r.Delay)
				}
			default:
				t.Errorf("unknown record %#v", rec)
			}
		}
	})
}

func TestDecodeAll(t *testing.T) {
	recs, err := ssetest.DecodeAll([]byte("retry: 5\n: hi\nid: 1\ndata: a\n\n"))
	want := []ssetest.Record{ssetest.Retry{Delay: 5 * time.Millisecond}, ssetest.Comment{Text: "hi"}, ssetest.Event{ID: "1", Type: "message", Data: "a"}}
	if err != nil || !reflect.DeepEqual(recs, want) {
		t.Fatalf("DecodeAll = %#v, %v; want %#v", recs, err, want)
	}
	recs, err = ssetest.DecodeAll([]byte(": hi\ndata: cut"))
	if err != io.ErrUnexpectedEOF || !reflect.DeepEqual(recs, []ssetest.Record{ssetest.Comment{Text: "hi"}}) {
		t.Fatalf("DecodeAll of a cut event = %#v, %v; want the comment and io.ErrUnexpectedEOF", recs, err)
	}
}
