package h2csplit_test

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/internal/h2csplit"
)

// FuzzSplit sends data over an in-memory connection to Split, in the
// reads that cuts describes, and checks how the connection is sorted:
//
//   - data that starts with the whole HTTP/2 client preface goes to the
//     h2c listener, and any other data that differs from the preface at
//     some byte goes to the http1 listener;
//   - it is sorted as soon as the read with the deciding byte (the first
//     that differs from the preface, or the last of the preface) has
//     arrived, with nothing more sent;
//   - until then it is not sorted, and every byte sent is read;
//   - the sorted connection reads exactly data, in order, however it was
//     cut into reads;
//   - data that ends before it decides (a proper prefix of the preface,
//     or nothing) reaches neither listener: the connection is closed when
//     the client closes its end.
//
// Each byte of cuts is the length, less one, modulo the preface's
// length, of the next read; the bytes of data left after cuts make one
// last read. Only the first maxData bytes of data are sent.
func FuzzSplit(f *testing.F) {
	seeds := []struct{ data, cuts string }{
		{"", ""},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", ""},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "\x00\x00\x00"},
		{"x\r\n\r\n", "\x00"},
		{"POST / HTTP/1.1\r\n", "\x01"},
		{"PRI", ""},
		{"PRI * HTTP/1.1\r\n\r\n", "\x02\x0a"},
		{preface[:10], "\x03"},
		{preface[:len(preface)-1], ""},
		{preface[:len(preface)-1], "\x16"},
		{preface[:len(preface)-1] + "X", "\x16"},
		{preface[:20] + "XX", "\x13\x00\x00"},
		{preface, ""},
		{preface, "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
		{preface, "\x0d\x09"},
		{preface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00", ""},
		{preface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00", "\x17\x04"},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "\x05"},
	}
	for _, s := range seeds {
		f.Add([]byte(s.data), []byte(s.cuts))
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		// Past the preface, length only makes each run slower (every
		// read is a net.Pipe hand-off).
		data = data[:min(len(data), maxData)]
		checkSplit(t, data, reads(data, cuts))
	})
}

// maxData is the most bytes of data FuzzSplit sends.
const maxData = 256

// reads cuts data into the reads that cuts describes (see FuzzSplit).
func reads(data, cuts []byte) [][]byte {
	var rs [][]byte
	for _, c := range cuts {
		if len(data) == 0 {
			break
		}
		n := min(int(c)%len(preface)+1, len(data))
		rs = append(rs, data[:n])
		data = data[n:]
	}
	if len(data) > 0 {
		rs = append(rs, data)
	}
	return rs
}

// decision returns the index of the byte of data that decides how it is
// sorted and whether it is HTTP/2, or decided false if data ends first.
func decision(data []byte) (at int, h2c, decided bool) {
	for i := range len(preface) {
		if i == len(data) {
			return 0, false, false
		}
		if data[i] != preface[i] {
			return i, false, true
		}
	}
	return len(preface) - 1, true, true
}

// wait is how long a step that should happen at once may take.
const wait = 10 * time.Second

func checkSplit(t *testing.T, data []byte, chunks [][]byte) {
	ln := newPipeListener()
	http1, h2c := h2csplit.Split(ln, time.Minute, nil)
	got1, got2 := acceptAsync(http1), acceptAsync(h2c)
	client, server := net.Pipe()
	sc := &watchedConn{Conn: server, closed: make(chan struct{})}
	ln.conns <- sc

	// The client writes chunks in order as they are queued, then closes.
	queue := make(chan []byte, len(chunks))
	written := make(chan error, len(chunks))
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		defer client.Close()
		for b := range queue {
			_, err := client.Write(b)
			written <- err
			if err != nil {
				return
			}
		}
	}()
	queueClosed := false
	var sorted net.Conn                // the connection accepted, if any
	took := map[<-chan accepted]bool{} // the Accept results received
	defer func() {
		if !queueClosed {
			close(queue)
		}
		client.Close()
		http1.Close() // waits for the sorting goroutine
		for _, ch := range []<-chan accepted{got1, got2} {
			if took[ch] {
				continue
			}
			if a := <-ch; a.err == nil {
				a.conn.Close()
			}
		}
		if sorted != nil {
			sorted.Close()
		}
		<-writerDone
	}()

	at, isH2C, decided := decision(data)
	want, wrong := got1, got2
	if isH2C {
		want, wrong = got2, got1
	}
	sent := 0
	rest := chunks
	for len(rest) > 0 {
		chunk := rest[0]
		rest = rest[1:]
		queue <- chunk
		sent += len(chunk)
		if decided && sent > at {
			// The deciding byte has been sent: the connection is sorted
			// now, with the rest of this chunk maybe still unread.
			select {
			case a := <-want:
				took[want] = true
				if a.err != nil {
					t.Fatalf("Accept: %v", a.err)
				}
				sorted = a.conn
			case a := <-wrong:
				took[wrong] = true
				if a.err == nil {
					sorted = a.conn
				}
				t.Fatalf("%q sorted as h2c = %v, want %v (error %v)", data, !isH2C, isH2C, a.err)
			case <-sc.closed:
				t.Fatalf("%q: connection closed, want it sorted (h2c %v) after %d bytes", data, isH2C, sent)
			case <-time.After(wait):
				t.Fatalf("%q: not sorted after %d bytes, the deciding one at %d", data, sent, at)
			}
			break
		}
		// Undecided: Split reads all of this chunk, and waits for more.
		select {
		case err := <-written:
			if err != nil {
				t.Fatalf("%q: write of %q while undecided: %v", data, chunk, err)
			}
		case <-time.After(wait):
			t.Fatalf("%q: %q not read while undecided after %d bytes", data, chunk, sent)
		}
		select {
		case a := <-got1:
			took[got1] = true
			sorted = a.conn
			t.Fatalf("%q: sorted as HTTP/1 after %d bytes, undecided (%v)", data, sent, a.err)
		case a := <-got2:
			took[got2] = true
			sorted = a.conn
			t.Fatalf("%q: sorted as h2c after %d bytes, undecided (%v)", data, sent, a.err)
		case <-sc.closed:
			t.Fatalf("%q: connection closed after %d bytes, undecided", data, sent)
		default:
		}
	}

	if sorted == nil {
		// Undecided when the client closes: the connection is closed,
		// and not sorted.
		close(queue)
		queueClosed = true
		select {
		case <-sc.closed:
		case a := <-got1:
			took[got1] = true
			sorted = a.conn
			t.Fatalf("undecided %q sorted as HTTP/1 (%v)", data, a.err)
		case a := <-got2:
			took[got2] = true
			sorted = a.conn
			t.Fatalf("undecided %q sorted as h2c (%v)", data, a.err)
		case <-time.After(wait):
			t.Fatalf("undecided %q: connection not closed after the client's end was", data)
		}
		return
	}

	// Before the client closes: net.Pipe's deadlines fail after that.
	if err := sorted.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	for _, chunk := range rest {
		queue <- chunk
	}
	close(queue)
	queueClosed = true
	b, err := io.ReadAll(sorted)
	if err != nil {
		t.Fatalf("%q cut into %q: reading the sorted connection: %v", data, chunks, err)
	}
	if !bytes.Equal(b, data) {
		t.Fatalf("%q cut into %q: sorted connection read %q", data, chunks, b)
	}
}

// pipeListener is a net.Listener of the server ends of net.Pipe
// connections sent on conns.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// watchedConn is a connection that closes closed when it is closed.
type watchedConn struct {
	net.Conn
	closed chan struct{}
	once   sync.Once
}

func (c *watchedConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}
