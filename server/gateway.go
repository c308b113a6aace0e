package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/apierror"
)

// Messages of the answers to request bodies that could not be read. They
// are fixed: the transport's own error (addresses, "i/o timeout") is only
// logged.
const (
	msgBodyTimeout    = "the request body did not arrive in time"
	msgBodyUnreadable = "the request body could not be read"
)

// Gateway returns the REST mapping of the service's unary methods, served
// in process by grpc-gateway (no network hop to the gRPC server):
//
//	POST /v1/topics/{topic}/events  Publish, the JSON body is a PublishRequest
//	GET  /v1/topics                 ListTopics (?prefix=...)
//	GET  /v1/topics/{topic}         GetTopic
//
// HEAD is answered wherever GET is, without the body. The streaming
// methods have no REST mapping; browsers subscribe through the SSE bridge
// instead. GatewayRoutes lists the routes as http.ServeMux patterns.
//
// JSON uses the proto field names ("idempotency_key", "last_event_id"),
// and responses always carry every scalar field, zero or not ("sequence",
// "duplicate"); as protojson specifies, 64-bit integers are strings
// ("sequence": "1"). Requests accept proto or lowerCamel names and refuse
// unknown fields, so a misspelt field is an error rather than silently
// dropped. Errors have the one shape of package internal/apierror: a
// google.rpc.Status in JSON, such as {"code":3,"message":"...",
// "details":[...]}, whose details hold an ErrorInfo with the reason
// (INVALID_TOPIC, DATA_TOO_LARGE, ...), with the HTTP status mapped from
// the gRPC code (INVALID_ARGUMENT 400, NOT_FOUND 404, UNAVAILABLE 503) and
// a WWW-Authenticate challenge for 401 and 403. A request body larger than
// six times MaxDataBytes plus 64 KiB (room for data written entirely in
// \u escapes) is refused with 413 without being read whole; a body that
// does not arrive before the server's read deadline gets 408, one that
// cannot be read otherwise 400, both with a fixed message.
//
// The handler is safe for concurrent use. Each call returns a new handler
// over the same Service.
func (s *Service) Gateway() (http.Handler, error) {
	limit := s.bodyLimit()
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		// An escaped slash stays in its path segment, as http.ServeMux
		// keeps it for the SSE routes: "a%2Fb" is the invalid topic
		// "a/b" (400) on every route, not an unknown path (404).
		runtime.WithUnescapingMode(runtime.UnescapingModeAllExceptSlash),
		runtime.WithErrorHandler(func(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
			if b, ok := r.Body.(*limitedBody); ok && (b.exceeded || b.err != nil) {
				closeAfterReply(w, r)
			}
			httpStatus, st := s.gatewayStatus(r, err) // first: it may count the refusal itself
			s.countRESTRefusal(r.Context(), err)
			apierror.Write(w, httpStatus, st)
		}),
	)
	if err := ssebridgev1.RegisterEventServiceHandlerServer(context.Background(), mux, s); err != nil {
		return nil, fmt.Errorf("server: registering the REST mapping: %w", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(withRESTCall(r.Context())) // for the metrics
		if err := checkGatewayAuthorization(r.Header); err != nil {
			_, out := runtime.MarshalerForRequest(mux, r)
			runtime.HTTPError(r.Context(), mux, out, w, r, s.callError(r.Context(), "REST", err))
			return
		}
		if r.ContentLength > limit {
			closeAfterReply(w, r)
			apierror.Write(w, http.StatusRequestEntityTooLarge, s.bodyTooLarge(r.Context()))
			return
		}
		if r.Method == http.MethodHead {
			// net/http drops the body of the answer to the original
			// request, which stays HEAD.
			get := *r
			get.Method = http.MethodGet
			r = &get
		}
		r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit)}
		mux.ServeHTTP(w, r)
	}), nil
}

