package pubsub_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ssebridge/ssebridge/pubsub"
)

// TestValidateMessageUTF8: every text field of a message must be valid
// UTF-8; the error says so and where, and wraps the field's sentinel.
func TestValidateMessageUTF8(t *testing.T) {
	ok := pubsub.Message{Topic: "t", Type: "日本", Data: "{\"a\":\"é🎉\uFFFD\"}", IdempotencyKey: "k"}
	if err := pubsub.ValidateMessage(ok); err != nil {
		t.Fatalf("ValidateMessage(%+v) = %v", ok, err)
	}
	tests := []struct {
		name    string
		change  func(*pubsub.Message)
		want    error
		mention string
	}{
		{"topic", func(m *pubsub.Message) { m.Topic = "t\xff" }, pubsub.ErrInvalidTopic, "byte 1 is 0xff"},
		{"type", func(m *pubsub.Message) { m.Type = "\xc0\xaf" }, pubsub.ErrInvalidType, "byte 0 is 0xc0"},
		{"data", func(m *pubsub.Message) { m.Data = "abc\xe2\x82" }, pubsub.ErrInvalidData, "byte 3 is 0xe2"},
		{"data, surrogate", func(m *pubsub.Message) { m.Data = "é\xed\xa0\x80" }, pubsub.ErrInvalidData, "byte 2 is 0xed"},
		{"idempotency key", func(m *pubsub.Message) { m.IdempotencyKey = "\x80" }, pubsub.ErrInvalidIdempotencyKey, "byte 0 is 0x80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok
			tt.change(&m)
			err := pubsub.ValidateMessage(m)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), "not valid UTF-8: "+tt.mention) {
				t.Errorf("ValidateMessage = %v, want %v saying %q", err, tt.want, tt.mention)
			}
		})
	}
	// Data is never quoted in the error: it may be large.
	err := pubsub.ValidateData(strings.Repeat("secret", 100) + "\xff")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("ValidateData = %v, want an error that does not quote the data", err)
	}
}
