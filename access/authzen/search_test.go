package authzen_test

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access/authzen"
)

// TestMetadata covers section 9: the document at the well-known path, with the PDP
// identifier and the endpoints offered, and nothing for what is not offered.
func TestMetadata(t *testing.T) {
	for _, tc := range []struct {
		name    string
		actions authzen.ActionLister
		want    map[string]string
	}{
		{"without action search", nil, map[string]string{
			"policy_decision_point":       issuer,
			"access_evaluation_endpoint":  issuer + "/access/v1/evaluation",
			"access_evaluations_endpoint": issuer + "/access/v1/evaluations",
		}},
		{"with action search", actionList{"read"}, map[string]string{
			"policy_decision_point":       issuer,
			"access_evaluation_endpoint":  issuer + "/access/v1/evaluation",
			"access_evaluations_endpoint": issuer + "/access/v1/evaluations",
			"search_action_endpoint":      issuer + "/access/v1/search/action",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			en := newEnv(t, tc.actions)
			// Public: no token.
			rec := en.do(t, http.MethodGet, "/.well-known/authzen-configuration", "", "")
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get(echo.HeaderContentType); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json (section 9.2.2)", ct)
			}
			if cc := rec.Header().Get(echo.HeaderCacheControl); !strings.Contains(cc, "max-age=") {
				t.Errorf("Cache-Control = %q, want a max-age (section 11.9)", cc)
			}
			if got := decode[map[string]string](t, rec); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("metadata = %v\nwant %v", got, tc.want)
			}
			// Every endpoint named is served at the path it names.
			for k, u := range tc.want {
				if k == "policy_decision_point" {
					continue
				}
				path := strings.TrimPrefix(u, issuer)
				if rec := en.do(t, http.MethodPost, path, "", "{}"); rec.Code != http.StatusUnauthorized {
					t.Errorf("%s (%s): %d without a token, want 401: not served there?", k, path, rec.Code)
				}
			}
		})
	}
}

func TestSearch_NotOffered(t *testing.T) {
	en := newEnv(t, nil)
	for path, entity := range map[string]string{
		authzen.PathSearchSubject:  "subject",
		authzen.PathSearchResource: "resource",
		authzen.PathSearchAction:   "action", // no ActionLister
	} {
		rec := en.post(t, path, `{"subject":{"type":"user"},"action":{"name":"read"},"resource":{"type":"d","id":"1"}}`)
		wantProblem(t, rec, http.StatusNotFound, "does not offer the "+entity+" search API")
	}
	if n := len(en.eval.queries()); n != 0 {
		t.Errorf("the policy was asked %d times", n)
	}
}

type searchBody struct {
	Page *struct {
		NextToken *string `json:"next_token"`
		Count     int     `json:"count"`
		Total     int     `json:"total"`
	} `json:"page"`
	Results []map[string]any `json:"results"`
}

func names(t *testing.T, b searchBody) []string {
	t.Helper()
	out := []string{}
	for _, r := range b.Results {
		if len(r) != 1 {
			t.Fatalf("result %v is not an action", r)
		}
		out = append(out, r["name"].(string))
	}
	return out
}

// TestSearchAction covers section 8.6: the actions the policy permits for the subject
// and resource, each checked by the evaluator.
func TestSearchAction(t *testing.T) {
	catalogue := actionList{"write", "read", "delete", "read", ""}
	for _, tc := range []struct {
		name     string
		resource string
		want     []string
	}{
		{"everything permitted", "doc-1", []string{"delete", "read", "write"}},
		{"only read permitted", "read-only", []string{"read"}},
		{"nothing permitted", "deny-1", []string{}},
		{"step-up is not a permit", "stepup", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			en := newEnv(t, catalogue)
			rec := en.post(t, authzen.PathSearchAction, `{"subject":{"type":"user","id":"alice"},"resource":{"type":"document","id":"`+tc.resource+`"},"context":{"time":"now"}}`)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
			}
			got := decode[searchBody](t, rec)
			if n := names(t, got); !reflect.DeepEqual(n, tc.want) {
				t.Errorf("results = %v, want %v", n, tc.want)
			}
			// "results" is required even when empty; a complete answer needs no page.
			if !strings.Contains(rec.Body.String(), `"results":[`) || got.Page != nil {
				t.Errorf("body %s", rec.Body)
			}
			q := en.eval.queries()
			if len(q) != 3 {
				t.Fatalf("the policy was asked %d times, want once per distinct action", len(q))
			}
			if q[0].Subject.ID != "alice" || q[0].Resource.ID != tc.resource || q[0].Context["time"] != "now" {
				t.Errorf("query %+v", q[0])
			}
		})
	}
}

