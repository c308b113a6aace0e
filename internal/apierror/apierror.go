package apierror

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Domain is the domain of every ErrorInfo detail of ssebridge.
const Domain = "ssebridge"

// Reasons that several packages write or read. Each package names its
// other reasons itself, next to the error they report.
const (
	// ReasonInvalidToken: a token was presented and does not verify.
	ReasonInvalidToken = "INVALID_TOKEN"
	// ReasonUnauthenticated: no credential was presented, and one is needed.
	ReasonUnauthenticated = "UNAUTHENTICATED"
	// ReasonForbidden: the credential is valid but does not allow the topic.
	ReasonForbidden = "FORBIDDEN"
	// ReasonNotFound: no route has the request's path.
	ReasonNotFound = "NOT_FOUND"
	// ReasonMethodNotAllowed: a route has the request's path, but not its
	// method; the Allow header lists the methods it has.
	ReasonMethodNotAllowed = "METHOD_NOT_ALLOWED"
	// ReasonInternal: an error the client cannot act on; its message is
	// only "internal error".
	ReasonInternal = "INTERNAL"
)

// New returns a status of code c with message msg, an ErrorInfo detail
// with reason, and the given further details.
func New(c codes.Code, reason, msg string, details ...protoadapt.MessageV1) *status.Status {
	st := status.New(c, msg)
	all := append([]protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: reason, Domain: Domain}}, details...)
	detailed, err := st.WithDetails(all...)
	if err != nil {
		// Only a detail that cannot be marshalled fails; keep the message.
		return st
	}
	return detailed
}

// BadRequest returns an INVALID_ARGUMENT status with message msg, an
// ErrorInfo detail with reason and a BadRequest detail naming field.
func BadRequest(reason, field, msg string) *status.Status {
	return New(codes.InvalidArgument, reason, msg, &errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}},
	})
}

// RetryAfter returns a RetryInfo detail asking the client to come back
// after d.
func RetryAfter(d time.Duration) *errdetails.RetryInfo {
	return &errdetails.RetryInfo{RetryDelay: durationpb.New(d)}
}

// Reason returns the reason of st's ErrorInfo detail in Domain, or "" when
// st has none.
func Reason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == Domain {
			return info.GetReason()
		}
	}
	return ""
}

// WithReason returns st with an ErrorInfo detail, for statuses made
// elsewhere (by grpc-gateway, say): st itself when it has one, else a copy
// whose reason is the name of its code, such as INVALID_ARGUMENT.
func WithReason(st *status.Status) *status.Status {
	if Reason(st) != "" {
		return st
	}
	detailed, err := st.WithDetails(&errdetails.ErrorInfo{Reason: code.Code(st.Code()).String(), Domain: Domain})
	if err != nil {
		return st
	}
	return detailed
}

// Challenge returns the WWW-Authenticate challenge (RFC 6750) for st, built
// from its code and reason: for UNAUTHENTICATED without a credential
// (ReasonUnauthenticated) a bare Bearer challenge, for other
// UNAUTHENTICATED statuses error="invalid_token", for PERMISSION_DENIED
// error="insufficient_scope"; "" for every other code.
func Challenge(st *status.Status) string {
	switch st.Code() {
	case codes.Unauthenticated:
		if Reason(st) == ReasonUnauthenticated {
			return `Bearer realm="ssebridge"`
		}
		return `Bearer realm="ssebridge", error="invalid_token"`
	case codes.PermissionDenied:
		return `Bearer realm="ssebridge", error="insufficient_scope"`
	}
	return ""
}

// HTTPStatus returns the HTTP status of st, mapped from its code as
// grpc-gateway maps it (runtime.HTTPStatusFromCode): INVALID_ARGUMENT 400,
// UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404,
// RESOURCE_EXHAUSTED 429, INTERNAL 500, UNAVAILABLE 503, ...
func HTTPStatus(st *status.Status) int {
	return runtime.HTTPStatusFromCode(st.Code())
}

// marshal writes statuses in JSON with proto field names, as the REST
// gateway writes its responses.
var marshal = protojson.MarshalOptions{UseProtoNames: true}

// Write answers a request with st: httpStatus (0 means HTTPStatus(st)) and
// st in JSON. It sets WWW-Authenticate to Challenge(st) when that is not
// empty, and Retry-After, in whole seconds, at least 1, from a RetryInfo
// detail. It must be called before anything else is written to w.
func Write(w http.ResponseWriter, httpStatus int, st *status.Status) {
	if httpStatus == 0 {
		httpStatus = HTTPStatus(st)
	}
	b, err := marshal.Marshal(st.Proto())
	if err != nil {
		// Only a detail of an unknown type fails; drop the details.
		b, _ = marshal.Marshal(status.New(st.Code(), st.Message()).Proto())
	}
	h := w.Header()
	h.Del("Trailer")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if c := Challenge(st); c != "" {
		h.Set("WWW-Authenticate", c)
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			secs := math.Ceil(ri.GetRetryDelay().AsDuration().Seconds())
			h.Set("Retry-After", strconv.Itoa(max(1, int(secs))))
		}
	}
	w.WriteHeader(httpStatus)
	w.Write(append(b, '\n'))
}

// Parse decodes an error body written by Write. It is for clients and
// tests.
func Parse(body []byte) (*status.Status, error) {
	var p spb.Status
	if err := protojson.Unmarshal(body, &p); err != nil {
		return nil, err
	}
	return status.FromProto(&p), nil
}

// Field returns the first field named by st's BadRequest detail, or "".
func Field(st *status.Status) string {
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}
