package main

import (
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ssebridge/ssebridge/internal/ssetest"
)

// recorder is an eventSink that keeps what it is given, in the form of
// ssetest's records.
type recorder struct{ records []ssetest.Record }

func (r *recorder) event(id, typ, data []byte) {
	t := string(typ)
	if t == "" {
		t = "message"
	}
	r.records = append(r.records, ssetest.Event{ID: string(id), Type: t, Data: string(data)})
}

func (r *recorder) comment(text []byte) {
	r.records = append(r.records, ssetest.Comment{Text: string(text)})
}

// decodeAll reads a stream with ssetest's reference decoder, leaving out
// retry records, which the tool ignores.
func decodeAll(t *testing.T, stream string) []ssetest.Record {
	t.Helper()
	d := ssetest.NewDecoder(strings.NewReader(stream))
	var out []ssetest.Record
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := rec.(ssetest.Retry); !ok {
			out = append(out, rec)
		}
	}
}

// parseInPieces feeds stream to a streamParser cut at random places.
func parseInPieces(t *testing.T, r *rand.Rand, stream string) []ssetest.Record {
	t.Helper()
	rec := &recorder{}
	p := streamParser{sink: rec}
	b := []byte(stream)
	for len(b) > 0 {
		n := min(1+r.IntN(40), len(b))
		if err := p.feed(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	return rec.records
}

func TestParserMatchesReferenceDecoder(t *testing.T) {
	fixed := []string{
		"id: 1\ndata: a\n\n",
		"\xEF\xBB\xBFdata: bom\n\n",
		"data: a\r\ndata: b\r\rdata:c\rdata\n\n",
		": comment\n:no space\nevent: x\ndata: typed\n\n",
		"id: a\x00b\ndata: nul id ignored\n\nid\ndata: empty id\n\n",
		"event: no data\n\ndata: after\n\n",
		"data: incomplete at the end",
		"retry: 10\ndata:  two spaces\nfield without colon\n\n",
		"data: é ü 日本\n\n",
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, stream := range fixed {
		want := decodeAll(t, stream)
		for range 20 {
			if got := parseInPieces(t, r, stream); !equalRecords(got, want) {
				t.Fatalf("stream %q:\n got %#v\nwant %#v", stream, got, want)
			}
		}
	}
	// Random streams of the pieces an event stream is made of.
	pieces := []string{"data", "data:", "data: ", "id: ", "id", "event: ", ":", ": hb", "retry: 5",
		"x", "é", " ", "\n", "\r", "\r\n", "\n\n", "\x00", "\xEF\xBB\xBF", "1 2 3 xx"}
	for i := range 2000 {
		var sb strings.Builder
		for range r.IntN(60) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		stream := sb.String()
		want := decodeAll(t, stream)
		if got := parseInPieces(t, r, stream); !equalRecords(got, want) {
			t.Fatalf("random stream %d %q:\n got %#v\nwant %#v", i, stream, got, want)
		}
	}
}

func equalRecords(a, b []ssetest.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParserBoundsLines(t *testing.T) {
	p := streamParser{sink: &recorder{}}
	chunk := []byte(strings.Repeat("x", 1<<20))
	var err error
	for i := 0; i < 8 && err == nil; i++ {
		err = p.feed(chunk)
	}
	if !errors.Is(err, errLineTooLong) {
		t.Fatalf("an endless line gave %v, want errLineTooLong", err)
	}
}