func TestSearchAction_BadRequests(t *testing.T) {
	en := newEnv(t, actionList{"read"})
	for _, tc := range []struct{ name, body, detail string }{
		{"missing subject", `{"resource":{"type":"d","id":"1"}}`, "subject is required"},
		{"missing subject id", `{"subject":{"type":"user"},"resource":{"type":"d","id":"1"}}`, "subject.id is required"},
		{"missing resource", `{"subject":{"type":"user","id":"a"}}`, "resource is required"},
		{"missing resource id", `{"subject":{"type":"user","id":"a"},"resource":{"type":"d"}}`, "resource.id is required"},
		{"negative limit", `{"subject":{"type":"user","id":"a"},"resource":{"type":"d","id":"1"},"page":{"limit":-1}}`, "page.limit"},
		{"fractional limit", `{"subject":{"type":"user","id":"a"},"resource":{"type":"d","id":"1"},"page":{"limit":1.5}}`, "must be a number"},
		{"foreign token", `{"subject":{"type":"user","id":"a"},"resource":{"type":"d","id":"1"},"page":{"token":"not-ours!"}}`, "page.token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, en.post(t, authzen.PathSearchAction, tc.body), http.StatusBadRequest, tc.detail)
		})
	}
	if n := len(en.eval.queries()); n != 0 {
		t.Errorf("the policy was asked %d times", n)
	}
}

func TestSearchAction_EvaluatorFailure(t *testing.T) {
	en := newEnv(t, actionList{"read", "write"})
	// A partial list would claim the rest is forbidden: an error instead.
	rec := en.post(t, authzen.PathSearchAction, `{"subject":{"type":"user","id":"a"},"resource":{"type":"d","id":"broken"}}`)
	wantProblem(t, rec, http.StatusInternalServerError, "")
	if strings.Contains(rec.Body.String(), "results") {
		t.Errorf("a failed search returned results: %s", rec.Body)
	}
}

// TestSearchAction_Pagination covers section 8.2: pages of at most limit results, an
// opaque next_token until the last page (then empty), and a token that only works with
// the request it was issued for.
func TestSearchAction_Pagination(t *testing.T) {
	en := newEnv(t, actionList{"approve", "delete", "read", "write", "audit"})
	page := func(extra string) *httptest.ResponseRecorder {
		return en.post(t, authzen.PathSearchAction, `{"subject":{"type":"user","id":"alice"},"resource":{"type":"document","id":"doc-1"},"page":{"limit":2`+extra+`}}`)
	}
	var all []string
	token := ""
	for i := 0; ; i++ {
		extra := ""
		if token != "" {
			extra = `,"token":"` + token + `"`
		}
		rec := page(extra)
		if rec.Code != http.StatusOK {
			t.Fatalf("page %d: status %d; body %s", i, rec.Code, rec.Body)
		}
		if !strings.HasPrefix(rec.Body.String(), `{"page":`) {
			t.Errorf("page %d: the page object is not first: %s", i, rec.Body)
		}
		got := decode[searchBody](t, rec)
		if got.Page == nil || got.Page.NextToken == nil {
			t.Fatalf("page %d without page.next_token: %s", i, rec.Body)
		}
		n := names(t, got)
		if len(n) > 2 || got.Page.Count != len(n) || got.Page.Total != 5 {
			t.Fatalf("page %d: %s", i, rec.Body)
		}
		all = append(all, n...)
		token = *got.Page.NextToken
		if token == "" {
			break
		}
		if i > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if want := []string{"approve", "audit", "delete", "read", "write"}; !reflect.DeepEqual(all, want) {
		t.Errorf("all pages = %v, want %v", all, want)
	}

	// A token of this search, used with another request (another resource, another
	// limit): refused, as section 8.2 recommends.
	first := decode[searchBody](t, page(""))
	tok := *first.Page.NextToken
	for _, body := range []string{
		`{"subject":{"type":"user","id":"alice"},"resource":{"type":"document","id":"doc-2"},"page":{"limit":2,"token":"` + tok + `"}}`,
		`{"subject":{"type":"user","id":"alice"},"resource":{"type":"document","id":"doc-1"},"page":{"limit":3,"token":"` + tok + `"}}`,
		`{"subject":{"type":"user","id":"alice"},"resource":{"type":"document","id":"doc-1"},"context":{"x":1},"page":{"limit":2,"token":"` + tok + `"}}`,
	} {
		wantProblem(t, en.post(t, authzen.PathSearchAction, body), http.StatusBadRequest, "belongs to another request")
	}
	// The same request with the token is still fine, member order aside.
	rec := en.post(t, authzen.PathSearchAction, `{"page":{"token":"`+tok+`","limit":2},"resource":{"id":"doc-1","type":"document"},"subject":{"id":"alice","type":"user"}}`)
	if n := names(t, decode[searchBody](t, rec)); !reflect.DeepEqual(n, []string{"delete", "read"}) {
		t.Errorf("second page = %v; body %s", n, rec.Body)
	}
}

func TestRegister_RequiresItsDependencies(t *testing.T) {
	g := newEnv(t, nil).gate
	for _, tc := range []struct {
		name string
		h    *authzen.Handler
	}{
		{"no issuer", &authzen.Handler{Gate: g, Evaluator: &evaluator{}}},
		{"no gate", &authzen.Handler{Issuer: issuer, Evaluator: &evaluator{}}},
		{"no evaluator", &authzen.Handler{Issuer: issuer, Gate: g}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Register accepted a handler it cannot serve with")
				}
			}()
			tc.h.Register(echo.New())
		})
	}
	// The same with everything given registers.
	(&authzen.Handler{Issuer: issuer, Gate: g, Evaluator: &evaluator{}}).Register(echo.New())
}
