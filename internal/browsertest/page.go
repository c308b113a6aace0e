package browsertest

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// WaitTimeout bounds each step a test takes in a page.
const WaitTimeout = 20 * time.Second

//go:embed page
var pageFiles embed.FS

// PagePath is the path of the test page that Pages serves: a page whose
// script (page/eventsource.js) opens streams with the browser's native
// EventSource and records what they see.
const PagePath = "/test/eventsource.html"

// Pages serves the test page and its script under /test/ and passes every
// other request to next, so that the page is on the origin of the server
// under test.
func Pages(next http.Handler) http.Handler {
	sub, _ := fs.Sub(pageFiles, "page")
	pages := http.StripPrefix("/test/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/test/") {
			pages.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Event is an event as the page's EventSource dispatched it.
type Event struct {
	Stream      string `json:"stream"`
	Type        string `json:"type"`
	Data        string `json:"data"`
	LastEventID string `json:"lastEventId"`
	Origin      string `json:"origin"`
}

// Record is what the page's streams saw, in order.
type Record struct {
	Events []Event   `json:"events"`
	Opens  []string  `json:"opens"`
	Errors []OnError `json:"errors"`
}

// OnError is one call of a stream's onerror: ReadyState 0 when the
// EventSource reconnects, 2 when it gave up.
type OnError struct {
	Stream     string `json:"stream"`
	ReadyState int    `json:"readyState"`
}

// Page is the test page open in a tab. Its methods fail the test after
// WaitTimeout; they are for the test's goroutine.
type Page struct {
	t   testing.TB
	tab context.Context
}

// OpenPage opens url, the test page on a server whose handler Pages
// wraps, in a new tab of browser.
func OpenPage(t testing.TB, browser context.Context, url string) *Page {
	t.Helper()
	p := &Page{t: t, tab: Tab(t, browser)}
	ctx, cancel := context.WithTimeout(p.tab, WaitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	return p
}

// Tab returns the page's tab, for chromedp actions of the test's own.
func (p *Page) Tab() context.Context { return p.tab }

// Eval runs a script in p, awaiting its promise, and decodes its result
// into a T.
func Eval[T any](p *Page, script string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.tab, WaitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("in the page: %s: %v", script, err)
	}
	return v
}

// Until waits for cond, a JavaScript function of the page's record, and
// returns the record.
func (p *Page) Until(cond string) Record {
	p.t.Helper()
	return Eval[Record](p, "until("+cond+")")
}

// OpenStream opens an EventSource named name on url in the page, with
// options a JavaScript object ({types: [...], withCredentials: true});
// see page/eventsource.js.
func (p *Page) OpenStream(name, url, options string) {
	p.t.Helper()
	Eval[chromedp.Void](p, fmt.Sprintf("openStream(%q, %q, %s)", name, url, options))
}

// CloseStream closes the EventSource named name.
func (p *Page) CloseStream(name string) {
	p.t.Helper()
	Eval[chromedp.Void](p, fmt.Sprintf("closeStream(%q)", name))
}
