package authzen_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/access/authzen"
	"github.com/weft-fabric/weft/policy"
)

// decisions reads an Access Evaluations answer: one entry per answered evaluation, "T",
// "F", or "E<status>" for an evaluation's own error.
func decisions(t *testing.T, body evaluationsBody) []string {
	t.Helper()
	out := make([]string, len(body.Evaluations))
	for i, d := range body.Evaluations {
		switch {
		case d.Decision == nil:
			t.Fatalf("evaluation %d has no decision", i)
		case d.Context != nil && d.Context.Error != nil:
			if *d.Decision {
				t.Fatalf("evaluation %d failed but permits", i)
			}
			out[i] = fmt.Sprintf("E%d", d.Context.Error.Status)
		case *d.Decision:
			out[i] = "T"
		default:
			out[i] = "F"
		}
	}
	return out
}

// TestEvaluations_DefaultsAndOverrides follows section 7.1.1: top-level members are the
// defaults, and a member an evaluation gives replaces its default whole.
func TestEvaluations_DefaultsAndOverrides(t *testing.T) {
	en := newEnv(t, nil)
	body := `{
	  "subject": {"type": "user", "id": "alice@example.com", "properties": {"department": "Sales"}},
	  "context": {"time": "2024-05-31T15:22-07:00"},
	  "action": {"name": "can_read"},
	  "evaluations": [
	    {"resource": {"type": "document", "id": "boxcarring.md"}},
	    {"action": {"name": "can_edit", "properties": {"field": "title"}}, "resource": {"type": "document", "id": "resource-search.md"}},
	    {"subject": {"type": "user", "id": "bob@example.com"}, "resource": {"type": "document", "id": "deny-3"}, "context": {}},
	    {"subject": null, "resource": {"type": "document", "id": "4"}, "context": {"time": "2025-01-01T00:00Z"}}
	  ]
	}`
	rec := en.post(t, authzen.PathEvaluations, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
	}
	got := decode[evaluationsBody](t, rec)
	if d := decisions(t, got); !reflect.DeepEqual(d, []string{"T", "T", "F", "T"}) {
		t.Fatalf("decisions = %v; body %s", d, rec.Body)
	}
	// Section 7.2: the batch's top-level decision is best omitted.
	if got.Decision != nil {
		t.Errorf("top-level decision %v in a batch answer", *got.Decision)
	}
	alice := policy.Entity{Type: "user", ID: "alice@example.com", Properties: map[string]any{"department": "Sales"}}
	defaultContext := map[string]any{"time": "2024-05-31T15:22-07:00"}
	want := []policy.Query{
		{Subject: alice, Action: "can_read", Resource: policy.Entity{Type: "document", ID: "boxcarring.md"}, Context: defaultContext},
		{Subject: alice, Action: "can_edit", ActionProperties: map[string]any{"field": "title"},
			Resource: policy.Entity{Type: "document", ID: "resource-search.md"}, Context: defaultContext},
		// The subject is replaced, not merged (bob has no department); an empty context
		// replaces the default one.
		{Subject: policy.Entity{Type: "user", ID: "bob@example.com"}, Action: "can_read",
			Resource: policy.Entity{Type: "document", ID: "deny-3"}, Context: map[string]any{}},
		// null is an omitted member (section 11.5): the default applies.
		{Subject: alice, Action: "can_read", Resource: policy.Entity{Type: "document", ID: "4"},
			Context: map[string]any{"time": "2025-01-01T00:00Z"}},
	}
	if q := en.eval.queries(); !reflect.DeepEqual(q, want) {
		t.Fatalf("queries:\n%#v\nwant\n%#v", q, want)
	}
}

