package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// openAPI is the part of the document these tests read.
type openAPI struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties           map[string]json.RawMessage `json:"properties"`
			Required             []string                   `json:"required"`
			AdditionalProperties *bool                      `json:"additionalProperties"`
		} `json:"schemas"`
		SecuritySchemes map[string]struct {
			Flows map[string]struct {
				Scopes map[string]string `json:"scopes"`
			} `json:"flows"`
		} `json:"securitySchemes"`
	} `json:"components"`
}

type operation struct {
	Parameters []json.RawMessage      `json:"parameters"`
	Security   *[]map[string][]string `json:"security"`
	Responses  map[string]any         `json:"responses"`
}

func loadDoc(t *testing.T) openAPI {
	t.Helper()
	var doc openAPI
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("access/admin/openapi.json is not valid JSON: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	return doc
}

// The checked-in copy for readers must be the embedded document.
func TestOpenAPI_DocsCopyIsIdentical(t *testing.T) {
	docs, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(docs, openAPIDoc) {
		t.Fatal("docs/openapi.json differs from access/admin/openapi.json (the source); run: cp access/admin/openapi.json docs/openapi.json")
	}
}

var pathParam = regexp.MustCompile(`:([a-z_]+)`)

// Every route registered under /api/v1 is documented with its method, and the document
// describes no route that does not exist.
func TestOpenAPI_MatchesRoutes(t *testing.T) {
	doc := loadDoc(t)
	e := echo.New()
	(&Handler{}).Register(e)
	registered := map[string]bool{}
	for _, r := range e.Routes() {
		if !strings.HasPrefix(r.Path, Prefix+"/") {
			continue
		}
		p := pathParam.ReplaceAllString(strings.TrimPrefix(r.Path, Prefix), "{$1}")
		registered[strings.ToLower(r.Method)+" "+p] = true
	}
	documented := map[string]bool{}
	for p, item := range doc.Paths {
		for method := range item {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			documented[method+" "+p] = true
		}
	}
	var missing, extra []string
	for k := range registered {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !registered[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("routes not in the OpenAPI document: %v\ndocumented but not registered: %v", missing, extra)
	}
	if len(registered) != len(routes)+1 {
		t.Fatalf("%d routes registered, %d in the table (+ the document)", len(registered), len(routes))
	}
}

// Each operation declares its path parameters, its security (the scopes the middleware
// enforces) and its error responses.
func TestOpenAPI_Operations(t *testing.T) {
	doc := loadDoc(t)
	params := regexp.MustCompile(`\{([a-z_]+)\}`)
	for p, item := range doc.Paths {
		var shared []json.RawMessage
		if raw, ok := item["parameters"]; ok {
			if err := json.Unmarshal(raw, &shared); err != nil {
				t.Fatal(err)
			}
		}
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, p, err)
			}
			var all string
			for _, p := range append(slices.Clone(shared), op.Parameters...) {
				all += string(p)
			}
			for _, m := range params.FindAllStringSubmatch(p, -1) {
				if !strings.Contains(all, `"#/components/parameters/`+m[1]+`"`) {
					t.Errorf("%s %s does not declare the path parameter %s", method, p, m[1])
				}
			}
			if op.Security == nil {
				t.Errorf("%s %s has no security requirement", method, p)
				continue
			}
			var scopes []string
			for _, req := range *op.Security {
				scopes = append(scopes, req["weft"]...)
			}
			slices.Sort(scopes)
			want := []string{ScopeAdmin}
			switch {
			case p == openAPIPath:
				want = nil
			case method == "get":
				want = []string{ScopeAdmin, ScopeAdminRead}
			}
			if !slices.Equal(scopes, want) {
				t.Errorf("%s %s: security scopes %v, want %v", method, p, scopes, want)
			}
			if p != openAPIPath {
				for _, code := range []string{"401", "403", "default"} {
					if op.Responses[code] == nil {
						t.Errorf("%s %s does not document %s", method, p, code)
					}
				}
			}
		}
	}
	flows := doc.Components.SecuritySchemes["weft"].Flows
	if len(flows) == 0 {
		t.Fatal("no weft security scheme")
	}
	for name, f := range flows {
		if f.Scopes[ScopeAdmin] == "" || f.Scopes[ScopeAdminRead] == "" {
			t.Errorf("flow %s does not describe both scopes: %v", name, f.Scopes)
		}
	}
}

// Every $ref points at something.
func TestOpenAPI_RefsResolve(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				var cur any = doc
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := cur.(map[string]any)
					cur = m[part]
				}
				if cur == nil {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, v := range x {
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(doc)
}

// The schemas name exactly the JSON fields the handlers read and write.
func TestOpenAPI_SchemasMatchTypes(t *testing.T) {
	doc := loadDoc(t)
	types := map[string]any{
		"Problem":               fieldProblem{},
		"User":                  userView{},
		"CreateUser":            createUserRequest{},
		"UpdateUser":            patchUserRequest{},
		"SetPassword":           passwordRequest{},
		"Group":                 groupView{},
		"CreateGroup":           createGroupRequest{},
		"UpdateGroup":           patchGroupRequest{},
		"MachineIdentity":       machineView{},
		"CreateMachineIdentity": createMachineRequest{},
		"UpdateMachineIdentity": patchMachineRequest{},
		"Client":                clientView{},
		"CreateClient":          createClientRequest{},
		"UserList":              list[userView]{},
		"Session":               sessionView{},
		"SessionList":           list[sessionView]{},
		"SessionToken":          tokenView{},
		"RevokeSession":         revokeSessionRequest{},
		"SessionRevocation":     revocationView{},
		"ChangeStatus":          statusChangeRequest{},
		"RotateClientSecret":    rotateSecretRequest{},
		"Application":           applicationView{},
		"ApplicationList":       list[applicationView]{},
		"CreateApplication":     createApplicationRequest{},
		"UpdateApplication":     patchApplicationRequest{},
		"Route":                 routeView{},
		"Routes":                putRoutesRequest{},
	}
	for name, v := range types {
		s, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("no schema %s", name)
			continue
		}
		var documented []string
		for p := range s.Properties {
			documented = append(documented, p)
		}
		fields := jsonFields(reflect.TypeOf(v))
		if name == "CreateClient" {
			// Declared in Go only to be refused with a clear message.
			fields = slices.DeleteFunc(fields, func(f string) bool { return f == "secret" || f == "secret_hash" })
		}
		slices.Sort(documented)
		slices.Sort(fields)
		if !slices.Equal(documented, fields) {
			t.Errorf("schema %s has %v, the Go type %T has %v", name, documented, v, fields)
		}
		if strings.HasPrefix(name, "Create") || strings.HasPrefix(name, "Update") || name == "SetPassword" || name == "RevokeSession" ||
			name == "ChangeStatus" || name == "RotateClientSecret" {
			if s.AdditionalProperties == nil || *s.AdditionalProperties {
				t.Errorf("request schema %s must say additionalProperties: false (unknown fields are refused)", name)
			}
		}
	}
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// The served document is the embedded one.
func TestOpenAPI_Served(t *testing.T) {
	en := newEnv(t, sqltest.SQLite)
	r := en.do(http.MethodGet, Prefix+openAPIPath, "", nil)
	if r.code != http.StatusOK || !bytes.Equal(r.body, openAPIDoc) {
		t.Fatalf("GET %s = %d (%d bytes)", Prefix+openAPIPath, r.code, len(r.body))
	}
}
