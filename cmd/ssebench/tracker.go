package main

// windowBits is how many recent sequence numbers a seqTracker remembers,
// to tell a duplicate from a late arrival.
const windowBits = 1024

// seqTracker follows the sequence numbers one subscriber receives from one
// publisher on one topic. The hub delivers the events of one publisher in
// the order it published them, with numbers 1, 2, 3...; the tracker counts
// what arrives otherwise. A number below the highest seen is a duplicate
// when it was already received within the last windowBits numbers, and
// out of order otherwise (a late arrival; one older than the window is
// counted out of order but not as unique, since it cannot be told from a
// duplicate).
type seqTracker struct {
	next       uint64 // highest number received + 1
	seen       [windowBits / 64]uint64
	unique     uint64
	duplicated uint64
	outOfOrder uint64
}

func newSeqTracker() *seqTracker { return &seqTracker{next: 1} }

func (t *seqTracker) bit(seq uint64) (word int, mask uint64) {
	i := seq % windowBits
	return int(i / 64), 1 << (i % 64)
}

// add records the arrival of seq (numbered from 1).
func (t *seqTracker) add(seq uint64) {
	switch {
	case seq >= t.next:
		// Forget the window slots of the numbers skipped, then mark seq.
		if seq-t.next >= windowBits {
			t.seen = [windowBits / 64]uint64{}
		} else {
			for s := t.next; s < seq; s++ {
				w, m := t.bit(s)
				t.seen[w] &^= m
			}
		}
		w, m := t.bit(seq)
		t.seen[w] |= m
		t.next = seq + 1
		t.unique++
	case t.next-seq > windowBits || seq == 0:
		t.outOfOrder++
	default:
		w, m := t.bit(seq)
		if t.seen[w]&m != 0 {
			t.duplicated++
			return
		}
		t.seen[w] |= m
		t.unique++
		t.outOfOrder++
	}
}
