package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ssebridge/ssebridge/auth"
	"github.com/ssebridge/ssebridge/internal/apierror"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/internal/streamlimit"
	"github.com/ssebridge/ssebridge/pubsub"
)

// Errors of this package's own checks, wrapped with detail.
var (
	errDataTooLarge  = errors.New("server: data too large")
	errTooManyTopics = errors.New("server: too many topics")
	errShuttingDown  = errors.New("server: shutting down")
	// errCredentialExpired ends a Subscribe call whose credential expired.
	errCredentialExpired = errors.New("server: credential expired")
	// errStalled ends a Subscribe call whose client did not take a
	// message within the write timeout.
	errStalled = errors.New("server: subscriber stalled")
	// errMaxStreamAge ends a Subscribe call at its maximum age.
	errMaxStreamAge = errors.New("server: max stream age reached")
)

// Messages of the UNAVAILABLE statuses that ask the client to come back.
const (
	msgShuttingDown = "server shutting down; resubscribe with last_event_id"
	msgSlow         = "subscriber fell behind and its queue overflowed; resubscribe with last_event_id set to the id of the last event received"
	msgClosed       = "broker closed; retry later (resubscribe with last_event_id)"
	msgUnavailable  = "the broker cannot store events at the moment; nothing was stored: retry later, with the same idempotency key"
	msgExpired      = "credential expired; resubscribe with a fresh token and last_event_id"
	msgStalled      = "subscriber took no message within the write timeout; resubscribe with last_event_id set to the id of the last event received"
	msgMaxAge       = "stream reached its maximum age; resubscribe with last_event_id set to the id of the last event received"
)

// brokerRetryAfter is the Retry-After of a call refused because the broker
// is unavailable: soon enough for a store that restarts, and spread by the
// clients' own backoff.
const brokerRetryAfter = time.Second

// rateLimitedError refuses a publish over the credential's rate.
type rateLimitedError struct {
	retryAfter time.Duration
}

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("server: publish rate limit reached; retry in %v", e.retryAfter.Round(time.Millisecond))
}

// fieldError names the request field that err is about, where the domain
// error alone does not say it: an invalid topic is field "topic" in Publish
// and GetTopic but "topics" in Subscribe.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// inField marks err as a fault of the request field named field.
func inField(field string, err error) error {
	return &fieldError{field: field, err: err}
}

// dataTooLarge is the error for data of size bytes over the limit.
func dataTooLarge(size, limit int) error {
	return fmt.Errorf("%w: data is %d bytes, the limit is %d bytes", errDataTooLarge, size, limit)
}

// inputErrors are the errors that are the request's fault: the field each
// concerns (unless a fieldError names another) and the reason counted in
// metrics.Rejected. The first entry that err matches (errors.Is) wins.
var inputErrors = []struct {
	err           error
	field, reason string
}{
	{pubsub.ErrInvalidTopic, "topic", "invalid_topic"},
	{pubsub.ErrNoTopics, "topics", "no_topics"},
	{errTooManyTopics, "topics", "too_many_topics"},
	{pubsub.ErrInvalidType, "type", "invalid_type"},
	{pubsub.ErrInvalidIdempotencyKey, "idempotency_key", "invalid_idempotency_key"},
	{pubsub.ErrInvalidData, "data", "invalid_data"},
	{errDataTooLarge, "data", "data_too_large"},
}

// badInput reports whether err is a fault of the request, and if so which
// field it concerns and the reason label counted in metrics.Rejected.
func badInput(err error) (field, reason string, ok bool) {
	for _, e := range inputErrors {
		if errors.Is(err, e.err) {
			field, reason, ok = e.field, e.reason, true
			break
		}
	}
	if !ok {
		return "", "", false
	}
	if fe, isField := errors.AsType[*fieldError](err); isField {
		field = fe.field
	}
	return field, reason, true
}

// status is statusFor a call that only gRPC serves (a stream).
func (s *Service) status(method string, err error) *status.Status {
	return s.statusFor(metrics.GRPC, method, err)
}

