package auth_test

import (
	"strings"
	"testing"

	"github.com/ssebridge/ssebridge/auth"
	"github.com/ssebridge/ssebridge/pubsub"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		nomatch []string
	}{
		{"orders", []string{"orders"}, []string{"orders.created", "order", "ordersx", "x.orders"}},
		{"orders.*", []string{"orders.created", "orders.paid"}, []string{"orders", "orders.eu.paid", "invoices.created"}},
		{"orders.**", []string{"orders.created", "orders.eu.paid.late"}, []string{"orders", "ordersx.a", "x.orders.a"}},
		{"*.created", []string{"orders.created", "invoices.created"}, []string{"created", "orders.eu.created", "orders.paid"}},
		{"*", []string{"a", "user:42"}, []string{"a.b"}},
		{"**", []string{"a", "a.b.c"}, nil},
		{"user:42.*.**", []string{"user:42.a.b", "user:42.a.b.c"}, []string{"user:42.a", "user:42"}},
	}
	for _, tt := range tests {
		p, err := auth.ParsePattern(tt.pattern)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tt.pattern, err)
		}
		for _, topic := range tt.match {
			if !p.Match(topic) {
				t.Errorf("%q does not match %q", tt.pattern, topic)
			}
		}
		for _, topic := range tt.nomatch {
			if p.Match(topic) {
				t.Errorf("%q matches %q", tt.pattern, topic)
			}
		}
	}
	var zero auth.Pattern
	if zero.Match("a") {
		t.Error("the zero Pattern matches")
	}
}

func TestParsePatternRejects(t *testing.T) {
	for _, s := range []string{"", "a..b", ".a", "a.", "a*", "**.a", "a.**.b", "a b", "a/b", strings.Repeat("a", 129)} {
		if _, err := auth.ParsePattern(s); err == nil {
			t.Errorf("ParsePattern(%q) accepted", s)
		}
	}
}

// FuzzPatternMatch checks Match against a slow reference built from the
// definition: segment lists compared one by one.
func FuzzPatternMatch(f *testing.F) {
	for _, seed := range [][2]string{
		{"orders.*", "orders.created"}, {"orders.**", "orders.a.b"}, {"*.x", "a.x"},
		{"**", "a"}, {"a", "a.b"}, {"a.*", "a"}, {"a.b", "a.b"}, {"*", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		p, err := auth.ParsePattern(pattern)
		if err != nil {
			if p.Match(topic) {
				t.Fatalf("an invalid pattern %q matched %q", pattern, topic)
			}
			return
		}
		want := pubsub.ValidateTopic(topic) == nil && reference(strings.Split(pattern, "."), strings.Split(topic, "."))
		if got := p.Match(topic); got != want && pubsub.ValidateTopic(topic) == nil {
			t.Fatalf("%q.Match(%q) = %v, want %v", pattern, topic, got, want)
		}
	})
}

func reference(pat, topic []string) bool {
	if len(pat) == 0 {
		return len(topic) == 0
	}
	if pat[0] == "**" {
		return len(topic) >= 1
	}
	if len(topic) == 0 || (pat[0] != "*" && pat[0] != topic[0]) {
		return false
	}
	return reference(pat[1:], topic[1:])
}
