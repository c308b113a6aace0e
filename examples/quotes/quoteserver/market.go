package quoteserver

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	quotesv1 "github.com/ssebridge/ssebridge/examples/quotes/gen/quotes/v1"
)

// HaltedSymbol is the symbol whose trading is halted: it is known, but
// WatchQuotes and GetQuote answer it with UNAVAILABLE "trading halted"
// before any quote, the transient error of a backend.
const HaltedSymbol = "HALTED"

// sessionOpenUnix is when the simulated session opened,
// 2026-01-05T14:30:00Z: quote n is stamped n seconds later, headline n
// n minutes later.
const sessionOpenUnix = 1767623400

// Symbols returns the symbols that have quotes, in alphabetical order.
// HaltedSymbol is not one of them.
func Symbols() []string {
	return []string{"ACME", "GLOBEX", "INITECH", "UMBRELLA"}
}

// known reports whether symbol has quotes.
func known(symbol string) bool {
	for _, s := range Symbols() {
		if s == symbol {
			return true
		}
	}
	return false
}

// QuoteAt returns quote seq of symbol, the same message every time for the
// same arguments: a trade when seq is odd, a bid and ask when it is even,
// at prices that hover around a price of the symbol's own. seq counts from
// 1; symbol need not be known.
func QuoteAt(symbol string, seq uint64) *quotesv1.Quote {
	q := &quotesv1.Quote{
		Seq:    seq,
		Symbol: symbol,
		Time:   timestamppb.New(time.Unix(sessionOpenUnix+int64(seq), 0).UTC()),
	}
	h := mix(symbol, seq)
	mid := basePrice(symbol) + (int64(h%201)-100)*10_000 // within a unit of the base, in cents
	if seq%2 == 1 {
		q.Kind = &quotesv1.Quote_Trade{Trade: &quotesv1.Trade{
			PriceMicros: mid,
			Size:        uint32(100 * (1 + (h>>16)%50)),
		}}
		return q
	}
	spread := int64(10_000 * (1 + (h>>32)%4))
	q.Kind = &quotesv1.Quote_BidAsk{BidAsk: &quotesv1.BidAsk{
		BidMicros: mid - spread,
		AskMicros: mid + spread,
	}}
	return q
}

// basePrice is the price, in micros, that symbol's quotes hover around:
// whole cents between 20 and 500 units.
func basePrice(symbol string) int64 {
	h := fnv.New64a()
	h.Write([]byte(symbol))
	return 20_000_000 + int64(h.Sum64()%48_000)*10_000
}

// mix hashes symbol and seq into the pseudo-random bits of one quote.
func mix(symbol string, seq uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(symbol))
	h.Write(binary.BigEndian.AppendUint64(nil, seq))
	return h.Sum64()
}

// headline is a template of HeadlineAt.
type headline struct {
	title   string
	symbols []string
}

// headlines returns the templates of HeadlineAt, with the symbols they
// name. Some hold quotes and non-ASCII letters, to exercise JSON and UTF-8.
func headlines() []headline {
	return []headline{
		{"ACME opens a rocket-skate plant in the desert", []string{"ACME"}},
		{`Globex and Initech agree a "merger of equals"`, []string{"GLOBEX", "INITECH"}},
		{"Umbrella Corp. recalls its Über-umbrella ☂", []string{"UMBRELLA"}},
		{"Initech moves to the basement; staplers 30 % off", []string{"INITECH"}},
		{"Markets calm: no news is good news", nil},
		{"Trading in HALTED suspended <pending news> & review", []string{HaltedSymbol}},
	}
}

// HeadlineAt returns headline n of a WatchNews stream, the same message
// every time for the same n; n counts from 1.
func HeadlineAt(n uint64) *quotesv1.Headline {
	all := headlines()
	t := all[(n-1)%uint64(len(all))]
	return &quotesv1.Headline{
		Title:   fmt.Sprintf("%s (#%d)", t.title, n),
		Symbols: t.symbols,
		Time:    timestamppb.New(time.Unix(sessionOpenUnix+60*int64(n), 0).UTC()),
	}
}
