package bridge

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ssebridge/ssebridge/pubsub"
)

// GapEventType is the SSE event type of gap notices. It starts with
// pubsub.ReservedTypePrefix, so no published event can have it.
const GapEventType = pubsub.ReservedTypePrefix + "gap"

// AppendEvent appends one SSE event to dst and returns the extended slice:
//
//	id: <id>
//	event: <typ>          (only when typ is not empty)
//	data: <line>          (one per line of data)
//	<blank line>
//
// Data is split into lines at CRLF, CR and LF alike, so a client reads it
// back with every line break turned into LF, which is what the SSE
// specification does to any data. Empty data is written as one empty data
// line, so that the event is still dispatched.
//
// AppendEvent rejects what a client could not read back unchanged: an id,
// type or data that is not valid UTF-8, an id or type containing CR or LF,
// an id containing NUL (clients ignore such an id). It also rejects an
// empty id (every event must carry a resume position) and a type
// containing NUL. The error wraps ErrInvalidID, ErrInvalidEventType or
// ErrInvalidData, and dst is then returned unchanged.
func AppendEvent(dst []byte, id, typ, data string) ([]byte, error) {
	if err := checkIDAndType(id, typ); err != nil {
		return dst, err
	}
	if !utf8.ValidString(data) {
		return dst, fmt.Errorf("%w: not valid UTF-8", ErrInvalidData)
	}
	return appendEvent(dst, id, typ, data), nil
}

// checkIDAndType checks the id and type of an event as AppendEvent does.
func checkIDAndType(id, typ string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if typ != "" {
		if err := checkField(typ); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidEventType, err)
		}
	}
	return nil
}

// appendEvent writes a frame whose fields have been checked.
func appendEvent(dst []byte, id, typ, data string) []byte {
	dst = append(dst, "id: "...)
	dst = append(dst, id...)
	dst = append(dst, '\n')
	if typ != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, typ...)
		dst = append(dst, '\n')
	}
	for {
		dst = append(dst, "data: "...)
		i := lineEnd(data)
		if i < 0 {
			dst = append(dst, data...)
			dst = append(dst, '\n')
			break
		}
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(dst, '\n')
}

// lineEnd returns the index of the first CR or LF in s, or -1. Two
// IndexByte scans are much faster than one IndexAny on long lines.
func lineEnd(s string) int {
	lf := strings.IndexByte(s, '\n')
	if lf < 0 {
		return strings.IndexByte(s, '\r')
	}
	if cr := strings.IndexByte(s[:lf], '\r'); cr >= 0 {
		return cr
	}
	return lf
}

// AppendComment appends the comment line ": <text>" to dst and returns the
// extended slice. Clients ignore comments; the bridge sends them as
// heartbeats. A text containing CR or LF, or that is not valid UTF-8, is
// rejected with an error wrapping ErrInvalidComment, and dst is returned
// unchanged: a comment is never silently altered.
func AppendComment(dst []byte, text string) ([]byte, error) {
	if err := checkLine(text); err != nil {
		return dst, fmt.Errorf("%w: %v", ErrInvalidComment, err)
	}
	dst = append(dst, ": "...)
	dst = append(dst, text...)
	return append(dst, '\n'), nil
}

// AppendRetry appends a "retry: <milliseconds>" line and a blank line to
// dst and returns the extended slice. The field sets the client's
// reconnection delay. d is truncated to whole milliseconds; a negative d
// counts as zero.
func AppendRetry(dst []byte, d time.Duration) []byte {
	ms := max(d.Milliseconds(), 0)
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, "\n\n"...)
}

// SharedFrame returns EncodeEvent(e), computed once per event (in
// e.Wire.SSE) and shared by every subscriber. Callers must not modify the
// returned bytes. It is safe for concurrent use.
func SharedFrame(e *pubsub.Event) []byte {
	return e.Wire.SSE.Load(e, encodeShared).([]byte)
}

// encodeShared fills pubsub.Event.Wire.SSE with a []byte.
func encodeShared(e *pubsub.Event) any { return EncodeEvent(e) }

// EncodeEvent returns the SSE frame of e. For a published event the frame
// carries e.ID, e.Type and e.Data; get it through SharedFrame so that
// an event is encoded once and its bytes are shared by every subscriber. Data
// that is not valid UTF-8 is written with each invalid byte sequence
// replaced by U+FFFD, as a client would decode it anyway.
//
// For a gap notice (e.Gap set) the frame has id e.ID, event type
// GapEventType and one line of JSON data:
//
//	{"reason":"cursor_too_old","topics":["a","b"],"last_event_id":"<cursor sent>"}
//
// Gap notices belong to one subscriber: encode them directly, not through
// SharedFrame.
//
// EncodeEvent returns nil when e cannot be represented: an empty ID, or an
// ID or type that AppendEvent rejects. Brokers never deliver such events.
// EncodeEvent is safe for concurrent use.
func EncodeEvent(e *pubsub.Event) []byte {
	var dst []byte
	if e.Gap == nil {
		// One allocation of the exact size: the frame is kept as long
		// as the event.
		dst = make([]byte, 0, frameSize(e.ID, e.Type, e.Data))
	}
	b, err := appendPubsubEvent(dst, e)
	if err != nil {
		return nil
	}
	return b
}

// frameSize returns the length of the frame appendEvent writes for id,
// typ and data, or a little more when data holds CRLF line breaks.
func frameSize(id, typ, data string) int {
	n := len("id: \n") + len(id) + len(data) + len("\n")
	if typ != "" {
		n += len("event: \n") + len(typ)
	}
	lines := 1 + strings.Count(data, "\n") + strings.Count(data, "\r")
	return n + lines*len("data: \n")
}

// appendPubsubEvent appends the frame of e to dst, as EncodeEvent
// describes. On error dst is returned unchanged.
func appendPubsubEvent(dst []byte, e *pubsub.Event) ([]byte, error) {
	if e.Gap != nil {
		return AppendEvent(dst, e.ID, GapEventType, gapData(e.Gap))
	}
	if err := checkIDAndType(e.ID, e.Type); err != nil {
		return dst, err
	}
	data := e.Data
	if !utf8.ValidString(data) {
		data = strings.ToValidUTF8(data, "\uFFFD")
	}
	return appendEvent(dst, e.ID, e.Type, data), nil
}

// gapNotice is the data of a gap notice, one line of JSON.
type gapNotice struct {
	Reason      string   `json:"reason"`
	Topics      []string `json:"topics"`
	LastEventID string   `json:"last_event_id"`
}

func gapData(g *pubsub.Gap) string {
	n := gapNotice{Reason: g.Reason.String(), Topics: g.Topics, LastEventID: g.LastEventID}
	if n.Topics == nil {
		n.Topics = []string{}
	}
	// Marshal never fails for strings, and never emits a raw line break:
	// it escapes control characters and replaces invalid UTF-8.
	b, _ := json.Marshal(n)
	return string(b)
}

func checkID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidID)
	}
	if err := checkField(id); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidID, err)
	}
	return nil
}

// checkField checks the value of an id or event field.
func checkField(s string) error {
	if err := checkLine(s); err != nil {
		return err
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Errorf("NUL at byte %d", i)
	}
	return nil
}

// checkLine checks that s fits on one line of an event stream.
func checkLine(s string) error {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return fmt.Errorf("line break %q at byte %d", s[i], i)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	return nil
}