// TestEvaluations_Semantics covers section 7.1.2.1, and checks that short-circuiting
// stops evaluating, not only answering.
func TestEvaluations_Semantics(t *testing.T) {
	item := func(id string) string { return `{"resource":{"type":"document","id":"` + id + `"}}` }
	for _, tc := range []struct {
		name     string
		semantic string // "" sends no options
		items    []string
		want     []string
		asked    int
	}{
		{"default is execute_all", "", []string{"1", "deny-2", "3"}, []string{"T", "F", "T"}, 3},
		{"execute_all", authzen.ExecuteAll, []string{"1", "deny-2", "3"}, []string{"T", "F", "T"}, 3},
		{"deny_on_first_deny stops at the deny", authzen.DenyOnFirstDeny, []string{"1", "deny-2", "3"}, []string{"T", "F"}, 2},
		{"deny_on_first_deny takes step-up as a deny", authzen.DenyOnFirstDeny, []string{"stepup", "1"}, []string{"F"}, 1},
		{"deny_on_first_deny takes an error as a deny", authzen.DenyOnFirstDeny, []string{"1", "broken", "3"}, []string{"T", "E500"}, 2},
		{"deny_on_first_deny takes an invalid evaluation as a deny", authzen.DenyOnFirstDeny, []string{"1", "", "3"}, []string{"T", "E400"}, 1},
		{"deny_on_first_deny with no deny answers all", authzen.DenyOnFirstDeny, []string{"1", "2", "3"}, []string{"T", "T", "T"}, 3},
		{"permit_on_first_permit stops at the permit", authzen.PermitOnFirstPermit, []string{"1", "deny-2", "3"}, []string{"T"}, 1},
		{"permit_on_first_permit goes past denials and errors", authzen.PermitOnFirstPermit, []string{"deny-1", "broken", "stepup", "4", "5"}, []string{"F", "E500", "F", "T"}, 4},
		{"permit_on_first_permit with no permit answers all", authzen.PermitOnFirstPermit, []string{"deny-1", "deny-2"}, []string{"F", "F"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			en := newEnv(t, nil)
			items := make([]string, len(tc.items))
			for i, id := range tc.items {
				items[i] = item(id)
				if id == "" { // no resource and no default: invalid
					items[i] = `{}`
				}
			}
			options := ""
			if tc.semantic != "" {
				options = `"options":{"evaluations_semantic":"` + tc.semantic + `","another_option":"value"},`
			}
			body := `{"subject":{"type":"user","id":"alice@example.com"},"action":{"name":"read"},` + options +
				`"evaluations":[` + strings.Join(items, ",") + `]}`
			rec := en.post(t, authzen.PathEvaluations, body)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
			}
			if d := decisions(t, decode[evaluationsBody](t, rec)); !reflect.DeepEqual(d, tc.want) {
				t.Errorf("decisions = %v, want %v; body %s", d, tc.want, rec.Body)
			}
			if n := len(en.eval.queries()); n != tc.asked {
				t.Errorf("the policy was asked %d times, want %d", n, tc.asked)
			}
		})
	}
}

// TestEvaluations_PerItemErrors covers section 7.2.1: an evaluation that is wrong, or
// that cannot be decided, is answered false with context.error in its place, and the
// others are decided as usual.
func TestEvaluations_PerItemErrors(t *testing.T) {
	en := newEnv(t, nil)
	body := `{
	  "action": {"name": "read"},
	  "evaluations": [
	    {"subject": {"type": "user", "id": "alice"}, "resource": {"type": "document", "id": "1"}},
	    {"subject": {"type": "user", "id": "alice"}},
	    {"subject": "s3cret-alice", "resource": {"type": "document", "id": "3"}},
	    42,
	    {"subject": {"type": "user", "id": "alice"}, "resource": {"type": "document", "id": "broken"}},
	    {"subject": {"type": "user", "id": "alice"}, "resource": {"type": "document", "id": "deny-6"}}
	  ]
	}`
	rec := en.post(t, authzen.PathEvaluations, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
	}
	got := decode[evaluationsBody](t, rec)
	if d := decisions(t, got); !reflect.DeepEqual(d, []string{"T", "E400", "E400", "E400", "E500", "F"}) {
		t.Fatalf("decisions = %v; body %s", d, rec.Body)
	}
	for i, want := range map[int]string{
		1: "resource is required (in the evaluation or as a top-level default)",
		2: "subject must be an object",
		3: "the evaluation must be a JSON object",
		4: "The policy could not be evaluated.",
	} {
		if msg := got.Evaluations[i].Context.Error.Message; msg != want && !strings.Contains(msg, want) {
			t.Errorf("evaluation %d: message %q, want %q", i, msg, want)
		}
	}
	if strings.Contains(rec.Body.String(), "s3cret") || strings.Contains(rec.Body.String(), "10.0.0.7") {
		t.Errorf("the answer quotes a request value or an internal error: %s", rec.Body)
	}
	// The deny keeps its reasons beside the errors.
	if c := got.Evaluations[5].Context; c == nil || len(c.Reasons) != 2 || c.Error != nil {
		t.Errorf("the deny lost its reasons: %s", rec.Body)
	}
	if n := len(en.eval.queries()); n != 3 {
		t.Errorf("the policy was asked %d times, want 3 (the valid evaluations only)", n)
	}
}

