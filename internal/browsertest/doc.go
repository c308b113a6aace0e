// Package browsertest runs Debian's headless Chromium for end-to-end tests,
// driven through chromedp: real pages, the browser's own EventSource, its
// own HTTP stack.
//
// New starts one browser for a test (and its subtests); Tab opens a tab in
// a fresh browser context, with its own cookies and caches, so that
// subtests sharing a browser do not see each other's state. Both stop when
// their test ends.
//
// Chromium must be installed at ExecPath (Debian's package chromium; make
// test installs it). A test that finds it missing fails, naming the
// package: a browser test never skips.
package browsertest