// GatewayRoutes returns the routes of the REST mapping as http.ServeMux
// patterns, such as "POST /v1/topics/{topic}/events", read from the
// google.api.http rules of the API. Register the handler of Gateway under
// each of them.
func GatewayRoutes() []string {
	var routes []string
	methods := ssebridgev1.File_ssebridge_v1_events_proto.Services().ByName("EventService").Methods()
	for i := range methods.Len() {
		rule, _ := proto.GetExtension(methods.Get(i).Options(), annotations.E_Http).(*annotations.HttpRule)
		var method, path string
		switch p := rule.GetPattern().(type) {
		case *annotations.HttpRule_Get:
			method, path = http.MethodGet, p.Get
		case *annotations.HttpRule_Post:
			method, path = http.MethodPost, p.Post
		case *annotations.HttpRule_Put:
			method, path = http.MethodPut, p.Put
		case *annotations.HttpRule_Patch:
			method, path = http.MethodPatch, p.Patch
		case *annotations.HttpRule_Delete:
			method, path = http.MethodDelete, p.Delete
		default:
			continue // streaming methods have no REST mapping
		}
		routes = append(routes, method+" "+path)
	}
	return routes
}

// bodyLimit is the largest REST request body. The limit is on the data,
// which JSON may write with a \u escape for every byte: six bytes per byte
// (a 4-byte character is a surrogate pair of 12 bytes). Six times the data
// limit plus overhead thus admits every encoding of legal data, and data
// over the limit reaches Publish and gets its error naming the field.
func (s *Service) bodyLimit() int64 {
	return 6*int64(s.maxData) + messageOverhead
}

// bodyTooLarge is the status of a body over bodyLimit, counted and mapped
// like any oversized data under the request's transport.
func (s *Service) bodyTooLarge(ctx context.Context) *status.Status {
	err := fmt.Errorf("%w: the request body is larger than %d bytes (data is limited to %d bytes)",
		errDataTooLarge, s.bodyLimit(), s.maxData)
	return s.callStatus(ctx, "Publish", err)
}

// gatewayStatus returns the HTTP status (0: the one of the code) and the
// status that answer err, an error of a REST request.
func (s *Service) gatewayStatus(r *http.Request, err error) (int, *status.Status) {
	// The generated handler reports a failed body read as INVALID_ARGUMENT
	// with the reader's error text; find out what happened.
	if b, ok := r.Body.(*limitedBody); ok {
		switch {
		case b.exceeded:
			return http.StatusRequestEntityTooLarge, s.bodyTooLarge(r.Context())
		case errors.Is(b.err, os.ErrDeadlineExceeded):
			s.log.Debug("REST request body timed out", "path", r.URL.Path, "err", b.err)
			return http.StatusRequestTimeout, apierror.New(codes.DeadlineExceeded, "BODY_TIMEOUT", msgBodyTimeout)
		case b.err != nil:
			s.log.Debug("REST request body unreadable", "path", r.URL.Path, "err", b.err)
			return 0, apierror.New(codes.InvalidArgument, "BODY_UNREADABLE", msgBodyUnreadable)
		}
	}
	httpStatus := 0
	if hs, ok := errors.AsType[*runtime.HTTPStatusError](err); ok {
		httpStatus, err = hs.HTTPStatus, hs.Err
	}
	// Statuses of grpc-gateway itself (a body that is not JSON, an unknown
	// field) have no reason yet: they get the name of their code.
	return httpStatus, apierror.WithReason(status.Convert(err))
}

// closeAfterReply makes an HTTP/1.x server close the connection after the
// answer, rather than read the rest of a body it will not use first (which
// net/http does for bodies under 256 KiB, so that the connection can be
// reused). HTTP/2 streams end on their own; a Connection header there would
// close every stream of the connection.
func closeAfterReply(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
}

// limitedBody is a request body behind http.MaxBytesReader that remembers
// whether the limit was hit, and the first error of another kind. It is
// read by the handler's goroutine only.
type limitedBody struct {
	io.ReadCloser
	exceeded bool
	err      error // nil, or the first error other than io.EOF and the limit
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch _, over := errors.AsType[*http.MaxBytesError](err); {
	case over:
		b.exceeded = true
	case err != nil && err != io.EOF && b.err == nil:
		b.err = err
	}
	return n, err
}
