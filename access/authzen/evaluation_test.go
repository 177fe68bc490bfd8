package authzen_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access/authzen"
	"github.com/weft-fabric/weft/policy"
)

// request is a minimal valid Access Evaluation request on resource id.
func request(id string) string {
	return `{"subject":{"type":"user","id":"alice@example.com"},"action":{"name":"read"},"resource":{"type":"document","id":"` + id + `"}}`
}

func TestEvaluation_Decisions(t *testing.T) {
	en := newEnv(t, nil)
	for _, tc := range []struct {
		name        string
		resource    string
		allow       bool
		codes       []string // the context's reasons; nil: no context at all
		status      string   // the key of reason_admin and reason_user
		admin, user string
		acr         string
	}{
		{name: "allow", resource: "doc-1", allow: true},
		{name: "deny with the policy's reasons", resource: "deny-1", codes: []string{"not_owner", "risk_high"}, status: "403",
			admin: "not_owner: Only the owner may do this.; risk_high: Risk is high.", user: "Only the owner may do this."},
		{name: "deny without reasons says why", resource: "bare-deny", codes: []string{"policy_denied"}, status: "403",
			admin: "policy_denied: The policy denies this request.", user: "The policy denies this request."},
		{name: "step-up is a deny with the acr to reach", resource: "stepup", codes: []string{"risk_medium"}, status: "401",
			admin: "risk_medium: Risk is medium on a sensitive application.", user: "Risk is medium on a sensitive application.", acr: stepUpACR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := en.post(t, authzen.PathEvaluation, request(tc.resource))
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get(echo.HeaderContentType); ct != echo.MIMEApplicationJSON {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := rec.Header().Get(echo.HeaderCacheControl); cc != "no-store" {
				t.Errorf("Cache-Control = %q", cc)
			}
			got := decode[decisionBody](t, rec)
			if got.Decision == nil || *got.Decision != tc.allow {
				t.Fatalf("decision = %v, want %v; body %s", got.Decision, tc.allow, rec.Body)
			}
			if tc.codes == nil {
				if got.Context != nil {
					t.Errorf("an allow without reasons has a context: %s", rec.Body)
				}
				return
			}
			if got.Context == nil {
				t.Fatalf("no context: %s", rec.Body)
			}
			if codes := policy.Codes(got.Context.Reasons); !reflect.DeepEqual(codes, tc.codes) {
				t.Errorf("reasons = %v, want %v", codes, tc.codes)
			}
			if a := got.Context.ReasonAdmin; len(a) != 1 || a[tc.status] != tc.admin {
				t.Errorf("reason_admin = %v, want {%s: %q}", a, tc.status, tc.admin)
			}
			if u := got.Context.ReasonUser; len(u) != 1 || u[tc.status] != tc.user {
				t.Errorf("reason_user = %v, want {%s: %q}", u, tc.status, tc.user)
			}
			if got.Context.ACRValues != tc.acr {
				t.Errorf("acr_values = %q, want %q", got.Context.ACRValues, tc.acr)
			}
		})
	}
}

func TestEvaluation_MapsRequestToQuery(t *testing.T) {
	en := newEnv(t, nil)
	// Every member of section 6.1 with properties, plus members this PDP does not know,
	// which section 10.1.1 says to ignore.
	body := `{
	  "subject": {"type": "user", "id": "alice@example.com", "properties": {"department": "Sales", "groups": ["a", "b"], "level": 3}, "extra": 1},
	  "action": {"name": "can_read", "properties": {"method": "GET"}},
	  "resource": {"type": "account", "id": "123", "properties": {"library_record": {"title": "AuthZEN in Action", "isbn": "978-0593383322"}}},
	  "context": {"time": "1985-10-26T01:22-07:00", "ip": null},
	  "future_member": {"anything": true}
	}`
	rec := en.post(t, authzen.PathEvaluation, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
	}
	want := policy.Query{
		Subject: policy.Entity{Type: "user", ID: "alice@example.com",
			Properties: map[string]any{"department": "Sales", "groups": []any{"a", "b"}, "level": float64(3)}},
		Action: "can_read", ActionProperties: map[string]any{"method": "GET"},
		Resource: policy.Entity{Type: "account", ID: "123",
			Properties: map[string]any{"library_record": map[string]any{"title": "AuthZEN in Action", "isbn": "978-0593383322"}}},
		Context: map[string]any{"time": "1985-10-26T01:22-07:00", "ip": nil},
	}
	got := en.eval.queries()
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("queries = %#v\nwant %#v", got, want)
	}
}

