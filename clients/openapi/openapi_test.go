// Package openapi_test checks that the OpenAPI document generated into
// gen/openapi describes the REST mapping of ssebridge.v1.EventService as the
// server serves it: every google.api.http rule of the API, and nothing
// else, with its path parameters, body and response schemas, under the
// JSON field names the gateway writes (proto names, see server/gateway.go);
// and that the document served at GET /v1/openapi.json keeps it unchanged
// and adds the SSE routes.
package openapi_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssebridge/ssebridge"
	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
)

// documentPath is the OpenAPI document, relative to this package.
var documentPath = filepath.Join("..", "..", "gen", "openapi", "ssebridge.swagger.json")

// document is the part of a Swagger 2.0 document that the tests read.
type document struct {
	Swagger     string                          `json:"swagger"`
	Paths       map[string]map[string]operation `json:"paths"`
	Definitions map[string]schema               `json:"definitions"`
}

type operation struct {
	OperationID string              `json:"operationId"`
	Parameters  []parameter         `json:"parameters"`
	Responses   map[string]response `json:"responses"`
}

type parameter struct {
	Name     string  `json:"name"`
	In       string  `json:"in"`
	Required bool    `json:"required"`
	Schema   *schema `json:"schema"`
}

type response struct {
	Schema *schema `json:"schema"`
}

type schema struct {
	Ref        string            `json:"$ref"`
	Type       string            `json:"type"`
	Format     string            `json:"format"`
	Properties map[string]schema `json:"properties"`
	Items      *schema           `json:"items"`
}

func loadDocument(t *testing.T) *document {
	t.Helper()
	b, err := os.ReadFile(documentPath)
	if err != nil {
		t.Fatalf("reading the OpenAPI document: %v", err)
	}
	var doc document
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parsing %s: %v", documentPath, err)
	}
	if doc.Swagger != "2.0" {
		t.Fatalf("%s: swagger %q, want 2.0", documentPath, doc.Swagger)
	}
	return &doc
}

// resolve follows a "#/definitions/NAME" reference.
func (d *document) resolve(t *testing.T, s schema) schema {
	t.Helper()
	if s.Ref == "" {
		return s
	}
	name, ok := strings.CutPrefix(s.Ref, "#/definitions/")
	def, found := d.Definitions[name]
	if !ok || !found {
		t.Fatalf("unresolvable reference %q", s.Ref)
	}
	return def
}

// TestDocumentListsTheRESTMapping checks the mappings that README.md
// promises to REST clients.
func TestDocumentListsTheRESTMapping(t *testing.T) {
	doc := loadDocument(t)
	for _, want := range []struct{ method, path, operationID string }{
		{"post", "/v1/topics/{topic}/events", "EventService_Publish"},
		{"get", "/v1/topics", "EventService_ListTopics"},
		{"get", "/v1/topics/{topic}", "EventService_GetTopic"},
	} {
		op, ok := doc.Paths[want.path][want.method]
		if !ok {
			t.Errorf("%s %s is not in the document", strings.ToUpper(want.method), want.path)
			continue
		}
		if op.OperationID != want.operationID {
			t.Errorf("%s %s: operationId %q, want %q", strings.ToUpper(want.method), want.path, op.OperationID, want.operationID)
		}
	}
}

// TestDocumentMatchesTheHTTPRules checks the document against the
// google.api.http rules compiled into the API: one operation per rule and
// none without one; a required path parameter per path variable; for a
// body of "*", a body schema with the request fields the path does not
// carry; a success response with the method's output message and an error
// response with google.rpc.Status.
func TestDocumentMatchesTheHTTPRules(t *testing.T) {
	doc := loadDocument(t)
	service := ssebridgev1.File_ssebridge_v1_events_proto.Services().ByName("EventService")
	if service == nil {
		t.Fatal("EventService is not in the compiled API")
	}

	var want, got []string
	for path, ops := range doc.Paths {
		for method := range ops {
			got = append(got, strings.ToUpper(method)+" "+path)
		}
	}
	methods := service.Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
		if rule == nil {
			continue // streaming methods have no REST mapping
		}
		method, path := httpMethodAndPath(t, rule)
		want = append(want, method+" "+path)
		t.Run(string(m.Name()), func(t *testing.T) {
			op, ok := doc.Paths[path][strings.ToLower(method)]
			if !ok {
				t.Fatalf("%s %s is not in the document", method, path)
			}
			if want := string(service.Name()) + "_" + string(m.Name()); op.OperationID != want {
				t.Errorf("operationId %q, want %q", op.OperationID, want)
			}
			checkParameters(t, doc, op, path, rule, m.Input())
			ok200 := op.Responses["200"].Schema
			if ok200 == nil {
				t.Fatal("no schema for the 200 response")
			}
			checkSchema(t, doc, *ok200, m.Output(), string(m.Output().Name()))
			if def := op.Responses["default"].Schema; def == nil || def.Ref != "#/definitions/rpcStatus" {
				t.Errorf("default (error) response %+v, want google.rpc.Status", def)
			}
		})
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("operations in the document:\n%q\nwant the API's HTTP rules:\n%q", got, want)
	}
}

var pathVariable = regexp.MustCompile(`\{([^}=]+)(=[^}]*)?\}`)

// httpMethodAndPath returns the HTTP method and the path template of rule,
// with variables written {name} as OpenAPI writes them.
func httpMethodAndPath(t *testing.T, rule *annotations.HttpRule) (method, path string) {
	t.Helper()
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		method, path = "GET", p.Get
	case *annotations.HttpRule_Post:
		method, path = "POST", p.Post
	case *annotations.HttpRule_Put:
		method, path = "PUT", p.Put
	case *annotations.HttpRule_Patch:
		method, path = "PATCH", p.Patch
	case *annotations.HttpRule_Delete:
		method, path = "DELETE", p.Delete
	default:
		t.Fatalf("unsupported HTTP rule %v", rule)
	}
	return method, pathVariable.ReplaceAllString(path, "{$1}")
}

