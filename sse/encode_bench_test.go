package sse_test

import (
	"strings"
	"testing"

	"github.com/ssebridge/ssebridge/sse"
)

func BenchmarkAppendEvent(b *testing.B) {
	const id, typ = "AQAAAAAAAAAqAQ", "created"
	for _, lines := range []int{1, 8} {
		data := benchData(lines)
		b.Run(map[int]string{1: "data=256B", 8: "data=256B-8lines"}[lines], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			buf := make([]byte, 0, 1024)
			for b.Loop() {
				var err error
				if buf, err = sse.AppendEvent(buf[:0], id, typ, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchData is 256 bytes of JSON-like data in dataLines lines.
func benchData(dataLines int) string {
	line := `{"order":42,"status":"created","items":[1,2,3]}`
	data := strings.Repeat(line, 256/len(line)+1)[:256]
	if dataLines > 1 {
		data = strings.TrimSuffix(strings.Repeat(data[:256/dataLines]+"\n", dataLines), "\n")
	}
	return data
}
