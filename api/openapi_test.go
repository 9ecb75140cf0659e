package api

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// spec is the parsed openapi.yaml, as generic YAML.
type spec = map[string]any

func loadSpec(t testing.TB) spec {
	t.Helper()
	var s spec
	if err := yaml.Unmarshal(openAPI, &s); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return s
}

// m walks a path of map keys in generic YAML, nil when absent.
func m(v any, keys ...string) any {
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// TestOpenAPIRoutes: every route the server registers is in openapi.yaml,
// and every operation there is a route of the server.
func TestOpenAPIRoutes(t *testing.T) {
	sp := loadSpec(t)
	if v, _ := sp["openapi"].(string); !strings.HasPrefix(v, "3.0") {
		t.Fatalf("openapi: %q, want 3.0.x", v)
	}
	var inFile []string
	paths, _ := sp["paths"].(map[string]any)
	for path, ops := range paths {
		for method := range ops.(map[string]any) {
			switch method {
			case "get", "post", "put", "patch", "delete", "head", "options":
				inFile = append(inFile, strings.ToUpper(method)+" "+path)
			}
		}
	}
	s := newTestServer(t, "token")
	var served []string
	for _, rt := range s.routes {
		served = append(served, rt.method+" "+rt.path)
	}
	sort.Strings(inFile)
	sort.Strings(served)
	if !slices.Equal(inFile, served) {
		t.Errorf("openapi.yaml and the server differ:\n in the file: %v\n served:      %v", inFile, served)
	}
	for _, rt := range s.routes {
		op := m(sp, "paths", rt.path, strings.ToLower(rt.method))
		_, secured := m(op, "security").([]any)
		if secured != rt.admin {
			t.Errorf("%s %s: security in the file %v, admin route %v", rt.method, rt.path, secured, rt.admin)
		}
	}
}

// TestOpenAPIRefs: every $ref in the file resolves.
func TestOpenAPIRefs(t *testing.T) {
	sp := loadSpec(t)
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if resolve(sp, ref) == nil {
					t.Errorf("%s: $ref %s does not resolve", at, ref)
				}
			}
			for k, c := range x {
				walk(c, at+"/"+k)
			}
		case []any:
			for i, c := range x {
				walk(c, fmt.Sprintf("%s[%d]", at, i))
			}
		}
	}
	walk(sp, "")
}

// resolve follows a local $ref ("#/components/schemas/Block").
func resolve(sp spec, ref string) any {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	return m(sp, strings.Split(p, "/")...)
}

// responseSchema is the JSON schema of a route's answer with status.
func responseSchema(t testing.TB, sp spec, method, path, status string) any {
	t.Helper()
	r := m(sp, "paths", path, strings.ToLower(method), "responses", status)
	if r == nil {
		r = m(sp, "paths", path, strings.ToLower(method), "responses", "default")
	}
	if ref, ok := m(r, "$ref").(string); ok {
		r = resolve(sp, ref)
	}
	s := m(r, "content", "application/json", "schema")
	if s == nil {
		t.Fatalf("openapi.yaml: %s %s has no JSON answer for %s", method, path, status)
	}
	return s
}

// conform checks a JSON answer against a schema of the file: types,
// required properties, no property the schema does not name, nullable.
// It covers the subset of OpenAPI the file uses.
func conform(sp spec, schema any, v any, at string) []string {
	if ref, ok := m(schema, "$ref").(string); ok {
		schema = resolve(sp, ref)
	}
	if all, ok := m(schema, "allOf").([]any); ok {
		if v == nil {
			if n, _ := m(schema, "nullable").(bool); n {
				return nil
			}
		}
		var out []string
		for _, s := range all {
			out = append(out, conform(sp, s, v, at)...)
		}
		return out
	}
	if v == nil {
		if n, _ := m(schema, "nullable").(bool); n {
			return nil
		}
		return []string{at + ": null, the schema does not allow it"}
	}
	typ, _ := m(schema, "type").(string)
	switch typ {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, want an object", at, v)}
		}
		var out []string
		props, _ := m(schema, "properties").(map[string]any)
		req, _ := m(schema, "required").([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				out = append(out, fmt.Sprintf("%s: lacks required %q", at, r))
			}
		}
		for k, c := range obj {
			p, ok := props[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s: has %q, which the schema does not name", at, k))
				continue
			}
			out = append(out, conform(sp, p, c, at+"."+k)...)
		}
		return out
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, want an array", at, v)}
		}
		var out []string
		for i, c := range arr {
			out = append(out, conform(sp, m(schema, "items"), c, fmt.Sprintf("%s[%d]", at, i))...)
		}
		return out
	case "string":
		if _, ok := v.(string); !ok {
			return []string{fmt.Sprintf("%s: %T, want a string", at, v)}
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			return []string{fmt.Sprintf("%s: %v, want an integer", at, v)}
		}
	case "number":
		if _, ok := v.(float64); !ok {
			return []string{fmt.Sprintf("%s: %T, want a number", at, v)}
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return []string{fmt.Sprintf("%s: %T, want a boolean", at, v)}
		}
	default:
		return []string{fmt.Sprintf("%s: the schema has no type the check knows (%q)", at, typ)}
	}
	return nil
}

// checkConforms checks a JSON answer of a route against the file.
func checkConforms(t testing.TB, sp spec, method, path, status string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, body)
	}
	for _, p := range conform(sp, responseSchema(t, sp, method, path, status), v, "answer") {
		t.Errorf("%s %s %s: %s", method, path, status, p)
	}
}
