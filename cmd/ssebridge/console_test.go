package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ssebridge/ssebridge/console"
	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/apierror"
	"github.com/ssebridge/ssebridge/internal/browsertest"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

// TestConsoleRoutes checks the console's routes on the real server: the
// page on / only, the JSON 404 everywhere else, and a stats stream whose
// numbers follow the server's subscribers and publishes; --console=false
// turns them off.
func TestConsoleRoutes(t *testing.T) {
	s := startServer(t, nil)
	code, body := s.do(t, http.MethodGet, "/", nil)
	if page, _ := body["raw"].(string); code != http.StatusOK || !strings.Contains(page, "<title>ssebridge console</title>") {
		t.Fatalf("GET / = %d %.200v", code, body)
	}
	code, body = s.do(t, http.MethodGet, "/console/console.js", nil)
	if js, _ := body["raw"].(string); code != http.StatusOK || !strings.Contains(js, "EventSource") {
		t.Fatalf("GET /console/console.js = %d %.200v", code, body)
	}
	for _, path := range []string{"/nothing", "/index.html"} {
		code, body = s.do(t, http.MethodGet, path, nil)
		if code != http.StatusNotFound || reasonOf(body) != apierror.ReasonNotFound {
			t.Errorf("GET %s = %d %v, want the JSON 404", path, code, body)
		}
	}

	stats := s.sse(t, "/v1/stats", "")
	first := nextConsoleStats(t, stats)
	if first.Subscribers != 0 || first.PublishedTotal != 0 {
		t.Fatalf("first stats = %+v, want no subscribers (the stats stream is not one) and nothing published", first)
	}
	s.sse(t, "/v1/events?topic=orders", "")
	s.subscribeGRPC(t, "", "orders")
	s.publish(t, "orders", "created", "{}")
	s.restPublish(t, "orders", map[string]string{"data": "x"})
	for st := first; ; st = nextConsoleStats(t, stats) {
		if st.Subscribers == 2 && st.SubscribersByTransport["sse"] == 1 && st.SubscribersByTransport["grpc"] == 1 &&
			st.PublishedTotal == 2 && st.DeliveredTotal == 4 {
			break // each event delivered to both subscribers
		}
	}

	off := startServer(t, func(c *serveConfig) { c.Console = false })
	for _, path := range []string{"/", "/v1/stats", "/console/console.js"} {
		if code, body := off.do(t, http.MethodGet, path, nil); code != http.StatusNotFound {
			t.Errorf("--console=false: GET %s = %d %v, want 404", path, code, body)
		}
	}
}

// nextConsoleStats reads the next event of a stats stream.
func nextConsoleStats(t *testing.T, c *ssetest.Conn) console.Stats {
	t.Helper()
	e := next(t, c)
	var st console.Stats
	if err := json.Unmarshal([]byte(e.Data), &st); e.Type != console.StatsEventType || err != nil {
		t.Fatalf("stats event %+v: %v", e, err)
	}
	return st
}

// evalJS evaluates a JavaScript expression in the page and decodes its
// value.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// consoleRow is one row of the console's event list.
type consoleRow struct {
	Type string `json:"type"`
	Data string `json:"data"`
	JSON bool   `json:"json"` // the data was shown as pretty-printed JSON
	Time string `json:"time"`
}

// consoleRowsJS returns the rows of the event list with a given id, newest
// first.
const consoleRowsJS = `[...document.querySelectorAll('#events tbody tr')].filter(r => r.dataset.id === %q).map(r => ({
	type: r.querySelector('td.type').textContent,
	data: r.querySelector('td.data pre').textContent,
	json: r.querySelector('td.data pre').classList.contains('json'),
	time: r.querySelector('td.time').textContent,
}))`

