package memory

import (
	"time"

	"github.com/ssebridge/ssebridge/pubsub"
)

// entry is one retained event and its position in the hub's log.
type entry struct {
	pos uint64
	ev  *pubsub.Event
}

// history is a topic's retained events, oldest first, as a ring that grows
// up to its limit. It is guarded by the hub's lock.
type history struct {
	buf   []entry
	start int // index of the oldest entry in buf
	n     int // number of entries
	limit int
}

func (h *history) len() int { return h.n }

func (h *history) at(i int) entry { return h.buf[(h.start+i)%len(h.buf)] }

// push appends e and, when the history is full, drops the oldest entry and
// returns it with ok set.
func (h *history) push(e entry) (dropped entry, ok bool) {
	if h.limit <= 0 {
		return e, true
	}
	if h.n < len(h.buf) {
		h.buf[(h.start+h.n)%len(h.buf)] = e
		h.n++
		return entry{}, false
	}
	if len(h.buf) < h.limit {
		// Grow: unroll into a larger slice, doubling up to the limit.
		size := max(8, 2*len(h.buf))
		size = min(size, h.limit)
		buf := make([]entry, size)
		for i := 0; i < h.n; i++ {
			buf[i] = h.at(i)
		}
		h.buf, h.start = buf, 0
		h.buf[h.n] = e
		h.n++
		return entry{}, false
	}
	dropped = h.buf[h.start]
	h.buf[h.start] = e
	h.start = (h.start + 1) % len(h.buf)
	return dropped, true
}

// dropBefore drops the entries published before t and returns the position
// of the newest one dropped, or 0.
func (h *history) dropBefore(t time.Time) uint64 {
	var floor uint64
	for h.n > 0 {
		e := h.buf[h.start]
		if !e.ev.Time.Before(t) {
			break
		}
		floor = e.pos
		h.buf[h.start] = entry{}
		h.start = (h.start + 1) % len(h.buf)
		h.n--
	}
	if h.n == 0 {
		h.buf, h.start = nil, 0
	}
	return floor
}

// after appends to dst the entries with a position greater than pos.
func (h *history) after(dst []entry, pos uint64) []entry {
	// Positions increase along the ring: skip the old ones by binary search.
	lo, hi := 0, h.n
	for lo < hi {
		mid := (lo + hi) / 2
		if h.at(mid).pos <= pos {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	for i := lo; i < h.n; i++ {
		dst = append(dst, h.at(i))
	}
	return dst
}

// last returns the newest entry.
func (h *history) last() (entry, bool) {
	if h.n == 0 {
		return entry{}, false
	}
	return h.at(h.n - 1), true
}
