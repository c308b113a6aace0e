package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/ssebridge/ssebridge/auth"
	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/rpcsse"
	"github.com/ssebridge/ssebridge/rpcsse/descriptors"
	"github.com/ssebridge/ssebridge/sse"
)

// reflectTimeout bounds the server reflection of each upstream at start.
const reflectTimeout = 10 * time.Second

// upstreamName is what an upstream may be called: it names the upstream
// in --descriptors, logs and errors.
var upstreamName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// namedValues is a repeatable flag of NAME=VALUE pairs, in order.
type namedValues struct {
	names, values []string
}

func (l *namedValues) String() string {
	var parts []string
	for i := range l.names {
		parts = append(parts, l.names[i]+"="+l.values[i])
	}
	return strings.Join(parts, ",")
}

func (l *namedValues) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		// --descriptors FILE, for the only upstream: checked by
		// upstreamConfig.
		name, value = "", s
	}
	if name != "" && !upstreamName.MatchString(name) {
		return fmt.Errorf("%q is not a valid upstream name: lower-case letters, digits, - and _", name)
	}
	if value == "" {
		return fmt.Errorf("%q: empty value", s)
	}
	for _, n := range l.names {
		if n == name {
			return fmt.Errorf("%q given twice", name)
		}
	}
	l.names, l.values = append(l.names, name), append(l.values, value)
	return nil
}

// stringList is a repeatable flag of values.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// upstreamConfig is the proxy mode's configuration: the flags of
// registerUpstreamFlags.
type upstreamConfig struct {
	Upstreams      namedValues
	Descriptors    namedValues
	TLS            namedValues
	Auth           namedValues
	ForwardHeaders stringList
	ForwardCookies stringList
	ProtoNames     bool
}

func registerUpstreamFlags(fs *flag.FlagSet, c *upstreamConfig) {
	fs.Var(&c.Upstreams, "upstream", "NAME=HOST:PORT of a gRPC backend (plaintext, h2c) whose server-streaming methods with a google.api.http GET binding are served as SSE (plaintext unless --upstream-tls); repeat for several")
	fs.Var(&c.Descriptors, "descriptors", "NAME=FILE: the descriptor set (buf build -o, or protoc --include_imports --descriptor_set_out) of an --upstream, instead of its server reflection; FILE alone for the only upstream")
	fs.Var(&c.TLS, "upstream-tls", "NAME=CAFILE: reach an --upstream over TLS, verifying its certificate with the PEM CA bundle CAFILE; NAME=system for the system's roots")
	fs.Var(&c.Auth, "upstream-auth", "NAME=passthrough|token: passthrough (the default) forwards the caller's Authorization header and lets the upstream decide; token requires a valid token (--jwt-key, --jwt-secret or --jwks; from the Authorization header, the --jwt-cookie or access_token), refuses others with 401, and forwards it as authorization: Bearer")
	fs.Var(&c.ForwardHeaders, "forward-header", "a request header sent to upstreams as gRPC metadata, besides Authorization and Last-Event-ID; repeat for several")
	fs.Var(&c.ForwardCookies, "forward-cookie", "a cookie sent to upstreams in the metadata cookie; repeat for several")
	fs.BoolVar(&c.ProtoNames, "rpc-proto-names", false, "write upstream messages with their proto field names (after_seq) rather than JSON names (afterSeq)")
}

// validate checks that every --descriptors names an --upstream.
func (c upstreamConfig) validate() error {
	for i, name := range c.Descriptors.names {
		if name == "" {
			if len(c.Upstreams.names) != 1 || len(c.Descriptors.names) != 1 {
				return fmt.Errorf("--descriptors %s: without NAME= it needs exactly one --upstream", c.Descriptors.values[i])
			}
			continue
		}
		if !slices.Contains(c.Upstreams.names, name) {
			return fmt.Errorf("--descriptors %s=%s: no --upstream %s", name, c.Descriptors.values[i], name)
		}
	}
	for i, name := range c.TLS.names {
		if !slices.Contains(c.Upstreams.names, name) {
			return fmt.Errorf("--upstream-tls %s=%s: no --upstream %s", name, c.TLS.values[i], name)
		}
	}
	for i, name := range c.Auth.names {
		if !slices.Contains(c.Upstreams.names, name) {
			return fmt.Errorf("--upstream-auth %s=%s: no --upstream %s", name, c.Auth.values[i], name)
		}
		if v := c.Auth.values[i]; v != "passthrough" && v != "token" {
			return fmt.Errorf("--upstream-auth %s=%s: must be passthrough or token", name, v)
		}
	}
	for i, name := range c.Upstreams.names {
		if name == "" {
			return fmt.Errorf("--upstream %s: give it a name, NAME=HOST:PORT", c.Upstreams.values[i])
		}
		if _, _, err := net.SplitHostPort(c.Upstreams.values[i]); err != nil {
			return fmt.Errorf("--upstream %s=%s: not HOST:PORT", name, c.Upstreams.values[i])
		}
	}
	return nil
}

// upstreams is the proxy mode of a node: the bridge and its connections.
type upstreams struct {
	bridge *rpcsse.Bridge
	conns  []*grpc.ClientConn
}

