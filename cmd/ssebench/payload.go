package main

import (
	"errors"
	"strconv"
	"time"
)

// The data of every event the tool publishes starts with three decimal
// numbers and is padded with 'x' to the requested size:
//
//	<publisher> <sequence> <send time> xxxx...
//
// The publisher numbers the tool's publishers from 0, the sequence numbers
// one publisher's events on one topic from 1, and the send time is
// nanoseconds since the tool's clock started, read just before the
// publish call, so that a receipt yields the end-to-end latency.
//
// minPayloadSize is the smallest --size that fits the three numbers.
const minPayloadSize = 48

var errBadPayload = errors.New("ssebench: event data is not a bench payload")

// appendPayload appends the data of one event of size bytes to dst; size
// is at least minPayloadSize.
func appendPayload(dst []byte, size int, publisher int, seq uint64, sent time.Duration) []byte {
	start := len(dst)
	dst = strconv.AppendInt(dst, int64(publisher), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(sent), 10)
	dst = append(dst, ' ')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// parsePayload reads the three numbers at the start of data.
func parsePayload(data []byte) (publisher int, seq uint64, sent time.Duration, err error) {
	var v [3]uint64
	for i := range v {
		n, rest, ok := parseUint(data)
		if !ok || len(rest) == 0 || rest[0] != ' ' {
			return 0, 0, 0, errBadPayload
		}
		v[i], data = n, rest[1:]
	}
	if v[0] > 1<<16 || v[2] > 1<<62 {
		return 0, 0, 0, errBadPayload
	}
	return int(v[0]), v[1], time.Duration(v[2]), nil
}

// parseUint parses the decimal digits at the start of b.
func parseUint(b []byte) (n uint64, rest []byte, ok bool) {
	i := 0
	for ; i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + uint64(b[i]-'0')
	}
	return n, b[i:], i > 0
}
