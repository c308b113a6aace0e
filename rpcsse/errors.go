package rpcsse

import (
	"errors"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ssebridge/ssebridge/internal/apierror"
	"github.com/ssebridge/ssebridge/sse"
)

// Reasons of the errors a Bridge answers itself (the ErrorInfo reason of
// the JSON error, see package internal/apierror).
const (
	ReasonInvalidParameter = "INVALID_PARAMETER"
	ReasonUnauthenticated  = "UNAUTHENTICATED"
	ReasonNotFound         = "NOT_FOUND"
	ReasonBackend          = "BACKEND_ERROR"
)

// ErrEnded is the error a stream ends with when its backend ended it
// normally (after the EndEvent); Bridge streams otherwise end with a
// *status.Status error from the backend, or one of package sse's errors.
var ErrEnded = errors.New("rpcsse: backend ended the stream")

// permanent reports whether a backend status before the first message is
// answered with an HTTP status, after which an EventSource does not
// reconnect: the request itself is wrong, and a retry would meet the same
// answer. Besides the codes the issue named (INVALID_ARGUMENT, NOT_FOUND,
// PERMISSION_DENIED, UNAUTHENTICATED, UNIMPLEMENTED), the other codes
// grpc-gateway maps to a 4xx but 429 are permanent too. Other codes open the stream with an error event, and the
// EventSource retries.
func permanent(c codes.Code) bool {
	switch c {
	case codes.InvalidArgument, codes.NotFound, codes.PermissionDenied,
		codes.Unauthenticated, codes.Unimplemented,
		codes.FailedPrecondition, codes.OutOfRange, codes.AlreadyExists:
		return true
	}
	return false
}

// backendStatus returns the status to tell a client for err, an error of a
// call to the backend. A status the backend sent is passed on as it is.
// One that grpc-go made up on this side of the connection (the backend
// unreachable, the connection broken, a message too large) carries
// addresses and internals in its message: the client gets its code with a
// fixed message.
func backendStatus(err error) *status.Status {
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK {
		return status.New(codes.Internal, "backend call failed")
	}
	if len(st.Details()) == 0 && localStatus(st) {
		return status.New(st.Code(), localMessage(st.Code()))
	}
	return st
}

// localMessages start the messages of the statuses grpc-go reports for
// failures on the client's side of a call.
var localMessages = []string{
	"connection error", "transport:", "grpc:", "error reading from server",
	"name resolver", "last connection error", "last resolver error",
	"stream terminated by RST_STREAM", "context deadline exceeded",
	"context canceled", "server closed the stream without sending trailers",
	"unexpected EOF", "failed to exit idle mode", "received message larger",
	"received prior goaway", "the client connection is closing",
}

// localStatus reports whether st looks like one grpc-go made up itself.
func localStatus(st *status.Status) bool {
	switch st.Code() {
	case codes.Unavailable, codes.Internal, codes.Unknown, codes.Canceled,
		codes.DeadlineExceeded, codes.ResourceExhausted:
	default:
		return false
	}
	msg := strings.ToLower(st.Message())
	for _, p := range localMessages {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// localMessage is the message a client gets for a status grpc-go made up.
func localMessage(c codes.Code) string {
	switch c {
	case codes.Unavailable:
		return "backend unavailable"
	case codes.DeadlineExceeded:
		return "backend call timed out"
	case codes.ResourceExhausted:
		return "backend message too large"
	}
	return "backend call failed"
}

// errorFrame returns the ErrorEvent of st, its data st as JSON by mo. A
// detail whose type cannot be resolved is left out.
func errorFrame(st *status.Status, mo protojson.MarshalOptions) *sse.Frame {
	b, err := mo.Marshal(st.Proto())
	if err != nil {
		b, _ = mo.Marshal(status.New(st.Code(), st.Message()).Proto())
	}
	f, err := sse.NewFrame(sse.Event{Type: ErrorEvent, Data: string(b), Notice: true})
	if err != nil {
		// protojson writes valid UTF-8, but a status message may not be.
		f = mustFrame(sse.Event{Type: ErrorEvent, Data: `{"code":13,"message":"backend status not valid UTF-8"}`, Notice: true})
	}
	return f
}

// writeError answers a request the bridge refuses with st, in the
// project's JSON error shape.
func writeError(w http.ResponseWriter, st *status.Status) {
	apierror.Write(w, 0, st)
}

// badParameter is the status of a request whose path or query parameter
// field cannot be set from the value sent.
func badParameter(field string, err error) *status.Status {
	return apierror.BadRequest(ReasonInvalidParameter, field, "invalid parameter "+field+": "+errorText(err))
}

// errorText returns the text of err, the last part of a chain of wrapped
// messages.
func errorText(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		return msg[i+2:]
	}
	return msg
}

// authError returns the status of an Authorizer's err.
func authError(err error) *status.Status {
	if st, ok := status.FromError(err); ok {
		return st
	}
	return apierror.New(codes.Unauthenticated, ReasonUnauthenticated, "authentication required")
}

// admitError returns the status of an Admitter's err.
func admitError(err error) *status.Status {
	if st, ok := status.FromError(err); ok {
		return st
	}
	return apierror.New(codes.ResourceExhausted, "TOO_MANY_STREAMS", "too many streams")
}
