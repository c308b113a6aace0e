package file

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"
)

// A segment is a header followed by frames. A frame is the length of its
// payload (uint32, little-endian), the CRC-32C of the payload, and the
// payload: a kind byte, then the kind's fields as unsigned varints (ints
// zig-zag) and strings (a varint length and the bytes).
//
//	kindEvent:  position, sequence, time (Unix ns), topic, type, data, idempotency key
//	kindTopic:  name, sequence, floor, last position (a topic's state when a segment starts)
const (
	frameHeader = 8
	// maxPayload bounds a frame's length: a larger one is a corrupt
	// length, not an event (events are at most pubsub's data limit).
	maxPayload = 16 << 20
)

type kind byte

const (
	kindEvent kind = 1
	kindTopic kind = 2
)

// record is one frame's payload.
type record struct {
	kind kind
	// kindEvent
	pos, seq             uint64
	at                   int64
	topic, typ, data, ik string
	// kindTopic: topic is the name, seq the sequence; floor and pos (the
	// last position).
	floor uint64
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt is a frame that does not decode: a torn or damaged write.
var errCorrupt = errors.New("file: corrupt record")

// appendFrame appends r's frame to dst.
func appendFrame(dst []byte, r *record) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	dst = append(dst, byte(r.kind))
	switch r.kind {
	case kindEvent:
		dst = binary.AppendUvarint(dst, r.pos)
		dst = binary.AppendUvarint(dst, r.seq)
		dst = binary.AppendVarint(dst, r.at)
		dst = appendString(dst, r.topic)
		dst = appendString(dst, r.typ)
		dst = appendString(dst, r.data)
		dst = appendString(dst, r.ik)
	case kindTopic:
		dst = appendString(dst, r.topic)
		dst = binary.AppendUvarint(dst, r.seq)
		dst = binary.AppendUvarint(dst, r.floor)
		dst = binary.AppendUvarint(dst, r.pos)
	}
	payload := dst[start+frameHeader:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// frameLen returns the length of the frame at the start of b, from its
// header, or an error when b is too short to tell or the length is
// impossible.
func frameLen(b []byte) (int, error) {
	if len(b) < frameHeader {
		return 0, errCorrupt
	}
	n := binary.LittleEndian.Uint32(b)
	if n == 0 || n > maxPayload {
		return 0, errCorrupt
	}
	return frameHeader + int(n), nil
}

// decodeFrame decodes the frame that is exactly b.
func decodeFrame(b []byte) (record, error) {
	n, err := frameLen(b)
	if err != nil || n != len(b) {
		return record{}, errCorrupt
	}
	payload := b[frameHeader:]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return record{}, errCorrupt
	}
	d := decoder{b: payload[1:]}
	r := record{kind: kind(payload[0])}
	switch r.kind {
	case kindEvent:
		r.pos, r.seq, r.at = d.uvarint(), d.uvarint(), d.varint()
		r.topic, r.typ, r.data, r.ik = d.string(), d.string(), d.string(), d.string()
	case kindTopic:
		r.topic = d.string()
		r.seq, r.floor, r.pos = d.uvarint(), d.uvarint(), d.uvarint()
	default:
		return record{}, errCorrupt
	}
	if d.err || len(d.b) != 0 {
		return record{}, errCorrupt
	}
	return r, nil
}

// decoder reads fields from b; err is set once a field does not decode.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err || n > uint64(len(d.b)) {
		d.err, d.b = true, nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// eventTime is r's time.
func (r *record) eventTime() time.Time { return time.Unix(0, r.at) }