// TestEvaluation_BadRequests covers what section 10.1 asks of a body: application/json,
// one JSON object, every required member (400 otherwise, section 10.1.1).
func TestEvaluation_BadRequests(t *testing.T) {
	const secret = "s3cret-attribute"
	for _, tc := range []struct {
		name   string
		ctype  string // "-" sends none
		body   string
		status int
		detail string
		field  string
	}{
		{name: "text/plain", ctype: "text/plain", body: request("doc-1"), status: 415, detail: "application/json"},
		{name: "form", ctype: "application/x-www-form-urlencoded", body: "subject=alice", status: 415, detail: "application/json"},
		{name: "no content type", ctype: "-", body: request("doc-1"), status: 415, detail: "application/json"},
		{name: "malformed JSON", body: `{"subject":{"type":"user","id":"` + secret + `",}`, status: 400, detail: "malformed JSON"},
		{name: "truncated JSON", body: `{"subject":{"type":"user"`, status: 400, detail: "malformed JSON"},
		{name: "empty body", body: ``, status: 400, detail: "must be a JSON object"},
		{name: "array", body: `[` + request("doc-1") + `]`, status: 400, detail: "must be a JSON object"},
		{name: "trailing data", body: request("doc-1") + `{}`, status: 400, detail: "exactly one JSON object"},
		{name: "duplicate member", body: `{"subject":{"type":"user","id":"a","id":"b"},"action":{"name":"read"},"resource":{"type":"d","id":"1"}}`,
			status: 400, detail: "more than once", field: "subject.id"},
		{name: "empty object", body: `{}`, status: 400, detail: "subject is required"},
		{name: "missing subject", body: `{"action":{"name":"read"},"resource":{"type":"d","id":"1"}}`, status: 400, detail: "subject is required"},
		{name: "null subject", body: `{"subject":null,"action":{"name":"read"},"resource":{"type":"d","id":"1"}}`, status: 400, detail: "subject is required"},
		{name: "missing subject type", body: `{"subject":{"id":"a"},"action":{"name":"read"},"resource":{"type":"d","id":"1"}}`, status: 400, detail: "subject.type is required"},
		{name: "missing subject id", body: `{"subject":{"type":"user"},"action":{"name":"read"},"resource":{"type":"d","id":"1"}}`, status: 400, detail: "subject.id is required"},
		{name: "empty subject id", body: `{"subject":{"type":"user","id":""},"action":{"name":"read"},"resource":{"type":"d","id":"1"}}`, status: 400, detail: "subject.id is required"},
		{name: "missing action", body: `{"subject":{"type":"user","id":"a"},"resource":{"type":"d","id":"1"}}`, status: 400, detail: "action is required"},
		{name: "missing action name", body: `{"subject":{"type":"user","id":"a"},"action":{"properties":{}},"resource":{"type":"d","id":"1"}}`, status: 400, detail: "action.name is required"},
		{name: "missing resource", body: `{"subject":{"type":"user","id":"a"},"action":{"name":"read"}}`, status: 400, detail: "resource is required"},
		{name: "missing resource id", body: `{"subject":{"type":"user","id":"a"},"action":{"name":"read"},"resource":{"type":"d"}}`, status: 400, detail: "resource.id is required"},
		{name: "subject is a string", body: `{"subject":"` + secret + `","action":{"name":"read"},"resource":{"type":"d","id":"1"}}`, status: 400, detail: "must be an object", field: "subject"},
		{name: "id is a number", body: `{"subject":{"type":"user","id":42},"action":{"name":"read"},"resource":{"type":"d","id":"1"}}`, status: 400, detail: "must be a string", field: "subject.id"},
		{name: "properties is an array", body: `{"subject":{"type":"user","id":"a","properties":["` + secret + `"]},"action":{"name":"read"},"resource":{"type":"d","id":"1"}}`, status: 400, detail: "must be an object", field: "subject.properties"},
		{name: "context is a string", body: `{"subject":{"type":"user","id":"a"},"action":{"name":"read"},"resource":{"type":"d","id":"1"},"context":"now"}`, status: 400, detail: "must be an object", field: "context"},
		{name: "over the size limit", body: `{"subject":{"type":"user","id":"a","properties":{"x":"` + strings.Repeat("x", authzen.DefaultMaxBody) + `"}}}`, status: 413, detail: "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			en := newEnv(t, nil)
			ctype := echo.MIMEApplicationJSON
			switch tc.ctype {
			case "-":
				ctype = ""
			case "":
			default:
				ctype = tc.ctype
			}
			rec := en.do(t, http.MethodPost, authzen.PathEvaluation, tokPEP, tc.body, echo.HeaderContentType, ctype)
			p := wantProblem(t, rec, tc.status, tc.detail)
			if p.Field != tc.field {
				t.Errorf("field = %q, want %q", p.Field, tc.field)
			}
			if strings.Contains(rec.Body.String(), secret) {
				t.Errorf("the answer quotes the request: %s", rec.Body)
			}
			if q := en.eval.queries(); len(q) != 0 {
				t.Errorf("the policy was asked %d times about a bad request", len(q))
			}
		})
	}
}

