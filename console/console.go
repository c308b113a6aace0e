package console

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"

	"google.golang.org/grpc/codes"

	"github.com/ssebridge/ssebridge/auth"
	"github.com/ssebridge/ssebridge/internal/apierror"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/sse"
)

// Defaults for the zero values of Config.
const (
	DefaultStatsInterval = time.Second
	DefaultWriteTimeout  = 10 * time.Second
)

// contentSecurityPolicy lets the page load and connect to its own origin
// only: nothing from a CDN, no inline script.
const contentSecurityPolicy = "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed assets
var embedded embed.FS

// Config configures a Handler. The zero value of every field but Metrics
// means its default.
type Config struct {
	// Metrics are the collectors the stats stream reads: the ones the
	// SSE bridge and the gRPC server record into. Required.
	Metrics *metrics.Metrics
	// StatsInterval is the time between two events of the stats stream.
	// 0 means DefaultStatsInterval (1s).
	StatsInterval time.Duration
	// WriteTimeout bounds each write to a stats viewer; a viewer that does
	// not take a write within it is disconnected. 0 means
	// DefaultWriteTimeout (10s).
	WriteTimeout time.Duration
	// TokenCookie is the cookie in which the page sends the token typed
	// into it to the event streams, since EventSource cannot set headers:
	// the server's --jwt-cookie. Empty means auth.DefaultCookie. (The page
	// sends the token to the REST API as an Authorization header.)
	TokenCookie string
	// Logger receives the handler's logs. nil means none.
	Logger *slog.Logger
}

// Handler serves the console and the stats stream; see the package
// documentation. Its methods are safe for concurrent use.
type Handler struct {
	assets  fs.FS
	index   []byte
	sampler *sampler
	log     *slog.Logger

	// streams writes the stats streams: headers, deadlines, heartbeats
	// and the end at Shutdown.
	streams *sse.Server
}

// New returns a Handler for cfg. It fails when cfg.Metrics is nil or a
// duration is negative.
func New(cfg Config) (*Handler, error) {
	if cfg.Metrics == nil {
		return nil, errors.New("console: Config.Metrics is nil")
	}
	if cfg.StatsInterval < 0 || cfg.WriteTimeout < 0 {
		return nil, fmt.Errorf("console: negative Config value: StatsInterval %v, WriteTimeout %v",
			cfg.StatsInterval, cfg.WriteTimeout)
	}
	assets, err := fs.Sub(embedded, "assets")
	if err != nil {
		return nil, fmt.Errorf("console: embedded assets: %w", err)
	}
	index, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		return nil, fmt.Errorf("console: embedded assets: %w", err)
	}
	cookie := orDefault(cfg.TokenCookie, auth.DefaultCookie)
	if !validCookieName(cookie) {
		return nil, fmt.Errorf("console: Config.TokenCookie %q is not a cookie name", cookie)
	}
	index = bytes.ReplaceAll(index, []byte(tokenCookiePlaceholder), []byte(cookie))
	h := &Handler{
		assets:  assets,
		index:   index,
		sampler: newSampler(cfg.Metrics, orDefault(cfg.StatsInterval, DefaultStatsInterval)),
		log:     cfg.Logger,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.sampler.log = h.log
	// No retry line: the stream cannot be resumed, and a viewer simply
	// reconnects after its client's default delay. Its viewers are not
	// subscribers: no metrics.
	h.streams, err = sse.New(sse.Config{
		Retry:        -1,
		WriteTimeout: orDefault(cfg.WriteTimeout, DefaultWriteTimeout),
		Logger:       h.log,
	})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return h, nil
}

// tokenCookiePlaceholder stands for the name of the token cookie in
// index.html.
const tokenCookiePlaceholder = "{{token-cookie}}"

// validCookieName reports whether s is a cookie name (an RFC 7230 token),
// which needs no escaping in HTML or in document.cookie.
func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Register registers the handler's routes on mux:
//
//	GET /                 the console page
//	GET /console/{file}   its assets
//	GET /v1/stats         the stats stream
//
// GET / matches the root path only ("/{$}"), so a catch-all "/" route on
// mux still answers every other path.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", h.serveIndex)
	mux.Handle("GET /console/", http.StripPrefix("/console/", h.assetServer()))
	mux.HandleFunc("GET /v1/stats", h.serveStats)
}

// Shutdown ends every open stats stream, as a normal end of the response.
// Streams requested after Shutdown end as soon as they start. It does not
// wait for the handlers to return; http.Server.Shutdown does. It may be
// called more than once.
func (h *Handler) Shutdown() {
	h.streams.Shutdown()
}

func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	setAssetHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(h.index)
}

// assetServer serves the embedded files. Directories are not listed; a
// missing file is a 404 in the API's error shape.
func (h *Handler) assetServer() http.Handler {
	files := http.FileServerFS(h.assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, err := fs.Stat(h.assets, r.URL.Path); err != nil || info.IsDir() {
			apierror.Write(w, 0, apierror.New(codes.NotFound, apierror.ReasonNotFound, "no console file "+r.URL.Path))
			return
		}
		setAssetHeaders(w.Header())
		files.ServeHTTP(w, r)
	})
}

// setAssetHeaders sets the headers of every console file. The files have no
// modification time (embed drops it), so browsers are told to revalidate
// rather than keep a copy from an older binary.
func setAssetHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}