// TestConsoleInBrowser opens the console in headless Chromium against the
// real server, subscribes to two topics, publishes from the form and over
// gRPC, and checks that both events appear in the list with their id, type
// and data (JSON pretty-printed), that the chart is fed by the stats
// stream, that a malformed cursor shows a gap notice and the replay, and
// that the page loads nothing from another origin. It saves a screenshot
// in the test's artifact directory (kept with go test -artifacts).
func TestConsoleInBrowser(t *testing.T) {
	s := startServer(t, nil)
	ctx := browsertest.Tab(t, browsertest.New(t, chromedp.WindowSize(1400, 1000)))
	ctx, cancel := context.WithTimeout(ctx, 2*waitTimeout)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	until := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(waitTimeout))
	}
	rows := func(id string) []consoleRow {
		t.Helper()
		return evalJS[[]consoleRow](t, ctx, fmt.Sprintf(consoleRowsJS, id))
	}

	do("open the console",
		chromedp.Navigate(s.httpURL+"/"),
		until(`document.querySelector('#stats-status').dataset.state === 'open'`))
	do("subscribe",
		chromedp.SetValue(chromedp.CSS("#topics"), "orders, invoices"),
		chromedp.Click(chromedp.CSS("#subscribe")),
		until(`document.querySelector('#stream-status').dataset.state === 'open'`))
	if topic := evalJS[string](t, ctx, `document.querySelector('#publish-topic').value`); topic != "orders" {
		t.Errorf("the publish form's topic is %q, want the first topic subscribed to", topic)
	}

	// Publish from the form, through the REST mapping.
	do("publish from the form",
		chromedp.SetValue(chromedp.CSS("#publish-type"), "order.created"),
		chromedp.SetValue(chromedp.CSS("#publish-data"), `{"id":42,"items":["a","b"]}`),
		chromedp.Click(chromedp.CSS("#publish")),
		until(`document.querySelector('#publish-result').className !== ''`))
	formID := evalJS[string](t, ctx, `document.querySelector('#publish-result').dataset.id ?? ''`)
	if formID == "" {
		t.Fatalf("publish from the form: %q", evalJS[string](t, ctx, `document.querySelector('#publish-result').textContent`))
	}
	topic, err := s.grpc.GetTopic(ctx, &ssebridgev1.GetTopicRequest{Topic: "orders"})
	if err != nil || topic.GetTopic().GetLastEventId() != formID {
		t.Fatalf("GetTopic(orders) = %v, %v; want last event %s, the form's", topic, err, formID)
	}
	do("see the form's event", until(fmt.Sprintf(`document.querySelector('#events tr[data-id=%q]')`, formID)))
	got := rows(formID)
	wantData := "{\n  \"id\": 42,\n  \"items\": [\n    \"a\",\n    \"b\"\n  ]\n}"
	if len(got) != 1 || got[0].Type != "order.created" || got[0].Data != wantData || !got[0].JSON ||
		!regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d\d\d$`).MatchString(got[0].Time) {
		t.Fatalf("rows of the form's event = %+v, want one of type order.created with data\n%s", got, wantData)
	}

	// An event published over gRPC, without a type, to the second topic.
	grpcID := s.publish(t, "invoices", "", "plain text\nsecond line").Id
	do("see the gRPC event", until(fmt.Sprintf(`document.querySelector('#events tr[data-id=%q]')`, grpcID)))
	if got := rows(grpcID); len(got) != 1 || got[0].Type != "message" || got[0].Data != "plain text\nsecond line" || got[0].JSON {
		t.Fatalf("rows of the gRPC event = %+v", got)
	}

	// The chart: the stats stream counts the two events and the page's
	// own subscriber, and the rate chart has drawn its lines.
	do("see the stats",
		until(`document.querySelector('#stats-now').dataset.published === '2' &&
			document.querySelector('#stats-now').dataset.subscribers === '1' &&
			+document.querySelector('#rate-chart').dataset.points >= 3`))
	blue := evalJS[int](t, ctx, `(() => {
		const c = document.querySelector('#rate-chart');
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let n = 0;
		const near = (i, r, g, b) => Math.abs(d[i] - r) + Math.abs(d[i+1] - g) + Math.abs(d[i+2] - b) < 40;
		for (let i = 0; i < d.length; i += 4) if (d[i+3] > 200 && near(i, 0x25, 0x63, 0xeb)) n++;
		return n;
	})()`)
	if blue < 5 {
		t.Errorf("the rate chart has %d pixels of the published line's colour, want a line", blue)
	}

	// Resubscribe after a malformed cursor: a gap notice, then everything
	// retained, which shows both events a second time.
	do("resubscribe after a malformed cursor",
		chromedp.SetValue(chromedp.CSS("#start"), "id"),
		chromedp.Func(func(ctx context.Context, tab *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`document.querySelector('#start').dispatchEvent(new Event('change'))`)(ctx, tab)
			return err
		}),
		chromedp.WaitVisible(chromedp.CSS("#start-id")),
		chromedp.SetValue(chromedp.CSS("#start-id"), "not-a-cursor"),
		chromedp.Click(chromedp.CSS("#subscribe")),
		until(`document.querySelectorAll('#events tbody tr').length === 5`))
	gap := evalJS[consoleRow](t, ctx, `(() => { const r = document.querySelector('#events tbody tr.gap');
		return {type: r.dataset.type, data: r.querySelector('pre').textContent, json: true, time: ''}; })()`)
	if gap.Type != "ssebridge.gap" || !strings.Contains(gap.Data, `"reason": "cursor_malformed"`) ||
		!strings.Contains(gap.Data, `"last_event_id": "not-a-cursor"`) {
		t.Errorf("gap row = %+v", gap)
	}
	if n, m := len(rows(formID)), len(rows(grpcID)); n != 2 || m != 2 {
		t.Errorf("after the replay the events are shown %d and %d times, want twice each", n, m)
	}

	// Nothing came from elsewhere: every resource is the server's.
	for _, url := range evalJS[[]string](t, ctx, `performance.getEntriesByType('resource').map(e => e.name)`) {
		if !strings.HasPrefix(url, s.httpURL+"/") {
			t.Errorf("the page loaded %s, not from the server", url)
		}
	}

	do("wait for a few points on the chart", until(`+document.querySelector('#rate-chart').dataset.points >= 3`))
	do("let the new rows' highlight fade", until(`document.getAnimations().length === 0`))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.ArtifactDir(), "console.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestConsoleWithTokens opens the console on a server that requires
// tokens. Without one the subscription fails and the page shows the
// server's reason; with the token typed into the page it subscribes (the
// token travels in the --jwt-cookie cookie) and publishes (in an
// Authorization header), and a publish the token does not grant shows the
// refusal.
func TestConsoleWithTokens(t *testing.T) {
	s := secured(t, nil)
	token := grantToken(t, []string{"orders.*"}, []string{"orders.created"})
	ctx := browsertest.Tab(t, browsertest.New(t))
	ctx, cancel := context.WithTimeout(ctx, 2*waitTimeout)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	until := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(waitTimeout))
	}
	text := func(sel string) string {
		t.Helper()
		return evalJS[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).textContent`, sel))
	}

	do("subscribe without a token",
		chromedp.Navigate(s.httpURL+"/"),
		chromedp.SetValue(chromedp.CSS("#topics"), "orders.created"),
		chromedp.Click(chromedp.CSS("#subscribe")),
		until(`!document.querySelector('#subscribe-error').hidden`))
	if state := evalJS[string](t, ctx, `document.querySelector('#stream-status').dataset.state`); state != "failed" ||
		!strings.HasPrefix(text("#subscribe-error"), "UNAUTHENTICATED: ") {
		t.Fatalf("without a token: stream %s, error %q; want failed and unauthenticated", state, text("#subscribe-error"))
	}

	do("subscribe with the token",
		chromedp.SetValue(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#subscribe")),
		until(`document.querySelector('#stream-status').dataset.state === 'open'`))
	if c := evalJS[string](t, ctx, `document.cookie`); c != "ssebridge_token="+token {
		t.Errorf("cookies %q, want the token in ssebridge_token", c)
	}
	do("publish with the token",
		chromedp.SetValue(chromedp.CSS("#publish-data"), "granted"),
		chromedp.Click(chromedp.CSS("#publish")),
		until(`document.querySelector('#publish-result').className !== ''`))
	id := evalJS[string](t, ctx, `document.querySelector('#publish-result').dataset.id ?? ''`)
	if id == "" {
		t.Fatalf("publish with the token: %q", text("#publish-result"))
	}
	do("see the event", until(fmt.Sprintf(`document.querySelector('#events tr[data-id=%q]')`, id)))

	do("publish outside the grant",
		chromedp.SetValue(chromedp.CSS("#publish-topic"), "orders.deleted"),
		chromedp.Click(chromedp.CSS("#publish")),
		until(`document.querySelector('#publish-result').className === 'bad'`))
	if got := text("#publish-result"); !strings.HasPrefix(got, "HTTP 403: ") {
		t.Errorf("publish outside the grant shows %q, want HTTP 403 and the reason", got)
	}
}
