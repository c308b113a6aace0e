package rpcsse

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/ssebridge/ssebridge/sse"
)

// Defaults for the zero values of Config.
const (
	// DefaultFirstResponseWait is how long a stream waits for the
	// backend's first answer before it opens without one.
	DefaultFirstResponseWait = time.Second
	// DefaultMaxMessageBytes is the largest message a backend may send.
	DefaultMaxMessageBytes = 4 << 20
	// DefaultQueueLength is how many encoded messages a stream holds for
	// its client before it stops reading from its backend.
	DefaultQueueLength = 16
)

// Config configures a Bridge. The zero value of every field means its
// default.
type Config struct {
	// SSE writes the streams: heartbeats, write deadlines, the maximum
	// age, the HTTP/1.1 take-over and the shutdown. nil means a Server of
	// its own with sse.Config's defaults, which Bridge.Shutdown and
	// Bridge.Wait end; a Server passed here is the caller's to shut down.
	SSE *sse.Server
	// ProtoNames writes each event's data with the proto names of the
	// fields ("after_seq") rather than their JSON names ("afterSeq",
	// protojson's and grpc-gateway's default). Unset fields are written
	// with their zero values either way, as grpc-gateway writes them.
	ProtoNames bool
	// ForwardHeaders names the request headers, besides Authorization,
	// that are sent to the backend as gRPC metadata (lower-cased names).
	// Nothing else of the request is: no other header, no cookie.
	ForwardHeaders []string
	// ForwardCookies names the cookies that are sent to the backend, in
	// the metadata "cookie" ("name=value; name=value"). Other cookies are
	// not.
	ForwardCookies []string
	// FirstResponseWait is how long a request waits for the backend's
	// first answer (its response headers, a message or a status) before
	// the stream opens without it. A status that arrives within it is
	// answered with an HTTP status when permanent (see the package
	// documentation); after it, every status is an error event. 0 means
	// DefaultFirstResponseWait (1s).
	FirstResponseWait time.Duration
	// MaxMessageBytes is the largest message a backend may send on a
	// stream; a larger one ends the stream with an error event. 0 means
	// DefaultMaxMessageBytes (4 MiB).
	MaxMessageBytes int
	// QueueLength is how many encoded messages a stream holds for a
	// client that has not taken them yet; when it is full the stream
	// stops reading from its backend, so that gRPC flow control holds the
	// backend back. 0 means DefaultQueueLength (16).
	QueueLength int
	// AnyAccept serves every GET request for a route as a stream,
	// whatever its Accept header, when no other handler answers the same
	// routes (the proxy mode of ssebridge serve --upstream); the handler
	// passed to Bridge.Handler then gets only the requests that match no
	// route.
	AnyAccept bool
	// Admitter, when not nil, counts each stream in limits shared with
	// other routes, and may refuse it.
	Admitter Admitter
	// Registerer, when not nil, receives the bridge's metrics: streams
	// open, messages relayed and backend errors by method, and the time
	// from the call to its first message.
	Registerer prometheus.Registerer
	// Logger receives the bridge's logs. nil means none.
	Logger *slog.Logger
}

// Backend is a gRPC server whose streams a Bridge serves (Bridge.Add).
type Backend struct {
	// Name names the backend in errors and logs. Optional.
	Name string
	// Conn is the connection to the backend. Required.
	Conn grpc.ClientConnInterface
	// Files holds the descriptors of the backend's services. nil means
	// protoregistry.GlobalFiles, where a program's generated code
	// registers its files, with the generated message types.
	Files *protoregistry.Files
	// Services are the full names of the services to serve
	// ("quotes.v1.QuoteService"). Every server-streaming method of each
	// with a google.api.http GET binding is served. Required.
	Services []protoreflect.FullName
	// Options frames the methods named (by full name,
	// "quotes.v1.QuoteService.WatchQuotes") in place of their
	// ssebridge.v1.stream options.
	Options map[protoreflect.FullName]MethodOptions
	// Authorizer decides who may open the backend's streams and with
	// which credentials. nil means everyone, with their Authorization
	// header forwarded to the backend, which decides.
	Authorizer Authorizer
}

// MethodOptions frames a method's messages as events: the Go form of the
// proto option ssebridge.v1.stream (ssebridgev1.StreamOptions), documented
// there. Field paths are dotted proto names. At most one of EventField,
// EventOneof and EventName may be set.
type MethodOptions struct {
	IDField          string
	EventField       string
	EventOneof       string
	EventName        string
	LastEventIDField string
	// Retry is the reconnection delay of the stream's retry line; 0 means
	// the SSE server's.
	Retry time.Duration
}

// An Authorizer decides whether a request may open a stream, and which
// credentials go to the backend. Its method is called concurrently.
type Authorizer interface {
	// Authorize returns the credentials of r, or an error for a request
	// that may not open a stream: a gRPC status error (status.Error) is
	// answered with its code's HTTP status and JSON body, any other error
	// as UNAUTHENTICATED.
	Authorize(r *http.Request) (Credentials, error)
}

// An Admitter counts streams against limits. Its method is called
// concurrently.
type Admitter interface {
	// Admit counts one more stream of r, or refuses it with an error, a
	// gRPC status error (answered with its HTTP status and JSON body;
	// RESOURCE_EXHAUSTED with a RetryInfo sets Retry-After) or any other
	// error (RESOURCE_EXHAUSTED). release is called once, when the stream
	// has ended.
	Admit(r *http.Request) (release func(), err error)
}

// Credentials are what an Authorizer grants a request.
type Credentials struct {
	// Metadata is sent to the backend, in place of the Authorization
	// header that is forwarded without an Authorizer. The headers and
	// cookies of Config.ForwardHeaders and Config.ForwardCookies are
	// added to it.
	Metadata metadata.MD
	// Expires, when not zero, ends the stream when the credentials expire,
	// normally, so that the client reconnects with fresh ones.
	Expires time.Time
}
