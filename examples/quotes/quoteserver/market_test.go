package quoteserver_test

import (
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	quotesv1 "github.com/ssebridge/ssebridge/examples/quotes/gen/quotes/v1"
	"github.com/ssebridge/ssebridge/examples/quotes/quoteserver"
)

func TestQuoteAt(t *testing.T) {
	for _, sym := range quoteserver.Symbols() {
		prev := quoteserver.QuoteAt(sym, 1)
		for seq := uint64(1); seq <= 200; seq++ {
			q := quoteserver.QuoteAt(sym, seq)
			if !proto.Equal(q, quoteserver.QuoteAt(sym, seq)) {
				t.Fatalf("%s %d: two calls differ", sym, seq)
			}
			if q.GetSeq() != seq || q.GetSymbol() != sym {
				t.Fatalf("%s %d: got seq %d symbol %q", sym, seq, q.GetSeq(), q.GetSymbol())
			}
			if got := q.GetTime().AsTime().Sub(prev.GetTime().AsTime()).Seconds(); got != float64(seq-prev.GetSeq()) {
				t.Errorf("%s %d: time %v after seq %d's, want one second per seq", sym, seq, got, prev.GetSeq())
			}
			switch k := q.GetKind().(type) {
			case *quotesv1.Quote_Trade:
				if seq%2 != 1 || k.Trade.GetPriceMicros() <= 0 || k.Trade.GetSize() == 0 {
					t.Errorf("%s %d: trade %v", sym, seq, k.Trade)
				}
			case *quotesv1.Quote_BidAsk:
				if seq%2 != 0 || k.BidAsk.GetBidMicros() <= 0 || k.BidAsk.GetBidMicros() >= k.BidAsk.GetAskMicros() {
					t.Errorf("%s %d: bid_ask %v", sym, seq, k.BidAsk)
				}
			default:
				t.Errorf("%s %d: kind %T", sym, seq, k)
			}
			prev = q
		}
	}
	a, b := quoteserver.QuoteAt("ACME", 1), quoteserver.QuoteAt("GLOBEX", 1)
	if a.GetTrade().GetPriceMicros() == b.GetTrade().GetPriceMicros() {
		t.Errorf("ACME and GLOBEX trade at the same price, %d", a.GetTrade().GetPriceMicros())
	}
}

func TestHeadlineAt(t *testing.T) {
	titles := map[string]bool{}
	for n := uint64(1); n <= 20; n++ {
		h := quoteserver.HeadlineAt(n)
		if !proto.Equal(h, quoteserver.HeadlineAt(n)) {
			t.Fatalf("%d: two calls differ", n)
		}
		if !utf8.ValidString(h.GetTitle()) || titles[h.GetTitle()] {
			t.Errorf("%d: title %q invalid or repeated", n, h.GetTitle())
		}
		titles[h.GetTitle()] = true
		h.Symbols = append(h.Symbols, "MUTATED") // must not change later headlines
	}
	for _, s := range quoteserver.HeadlineAt(1).GetSymbols() {
		if s == "MUTATED" {
			t.Error("HeadlineAt shares its symbols slice between calls")
		}
	}
}
