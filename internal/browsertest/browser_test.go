package browsertest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/ssebridge/ssebridge/internal/browsertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTabsAreIsolated loads a page in two tabs of one browser: the page's
// script runs, and a cookie set in one tab is not seen in the other.
func TestTabsAreIsolated(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>t</title><script>window.answer = 6 * 7;</script>`)
	}))
	t.Cleanup(srv.Close)
	browser := browsertest.New(t)

	run := func(tab context.Context, expr string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 15*time.Second)
		defer cancel()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return got
	}
	a, b := browsertest.Tab(t, browser), browsertest.Tab(t, browser)
	for _, tab := range []context.Context{a, b} {
		ctx, cancel := context.WithTimeout(tab, 15*time.Second)
		err := chromedp.Do(ctx, chromedp.Navigate(srv.URL))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := run(a, `String(window.answer)`); got != "42" {
		t.Errorf("the page's script computed %q, want 42", got)
	}
	run(a, `document.cookie = "tab=a"; document.cookie`)
	if got := run(a, `document.cookie`); got != "tab=a" {
		t.Errorf("tab a: cookies %q, want tab=a", got)
	}
	if got := run(b, `document.cookie`); got != "" {
		t.Errorf("tab b sees cookies %q of tab a", got)
	}
}
