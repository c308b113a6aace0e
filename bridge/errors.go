package bridge

import (
	"errors"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ssebridge/ssebridge/auth"
	"github.com/ssebridge/ssebridge/internal/apierror"
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
)

// httpErrors maps errors found before a stream starts to the status the
// client receives (see package internal/apierror for its shape): a gRPC
// code, whose HTTP status is the one grpc-gateway maps it to, an ErrorInfo
// reason and, for bad input, the request field at fault. It is the one
// place where the bridge's errors become HTTP answers, and it agrees with
// the gRPC mapping of package server, so that a fault gets the same answer
// on an SSE route and a REST one. The first entry whose err matches
// (errors.Is) wins; an error matching none is INTERNAL. The messages of 4xx
// errors are the errors' own texts, which name the bad value; 5xx errors
// are answered with a fixed message.
var httpErrors = []struct {
	err    error
	code   codes.Code
	reason string
	field  string        // "" for none
	retry  time.Duration // a RetryInfo (and Retry-After) when not 0
}{
	{pubsub.ErrInvalidTopic, codes.InvalidArgument, "INVALID_TOPIC", "topic", 0},
	{pubsub.ErrNoTopics, codes.InvalidArgument, "NO_TOPICS", "topic", 0},
	{ErrTooManyTopics, codes.InvalidArgument, "TOO_MANY_TOPICS", "topic", 0},
	{auth.ErrInvalidToken, codes.Unauthenticated, apierror.ReasonInvalidToken, "", 0},
	{auth.ErrUnauthenticated, codes.Unauthenticated, apierror.ReasonUnauthenticated, "", 0},
	{auth.ErrForbidden, codes.PermissionDenied, apierror.ReasonForbidden, "", 0},
	{ErrTooManyStreams, codes.ResourceExhausted, "TOO_MANY_STREAMS", "", 0},
	{ErrTooManyClientStreams, codes.ResourceExhausted, "TOO_MANY_CLIENT_STREAMS", "", 0},
	{pubsub.ErrClosed, codes.Unavailable, "UNAVAILABLE", "", 0},
	{pubsub.ErrUnavailable, codes.Unavailable, "BROKER_UNAVAILABLE", "", brokerRetryAfter},
}

// brokerRetryAfter is the Retry-After of a stream refused because the
// broker cannot reach its store.
const brokerRetryAfter = time.Second

// ErrorStatus returns the status that answers err, an error found before
// a stream starts (bad input, refused credentials, limits), as WriteError
// writes it: the one mapping of these errors on the HTTP side, which other
// HTTP routes (the proxy mode's) use too.
func ErrorStatus(err error) *status.Status {
	for _, e := range httpErrors {
		if !errors.Is(err, e.err) {
			continue
		}
		if e.field != "" {
			return apierror.BadRequest(e.reason, e.field, err.Error())
		}
		msg := err.Error()
		if code := runtime.HTTPStatusFromCode(e.code); code >= 500 {
			msg = http.StatusText(code)
		}
		if e.retry > 0 {
			return apierror.New(e.code, e.reason, msg, apierror.RetryAfter(e.retry))
		}
		return apierror.New(e.code, e.reason, msg)
	}
	return apierror.New(codes.Internal, apierror.ReasonInternal, "internal error")
}

// WriteError answers a request with the status of err in the
// JSON shape of every ssebridge error (package internal/apierror), such as
//
//	{"code":3,"message":"...","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"INVALID_TOPIC","domain":"ssebridge"},...]}
//
// with the HTTP status mapped from the code and, for 401 and 403, a
// WWW-Authenticate challenge: bad input is 400 (INVALID_ARGUMENT naming
// the field "topic"), refused credentials 401 or 403, limits 429
// (RESOURCE_EXHAUSTED), a closed broker 503 (UNAVAILABLE), any other error
// 500 (INTERNAL, with the message "internal error"). It must be called
// before anything else is written to w.
func WriteError(w http.ResponseWriter, err error) {
	apierror.Write(w, 0, ErrorStatus(err))
}
