package pubsub

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// Earliest is a cursor value that asks for everything a broker still retains
// on the subscribed topics, without a gap notice.
const Earliest = "earliest"

// cursorVersion is the first byte of every encoded cursor.
const cursorVersion = 1

// maxCursorLen bounds the text form of a cursor: 1 version byte, 8 epoch
// bytes and a uvarint of at most 10 bytes, in unpadded base64url.
const maxCursorLen = ((1+8+binary.MaxVarintLen64)*8 + 5) / 6

// ErrMalformedCursor is returned by ParseCursor for text that is not a cursor.
var ErrMalformedCursor = errors.New("pubsub: malformed cursor")

// Cursor is a position in a broker's log. Epoch identifies the log (a broker
// instance, or a shared store) and Position counts the events of all topics
// of that log from 1.
//
// The text form is short, opaque and URL-safe (unpadded base64url, at most
// 26 characters), so browsers send it in Last-Event-ID without a CORS
// preflight.
type Cursor struct {
	Epoch    uint64
	Position uint64
}

// String returns the cursor's text form.
func (c Cursor) String() string {
	var raw [1 + 8 + binary.MaxVarintLen64]byte
	b := c.append(raw[:0])
	return base64.RawURLEncoding.EncodeToString(b)
}

// AppendText appends the cursor's text form to dst; it implements
// encoding.TextAppender.
func (c Cursor) AppendText(dst []byte) ([]byte, error) {
	var raw [1 + 8 + binary.MaxVarintLen64]byte
	b := c.append(raw[:0])
	return base64.RawURLEncoding.AppendEncode(dst, b), nil
}

func (c Cursor) append(b []byte) []byte {
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, c.Epoch)
	return binary.AppendUvarint(b, c.Position)
}

// ParseCursor parses the text form of a cursor. It returns an error wrapping
// ErrMalformedCursor when s is not one.
func ParseCursor(s string) (Cursor, error) {
	if len(s) == 0 || len(s) > maxCursorLen {
		return Cursor{}, fmt.Errorf("%w: length %d", ErrMalformedCursor, len(s))
	}
	var raw [1 + 8 + binary.MaxVarintLen64 + 2]byte
	n, err := base64.RawURLEncoding.Decode(raw[:], []byte(s))
	if err != nil {
		return Cursor{}, fmt.Errorf("%w: %v", ErrMalformedCursor, err)
	}
	b := raw[:n]
	if len(b) < 1+8+1 || b[0] != cursorVersion {
		return Cursor{}, fmt.Errorf("%w: unknown format", ErrMalformedCursor)
	}
	pos, k := binary.Uvarint(b[9:])
	if k <= 0 || 9+k != len(b) {
		return Cursor{}, fmt.Errorf("%w: bad position", ErrMalformedCursor)
	}
	c := Cursor{Epoch: binary.BigEndian.Uint64(b[1:9]), Position: pos}
	// Reject non-canonical encodings so that each cursor has one text form.
	var canonical [maxCursorLen]byte
	if b, _ := c.AppendText(canonical[:0]); string(b) != s {
		return Cursor{}, fmt.Errorf("%w: not canonical", ErrMalformedCursor)
	}
	return c, nil
}
