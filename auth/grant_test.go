package auth_test

import (
	"errors"
	"testing"

	"github.com/ssebridge/ssebridge/auth"
)

// TestGrantCanSubscribe: CanSubscribe is the one rule of who may read a
// topic, and CheckSubscribe agrees with it topic by topic.
func TestGrantCanSubscribe(t *testing.T) {
	tests := []struct {
		name    string
		grant   *auth.Grant
		read    []string
		notRead []string
		refusal error // the error of CheckSubscribe on a topic of notRead
	}{
		{
			name:    "anonymous with public topics",
			grant:   &auth.Grant{Anonymous: true, Subscribe: mustPatterns(t, "public.*")},
			read:    []string{"public.news", "public.status"},
			notRead: []string{"public", "public.eu.news", "orders.a"},
			refusal: auth.ErrUnauthenticated,
		},
		{
			name:    "anonymous without public topics",
			grant:   &auth.Grant{Anonymous: true},
			notRead: []string{"a", "public.news"},
			refusal: auth.ErrUnauthenticated,
		},
		{
			name:  "anonymous in development mode",
			grant: &auth.Grant{Anonymous: true, Everything: true},
			read:  []string{"a", "orders.eu.paid"},
		},
		{
			name:    "token with a.*",
			grant:   &auth.Grant{Subject: "reader", Subscribe: mustPatterns(t, "a.*")},
			read:    []string{"a.x", "a.y"},
			notRead: []string{"a", "a.x.y", "b.x"},
			refusal: auth.ErrForbidden,
		},
		{
			name:    "token that may only publish",
			grant:   &auth.Grant{Subject: "writer", Publish: mustPatterns(t, "**")},
			notRead: []string{"a", "a.x"},
			refusal: auth.ErrForbidden,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, topic := range tt.read {
				if !tt.grant.CanSubscribe(topic) {
					t.Errorf("CanSubscribe(%q) = false, want true", topic)
				}
				if err := tt.grant.CheckSubscribe([]string{topic}); err != nil {
					t.Errorf("CheckSubscribe(%q) = %v, want nil", topic, err)
				}
			}
			for _, topic := range tt.notRead {
				if tt.grant.CanSubscribe(topic) {
					t.Errorf("CanSubscribe(%q) = true, want false", topic)
				}
				if err := tt.grant.CheckSubscribe([]string{topic}); !errors.Is(err, tt.refusal) {
					t.Errorf("CheckSubscribe(%q) = %v, want %v", topic, err, tt.refusal)
				}
			}
		})
	}
}