func TestEvaluation_EvaluatorFailure(t *testing.T) {
	en := newEnv(t, nil)
	rec := en.post(t, authzen.PathEvaluation, request("broken"))
	// No decision could be made: an error (section 10.1.2), never a decision either way.
	p := wantProblem(t, rec, http.StatusInternalServerError, "")
	if strings.Contains(rec.Body.String(), "10.0.0.7") || strings.Contains(rec.Body.String(), "decision") {
		t.Errorf("the 500 says more than it should: %s", rec.Body)
	}
	if p.Title == "" {
		t.Errorf("problem without a title: %s", rec.Body)
	}
}

// TestAuthentication covers section 11.3 (401 with WWW-Authenticate) and Weft's rules
// for who may ask: a client's token with weft:authzen that the central policy admits.
func TestAuthentication(t *testing.T) {
	en := newEnv(t, actionList{"read"})
	bodies := map[string]string{
		authzen.PathEvaluation:   request("doc-1"),
		authzen.PathEvaluations:  `{"subject":{"type":"user","id":"a"},"action":{"name":"read"},"evaluations":[{"resource":{"type":"d","id":"1"}}]}`,
		authzen.PathSearchAction: `{"subject":{"type":"user","id":"a"},"resource":{"type":"d","id":"1"}}`,
	}
	for _, tc := range []struct {
		name      string
		header    string // the Authorization header; "" sends none
		status    int
		challenge string // the WWW-Authenticate header, "" for none
		code      string // the problem's OAuth error code
	}{
		{name: "no token", status: 401, challenge: `Bearer realm="weft"`},
		{name: "basic credentials", header: "Basic cGVwOnNlY3JldA==", status: 401, challenge: `Bearer realm="weft"`},
		{name: "unknown token", header: "Bearer not-a-token", status: 401, challenge: `Bearer realm="weft", error="invalid_token"`, code: "invalid_token"},
		{name: "malformed header", header: "Bearer a b", status: 401, challenge: `Bearer realm="weft", error="invalid_token"`, code: "invalid_token"},
		{name: "refresh token", header: "Bearer " + tokRefresh, status: 401, challenge: `Bearer realm="weft", error="invalid_token"`, code: "invalid_token"},
		{name: "without the scope", header: "Bearer " + tokNoScope, status: 403,
			challenge: `Bearer realm="weft", error="insufficient_scope", scope="weft:authzen"`, code: "insufficient_scope"},
		{name: "a person's token", header: "Bearer " + tokPerson, status: 403},
		{name: "refused by the central policy", header: "Bearer " + tokBlocked, status: 403},
		{name: "a machine identity's token", header: "Bearer " + tokMachine, status: 200},
		{name: "a client's token", header: "Bearer " + tokPEP, status: 200},
	} {
		for path, body := range bodies {
			t.Run(tc.name+" "+path, func(t *testing.T) {
				before := len(en.eval.queries())
				rec := en.do(t, http.MethodPost, path, "", body, echo.HeaderAuthorization, tc.header)
				if rec.Code != tc.status {
					t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.status, rec.Body)
				}
				if got := rec.Header().Get(echo.HeaderWWWAuthenticate); got != tc.challenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
				}
				asked := len(en.eval.queries()) - before
				if tc.status != 200 {
					p := wantProblem(t, rec, tc.status, "")
					if p.Error != tc.code {
						t.Errorf("error = %q, want %q", p.Error, tc.code)
					}
					if asked != 0 {
						t.Errorf("the policy was asked on behalf of a caller who was refused")
					}
				} else if asked == 0 {
					t.Errorf("an admitted caller got no decision")
				}
			})
		}
	}
}

