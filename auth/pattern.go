package auth

import (
	"fmt"
	"strings"

	"github.com/ssebridge/ssebridge/pubsub"
)

// Pattern matches topic names. The zero Pattern matches nothing.
//
// A pattern is a topic name (see pubsub.ValidateTopic) in which a whole
// segment may be "*", matching exactly one segment, and the last segment
// may be "**", matching one or more segments:
//
//	orders           orders only
//	orders.*         orders.created, orders.paid; not orders, not orders.eu.paid
//	orders.**        orders.created, orders.eu.paid; not orders
//	*.created        orders.created, invoices.created
//	**               every topic
type Pattern struct {
	text string
}

// ParsePattern parses a topic pattern.
func ParsePattern(s string) (Pattern, error) {
	if s == "" {
		return Pattern{}, fmt.Errorf("auth: empty topic pattern")
	}
	if len(s) > pubsub.MaxTopicLen {
		return Pattern{}, fmt.Errorf("auth: topic pattern %q is longer than %d bytes", s, pubsub.MaxTopicLen)
	}
	segs := strings.Split(s, ".")
	for i, seg := range segs {
		switch {
		case seg == "*":
		case seg == "**":
			if i != len(segs)-1 {
				return Pattern{}, fmt.Errorf("auth: topic pattern %q: ** is allowed only as the last segment", s)
			}
		case strings.Contains(seg, "*"):
			return Pattern{}, fmt.Errorf("auth: topic pattern %q: * must be a whole segment", s)
		default:
			if err := pubsub.ValidateTopic(seg); err != nil {
				return Pattern{}, fmt.Errorf("auth: topic pattern %q: segment %q: %w", s, seg, err)
			}
		}
	}
	return Pattern{text: s}, nil
}

// String returns the pattern's text.
func (p Pattern) String() string { return p.text }

// Match reports whether topic matches the pattern. It does not allocate.
func (p Pattern) Match(topic string) bool {
	if p.text == "" || topic == "" {
		return false
	}
	pat := p.text
	for {
		pseg, prest, pmore := strings.Cut(pat, ".")
		if pseg == "**" {
			return true // one or more segments remain in topic
		}
		tseg, trest, tmore := strings.Cut(topic, ".")
		if pseg != "*" && pseg != tseg {
			return false
		}
		if !pmore || !tmore {
			return pmore == tmore
		}
		pat, topic = prest, trest
	}
}

// Patterns is a list of patterns; a topic matches it when it matches any.
type Patterns []Pattern

// ParsePatterns parses a list of patterns.
func ParsePatterns(list []string) (Patterns, error) {
	ps := make(Patterns, 0, len(list))
	for _, s := range list {
		p, err := ParsePattern(s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// Match reports whether topic matches one of the patterns.
func (ps Patterns) Match(topic string) bool {
	for _, p := range ps {
		if p.Match(topic) {
			return true
		}
	}
	return false
}
