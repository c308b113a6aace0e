package ssetest

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Record is one thing a Decoder reads from an event stream: an Event, a
// Comment or a Retry.
type Record interface{ isRecord() }

// Event is a dispatched event.
type Event struct {
	// ID is the last event ID when the event was dispatched: the value of
	// the latest id field of the stream so far, not necessarily one sent
	// with this event.
	ID string
	// Type is the event type; "message" when the event had none.
	Type string
	// Data is the event's data, lines joined with LF.
	Data string
}

// Comment is a comment line: the text after the colon, one leading space
// removed.
type Comment struct {
	Text string
}

// Retry is a valid retry field: the reconnection delay the server asked
// for.
type Retry struct {
	Delay time.Duration
}

func (Event) isRecord()   {}
func (Comment) isRecord() {}
func (Retry) isRecord()   {}

// Decoder reads an event stream as the WHATWG HTML standard's "interpreting
// an event stream" section says a client does: UTF-8 decoding with
// replacement characters, one leading BOM removed, lines ended by CRLF, LF
// or CR, fields split at the first colon with one leading space removed
// from the value, data lines joined with LF, events without data not
// dispatched, ids containing NUL ignored, the last event ID kept across
// events, retry used only when made of ASCII digits, and an incomplete
// event at the end of the stream discarded.
//
// It is independent of package bridge's encoder, so that each checks the
// other. A Decoder is for one goroutine.
type Decoder struct {
	r *bufio.Reader

	line    []byte
	started bool // a line has been read (the BOM is only stripped from the first)
	afterCR bool // the previous line ended with CR: an LF now is part of its end

	data        []byte
	eventType   string
	idBuffer    string
	lastEventID string
	inEvent     bool // a field line has been read since the last blank line
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: bufio.NewReader(r)}
}

// LastEventID returns the last event ID of the stream as of the last
// dispatch point (blank line): what a client sends in Last-Event-ID when
// it reconnects.
func (d *Decoder) LastEventID() string { return d.lastEventID }

// Next returns the next record of the stream. At the end of the stream it
// returns io.EOF, or io.ErrUnexpectedEOF when the stream ended inside a
// line or an event (which is discarded). Other errors are the reader's.
func (d *Decoder) Next() (Record, error) {
	for {
		line, err := d.readLine()
		if err != nil {
			if err == io.EOF && (len(d.line) > 0 || d.inEvent) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if rec := d.processLine(line); rec != nil {
			return rec, nil
		}
	}
}

// readLine returns the next complete line, without its end, decoded from
// UTF-8.
func (d *Decoder) readLine() (string, error) {
	d.line = d.line[:0]
	for {
		b, err := d.r.ReadByte()
		if err != nil {
			return "", err
		}
		if d.afterCR {
			d.afterCR = false
			if b == '\n' {
				continue
			}
		}
		switch b {
		case '\r':
			d.afterCR = true
		case '\n':
		default:
			d.line = append(d.line, b)
			continue
		}
		line := d.line
		if !d.started {
			d.started = true
			line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
		}
		return decodeUTF8(line), nil
	}
}

// processLine interprets one line and returns the record it completes, if
// any.
func (d *Decoder) processLine(line string) Record {
	if line == "" {
		return d.dispatch()
	}
	if text, ok := strings.CutPrefix(line, ":"); ok {
		return Comment{Text: strings.TrimPrefix(text, " ")}
	}
	d.inEvent = true
	field, value, found := strings.Cut(line, ":")
	if found {
		value = strings.TrimPrefix(value, " ")
	}
	switch field {
	case "event":
		d.eventType = value
	case "data":
		d.data = append(d.data, value...)
		d.data = append(d.data, '\n')
	case "id":
		if !strings.ContainsRune(value, 0) {
			d.idBuffer = value
		}
	case "retry":
		if delay, ok := parseRetry(value); ok {
			return Retry{Delay: delay}
		}
	}
	return nil
}

// dispatch ends an event at a blank line.
func (d *Decoder) dispatch() Record {
	d.inEvent = false
	d.lastEventID = d.idBuffer
	if len(d.data) == 0 {
		d.eventType = ""
		return nil
	}
	e := Event{
		ID:   d.lastEventID,
		Type: d.eventType,
		Data: string(bytes.TrimSuffix(d.data, []byte("\n"))),
	}
	if e.Type == "" {
		e.Type = "message"
	}
	d.data = d.data[:0]
	d.eventType = ""
	return e
}

// parseRetry parses a retry value: one or more ASCII digits, milliseconds.
// Values too large for a time.Duration saturate.
func parseRetry(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	var ms uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms > math.MaxInt64/uint64(time.Millisecond)/10 {
			ms = math.MaxInt64 / uint64(time.Millisecond)
			continue
		}
		ms = min(ms*10+uint64(c-'0'), math.MaxInt64/uint64(time.Millisecond))
	}
	return time.Duration(ms) * time.Millisecond, true
}

// decodeUTF8 decodes b as the WHATWG Encoding standard's UTF-8 decoder
// does: each maximal invalid subsequence becomes one U+FFFD. (Go's own
// conversions differ: they replace each invalid byte.)
func decodeUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var out strings.Builder
	var (
		needed, seen int
		cp           rune
		lower, upper byte = 0x80, 0xBF
	)
	for i := 0; i < len(b); i++ {
		c := b[i]
		if needed == 0 {
			switch {
			case c <= 0x7F:
				out.WriteByte(c)
			case 0xC2 <= c && c <= 0xDF:
				needed, cp = 1, rune(c&0x1F)
			case 0xE0 <= c && c <= 0xEF:
				if c == 0xE0 {
					lower = 0xA0
				} else if c == 0xED {
					upper = 0x9F
				}
				needed, cp = 2, rune(c&0x0F)
			case 0xF0 <= c && c <= 0xF4:
				if c == 0xF0 {
					lower = 0x90
				} else if c == 0xF4 {
					upper = 0x8F
				}
				needed, cp = 3, rune(c&0x07)
			default:
				out.WriteRune(utf8.RuneError)
			}
			continue
		}
		if c < lower || c > upper {
			// Error: the sequence so far is one replacement character,
			// and c is processed again as the start of the next one.
			needed, seen, cp = 0, 0, 0
			lower, upper = 0x80, 0xBF
			out.WriteRune(utf8.RuneError)
			i--
			continue
		}
		lower, upper = 0x80, 0xBF
		cp = cp<<6 | rune(c&0x3F)
		seen++
		if seen == needed {
			out.WriteRune(cp)
			needed, seen, cp = 0, 0, 0
		}
	}
	if needed != 0 {
		out.WriteRune(utf8.RuneError)
	}
	return out.String()
}

// DecodeAll decodes a whole stream and returns its records. The error is
// that of Next other than io.EOF: io.ErrUnexpectedEOF for a stream that
// ends inside a line or an event; the records before it are returned too.
func DecodeAll(stream []byte) ([]Record, error) {
	d := NewDecoder(bytes.NewReader(stream))
	var recs []Record
	for {
		rec, err := d.Next()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
}
