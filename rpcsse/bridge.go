package rpcsse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/ssebridge/ssebridge/internal/apierror"
	"github.com/ssebridge/ssebridge/sse"
)

// Bridge serves the server-streaming methods of gRPC backends as
// Server-Sent Events. Add the backends, then serve Handler. Its methods
// are safe for concurrent use, but Add must not be called once Handler
// has been.
type Bridge struct {
	engine     *sse.Server
	ownsEngine bool
	marshal    protojson.MarshalOptions
	log        *slog.Logger
	metrics    *metrics

	forwardHeaders  []string
	forwardCookies  map[string]struct{}
	firstWait       time.Duration
	maxMessageBytes int
	queueLength     int
	anyAccept       bool
	admitter        Admitter // nil: no limits

	methods []*method
}

// backend is a Backend ready for calls.
type backend struct {
	name string
	conn grpc.ClientConnInterface
	auth Authorizer
	// types resolves the messages of the backend's methods, and the
	// types in Any fields and status details.
	types resolver
}

// resolver finds message types, as protojson needs them.
type resolver interface {
	protoregistry.MessageTypeResolver
	protoregistry.ExtensionTypeResolver
}

// New returns a Bridge for cfg. It fails when a number is negative, a
// header name is not valid, or the metrics cannot be registered.
func New(cfg Config) (*Bridge, error) {
	if cfg.FirstResponseWait < 0 || cfg.MaxMessageBytes < 0 || cfg.QueueLength < 0 {
		return nil, fmt.Errorf("rpcsse: negative Config value: FirstResponseWait %v, MaxMessageBytes %d, QueueLength %d",
			cfg.FirstResponseWait, cfg.MaxMessageBytes, cfg.QueueLength)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("rpcsse: metrics: %w", err)
	}
	b := &Bridge{
		engine:          cfg.SSE,
		marshal:         protojson.MarshalOptions{UseProtoNames: cfg.ProtoNames, EmitUnpopulated: true},
		log:             cfg.Logger,
		metrics:         m,
		forwardCookies:  make(map[string]struct{}),
		firstWait:       orDefault(cfg.FirstResponseWait, DefaultFirstResponseWait),
		maxMessageBytes: orDefault(cfg.MaxMessageBytes, DefaultMaxMessageBytes),
		queueLength:     orDefault(cfg.QueueLength, DefaultQueueLength),
		anyAccept:       cfg.AnyAccept,
		admitter:        cfg.Admitter,
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.engine == nil {
		if b.engine, err = sse.New(sse.Config{Logger: cfg.Logger}); err != nil {
			return nil, err
		}
		b.ownsEngine = true
	}
	for _, h := range cfg.ForwardHeaders {
		key := strings.ToLower(h)
		if !validHeaderName(key) || reservedHeader(key) {
			return nil, fmt.Errorf("rpcsse: Config.ForwardHeaders: %q cannot be forwarded as gRPC metadata", h)
		}
		b.forwardHeaders = append(b.forwardHeaders, key)
	}
	for _, c := range cfg.ForwardCookies {
		b.forwardCookies[c] = struct{}{}
	}
	return b, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// validHeaderName reports whether h, lower-cased, is a valid gRPC metadata
// key that is not binary ("-bin").
func validHeaderName(h string) bool {
	if h == "" || strings.HasSuffix(h, "-bin") {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// reservedHeader reports whether h is a header gRPC or HTTP/2 reserves,
// or one the bridge sets itself.
func reservedHeader(h string) bool {
	switch h {
	case "te", "content-type", "user-agent", "connection", "host", "cookie",
		"authorization", LastEventIDMetadata:
		return true
	}
	return strings.HasPrefix(h, "grpc-")
}

// Add adds be's services: every server-streaming method of each with a
// google.api.http GET binding. It fails, naming them, when a service is
// not in be.Files, has no such method, when options name fields the
// messages lack, or when a route matches the same paths as one already
// added.
func (b *Bridge) Add(be Backend) error {
	if be.Conn == nil {
		return errors.New("rpcsse: Backend.Conn is nil")
	}
	if len(be.Services) == 0 {
		return fmt.Errorf("rpcsse: backend %s: no Services", be.Name)
	}
	bk := &backend{name: be.Name, conn: be.Conn, auth: be.Authorizer}
	files := be.Files
	if files == nil {
		files, bk.types = protoregistry.GlobalFiles, protoregistry.GlobalTypes
	} else {
		bk.types = dynamicpb.NewTypes(files)
	}
	var added []*method
	for _, name := range be.Services {
		ms, err := b.serviceMethods(bk, files, name, be.Options)
		if err != nil {
			return err
		}
		added = append(added, ms...)
	}
	for name := range be.Options {
		if !slices.ContainsFunc(added, func(m *method) bool { return m.name == string(name) }) {
			return fmt.Errorf("rpcsse: backend %s: Options name %s, not a served method", be.Name, name)
		}
	}
	if err := checkRoutes(append(slices.Clone(b.methods), added...)); err != nil {
		return err
	}
	b.methods = append(b.methods, added...)
	return nil
}

// serviceMethods returns the servable methods of the service name in files.
func (b *Bridge) serviceMethods(bk *backend, files *protoregistry.Files, name protoreflect.FullName, opts map[protoreflect.FullName]MethodOptions) ([]*method, error) {
	d, err := files.FindDescriptorByName(name)
	if err != nil {
		return nil, fmt.Errorf("rpcsse: backend %s: service %s not found in its descriptors", bk.name, name)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("rpcsse: backend %s: %s is not a service", bk.name, name)
	}
	var ms []*method
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		if !md.IsStreamingServer() || md.IsStreamingClient() || !hasGetBinding(md) {
			continue
		}
		var o *MethodOptions
		if mo, ok := opts[md.FullName()]; ok {
			o = &mo
		}
		m, err := newMethod(bk, md, o)
		if err != nil {
			return nil, err
		}
		m.metrics = b.metrics.forMethod(m.name)
		m.marshal = b.marshal
		m.marshal.Resolver = bk.types
		ms = append(ms, m)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("rpcsse: backend %s: service %s has no server-streaming method with a google.api.http GET binding", bk.name, name)
	}
	return ms, nil
}

// checkRoutes fails when two routes of ms match the same paths.
func checkRoutes(ms []*method) error {
	seen := make(map[string]string)
	for _, m := range ms {
		for _, rt := range m.routes {
			if other, ok := seen[rt.key]; ok {
				return fmt.Errorf("rpcsse: ambiguous routes: GET %s of %s (backend %s) and %s match the same paths", rt.template, m.name, m.backend.name, other)
			}
			seen[rt.key] = fmt.Sprintf("GET %s of %s (backend %s)", rt.template, m.name, m.backend.name)
		}
	}
	return nil
}

// Route is one route a Bridge serves.
type Route struct {
	// Template is the path template, "/v1/quotes/{symbol}:watch".
	Template string
	// Method is the method's full name, "quotes.v1.QuoteService.WatchQuotes".
	Method protoreflect.FullName
	// Backend is the name of the method's Backend.
	Backend string
}

// Routes returns the routes of the methods added so far, in the order
// added.
func (b *Bridge) Routes() []Route {
	var rs []Route
	for _, m := range b.methods {
		for _, rt := range m.routes {
			rs = append(rs, Route{Template: rt.template, Method: m.desc.FullName(), Backend: m.backend.name})
		}
	}
	return rs
}

// Handler returns the handler of the bridge's routes. A GET request for a
// route that accepts text/event-stream (as EventSource requests do) is
// served as a stream; every other request goes to next, such as the
// grpc-gateway ServeMux of the same services, which then keeps its own
// behaviour. With a nil next, or with Config.AnyAccept, every GET request
// for a route is served as a stream; other requests go to next, or get 404
// or 405 in JSON without one.
func (b *Bridge) Handler(next http.Handler) (http.Handler, error) {
	fallback := func(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
		if next != nil {
			next.ServeHTTP(w, r)
			return
		}
		writeError(w, routingStatus(code))
	}
	mux := runtime.NewServeMux(runtime.WithRoutingErrorHandler(fallback))
	for _, m := range b.methods {
		for i := range m.routes {
			m, rt := m, &m.routes[i]
			err := mux.HandlePath(http.MethodGet, rt.template, func(w http.ResponseWriter, r *http.Request, params map[string]string) {
				b.serve(w, r, m, rt, params)
			})
			if err != nil {
				return nil, fmt.Errorf("rpcsse: %s: GET %s: %w", m.name, rt.template, err)
			}
		}
	}
	if next == nil || b.anyAccept {
		return mux, nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !acceptsEventStream(r.Header.Values("Accept")) {
			next.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}), nil
}

// routingStatus is the answer to a request that matched no route.
func routingStatus(code int) *status.Status {
	switch code {
	case http.StatusMethodNotAllowed:
		return apierror.New(codes.Unimplemented, "METHOD_NOT_ALLOWED", "method not allowed")
	case http.StatusBadRequest:
		return apierror.New(codes.InvalidArgument, ReasonInvalidParameter, "malformed path")
	}
	return apierror.New(codes.NotFound, ReasonNotFound, "no such route")
}

// acceptsEventStream reports whether Accept header values list
// text/event-stream with a quality above 0.
func acceptsEventStream(accept []string) bool {
	for _, v := range accept {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "text/event-stream" {
				continue
			}
			if q := strings.TrimSpace(params["q"]); q == "0" || strings.Trim(q, "0.") == "" && q != "" {
				continue
			}
			return true
		}
	}
	return false
}

// serve serves one request for m on rt.
func (b *Bridge) serve(w http.ResponseWriter, r *http.Request, m *method, rt *route, params map[string]string) {
	req, lastID, st := m.buildRequest(r, rt, params)
	if st != nil {
		b.refuse(w, m, st)
		return
	}
	var creds Credentials
	if m.backend.auth != nil {
		c, err := m.backend.auth.Authorize(r)
		if err != nil {
			b.refuse(w, m, authError(err))
			return
		}
		creds = c
	}
	md := b.outgoing(r, creds, m.backend.auth != nil, lastID)
	if key, ok := invalidMetadata(md); !ok {
		b.refuse(w, m, apierror.BadRequest(ReasonInvalidParameter, key, "header "+key+" holds bytes gRPC metadata cannot carry"))
		return
	}
	release := func() {}
	if b.admitter != nil {
		rel, err := b.admitter.Admit(r)
		if err != nil {
			b.refuse(w, m, admitError(err))
			return
		}
		release = rel
	}
	// The call outlives the handler on a connection taken over from
	// net/http (sse.Stream.Detach): it ends with the stream.
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(r.Context()))
	ctx = metadata.NewOutgoingContext(ctx, md)
	rl := b.newRelay(ctx, cancel, m, req)
	if st := rl.waitFirst(b.firstWait); st != nil {
		cancel(ErrEnded)
		release()
		writeError(w, st)
		return
	}
	m.metrics.open.Inc()
	rl.release = release
	b.engine.Serve(w, r, sse.Stream{Source: rl, Expires: creds.Expires, Detach: true, Retry: m.retry})
}

// refuse answers a request refused before any call with st.
func (b *Bridge) refuse(w http.ResponseWriter, m *method, st *status.Status) {
	m.metrics.reject(st.Code())
	writeError(w, st)
}

// invalidMetadata returns the first key of md whose value gRPC cannot
// send, and false; or "", true.
func invalidMetadata(md metadata.MD) (string, bool) {
	for k, vs := range md {
		for _, v := range vs {
			if !validMetadataValue(v) {
				return k, false
			}
		}
	}
	return "", true
}

// Shutdown ends every open stream normally, so that clients reconnect,
// when the Bridge made its own sse.Server (Config.SSE was nil); a Server
// passed in Config.SSE is its owner's to shut down.
func (b *Bridge) Shutdown() {
	if b.ownsEngine {
		b.engine.Shutdown()
	}
}

// Wait waits until the streams on connections taken over from net/http
// have ended, or ctx is done, as sse.Server.Wait does.
func (b *Bridge) Wait(ctx context.Context) error {
	return b.engine.Wait(ctx)
}

// Servable reports whether the service name in files has a method a
// Bridge serves: server-streaming, with a google.api.http GET binding.
func Servable(files *protoregistry.Files, name protoreflect.FullName) bool {
	d, err := files.FindDescriptorByName(name)
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if err != nil || !ok {
		return false
	}
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		if md.IsStreamingServer() && !md.IsStreamingClient() && hasGetBinding(md) {
			return true
		}
	}
	return false
}
