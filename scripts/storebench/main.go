// Command storebench compares three ways of making a broker's appends
// durable, as issue 12 asks before choosing one: a segment log of our own
// (one writer goroutine, one write and one fdatasync per group of
// concurrent appends), bbolt (DB.Batch: concurrent updates in one
// transaction) and Pebble (concurrent batches committed with Sync: its
// WAL groups the syncs). Each of W goroutines appends batches of B
// records of S bytes, each waiting until its batch is durable, for D
// seconds; it prints records/s and commits per second (the segment log's fsyncs,
// bbolt's transactions, each two fdatasyncs, Pebble's batches).
//
// It is a module of its own so that the candidates are no dependencies of
// ssebridge:
//
//	cd scripts/storebench && go run . -dir /tmp/storebench -d 5s
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"log"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	bolt "go.etcd.io/bbolt"
)

type store interface {
	// append makes recs durable, at positions from first on.
	append(first uint64, recs [][]byte) error
	syncs() int64
	close() error
}

func main() {
	dir := flag.String("dir", "/tmp/storebench", "directory for the stores (emptied)")
	d := flag.Duration("d", 5*time.Second, "duration of each run")
	size := flag.Int("size", 256, "record size in bytes")
	flag.Parse()
	fmt.Printf("%-8s %8s %6s %14s %10s\n", "store", "writers", "batch", "records/s", "commits/s")
	for _, w := range []int{1, 8, 64} {
		for _, b := range []int{1, 64} {
			for _, name := range []string{"seglog", "bbolt", "pebble"} {
				os.RemoveAll(*dir)
				os.MkdirAll(*dir, 0o755)
				st, err := open(name, filepath.Join(*dir, name))
				if err != nil {
					log.Fatal(err)
				}
				n, elapsed := run(st, w, b, *size, *d)
				fmt.Printf("%-8s %8d %6d %14.0f %10.0f\n", name, w, b, float64(n)/elapsed.Seconds(), float64(st.syncs())/elapsed.Seconds())
				st.close()
			}
		}
	}
}

func open(name, path string) (store, error) {
	switch name {
	case "seglog":
		return openSeg(path)
	case "bbolt":
		return openBolt(path)
	default:
		return openPebble(path)
	}
}

func run(st store, writers, batch, size int, d time.Duration) (int64, time.Duration) {
	var pos atomic.Uint64
	var n atomic.Int64
	stop := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs := make([][]byte, batch)
			for i := range recs {
				recs[i] = make([]byte, size)
			}
			for time.Now().Before(stop) {
				first := pos.Add(uint64(batch)) - uint64(batch) + 1
				if err := st.append(first, recs); err != nil {
					log.Fatal(err)
				}
				n.Add(int64(batch))
			}
		}()
	}
	wg.Wait()
	return n.Load(), time.Since(start)
}

// seg: one file, one writer goroutine taking every waiting request.
type seg struct {
	f     *os.File
	reqs  chan segReq
	nsync atomic.Int64
	done  chan struct{}
}

type segReq struct {
	first uint64
	recs  [][]byte
	ack   chan error
}

func openSeg(path string) (*seg, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	s := &seg{f: f, reqs: make(chan segReq, 1024), done: make(chan struct{})}
	go s.write()
	return s, nil
}

func (s *seg) write() {
	defer close(s.done)
	var buf []byte
	for r := range s.reqs {
		group := []segReq{r}
	more:
		for {
			select {
			case r2, ok := <-s.reqs:
				if !ok {
					break more
				}
				group = append(group, r2)
			default:
				break more
			}
		}
		buf = buf[:0]
		for _, g := range group {
			for i, rec := range g.recs {
				var h [16]byte
				binary.LittleEndian.PutUint32(h[0:], uint32(len(rec)+8))
				binary.LittleEndian.PutUint64(h[8:], g.first+uint64(i))
				binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(append(h[8:16:16], rec...), crc32.MakeTable(crc32.Castagnoli)))
				buf = append(append(buf, h[:]...), rec...)
			}
		}
		_, err := s.f.Write(buf)
		if err == nil {
			err = s.f.Sync()
			s.nsync.Add(1)
		}
		for _, g := range group {
			g.ack <- err
		}
	}
}

func (s *seg) append(first uint64, recs [][]byte) error {
	ack := make(chan error, 1)
	s.reqs <- segReq{first, recs, ack}
	return <-ack
}
func (s *seg) syncs() int64 { return s.nsync.Load() }
func (s *seg) close() error { close(s.reqs); <-s.done; return s.f.Close() }

type boltStore struct {
	db     *bolt.DB
	commit atomic.Int64
}

func openBolt(path string) (*boltStore, error) {
	db, err := bolt.Open(path, 0o644, nil)
	if err != nil {
		return nil, err
	}
	return &boltStore{db: db}, db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("log")); return err })
}

func (b *boltStore) append(first uint64, recs [][]byte) error {
	return b.db.Batch(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("log"))
		for i, rec := range recs {
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], first+uint64(i))
			if err := bk.Put(k[:], rec); err != nil {
				return err
			}
		}
		tx.OnCommit(func() { b.commit.Add(1) })
		return nil
	})
}
func (b *boltStore) syncs() int64 { return b.commit.Load() } // transactions (each commits with two fdatasyncs)
func (b *boltStore) close() error { return b.db.Close() }

type pebbleStore struct {
	db      *pebble.DB
	commits atomic.Int64
}

func openPebble(path string) (*pebbleStore, error) {
	db, err := pebble.Open(path, &pebble.Options{})
	if err != nil {
		return nil, err
	}
	return &pebbleStore{db: db}, nil
}

func (p *pebbleStore) append(first uint64, recs [][]byte) error {
	b := p.db.NewBatch()
	for i, rec := range recs {
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], first+uint64(i))
		b.Set(k[:], rec, nil)
	}
	p.commits.Add(1)
	return b.Commit(pebble.Sync)
}
func (p *pebbleStore) syncs() int64 { return p.commits.Load() } // batches committed (the WAL groups their syncs)
func (p *pebbleStore) close() error { return p.db.Close() }
