// Package ssebridge holds the description of ssebridge's HTTP API: the
// OpenAPI document that the server serves at GET /v1/openapi.json. The
// server itself is cmd/ssebridge; see README.md.
package ssebridge

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// generatedOpenAPI is the document that protoc-gen-openapiv2 generates
// from the API: the REST mapping (make generate writes it).
//
//go:embed gen/openapi/ssebridge.swagger.json
var generatedOpenAPI string

// sseOpenAPI is the hand-written part: the SSE routes, this document's
// own route and the console's stats stream, which no proto describes.
//
//go:embed openapi_sse.json
var sseOpenAPI string

// OpenAPI returns the OpenAPI (Swagger 2.0) document of the HTTP API: the
// generated document of the REST mapping with the SSE routes merged in.
// Every route that both describe (by path and method) is an error, as is a
// definition, parameter or response named in both. Each call returns a new
// document; it is safe for concurrent use.
func OpenAPI() ([]byte, error) {
	var doc, sse map[string]any
	if err := json.Unmarshal([]byte(generatedOpenAPI), &doc); err != nil {
		return nil, fmt.Errorf("ssebridge: the generated OpenAPI document: %w", err)
	}
	if err := json.Unmarshal([]byte(sseOpenAPI), &sse); err != nil {
		return nil, fmt.Errorf("ssebridge: the OpenAPI document of the SSE routes: %w", err)
	}
	doc["info"] = map[string]any{"title": "ssebridge", "version": "v1"}
	paths := object(doc, "paths")
	for path, ops := range object(sse, "paths") {
		have := object(paths, path)
		for method, op := range ops.(map[string]any) {
			if _, dup := have[method]; dup {
				return nil, fmt.Errorf("ssebridge: OpenAPI: %s %s is described twice", method, path)
			}
			have[method] = op
		}
	}
	for _, section := range []string{"definitions", "parameters", "responses"} {
		into := object(doc, section)
		for name, v := range object(sse, section) {
			if _, dup := into[name]; dup {
				return nil, fmt.Errorf("ssebridge: OpenAPI: %s %q is described twice", section, name)
			}
			into[name] = v
		}
	}
	tags, _ := doc["tags"].([]any)
	extra, _ := sse["tags"].([]any)
	doc["tags"] = append(tags, extra...)
	return json.MarshalIndent(doc, "", "  ")
}

// object returns the JSON object doc[key], adding an empty one when there
// is none.
func object(doc map[string]any, key string) map[string]any {
	if m, ok := doc[key].(map[string]any); ok {
		return m
	}
	m := map[string]any{}
	doc[key] = m
	return m
}
