package main

import (
	"bytes"
	"errors"
)

// maxLineBytes bounds one line of an event stream, and the data of one
// event, so that a misbehaving server cannot make the tool grow without
// bound.
const maxLineBytes = 4 << 20

var errLineTooLong = errors.New("ssebench: event stream line too long")

// eventSink receives what a streamParser reads. The slices are only valid
// during the call.
type eventSink interface {
	// event is called for each dispatched event. id is the last event ID
	// of the stream, typ is empty for the default type ("message").
	event(id, typ, data []byte)
	// comment is called for each comment line, with the text after the
	// colon and one space.
	comment(text []byte)
}

// streamParser interprets an event stream incrementally, as the WHATWG HTML
// standard says a client does: one leading BOM removed, lines ended by
// CRLF, LF or CR (also across reads), fields split at the first colon with
// one leading space removed from the value, data lines joined with LF,
// events without data not dispatched, ids containing NUL ignored, the last
// event ID kept across events. It hands bytes through as they arrived and
// does not decode UTF-8: the tool reads numbers. retry fields are ignored.
//
// It scans for line ends with bytes.IndexByte and copies only data lines,
// so it keeps up with a server on the same machine. A streamParser is for
// one goroutine.
type streamParser struct {
	sink eventSink

	partial []byte // the start of a line that continues in the next feed
	started bool   // a line has been read: the BOM is only stripped from the first
	afterCR bool   // the last line ended with CR: an LF now belongs to it

	data []byte
	typ  []byte
	id   []byte
}

// feed parses the next bytes of the stream.
func (p *streamParser) feed(b []byte) error {
	for len(b) > 0 {
		if p.afterCR {
			p.afterCR = false
			if b[0] == '\n' {
				b = b[1:]
				continue
			}
		}
		end := bytes.IndexByte(b, '\n')
		var cr int
		if end < 0 {
			cr = bytes.IndexByte(b, '\r')
		} else {
			cr = bytes.IndexByte(b[:end], '\r')
		}
		if cr >= 0 {
			end = cr
		}
		if end < 0 {
			if len(p.partial)+len(b) > maxLineBytes {
				return errLineTooLong
			}
			p.partial = append(p.partial, b...)
			return nil
		}
		line := b[:end]
		if len(p.partial) > 0 {
			if len(p.partial)+len(line) > maxLineBytes {
				return errLineTooLong
			}
			p.partial = append(p.partial, line...)
			line = p.partial
		}
		p.afterCR = b[end] == '\r'
		b = b[end+1:]
		if !p.started {
			p.started = true
			line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
		}
		if err := p.line(line); err != nil {
			return err
		}
		p.partial = p.partial[:0]
	}
	return nil
}

// line interprets one complete line.
func (p *streamParser) line(l []byte) error {
	if len(l) == 0 {
		p.dispatch()
		return nil
	}
	if l[0] == ':' {
		text := l[1:]
		if len(text) > 0 && text[0] == ' ' {
			text = text[1:]
		}
		p.sink.comment(text)
		return nil
	}
	field, value := l, []byte(nil)
	if i := bytes.IndexByte(l, ':'); i >= 0 {
		field, value = l[:i], l[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "data":
		if len(p.data)+len(value)+1 > maxLineBytes {
			return errLineTooLong
		}
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
	case "event":
		p.typ = append(p.typ[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.id = append(p.id[:0], value...)
		}
	}
	return nil
}

// dispatch ends an event at a blank line.
func (p *streamParser) dispatch() {
	if len(p.data) == 0 {
		p.typ = p.typ[:0]
		return
	}
	p.sink.event(p.id, p.typ, p.data[:len(p.data)-1])
	p.data = p.data[:0]
	p.typ = p.typ[:0]
}