func checkParameters(t *testing.T, doc *document, op operation, path string, rule *annotations.HttpRule, input protoreflect.MessageDescriptor) {
	t.Helper()
	inPath := map[string]bool{}
	for _, m := range pathVariable.FindAllStringSubmatch(path, -1) {
		inPath[m[1]] = true
	}
	var body *schema
	for _, p := range op.Parameters {
		switch p.In {
		case "path":
			if !inPath[p.Name] || !p.Required {
				t.Errorf("path parameter %+v, want a required one of %v", p, inPath)
			}
			delete(inPath, p.Name)
		case "body":
			body = p.Schema
		case "query":
			if input.Fields().ByName(protoreflect.Name(p.Name)) == nil {
				t.Errorf("query parameter %q is not a field of %s", p.Name, input.FullName())
			}
		}
	}
	for name := range inPath {
		t.Errorf("path variable {%s} is not documented as a parameter", name)
	}
	switch rule.GetBody() {
	case "":
		if body != nil {
			t.Errorf("a body is documented, but the rule takes none")
		}
	case "*":
		if body == nil {
			t.Fatal("the rule takes the request as the body, but no body is documented")
		}
		var want []string
		fields := input.Fields()
		for i := range fields.Len() {
			if name := string(fields.Get(i).Name()); !strings.Contains(path, "{"+name+"}") {
				want = append(want, name)
			}
		}
		checkProperties(t, doc.resolve(t, *body), want, "the request body")
	default:
		t.Errorf("body %q: not checked by this test", rule.GetBody())
	}
}

// checkSchema checks that s describes message md as the gateway writes it:
// an object with one property per field, named as in the proto, nested
// messages described the same way, 64-bit integers as strings and
// timestamps as date-time strings.
func checkSchema(t *testing.T, doc *document, s schema, md protoreflect.MessageDescriptor, where string) {
	t.Helper()
	s = doc.resolve(t, s)
	fields := md.Fields()
	var names []string
	for i := range fields.Len() {
		names = append(names, string(fields.Get(i).Name()))
	}
	if !checkProperties(t, s, names, where) {
		return
	}
	for i := range fields.Len() {
		f := fields.Get(i)
		p := s.Properties[string(f.Name())]
		at := where + "." + string(f.Name())
		if f.IsList() {
			if p.Type != "array" || p.Items == nil {
				t.Errorf("%s: %+v, want an array", at, p)
				continue
			}
			p = *p.Items
		}
		switch f.Kind() {
		case protoreflect.MessageKind:
			if f.Message().FullName() == "google.protobuf.Timestamp" {
				if p.Type != "string" || p.Format != "date-time" {
					t.Errorf("%s: %+v, want a date-time string", at, p)
				}
				continue
			}
			checkSchema(t, doc, p, f.Message(), at)
		case protoreflect.Uint64Kind, protoreflect.Int64Kind:
			if p.Type != "string" {
				t.Errorf("%s: type %q, want string (protojson writes 64-bit integers as strings)", at, p.Type)
			}
		case protoreflect.StringKind:
			if p.Type != "string" {
				t.Errorf("%s: type %q, want string", at, p.Type)
			}
		case protoreflect.BoolKind:
			if p.Type != "boolean" {
				t.Errorf("%s: type %q, want boolean", at, p.Type)
			}
		}
	}
}

// checkProperties reports whether the properties of s are exactly names.
func checkProperties(t *testing.T, s schema, names []string, where string) bool {
	t.Helper()
	var got []string
	for name := range s.Properties {
		got = append(got, name)
	}
	slices.Sort(got)
	names = slices.Sorted(slices.Values(names))
	if !slices.Equal(got, names) {
		t.Errorf("%s: properties %q, want the proto field names %q", where, got, names)
		return false
	}
	return true
}

// TestServedDocument checks the document the server serves at GET
// /v1/openapi.json (ssebridge.OpenAPI): the generated REST mapping,
// unchanged, plus the SSE routes, with every reference resolvable.
// cmd/ssebridge's TestOpenAPIServed checks it against the running server's
// routes.
func TestServedDocument(t *testing.T) {
	served, err := ssebridge.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc, generated map[string]any
	if err := json.Unmarshal(served, &doc); err != nil {
		t.Fatalf("the served document does not parse: %v", err)
	}
	raw, err := os.ReadFile(documentPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &generated); err != nil {
		t.Fatal(err)
	}
	if doc["swagger"] != "2.0" {
		t.Fatalf("swagger %v, want 2.0", doc["swagger"])
	}
	paths := doc["paths"].(map[string]any)
	for path, ops := range generated["paths"].(map[string]any) {
		for method, op := range ops.(map[string]any) {
			got, _ := json.Marshal(paths[path].(map[string]any)[method])
			want, _ := json.Marshal(op)
			if string(got) != string(want) {
				t.Errorf("%s %s differs from the generated document", strings.ToUpper(method), path)
			}
		}
	}
	for _, sse := range []string{"/v1/events", "/v1/topics/{topic}/events"} {
		if op, _ := paths[sse].(map[string]any)["get"].(map[string]any); op == nil {
			t.Errorf("GET %s is not in the served document", sse)
		}
	}
	// Every reference resolves.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				section, name, _ := strings.Cut(strings.TrimPrefix(ref, "#/"), "/")
				if s, _ := doc[section].(map[string]any); s[name] == nil {
					t.Errorf("unresolvable reference %q", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
}