// newUpstreams dials every upstream, finds its services and adds them to
// one rpcsse.Bridge on engine. It returns nil without upstreams.
func (c *upstreamConfig) newUpstreams(ctx context.Context, engine *sse.Server, authn *auth.Authenticator, rc rpcsse.Config) (*upstreams, error) {
	if len(c.Upstreams.names) == 0 {
		return nil, nil
	}
	rc.SSE, rc.AnyAccept, rc.ProtoNames = engine, true, c.ProtoNames
	rc.ForwardHeaders, rc.ForwardCookies = c.ForwardHeaders, c.ForwardCookies
	b, err := rpcsse.New(rc)
	if err != nil {
		return nil, err
	}
	u := &upstreams{bridge: b}
	for i, name := range c.Upstreams.names {
		creds, err := c.credentialsOf(name)
		if err == nil {
			be := rpcsse.Backend{Name: name}
			if c.authOf(name) == "token" {
				be.Authorizer = tokenAuthorizer{authn}
			}
			err = u.add(ctx, be, c.Upstreams.values[i], c.descriptorsOf(name), creds)
		}
		if err != nil {
			u.close()
			return nil, err
		}
	}
	return u, nil
}

// credentialsOf returns the transport credentials of the upstream name:
// TLS with its --upstream-tls roots, or plaintext.
func (c *upstreamConfig) credentialsOf(name string) (credentials.TransportCredentials, error) {
	for i, n := range c.TLS.names {
		if n != name {
			continue
		}
		if c.TLS.values[i] == "system" {
			return credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12}), nil
		}
		creds, err := credentials.NewClientTLSFromFile(c.TLS.values[i], "")
		if err != nil {
			return nil, fmt.Errorf("--upstream-tls %s=%s: %w", name, c.TLS.values[i], err)
		}
		return creds, nil
	}
	return insecure.NewCredentials(), nil
}

// authOf returns the --upstream-auth of the upstream name.
func (c *upstreamConfig) authOf(name string) string {
	for i, n := range c.Auth.names {
		if n == name {
			return c.Auth.values[i]
		}
	}
	return "passthrough"
}

// tokenAuthorizer is --upstream-auth NAME=token: a stream needs a valid
// token, found where subscribing finds one, and the upstream gets it as a
// Bearer token; the stream ends when it expires.
type tokenAuthorizer struct{ authn *auth.Authenticator }

func (a tokenAuthorizer) Authorize(r *http.Request) (rpcsse.Credentials, error) {
	token, _, err := auth.TokenFromRequest(r, a.authn.Cookie())
	if err == nil && token == "" {
		err = auth.ErrUnauthenticated
	}
	var g *auth.Grant
	if err == nil {
		g, err = a.authn.Token(r.Context(), token)
	}
	if err != nil {
		return rpcsse.Credentials{}, bridge.ErrorStatus(err).Err()
	}
	return rpcsse.Credentials{Metadata: metadata.Pairs("authorization", "Bearer "+token), Expires: g.Expires}, nil
}

// descriptorsOf returns the --descriptors file of the upstream name, or "".
func (c *upstreamConfig) descriptorsOf(name string) string {
	for i, n := range c.Descriptors.names {
		if n == name || n == "" { // "": the only upstream's (validate)
			return c.Descriptors.values[i]
		}
	}
	return ""
}

// add dials the upstream be.Name at addr with creds and adds its services, found in the
// file descFile or, without one, through its server reflection.
func (u *upstreams) add(ctx context.Context, be rpcsse.Backend, addr, descFile string, creds credentials.TransportCredentials) error {
	name := be.Name
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(creds),
		// A fixed window keeps a stream's buffered bytes bounded (the
		// dynamic window grows to megabytes per connection).
		grpc.WithInitialWindowSize(64<<10),
		grpc.WithInitialConnWindowSize(16<<20))
	if err != nil {
		return fmt.Errorf("--upstream %s=%s: %w", name, addr, err)
	}
	u.conns = append(u.conns, conn)
	var files *protoregistry.Files
	var services []protoreflect.FullName
	if descFile != "" {
		files, services, err = descriptors.Load(descFile)
	} else {
		rctx, cancel := context.WithTimeout(ctx, reflectTimeout)
		files, services, err = descriptors.Reflect(rctx, conn)
		cancel()
	}
	if err != nil {
		return fmt.Errorf("--upstream %s=%s: %w", name, addr, err)
	}
	servable := servableServices(files, services)
	if len(servable) == 0 {
		return fmt.Errorf("--upstream %s=%s: no service has a server-streaming method with a google.api.http GET binding", name, addr)
	}
	be.Conn, be.Files, be.Services = conn, files, servable
	return u.bridge.Add(be)
}

// servableServices returns the services of names that rpcsse can serve.
func servableServices(files *protoregistry.Files, names []protoreflect.FullName) []protoreflect.FullName {
	var out []protoreflect.FullName
	for _, name := range names {
		if rpcsse.Servable(files, name) {
			out = append(out, name)
		}
	}
	return out
}

// checkRoutes fails, naming them, for upstream routes that ssebridge's own
// routes on mux would shadow.
func (u *upstreams) checkRoutes(mux *http.ServeMux) error {
	for _, rt := range u.bridge.Routes() {
		probe, _ := http.NewRequest(http.MethodGet, samplePath(rt.Template), nil)
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			return fmt.Errorf("--upstream %s: GET %s of %s collides with ssebridge's route %s", rt.Backend, rt.Template, rt.Method, pattern)
		}
	}
	return nil
}

// samplePath returns a path that template matches: its variables as "x".
func samplePath(template string) string {
	var b strings.Builder
	depth := 0
	for _, r := range template {
		switch {
		case r == '{':
			depth++
			b.WriteByte('x')
		case r == '}':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (u *upstreams) close() {
	for _, c := range u.conns {
		c.Close()
	}
}
