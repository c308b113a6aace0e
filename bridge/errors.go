package bridge

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/ssebridge/ssebridge/auth"
	"github.com/ssebridge/ssebridge/internal/streamlimit"
	"github.com/ssebridge/ssebridge/pubsub"
)

// Errors of the bridge. They are wrapped with detail; test for them with
// errors.Is.
var (
	// ErrTooManyTopics: a subscription names more topics than
	// Config.MaxTopics allows.
	ErrTooManyTopics = errors.New("bridge: too many topics")
	// ErrTooManyStreams: the server holds its maximum of streams
	// (Config.MaxStreams, or the limit of Config.Streams). It is the
	// error value the gRPC server's stream limit uses too.
	ErrTooManyStreams = streamlimit.ErrTooManyStreams
	// ErrTooManyClientStreams: the client holds its maximum of streams
	// (Config.MaxStreamsPerClient, or the limit of Config.Streams).
	ErrTooManyClientStreams = streamlimit.ErrTooManyClientStreams
	// ErrInvalidID: an SSE event id is empty, holds CR, LF or NUL, or is not
	// valid UTF-8.
	ErrInvalidID = errors.New("bridge: invalid event id")
	// ErrInvalidEventType: an SSE event type holds CR, LF or NUL, or is not
	// valid UTF-8.
	ErrInvalidEventType = errors.New("bridge: invalid event type")
	// ErrInvalidData: SSE event data is not valid UTF-8.
	ErrInvalidData = errors.New("bridge: invalid event data")
	// ErrInvalidComment: an SSE comment holds CR or LF, or is not valid
	// UTF-8.
	ErrInvalidComment = errors.New("bridge: invalid comment")
)

// httpErrors maps errors found before a stream starts to HTTP statuses and
// error codes. The first entry whose err matches (errors.Is) wins; an error
// matching none is a 500 "internal". The messages of 4xx errors are the
// errors' own texts, which name the bad value; 5xx errors are answered with
// a fixed message.
var httpErrors = []struct {
	err    error
	status int
	code   string
}{
	{pubsub.ErrInvalidTopic, http.StatusBadRequest, "invalid_topic"},
	{pubsub.ErrNoTopics, http.StatusBadRequest, "no_topics"},
	{ErrTooManyTopics, http.StatusBadRequest, "too_many_topics"},
	{auth.ErrInvalidToken, http.StatusUnauthorized, "invalid_token"},
	{auth.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated"},
	{auth.ErrForbidden, http.StatusForbidden, "forbidden"},
	{ErrTooManyStreams, http.StatusTooManyRequests, "too_many_streams"},
	{ErrTooManyClientStreams, http.StatusTooManyRequests, "too_many_client_streams"},
	{pubsub.ErrClosed, http.StatusServiceUnavailable, "unavailable"},
}

// httpError returns the status, code and client-facing message for err.
func httpError(err error) (status int, code, msg string) {
	for _, e := range httpErrors {
		if errors.Is(err, e.err) {
			if e.status >= 500 {
				return e.status, e.code, http.StatusText(e.status)
			}
			return e.status, e.code, err.Error()
		}
	}
	return http.StatusInternalServerError, "internal", "internal error"
}

// errorBody is the JSON body of an error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError writes an error response with the given HTTP status and the
// JSON body
//
//	{"error":{"code":"<code>","message":"<msg>"}}
//
// where code is a short snake_case word such as "invalid_topic" and msg is
// text for people. It must be called before anything else is written to w.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(errorBody{Error: errorDetail{Code: code, Message: msg}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
