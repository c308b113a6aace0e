package auth_test

import (
	"context"
	"os"
	"regexp"
	"testing"

	"github.com/ssebridge/ssebridge/auth"
)

// TestReadmeExampleToken checks that the worked example of the README
// verifies with the README's secret and grants what the README says.
func TestReadmeExampleToken(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	secret := regexp.MustCompile(`SSEBRIDGE_JWT_SECRET=(\S+)`).FindSubmatch(readme)
	token := regexp.MustCompile(`TOKEN=(\S+)`).FindSubmatch(readme)
	if secret == nil || token == nil {
		t.Fatal("the README has no worked example (SSEBRIDGE_JWT_SECRET=... and TOKEN=...)")
	}
	v, err := auth.NewVerifier(auth.VerifierConfig{Secret: secret[1]})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	g, err := v.Verify(context.Background(), string(token[1]))
	if err != nil {
		t.Fatalf("the README's token does not verify: %v", err)
	}
	if g.Subject != "web-frontend" ||
		g.CheckSubscribe([]string{"orders.created", "user:42.inbox.new"}) != nil ||
		g.CheckSubscribe([]string{"orders.eu.created"}) == nil ||
		g.CheckPublish("orders.created") != nil || g.CheckPublish("orders.paid") == nil {
		t.Fatalf("the README's token grants %+v", g)
	}
}