// TestEvaluations_WithoutEvaluations: without an evaluations array (or with an empty
// one) the request is an Access Evaluation request and gets its answer (section 7.1).
func TestEvaluations_WithoutEvaluations(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		allow      bool
		detail     string
	}{
		{"absent", request("doc-1"), 200, true, ""},
		{"empty", `{"subject":{"type":"user","id":"a"},"action":{"name":"read"},"resource":{"type":"d","id":"deny-1"},"evaluations":[]}`, 200, false, ""},
		{"missing members are a 400", `{"subject":{"type":"user","id":"a"},"evaluations":[]}`, 400, false, "resource is required"},
		{"an evaluator failure is a 500", request("broken"), 500, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			en := newEnv(t, nil)
			rec := en.post(t, authzen.PathEvaluations, tc.body)
			if tc.status != 200 {
				wantProblem(t, rec, tc.status, tc.detail)
				return
			}
			if rec.Code != 200 {
				t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
			}
			got := decode[evaluationsBody](t, rec)
			if got.Decision == nil || *got.Decision != tc.allow || got.Evaluations != nil {
				t.Errorf("answer %s, want a single decision %v", rec.Body, tc.allow)
			}
		})
	}
}

// TestEvaluations_WholeRequestErrors: what pertains to the whole payload is an HTTP
// error (section 7.2.1, type 1), and nothing is evaluated.
func TestEvaluations_WholeRequestErrors(t *testing.T) {
	one := `{"subject":{"type":"user","id":"a"},"action":{"name":"read"},"resource":{"type":"d","id":"1"}}`
	many := strings.TrimSuffix(strings.Repeat(one+",", 9), ",") // the test handler allows 8
	for _, tc := range []struct {
		name, ctype, body string
		status            int
		detail, field     string
	}{
		{name: "unknown semantic", body: `{"options":{"evaluations_semantic":"first_applicable"},"evaluations":[` + one + `]}`, status: 400, detail: "options.evaluations_semantic must be one of"},
		{name: "semantic not a string", body: `{"options":{"evaluations_semantic":1},"evaluations":[` + one + `]}`, status: 400, detail: "must be a string", field: "options.evaluations_semantic"},
		{name: "options not an object", body: `{"options":"all","evaluations":[` + one + `]}`, status: 400, detail: "must be an object", field: "options"},
		{name: "evaluations not an array", body: `{"evaluations":{"0":` + one + `}}`, status: 400, detail: "must be an array", field: "evaluations"},
		{name: "default subject of the wrong type", body: `{"subject":["a"],"evaluations":[` + one + `]}`, status: 400, detail: "must be an object", field: "subject"},
		{name: "too many evaluations", body: `{"evaluations":[` + many + `]}`, status: 400, detail: "at most 8 evaluations"},
		{name: "malformed", body: `{"evaluations":[` + one + `,]}`, status: 400, detail: "malformed JSON"},
		{name: "not JSON", ctype: "text/plain", body: `{"evaluations":[` + one + `]}`, status: 415, detail: "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			en := newEnv(t, nil)
			ctype := tc.ctype
			if ctype == "" {
				ctype = "application/json"
			}
			rec := en.do(t, http.MethodPost, authzen.PathEvaluations, tokPEP, tc.body, "Content-Type", ctype)
			p := wantProblem(t, rec, tc.status, tc.detail)
			if p.Field != tc.field {
				t.Errorf("field = %q, want %q", p.Field, tc.field)
			}
			if n := len(en.eval.queries()); n != 0 {
				t.Errorf("the policy was asked %d times", n)
			}
		})
	}
}

// TestEvaluations_BatchBodyLimit: a batch may be larger than one evaluation, within its
// own limit.
func TestEvaluations_BatchBodyLimit(t *testing.T) {
	en := newEnv(t, nil)
	big := `{"subject":{"type":"user","id":"a","properties":{"x":"` + strings.Repeat("x", authzen.DefaultMaxBody) + `"}},"action":{"name":"read"},` +
		`"evaluations":[{"resource":{"type":"d","id":"1"}}]}`
	if rec := en.post(t, authzen.PathEvaluations, big); rec.Code != http.StatusOK {
		t.Fatalf("a batch over the single limit but within the batch limit: %d %s", rec.Code, rec.Body)
	}
	huge := `{"subject":{"type":"user","id":"a","properties":{"x":"` + strings.Repeat("x", authzen.DefaultMaxBatchBody) + `"}}}`
	wantProblem(t, en.post(t, authzen.PathEvaluations, huge), http.StatusRequestEntityTooLarge, "at most")
}
