package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestMaxHeaderBytesHTTP1 checks --max-header-bytes at its boundary on
// HTTP/1.1, with the default of 64 KiB: a request whose request line and
// header lines, line endings and the blank line included, take exactly
// 64 KiB is served; one byte more gets 431.
func TestMaxHeaderBytesHTTP1(t *testing.T) {
	s := startServer(t, nil)
	limit := defaultConfig(t).Security.MaxHeaderBytes
	if limit != 64<<10 {
		t.Fatalf("default --max-header-bytes = %d, want 64 KiB as the README says", limit)
	}
	addr := strings.TrimPrefix(s.httpURL, "http://")
	tests := []struct {
		name string
		size int
		want int
	}{
		{"at the limit", limit, http.StatusOK},
		{"one byte over", limit + 1, http.StatusRequestHeaderFieldsTooLarge},
		{"the audit's 66 KiB", 66 << 10, http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head := http1Head(t, tt.size)
			if got := rawStatus(t, addr, head); got != tt.want {
				t.Errorf("%d-byte header: status %d, want %d", len(head), got, tt.want)
			}
		})
	}
}

// http1Head returns a GET /healthz request head of exactly size bytes.
func http1Head(t *testing.T, size int) []byte {
	t.Helper()
	const start, end = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ", "\r\n\r\n"
	pad := size - len(start) - len(end)
	if pad < 1 {
		t.Fatalf("size %d too small", size)
	}
	return []byte(start + strings.Repeat("p", pad) + end)
}

// rawStatus sends b on a new connection to addr and returns the status of
// the response.
func rawStatus(t *testing.T, addr string, b []byte) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestMaxHeaderBytesHTTP2 checks the header limit on cleartext HTTP/2,
// where it applies to the header list as HTTP/2 counts it (name + value +
// 32 per field, pseudo-header fields included) and the server advertises
// it in SETTINGS_MAX_HEADER_LIST_SIZE. The requests are framed by hand:
// Go's client refuses to send a header list over the advertised size.
func TestMaxHeaderBytesHTTP2(t *testing.T) {
	s := startServer(t, nil)
	limit := uint32(defaultConfig(t).Security.MaxHeaderBytes - http2HeaderListShortfall)
	addr := strings.TrimPrefix(s.httpURL, "http://")

	if c := dialH2C(t, addr); c.maxHeaderListSize != limit {
		t.Errorf("SETTINGS_MAX_HEADER_LIST_SIZE = %d, want %d", c.maxHeaderListSize, limit)
	}
	tests := []struct {
		name     string
		size     uint32 // of the header list, as HTTP/2 counts it
		maxValue int    // longest field value
		want     string // :status, or the GOAWAY that ends the connection
	}{
		{"at the limit", limit, 8 << 10, "200"},
		{"one byte over", limit + 1, 8 << 10, "431"},
		{"100 KiB", 100 << 10, 8 << 10, "431"},
		{"one field over the limit", 100 << 10, 100 << 10, "GOAWAY COMPRESSION_ERROR"},
		// net/http compares the encoded block (HPACK, Huffman: about 3/4
		// of the size here) with twice the limit.
		{"encoded block over twice the limit", 3 * limit, 8 << 10, "GOAWAY PROTOCOL_ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialH2C(t, addr)
			if got := c.get(t, "/healthz", tt.size, tt.maxValue); got != tt.want {
				t.Errorf("header list of %d bytes: %s, want %s", tt.size, got, tt.want)
			}
		})
	}
}

// h2cConn is a hand-driven cleartext HTTP/2 connection.
type h2cConn struct {
	fr                *http2.Framer
	maxHeaderListSize uint32 // the server's setting
}

// dialH2C connects with prior knowledge, exchanges settings and returns
// once the server's have arrived.
func dialH2C(t *testing.T, addr string) *h2cConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c := &h2cConn{fr: http2.NewFramer(conn, conn)}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = 1 << 20
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's settings: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			if v, ok := sf.Value(http2.SettingMaxHeaderListSize); ok {
				c.maxHeaderListSize = v
			}
			if err := c.fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
}

// get sends a GET of path on stream 1 whose header list, as HTTP/2 counts
// it, is size bytes, padded with fields of values up to maxValue bytes, in
// one HEADERS frame. It returns the response's :status, or "GOAWAY" and
// the error code when the server ends the connection instead.
func (c *h2cConn) get(t *testing.T, path string, size uint32, maxValue int) string {
	t.Helper()
	const id = 1
	fields := []hpack.HeaderField{
		{Name: ":method", Value: "GET"},
		{Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "x"},
		{Name: ":path", Value: path},
	}
	var used uint32
	for _, f := range fields {
		used += f.Size()
	}
	for i := 0; used < size; i++ {
		f := hpack.HeaderField{Name: fmt.Sprintf("x-pad-%d", i)}
		overhead := f.Size()
		n := size - used - overhead
		if size-used > 2*overhead+uint32(maxValue) {
			n = uint32(maxValue)
		}
		f.Value = strings.Repeat("p", int(n))
		fields = append(fields, f)
		used += f.Size()
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range fields {
		if err := enc.WriteField(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true,
	}); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("stream %d: %v", id, err)
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				return f.PseudoValue("status")
			}
		case *http2.GoAwayFrame:
			return "GOAWAY " + f.ErrCode.String()
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				t.Fatalf("stream %d: RST_STREAM %v", id, f.ErrCode)
			}
		}
	}
}
