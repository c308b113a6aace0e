package pubsub

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on names.
const (
	// MaxTopicLen is the longest topic name, in bytes.
	MaxTopicLen = 128
	// MaxTypeLen is the longest event type, in bytes.
	MaxTypeLen = 128
	// MaxIdempotencyKeyLen is the longest idempotency key, in bytes.
	MaxIdempotencyKeyLen = 128
	// ReservedTypePrefix starts the event types that ssebridge uses itself,
	// such as the SSE gap notice "ssebridge.gap". Publishers cannot use it.
	ReservedTypePrefix = "ssebridge."
)

// ValidateTopic reports whether name is a valid topic name: 1 to
// MaxTopicLen bytes of segments separated by single dots, each segment one
// or more of the characters A-Z a-z 0-9 _ - : @ =. For example "orders",
// "orders.eu-west.created" and "user:42". The error wraps ErrInvalidTopic.
func ValidateTopic(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidTopic)
	}
	if len(name) > MaxTopicLen {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidTopic, len(name), MaxTopicLen)
	}
	if err := checkUTF8(name); err != nil {
		return fmt.Errorf("%w: %q: %v", ErrInvalidTopic, name, err)
	}
	segment := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if segment == 0 {
				return fmt.Errorf("%w: %q: empty segment at byte %d", ErrInvalidTopic, name, i)
			}
			segment = 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '_', c == '-', c == ':', c == '@', c == '=':
			segment++
		default:
			return fmt.Errorf("%w: %q: %s at byte %d is not allowed (use A-Z a-z 0-9 _ - : @ = and dots between segments)",
				ErrInvalidTopic, name, describeChar(name[i:]), i)
		}
	}
	if segment == 0 {
		return fmt.Errorf("%w: %q: ends with a dot", ErrInvalidTopic, name)
	}
	return nil
}

// ValidateType reports whether typ is a valid event type: empty (the default
// type), or at most MaxTypeLen bytes of valid UTF-8 without control
// characters, not starting with ReservedTypePrefix. The error wraps
// ErrInvalidType.
func ValidateType(typ string) error {
	if len(typ) > MaxTypeLen {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidType, len(typ), MaxTypeLen)
	}
	if strings.HasPrefix(typ, ReservedTypePrefix) {
		return fmt.Errorf("%w: %q: the prefix %q is reserved", ErrInvalidType, typ, ReservedTypePrefix)
	}
	if err := checkText(typ); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidType, err)
	}
	return nil
}

// ValidateIdempotencyKey reports whether key is a valid idempotency key:
// empty (none), or at most MaxIdempotencyKeyLen bytes of valid UTF-8 without
// control characters. The error wraps ErrInvalidIdempotencyKey.
func ValidateIdempotencyKey(key string) error {
	if len(key) > MaxIdempotencyKeyLen {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidIdempotencyKey, len(key), MaxIdempotencyKeyLen)
	}
	if err := checkText(key); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidIdempotencyKey, err)
	}
	return nil
}

// ValidateData reports whether data is valid event data: UTF-8 text,
// which every transport can carry (an SSE stream is UTF-8). Its size is
// limited by the server, not here. The error wraps ErrInvalidData and does
// not quote the data.
func ValidateData(data string) error {
	if err := checkUTF8(data); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidData, err)
	}
	return nil
}

// ValidateMessage checks the topic, type, data and idempotency key of m.
func ValidateMessage(m Message) error {
	if err := ValidateTopic(m.Topic); err != nil {
		return err
	}
	if err := ValidateType(m.Type); err != nil {
		return err
	}
	if err := ValidateData(m.Data); err != nil {
		return err
	}
	return ValidateIdempotencyKey(m.IdempotencyKey)
}

// ValidateTopics checks a subscription's topic list: at least one topic,
// each valid. It returns the topics without duplicates, in their first
// order.
func ValidateTopics(topics []string) ([]string, error) {
	if len(topics) == 0 {
		return nil, ErrNoTopics
	}
	out := make([]string, 0, len(topics))
	for _, t := range topics {
		if err := ValidateTopic(t); err != nil {
			return nil, err
		}
		dup := false
		for _, seen := range out {
			if seen == t {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out, nil
}

// describeChar names the character that s starts with: the whole rune, not
// its first byte. s is valid UTF-8 (checkUTF8).
func describeChar(s string) string {
	r, _ := utf8.DecodeRuneInString(s)
	return fmt.Sprintf("character %q", r)
}

// checkUTF8 reports where s stops being valid UTF-8, without quoting s.
func checkUTF8(s string) error {
	if utf8.ValidString(s) {
		return nil
	}
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		i += n
	}
	return fmt.Errorf("not valid UTF-8: byte %d is %#x", i, s[i])
}

func checkText(s string) error {
	if err := checkUTF8(s); err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	for i, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("%q: control character %U at byte %d", s, r, i)
		}
	}
	return nil
}