// TestAuthentication_BeforeTheBody: an unauthenticated caller learns nothing about how
// its body would be read.
func TestAuthentication_BeforeTheBody(t *testing.T) {
	en := newEnv(t, nil)
	rec := en.do(t, http.MethodPost, authzen.PathEvaluation, "", "not json", echo.HeaderContentType, "text/plain")
	wantProblem(t, rec, http.StatusUnauthorized, "bearer access token")
}

// TestRequestID covers section 10.1.3: the PEP's X-Request-ID comes back unchanged, on
// decisions and on errors alike.
func TestRequestID(t *testing.T) {
	en := newEnv(t, nil)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		token  string
		body   string
		id     string
		status int
	}{
		{"decision", http.MethodPost, authzen.PathEvaluation, tokPEP, request("doc-1"), "bfe9eb29-ab87-4ca3-be83-a1d5d8305716", 200},
		{"batch", http.MethodPost, authzen.PathEvaluations, tokPEP, `{"evaluations":[` + request("deny-1") + `]}`, "batch-7", 200},
		// Outside the alphabet Weft's own ids use: still the caller's, unchanged.
		{"any string", http.MethodPost, authzen.PathEvaluation, tokPEP, request("doc-1"), "req 42/α:{x}", 200},
		{"unauthenticated", http.MethodPost, authzen.PathEvaluation, "", request("doc-1"), "no-token-1", 401},
		{"bad request", http.MethodPost, authzen.PathEvaluation, tokPEP, `{}`, "bad-1", 400},
		{"evaluator failure", http.MethodPost, authzen.PathEvaluation, tokPEP, request("broken"), "broken-1", 500},
		{"metadata", http.MethodGet, authzen.PathConfiguration, "", "", "meta-1", 200},
		{"search not offered", http.MethodPost, authzen.PathSearchSubject, tokPEP, `{}`, "search-1", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := en.do(t, tc.method, tc.path, tc.token, tc.body, echo.HeaderXRequestID, tc.id)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Values(echo.HeaderXRequestID); len(got) != 1 || got[0] != tc.id {
				t.Errorf("X-Request-ID = %q, want exactly %q", got, tc.id)
			}
		})
	}
}

// A request the policy's schema cannot take (a property of the wrong type) is the
// caller's mistake: 400 saying which member, alone or in its place in a batch.
func TestEvaluation_MisfitIsABadRequest(t *testing.T) {
	en := newEnv(t, nil)
	rec := en.post(t, authzen.PathEvaluation, request("misfit"))
	p := wantProblem(t, rec, http.StatusBadRequest, "")
	if !strings.Contains(p.Detail, "resource.properties.sensitive must be a Bool") {
		t.Errorf("detail %q does not say which member", p.Detail)
	}
	rec = en.post(t, authzen.PathEvaluations, `{"subject":{"type":"user","id":"a"},"action":{"name":"read"},`+
		`"evaluations":[{"resource":{"type":"d","id":"misfit"}},{"resource":{"type":"d","id":"ok"}}]}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("batch: %d %s", rec.Code, rec.Body)
	}
	var out struct {
		Evaluations []struct {
			Decision bool `json:"decision"`
			Context  struct {
				Error struct {
					Status int `json:"status"`
				} `json:"error"`
			} `json:"context"`
		} `json:"evaluations"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Evaluations) != 2 {
		t.Fatalf("batch answer %s: %v", rec.Body, err)
	}
	if e := out.Evaluations[0]; e.Decision || e.Context.Error.Status != http.StatusBadRequest {
		t.Errorf("the misfit item: %+v, want decision false with error status 400", e)
	}
	if !out.Evaluations[1].Decision {
		t.Error("the item after a misfit was not evaluated")
	}
}
