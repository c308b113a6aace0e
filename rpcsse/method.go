package rpcsse

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
)

// method is one server-streaming method a Bridge serves, ready for
// requests.
type method struct {
	backend *backend
	desc    protoreflect.MethodDescriptor
	// name is the method's full name, "quotes.v1.QuoteService.WatchQuotes",
	// its label in the metrics.
	name string
	// path is the method's gRPC path, "/quotes.v1.QuoteService/WatchQuotes".
	path string

	request, response protoreflect.MessageType
	routes            []route
	framer            framer
	// lastEventID is the request field a client's Last-Event-ID is copied
	// into (a dotted proto name), or "".
	lastEventID string
	// marshal writes the method's messages and statuses in JSON.
	marshal protojson.MarshalOptions
	// retry is the stream's retry delay, as sse.Stream.Retry takes it.
	retry time.Duration

	metrics *methodMetrics
}

// route is one GET binding of a method.
type route struct {
	// template is the binding's path template, "/v1/quotes/{symbol}:watch".
	template string
	// key is the template with its variables' names removed, so that
	// bindings that match the same paths have the same key.
	key string
	// pathFields keeps the fields that the path sets out of the query
	// parameters (grpc-gateway's filter).
	pathFields *utilities.DoubleArray
}

// newMethod prepares md of b for serving, framed by opts or, when opts is
// nil, by md's ssebridge.v1.stream option. It fails when md has no GET
// binding or the options name fields md's messages lack.
func newMethod(b *backend, md protoreflect.MethodDescriptor, opts *MethodOptions) (*method, error) {
	m := &method{
		backend: b,
		desc:    md,
		name:    string(md.FullName()),
		path:    fmt.Sprintf("/%s/%s", md.Parent().FullName(), md.Name()),
	}
	m.request, m.response = messageType(b.types, md.Input()), messageType(b.types, md.Output())
	var err error
	if m.routes, err = getRoutes(md); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = optionsOf(md)
	}
	if m.framer, err = newFramer(md.Output(), opts); err != nil {
		return nil, fmt.Errorf("rpcsse: %s: %w", md.FullName(), err)
	}
	if f := opts.LastEventIDField; f != "" {
		if _, err := scalarPath(md.Input(), f, "last_event_id_field"); err != nil {
			return nil, fmt.Errorf("rpcsse: %s: %w", md.FullName(), err)
		}
		m.lastEventID = f
	}
	if opts.Retry < 0 {
		return nil, fmt.Errorf("rpcsse: %s: negative retry %v", md.FullName(), opts.Retry)
	}
	m.retry = opts.Retry
	return m, nil
}

// messageType returns the type of md from types: the generated one for
// protoregistry.GlobalTypes, a dynamic one otherwise.
func messageType(types resolver, md protoreflect.MessageDescriptor) protoreflect.MessageType {
	if mt, err := types.FindMessageByName(md.FullName()); err == nil {
		return mt
	}
	return dynamicpb.NewMessageType(md)
}

// optionsOf returns md's ssebridge.v1.stream option as MethodOptions; the
// zero MethodOptions without one.
func optionsOf(md protoreflect.MethodDescriptor) *MethodOptions {
	var opts MethodOptions
	mo := md.Options()
	if mo == nil || !proto.HasExtension(mo, ssebridgev1.E_Stream) {
		return &opts
	}
	so, _ := proto.GetExtension(mo, ssebridgev1.E_Stream).(*ssebridgev1.StreamOptions)
	opts = MethodOptions{
		IDField:          so.GetIdField(),
		EventField:       so.GetEventField(),
		EventOneof:       so.GetEventOneof(),
		EventName:        so.GetEventName(),
		LastEventIDField: so.GetLastEventIdField(),
		Retry:            so.GetRetry().AsDuration(),
	}
	return &opts
}

// httpRules returns md's google.api.http binding and its additional
// bindings; none without the option.
func httpRules(md protoreflect.MethodDescriptor) []*annotations.HttpRule {
	mo := md.Options()
	if mo == nil || !proto.HasExtension(mo, annotations.E_Http) {
		return nil
	}
	rule, _ := proto.GetExtension(mo, annotations.E_Http).(*annotations.HttpRule)
	return append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...)
}