// statusFor maps err, returned by this package's checks, by the broker or
// by the stream, to the status the client receives. It is the one place
// where errors become gRPC codes. Every status it makes carries an
// ErrorInfo detail whose reason is the error's machine-readable code
// (package internal/apierror), so that REST clients, and the
// WWW-Authenticate challenge, read the same reason as gRPC clients. Bad
// input is counted in metrics.Rejected, under transport; errors the client
// cannot act on are logged and hidden behind "internal error". method
// names the RPC in the log.
func (s *Service) statusFor(transport, method string, err error) *status.Status {
	if field, reason, ok := badInput(err); ok {
		s.metrics.Rejected.WithLabelValues(transport, reason).Inc()
		return apierror.BadRequest(strings.ToUpper(reason), field, err.Error())
	}
	if rl, ok := errors.AsType[*rateLimitedError](err); ok {
		s.metrics.Rejected.WithLabelValues(transport, "rate_limited").Inc()
		return apierror.New(codes.ResourceExhausted, "RATE_LIMITED", rl.Error(), apierror.RetryAfter(rl.retryAfter))
	}
	if re, ok := errors.AsType[*streamlimit.RefusedError](err); ok {
		reason := "too_many_streams"
		if errors.Is(err, streamlimit.ErrTooManyClientStreams) {
			reason = "too_many_client_streams"
		}
		s.metrics.Rejected.WithLabelValues(transport, reason).Inc()
		return apierror.New(codes.ResourceExhausted, strings.ToUpper(reason), re.Error(), apierror.RetryAfter(re.RetryAfter))
	}
	switch {
	case errors.Is(err, auth.ErrInvalidToken):
		s.metrics.Rejected.WithLabelValues(transport, "invalid_token").Inc()
		return apierror.New(codes.Unauthenticated, apierror.ReasonInvalidToken, err.Error())
	case errors.Is(err, auth.ErrUnauthenticated):
		s.metrics.Rejected.WithLabelValues(transport, "unauthenticated").Inc()
		return apierror.New(codes.Unauthenticated, apierror.ReasonUnauthenticated, err.Error())
	case errors.Is(err, auth.ErrForbidden):
		s.metrics.Rejected.WithLabelValues(transport, "forbidden").Inc()
		return apierror.New(codes.PermissionDenied, apierror.ReasonForbidden, err.Error())
	case errors.Is(err, errCredentialExpired):
		return apierror.New(codes.Unauthenticated, "CREDENTIAL_EXPIRED", msgExpired)
	case errors.Is(err, pubsub.ErrTopicNotFound):
		return apierror.New(codes.NotFound, "TOPIC_NOT_FOUND", err.Error())
	case errors.Is(err, errShuttingDown):
		return apierror.New(codes.Unavailable, "SHUTTING_DOWN", msgShuttingDown)
	case errors.Is(err, pubsub.ErrSlowSubscriber):
		return apierror.New(codes.Unavailable, "SLOW_SUBSCRIBER", msgSlow)
	case errors.Is(err, errStalled):
		return apierror.New(codes.Unavailable, "STALLED_SUBSCRIBER", msgStalled)
	case errors.Is(err, errMaxStreamAge):
		return apierror.New(codes.Unavailable, "MAX_STREAM_AGE", msgMaxAge)
	case errors.Is(err, pubsub.ErrClosed):
		return apierror.New(codes.Unavailable, "UNAVAILABLE", msgClosed)
	case errors.Is(err, pubsub.ErrUnavailable):
		s.metrics.BrokerUnavailable.WithLabelValues(transport).Inc()
		return apierror.New(codes.Unavailable, "BROKER_UNAVAILABLE", msgUnavailable, apierror.RetryAfter(brokerRetryAfter))
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, context.Canceled.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, context.DeadlineExceeded.Error())
	}
	// Errors of the stream itself (a failed Send or Recv) already carry
	// their status.
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return st
	}
	s.log.Error("internal error", "method", method, "err", err)
	return apierror.New(codes.Internal, apierror.ReasonInternal, "internal error")
}

// statusError is status(method, err) as an error.
func (s *Service) statusError(method string, err error) error {
	return s.status(method, err).Err()
}
