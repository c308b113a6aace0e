package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/internal/apierror"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/pubsub"
)

// routeMethods are the methods a 405 answer may list in its Allow header.
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// noRoute is mux's catch-all "/" route: it answers the requests that no
// other route of mux serves, with 405 and an Allow header when routes have
// the path with other methods, else with 404, in the one error shape. The
// methods are found by asking mux, so they are those of the routes
// registered at the time of the request.
// Each answer is counted in m.Rejected under transport "http".
func noRoute(mux *http.ServeMux, m *metrics.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			m.Rejected.WithLabelValues(metrics.HTTP, "method_not_allowed").Inc()
			w.Header().Set("Allow", strings.Join(allow, ", "))
			apierror.Write(w, http.StatusMethodNotAllowed, apierror.New(codes.Unimplemented, apierror.ReasonMethodNotAllowed,
				fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", "))))
			return
		}
		notFound(w, r, m)
	})
}

// allowedMethods returns the methods with which a route of mux other than
// the catch-all serves r's path.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range routeMethods {
		probe := *r
		probe.Method = m
		if _, pattern := mux.Handler(&probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// notFound answers a request for a path that nothing serves, and counts it.
func notFound(w http.ResponseWriter, r *http.Request, m *metrics.Metrics) {
	m.Rejected.WithLabelValues(metrics.HTTP, "not_found").Inc()
	apierror.Write(w, 0, apierror.New(codes.NotFound, apierror.ReasonNotFound,
		fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)))
}

// withoutPathRedirects answers the requests under /v1/ whose path has an
// empty, "." or ".." segment, which http.ServeMux would otherwise redirect
// to the cleaned path, another route (GET /v1/topics//events to GET
// /v1/topics/events). The path of a topic route whose topic is such a
// segment is an invalid topic, answered like any other (400,
// INVALID_TOPIC); every other such path is not found. Both are counted in
// m.Rejected under transport "http".
func withoutPathRedirects(next http.Handler, m *metrics.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.EscapedPath()
		if !strings.HasPrefix(path, "/v1/") || r.Method == http.MethodConnect || !needsCleaning(path) {
			next.ServeHTTP(w, r)
			return
		}
		if topic, ok := pathTopic(path); ok {
			if err := pubsub.ValidateTopic(topic); err != nil {
				m.Rejected.WithLabelValues(metrics.HTTP, "invalid_topic").Inc()
				bridge.WriteError(w, err)
				return
			}
		}
		notFound(w, r, m)
	})
}

// needsCleaning reports whether the escaped path has a segment that
// http.ServeMux cleans away: "." or "..", or an empty one before the last.
func needsCleaning(path string) bool {
	segments := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, s := range segments {
		if s == "." || s == ".." || (s == "" && i < len(segments)-1) {
			return true
		}
	}
	return false
}

// pathTopic returns the topic of an escaped path of the form
// /v1/topics/{topic} or /v1/topics/{topic}/events, unescaped.
func pathTopic(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/v1/topics/")
	if !ok {
		return "", false
	}
	topic, tail, _ := strings.Cut(rest, "/")
	if tail != "" && tail != "events" {
		return "", false
	}
	if unescaped, err := url.PathUnescape(topic); err == nil {
		topic = unescaped
	}
	return topic, true
}
