package file

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// formatVersion is the version of the segment format this code writes
// and reads; a segment of a higher one is refused.
const formatVersion = 1

// segmentMagic starts every segment file.
const segmentMagic = "SSEBLOG\n"

// headerSize is the size of a segment's header: the magic, the format
// version (uint32), the CRC-32C of the rest, the log's epoch, the log's
// head when the segment was started and the highest floor of the topics
// removed by then (uint64 each, little-endian).
const headerSize = 8 + 4 + 4 + 8 + 8 + 8

// header is what a segment's header says.
type header struct {
	version          uint32
	epoch, base, col uint64
}

// errNewerFormat refuses a directory written by a newer ssebridge.
var errNewerFormat = errors.New("file: the data directory was written by a newer ssebridge")

// segment is one file of the log: a header, then frames in the order
// they were written.
type segment struct {
	id   uint64 // its name's number; segments are written in id order
	path string
	f    *os.File
	hdr  header
	// size is the bytes of the header and valid frames; moved under the
	// broker's lock by the writer goroutine, which alone writes frames.
	size int64

	// live counts the retained events whose frames are here; idemUntil is
	// the latest end (Unix ns) of an idempotency window of an event here.
	// A segment that is not the newest goes once both have passed.
	live      int
	liveBytes int64
	idemUntil int64
}

func segmentPath(dir string, id uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d.seg", id))
}

// listSegments returns the ids of dir's segments, in order.
func listSegments(dir string) ([]uint64, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, n := range names { // Glob sorts, and the names are zero-padded
		id, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(n), ".seg"), 10, 64)
		if err == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// createSegment writes a new segment with its header and the frames
// first (the topics' state), syncs it and the directory, and returns it
// open for appending.
func createSegment(dir string, id uint64, h header, first []byte) (*segment, error) {
	path := segmentPath(dir, id)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	s := &segment{id: id, path: path, f: f, hdr: h}
	buf := append(encodeHeader(h), first...)
	if _, err := f.Write(buf); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	s.size = int64(len(buf))
	return s, nil
}

func encodeHeader(h header) []byte {
	b := make([]byte, headerSize)
	copy(b, segmentMagic)
	binary.LittleEndian.PutUint32(b[8:], formatVersion)
	binary.LittleEndian.PutUint64(b[16:], h.epoch)
	binary.LittleEndian.PutUint64(b[24:], h.base)
	binary.LittleEndian.PutUint64(b[32:], h.col)
	binary.LittleEndian.PutUint32(b[12:], crc32.Checksum(b[16:], castagnoli))
	return b
}

// errBadHeader is a segment whose header is torn or not a segment's.
var errBadHeader = errors.New("file: bad segment header")

func decodeHeader(b []byte) (header, error) {
	if len(b) < headerSize || string(b[:8]) != segmentMagic {
		return header{}, errBadHeader
	}
	h := header{version: binary.LittleEndian.Uint32(b[8:])}
	if h.version > formatVersion {
		return h, fmt.Errorf("%w (format %d; this one reads format %d and older)", errNewerFormat, h.version, formatVersion)
	}
	if crc32.Checksum(b[16:headerSize], castagnoli) != binary.LittleEndian.Uint32(b[12:]) {
		return header{}, errBadHeader
	}
	h.epoch = binary.LittleEndian.Uint64(b[16:])
	h.base = binary.LittleEndian.Uint64(b[24:])
	h.col = binary.LittleEndian.Uint64(b[32:])
	return h, nil
}

// openSegment opens the segment id of dir and reads its header.
func openSegment(dir string, id uint64) (*segment, error) {
	path := segmentPath(dir, id)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	b := make([]byte, headerSize)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, err
	}
	h, err := decodeHeader(b[:n])
	if err != nil {
		f.Close()
		return nil, err
	}
	return &segment{id: id, path: path, f: f, hdr: h, size: headerSize}, nil
}

// scan calls fn for each valid frame after the header, with its offset
// and size, and returns the offset where the valid frames end: the
// segment's length unless its tail is torn or corrupt.
func (s *segment) scan(fn func(r *record, off int64, size int)) (int64, error) {
	if _, err := s.f.Seek(headerSize, io.SeekStart); err != nil {
		return 0, err
	}
	br := bufio.NewReaderSize(s.f, 1<<20)
	off := int64(headerSize)
	buf := make([]byte, 64<<10)
	for {
		head, err := br.Peek(frameHeader)
		if err != nil {
			return off, nil // the end, or a torn frame header
		}
		n, err := frameLen(head)
		if err != nil {
			return off, nil
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		b := buf[:n]
		if _, err := io.ReadFull(br, b); err != nil {
			return off, nil // a torn frame
		}
		r, err := decodeFrame(b)
		if err != nil {
			return off, nil
		}
		fn(&r, off, n)
		off += int64(n)
	}
}

// truncate drops what follows off.
func (s *segment) truncate(off int64) error {
	if err := s.f.Truncate(off); err != nil {
		return err
	}
	s.size = off
	return s.f.Sync()
}

// writeAt writes b at off, past the segment's frames. On error it cuts
// the file back to off, so that no partial frame stays. The caller moves
// size, under the broker's lock (metrics read it).
func (s *segment) writeAt(b []byte, off int64) error {
	if _, err := s.f.WriteAt(b, off); err != nil {
		if terr := s.f.Truncate(off); terr != nil {
			return errors.Join(err, terr)
		}
		return err
	}
	return nil
}

// remove closes and deletes the segment.
func (s *segment) remove() error {
	return errors.Join(s.f.Close(), os.Remove(s.path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
