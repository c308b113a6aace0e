package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/cors"
)

// originList is the value of --cors-origins: exact origins such as
// https://app.example.com, separated by commas, or "*" alone. Set replaces
// the list, so the command line overrides the environment.
type originList []string

func (l *originList) String() string { return strings.Join(*l, ",") }

func (l *originList) Set(s string) error {
	var origins []string
	for o := range strings.SplitSeq(s, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if err := checkOrigin(o); err != nil {
			return err
		}
		origins = append(origins, o)
	}
	if len(origins) > 1 && strings.Contains(s, "*") {
		return fmt.Errorf("* allows every origin: give it alone, not in a list")
	}
	*l = origins
	return nil
}

// checkOrigin accepts "*" and origins as browsers send them in the Origin
// header: scheme://host[:port], with no path, not even "/".
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil {
		return fmt.Errorf("origin %q: %w", o, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Contains(u.Host, "*") ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("origin %q: want scheme://host[:port] with scheme http or https, such as https://app.example.com", o)
	}
	return nil
}

// corsMaxAge is how long browsers may cache a preflight's answer, in
// seconds. Chromium caps it at 2 hours, Firefox at 24.
const corsMaxAge = 600

// withCORS answers the CORS requests of browsers on origins other than the
// server's own: pages on an allowed origin may open event streams (with
// cookies: EventSource's withCredentials), call the REST API, and send
// Last-Event-ID, Authorization and Content-Type, which need a preflight
// when their values are not CORS-safelisted (a Last-Event-ID longer than
// 128 bytes, say). With "*" any origin may, without credentials: browsers
// refuse credentials with "*". Without origins, h is returned as is and
// browsers allow same-origin pages only.
//
// Requests from other origins are still served: the browser, not the
// server, keeps their responses from the page.
func withCORS(origins []string, h http.Handler) http.Handler {
	if len(origins) == 0 {
		return h
	}
	anyOrigin := len(origins) == 1 && origins[0] == "*"
	return cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodHead, http.MethodPost},
		AllowedHeaders:   []string{"Authorization", "Cache-Control", "Content-Type", "Last-Event-ID"},
		AllowCredentials: !anyOrigin,
		MaxAge:           corsMaxAge,
	}).Handler(h)
}
