package rpcsse

import (
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"

	quotesv1 "github.com/ssebridge/ssebridge/examples/quotes/gen/quotes/v1"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

// quotesMethod returns WatchQuotes as a Bridge serves it.
func quotesMethod(t testing.TB, opts *MethodOptions) *method {
	t.Helper()
	md := quotesv1.File_quotes_v1_quotes_proto.Services().ByName("QuoteService").Methods().ByName("WatchQuotes")
	m, err := newMethod(&backend{types: protoregistry.GlobalTypes}, md, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// FuzzFrame checks that any message, strings of any bytes included, is
// framed as one event that a client decodes back to the message, or is
// refused; never a malformed frame.
func FuzzFrame(f *testing.F) {
	f.Add("ACME", "seq")
	f.Add("line\nbreak\r\n", "symbol")
	f.Add("nul\x00", "symbol")
	f.Add("\xff\xfe", "symbol")
	f.Add("é ☃ \u2028", "symbol")
	m := quotesMethod(f, nil)
	f.Fuzz(func(t *testing.T, symbol, idField string) {
		opts := &MethodOptions{IDField: idField, EventOneof: "kind"}
		fr, err := newFramer(m.desc.Output(), opts)
		if err != nil {
			return // not a field usable as an id
		}
		q := &quotesv1.Quote{Seq: 7, Symbol: symbol, Kind: &quotesv1.Quote_Trade{Trade: &quotesv1.Trade{}}}
		frame, err := fr.frame(q, protojson.MarshalOptions{}, time.Now())
		if err != nil {
			return // invalid UTF-8, or an id with a line break
		}
		recs, err := ssetest.DecodeAll(frame.Bytes())
		if err != nil || len(recs) != 1 {
			t.Fatalf("frame %q decodes to %v, %v; want one event", frame.Bytes(), recs, err)
		}
		e := recs[0].(ssetest.Event)
		var back quotesv1.Quote
		if err := protojson.Unmarshal([]byte(e.Data), &back); err != nil || !proto.Equal(&back, q) {
			t.Fatalf("data %q: %v; want the message back", e.Data, err)
		}
		want := ""
		if fr.id != nil {
			want = scalarText(q.ProtoReflect(), fr.id)
		}
		if e.ID != want || e.Type != "trade" {
			t.Fatalf("id %q type %q, want %q trade", e.ID, e.Type, want)
		}
	})
}

// FuzzBuildRequest checks that any path value and query string either
// build a request or are refused with INVALID_ARGUMENT; never a panic or
// another code.
func FuzzBuildRequest(f *testing.F) {
	f.Add("ACME", "limit=3&interval_ms=10", "")
	f.Add("A%2FB", "limit=-1", "5")
	f.Add("", "after_seq=x&symbol=Z", "x\x00")
	f.Add("é", "%zz&limit=1e3", "18446744073709551616")
	m := quotesMethod(f, nil)
	f.Fuzz(func(t *testing.T, symbol, query, lastID string) {
		r := httptest.NewRequest("GET", "/v1/quotes/x:watch", nil)
		r.URL.RawQuery = query
		if lastID != "" {
			r.Header.Set("Last-Event-ID", lastID)
		}
		msg, _, st := m.buildRequest(r, &m.routes[0], map[string]string{"symbol": symbol})
		if st != nil {
			if st.Code() != 3 {
				t.Fatalf("status %v, want INVALID_ARGUMENT", st)
			}
			return
		}
		q := msg.(*quotesv1.WatchQuotesRequest)
		if q.GetSymbol() != symbol {
			t.Fatalf("symbol %q, want the path's %q", q.GetSymbol(), symbol)
		}
		if _, err := url.ParseQuery(query); err != nil {
			t.Fatalf("malformed query %q accepted", query)
		}
	})
}
