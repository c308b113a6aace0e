package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ExecPath is where Debian's chromium package installs the browser.
const ExecPath = "/usr/bin/chromium"

// startTimeout bounds the start of the browser and of each tab.
const startTimeout = 30 * time.Second

// New starts a headless Chromium for t and returns a chromedp context for
// it; the browser stops when t ends. opts are added to the defaults, which
// are chromedp's own (headless, no first run, no background networking,
// no sync, ...) and: no sandbox (tests run as root), no GPU, no component
// updates, no QUIC, a fresh user data directory. For example,
// chromedp.Flag("ignore-certificate-errors-spki-list", hash) makes the
// browser trust a test's certificate.
//
// New fails t when Chromium is not installed at ExecPath or does not
// start. The browser's own output is logged when t fails.
func New(t testing.TB, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if _, err := os.Stat(ExecPath); errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Chromium is not installed at %s: install the Debian package chromium (apt-get install -y chromium; make test does it when run as root)", ExecPath)
	} else if err != nil {
		t.Fatalf("Chromium at %s: %v", ExecPath, err)
	}

	output := &syncBuffer{}
	all := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ExecPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(output),
	)
	all = append(all, opts...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), all...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// Runs before t.TempDir's removal: Cancel waits for the browser to exit.
	t.Cleanup(func() {
		closeCtx, cancelClose := context.WithTimeout(ctx, 10*time.Second)
		defer cancelClose()
		if err := chromedp.Cancel(closeCtx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("closing Chromium: %v", err)
		}
		cancel()
		cancelAlloc()
		if t.Failed() {
			t.Logf("Chromium's output:\n%s", output)
		}
	})

	if err := start(ctx, cancel); err != nil {
		t.Fatalf("starting Chromium (%s): %v\n%s", ExecPath, err, output)
	}
	return ctx
}

// start runs the first action on a chromedp context, which starts its
// browser or opens its tab. That action must not have a deadline, which
// would close the browser or the tab with it, so a timer bounds it
// instead, cancelling ctx when it fires.
func start(ctx context.Context, cancel context.CancelFunc) error {
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case err := <-started:
		return err
	case <-timer.C:
		cancel()
		<-started
		return fmt.Errorf("not started within %v", startTimeout)
	}
}

// Tab opens a new tab of the browser of browser (a context from New) in a
// new browser context, as an incognito window has: its own cookies, cache
// and preflight cache. The tab closes when t ends; what its pages wrote to
// the console is logged when t fails.
func Tab(t testing.TB, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	if err := start(ctx, cancel); err != nil {
		cancel()
		t.Fatalf("opening a tab: %v", err)
	}

	var console syncBuffer
	done := make(chan struct{})
	messages := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			fmt.Fprintf(&console, "%s %s\n", m.Time.Format("15:04:05.000"), m)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("the tab's console:\n%s", &console)
		}
	})
	return ctx
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
