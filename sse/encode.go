package sse

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// AppendEvent appends one event to dst and returns the extended slice:
//
//	id: <id>              (only when id is not empty)
//	event: <typ>          (only when typ is not empty)
//	data: <line>          (one per line of data)
//	<blank line>
//
// An event without id leaves the client's last event ID as it was (an
// empty "id:" line would reset it), so it cannot be resumed from.
//
// Data is split into lines at CRLF, CR and LF alike, so a client reads it
// back with every line break turned into LF, which is what the SSE
// specification does to any data. Empty data is written as one empty data
// line, so that the event is still dispatched.
//
// AppendEvent rejects what a client could not read back unchanged: an id,
// type or data that is not valid UTF-8, an id or type containing CR or LF,
// an id containing NUL (clients ignore such an id). It also rejects a type
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
	if id != "" {
		if err := checkField(id); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidID, err)
		}
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
	if id != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
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

// frameSize returns the length of the frame appendEvent writes for id,
// typ and data, or a little more when data holds CRLF line breaks.
func frameSize(id, typ, data string) int {
	n := len(data) + len("\n")
	if id != "" {
		n += len("id: \n") + len(id)
	}
	if typ != "" {
		n += len("event: \n") + len(typ)
	}
	lines := 1 + strings.Count(data, "\n") + strings.Count(data, "\r")
	return n + lines*len("data: \n")
}

// AppendComment appends the comment line ": <text>" to dst and returns the
// extended slice. Clients ignore comments; the Server sends them as
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
