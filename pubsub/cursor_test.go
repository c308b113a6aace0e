package pubsub_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/ssebridge/ssebridge/pubsub"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []pubsub.Cursor{
		{0, 0}, {1, 1}, {math.MaxUint64, math.MaxUint64}, {0xdeadbeef, 127}, {42, 128}, {7, 1 << 40},
	} {
		s := c.String()
		if len(s) > 26 {
			t.Errorf("%+v: %q is %d characters", c, s, len(s))
		}
		if strings.ContainsAny(s, "\r\n\x00+/=") {
			t.Errorf("%+v: %q is not URL-safe", c, s)
		}
		got, err := pubsub.ParseCursor(s)
		if err != nil || got != c {
			t.Errorf("ParseCursor(%q) = %+v, %v; want %+v", s, got, err, c)
		}
		b, _ := c.AppendText([]byte("x"))
		if string(b) != "x"+s {
			t.Errorf("AppendText = %q, want %q", b, "x"+s)
		}
	}
}

func TestParseCursorRejects(t *testing.T) {
	valid := pubsub.Cursor{Epoch: 5, Position: 300}.String()
	for _, s := range []string{
		"", "x", "earliest", "!!!!", valid + "A", valid[:len(valid)-1],
		strings.Repeat("A", 27), "AAAAAAAAAAAAAA", // version 0
		valid + "==",
	} {
		if c, err := pubsub.ParseCursor(s); !errors.Is(err, pubsub.ErrMalformedCursor) {
			t.Errorf("ParseCursor(%q) = %+v, %v; want ErrMalformedCursor", s, c, err)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	f.Add(pubsub.Cursor{Epoch: 1, Position: 2}.String())
	f.Add(pubsub.Cursor{Epoch: math.MaxUint64, Position: math.MaxUint64}.String())
	f.Add("garbage")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := pubsub.ParseCursor(s)
		if err != nil {
			if !errors.Is(err, pubsub.ErrMalformedCursor) {
				t.Fatalf("error %v does not wrap ErrMalformedCursor", err)
			}
			return
		}
		// Every accepted text is the one canonical form of its cursor.
		if c.String() != s {
			t.Fatalf("ParseCursor(%q) = %+v, which prints as %q", s, c, c.String())
		}
	})
}

func TestValidateTopic(t *testing.T) {
	for _, ok := range []string{"a", "orders", "orders.eu-west.created", "user:42", "a_b=c@d", strings.Repeat("x", 128)} {
		if err := pubsub.ValidateTopic(ok); err != nil {
			t.Errorf("ValidateTopic(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".a", "a.", "a..b", "a b", "a/b", "a*", "é", "a\n", strings.Repeat("x", 129)} {
		if err := pubsub.ValidateTopic(bad); !errors.Is(err, pubsub.ErrInvalidTopic) {
			t.Errorf("ValidateTopic(%q) = %v, want ErrInvalidTopic", bad, err)
		}
	}
}

// TestValidateTopicNamesTheCharacter: the error names the offending
// character as the client wrote it, whole, for multi-byte runes too.
func TestValidateTopicNamesTheCharacter(t *testing.T) {
	tests := []struct{ name, want string }{
		{"café", `"café": character 'é' at byte 3 is not allowed`},
		{"日本", `"日本": character '日' at byte 0 is not allowed`},
		{"a b", `"a b": character ' ' at byte 1 is not allowed`},
		{"a\nb", `"a\nb": character '\n' at byte 1 is not allowed`},
		{"ab\xff", `"ab\xff": not valid UTF-8: byte 2 is 0xff`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pubsub.ValidateTopic(tt.name)
			if !errors.Is(err, pubsub.ErrInvalidTopic) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ValidateTopic(%q) = %v, want an error containing %s", tt.name, err, tt.want)
			}
		})
	}
}

func TestValidateType(t *testing.T) {
	for _, ok := range []string{"", "created", "order.created", "ünïcode ok", strings.Repeat("t", 128)} {
		if err := pubsub.ValidateType(ok); err != nil {
			t.Errorf("ValidateType(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"ssebridge.gap", "a\nb", "a\rb", "a\x00", "\xff", "a\u2028", strings.Repeat("t", 129)} {
		if err := pubsub.ValidateType(bad); !errors.Is(err, pubsub.ErrInvalidType) {
			t.Errorf("ValidateType(%q) = %v, want ErrInvalidType", bad, err)
		}
	}
}

func TestValidateTopicsDedupes(t *testing.T) {
	got, err := pubsub.ValidateTopics([]string{"b", "a", "b"})
	if err != nil || len(got) != 2 || got[0] != "b" || got[1] != "a" {
		t.Fatalf("ValidateTopics = %v, %v", got, err)
	}
	if _, err := pubsub.ValidateTopics(nil); !errors.Is(err, pubsub.ErrNoTopics) {
		t.Fatalf("ValidateTopics(nil) = %v", err)
	}
}

func FuzzValidateTopic(f *testing.F) {
	for _, s := range []string{"a", "a.b", "a..b", ".", "user:1", "x y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if pubsub.ValidateTopic(s) != nil {
			return
		}
		// An accepted name is safe in a URL path segment, a header and an
		// SSE line.
		if len(s) == 0 || len(s) > pubsub.MaxTopicLen || strings.ContainsAny(s, "/ \r\n\x00?#%*") ||
			strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
			t.Fatalf("accepted %q", s)
		}
	})
}
