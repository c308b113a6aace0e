package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ssebridge/ssebridge/auth"
	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
)

// Gateway returns the REST mapping of the service's unary methods, served
// in process by grpc-gateway (no network hop to the gRPC server):
//
//	POST /v1/topics/{topic}/events  Publish, the JSON body is a PublishRequest
//	GET  /v1/topics                 ListTopics (?prefix=...)
//	GET  /v1/topics/{topic}         GetTopic
//
// The streaming methods have no REST mapping; browsers subscribe through
// the SSE bridge instead.
//
// JSON uses the proto field names ("idempotency_key", "last_event_id"),
// and responses always carry every scalar field, zero or not ("sequence",
// "duplicate"); as protojson specifies, 64-bit integers are strings
// ("sequence": "1"). Requests accept proto or lowerCamel names and refuse
// unknown fields, so a misspelt field is an error rather than silently
// dropped. Errors are a google.rpc.Status in JSON, such as
// {"code":3,"message":"...","details":[...]}, with the HTTP status mapped
// from the gRPC code (INVALID_ARGUMENT 400, NOT_FOUND 404, UNAVAILABLE 503).
// A request body larger than twice MaxDataBytes plus 64 KiB is refused with
// 413 without being read whole.
//
// The handler is safe for concurrent use. Each call returns a new handler
// over the same Service.
func (s *Service) Gateway() (http.Handler, error) {
	limit := int64(s.messageLimit())
	// bodyTooLarge is counted and mapped like any oversized data, with the
	// HTTP status that says what happened.
	bodyTooLarge := func(ctx context.Context) error {
		err := fmt.Errorf("%w: the request body is larger than %d bytes (data is limited to %d bytes)",
			errDataTooLarge, limit, s.maxData)
		return &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge, Err: s.callError(ctx, "Publish", err)}
	}
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithErrorHandler(func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
			// The generated handler reports a failed body read as a plain
			// INVALID_ARGUMENT; find out whether it was the limit.
			if b, ok := r.Body.(*limitedBody); ok && b.exceeded {
				err = bodyTooLarge(ctx)
			}
			s.countRESTRefusal(ctx, err)
			// RFC 6750 challenges for 401 and 403. grpc-gateway sets
			// WWW-Authenticate to the status message; ours replaces it when
			// the status is written.
			switch st := status.Convert(err); st.Code() {
			case codes.Unauthenticated:
				challenge := `Bearer realm="ssebridge", error="invalid_token"`
				if strings.Contains(st.Message(), auth.ErrUnauthenticated.Error()) {
					challenge = `Bearer realm="ssebridge"` // no credential was presented
				}
				w = &challengeWriter{ResponseWriter: w, challenge: challenge}
			case codes.PermissionDenied:
				w = &challengeWriter{ResponseWriter: w, challenge: `Bearer realm="ssebridge", error="insufficient_scope"`}
			case codes.ResourceExhausted:
				// grpc-gateway answers 429; say when to come back.
				for _, d := range st.Details() {
					if ri, ok := d.(*errdetails.RetryInfo); ok {
						secs := int(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds()))
						w.Header().Set("Retry-After", strconv.Itoa(max(1, secs)))
					}
				}
			}
			runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
		}),
	)
	if err := ssebridgev1.RegisterEventServiceHandlerServer(context.Background(), mux, s); err != nil {
		return nil, fmt.Errorf("server: registering the REST mapping: %w", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(withRESTCall(r.Context())) // for the metrics
		if r.ContentLength > limit {
			_, out := runtime.MarshalerForRequest(mux, r)
			runtime.HTTPError(r.Context(), mux, out, w, r, bodyTooLarge(r.Context()))
			return
		}
		r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit)}
		mux.ServeHTTP(w, r)
	}), nil
}

// limitedBody is a request body behind http.MaxBytesReader that remembers
// whether the limit was hit. It is read by the handler's goroutine only.
type limitedBody struct {
	io.ReadCloser
	exceeded bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		b.exceeded = true
	}
	return n, err
}

// challengeWriter sets the WWW-Authenticate header of an error response
// when its status is written.
type challengeWriter struct {
	http.ResponseWriter
	challenge string
}

func (w *challengeWriter) WriteHeader(code int) {
	w.Header().Set("WWW-Authenticate", w.challenge)
	w.ResponseWriter.WriteHeader(code)
}

func (w *challengeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