// hasGetBinding reports whether md has a google.api.http GET binding.
func hasGetBinding(md protoreflect.MethodDescriptor) bool {
	return slices.ContainsFunc(httpRules(md), func(r *annotations.HttpRule) bool { return r.GetGet() != "" })
}

// getRoutes returns the GET bindings of md's google.api.http option,
// additional bindings included.
func getRoutes(md protoreflect.MethodDescriptor) ([]route, error) {
	var routes []route
	for _, r := range httpRules(md) {
		if r.GetGet() == "" {
			continue
		}
		rt, err := newRoute(md.Input(), r.GetGet())
		if err != nil {
			return nil, fmt.Errorf("rpcsse: %s: GET %s: %w", md.FullName(), r.GetGet(), err)
		}
		routes = append(routes, rt)
	}
	if len(routes) == 0 {
		return nil, fmt.Errorf("rpcsse: %s has no google.api.http GET binding", md.FullName())
	}
	return routes, nil
}

// newRoute returns the route of a GET template whose variables name fields
// of in.
func newRoute(in protoreflect.MessageDescriptor, template string) (route, error) {
	names, key, err := templateVariables(template)
	if err != nil {
		return route{}, err
	}
	var seqs [][]string
	for _, name := range names {
		if _, err := scalarPath(in, name, pathVariable); err != nil {
			return route{}, err
		}
		seqs = append(seqs, strings.Split(name, "."))
	}
	return route{template: template, key: key, pathFields: utilities.NewDoubleArray(seqs)}, nil
}

// templateVariables returns the field paths a path template's variables
// name ("{symbol}", "{name=quotes/*}"), and the template with those names
// removed ("{*}", "{quotes/*}"). grpc-gateway's ServeMux.HandlePath parses
// the template itself, and refuses what is not valid.
func templateVariables(template string) (names []string, key string, err error) {
	var k strings.Builder
	rest := template
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			k.WriteString(rest)
			return names, k.String(), nil
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, "", fmt.Errorf("unclosed variable in %q", template)
		}
		v := rest[open+1 : open+end]
		name, pattern, found := strings.Cut(v, "=")
		if !found || pattern == "" {
			pattern = "*"
		}
		if name == "" {
			return nil, "", fmt.Errorf("variable without a name in %q", template)
		}
		names = append(names, name)
		k.WriteString(rest[:open])
		k.WriteString("{" + pattern + "}")
		rest = rest[open+end+1:]
	}
}

// pathVariable is what scalarPath calls a path template's variable, which
// may also name a bool, float or bytes field.
const pathVariable = "path variable"

// scalarPath returns the fields along a dotted path of proto names in md,
// the last a singular string, integer or enum field (any field but a
// message for a pathVariable), the others singular messages. what names
// the path's use in errors.
func scalarPath(md protoreflect.MessageDescriptor, path, what string) ([]protoreflect.FieldDescriptor, error) {
	var fields []protoreflect.FieldDescriptor
	names := strings.Split(path, ".")
	for i, name := range names {
		fd := md.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			return nil, fmt.Errorf("%s %q: %s has no field %q", what, path, md.FullName(), name)
		}
		if fd.IsList() || fd.IsMap() {
			return nil, fmt.Errorf("%s %q: field %q is repeated", what, path, name)
		}
		fields = append(fields, fd)
		if i < len(names)-1 {
			if fd.Kind() != protoreflect.MessageKind {
				return nil, fmt.Errorf("%s %q: field %q is not a message", what, path, name)
			}
			md = fd.Message()
			continue
		}
		if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind || (!scalarKind(fd.Kind()) && what != pathVariable) {
			return nil, fmt.Errorf("%s %q: field %q is a %v, not a string, integer or enum", what, path, name, fd.Kind())
		}
	}
	return fields, nil
}

// scalarKind reports whether a field of kind k can be an event's id or
// type, or be set from a path or a Last-Event-ID.
func scalarKind(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.StringKind, protoreflect.EnumKind,
		protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return true
	}
	return false
}
