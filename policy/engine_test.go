package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-fabric/weft/policy"
)

var ctx = context.Background()

// noon is a fixed request time (a Wednesday, 12:00 UTC).
var noon = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func compile(t *testing.T, v policy.Version) *policy.Compiled {
	t.Helper()
	c, err := policy.Compile(v)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return c
}

func user(id string, groups ...string) policy.Principal {
	return policy.Principal{ID: id, Kind: policy.KindUser, Status: "active", Email: id + "@example.com", Groups: groups}
}

func decide(t *testing.T, d policy.Decider, r policy.Request) policy.Decision {
	t.Helper()
	if r.Time.IsZero() {
		r.Time = noon
	}
	dec, err := d.Decide(ctx, r)
	if err != nil {
		t.Fatalf("decide: %v", err)
	}
	return dec
}

func TestCompile_InvalidRejectedWithPosition(t *testing.T) {
	tests := []struct {
		name     string
		v        policy.Version
		source   string
		pos      policy.Position
		policyID string
		message  string
	}{
		{name: "syntax error",
			v:      policy.Version{Policies: "permit (principal, action, resource);\n\nforbid (principal, action, resource)\n  when { context.risk.level == };\n"},
			source: policy.SourcePolicies, pos: policy.Position{Line: 4, Column: 33}, message: "invalid primary"},
		{name: "unterminated string",
			v:      policy.Version{Policies: "permit (principal, action, resource)\n  when { context.country == \"FR };\n"},
			source: policy.SourcePolicies, pos: policy.Position{Line: 2, Column: 29}, message: "literal not terminated"},
		{name: "attribute the schema does not declare",
			v:      policy.Version{Policies: "permit (principal, action, resource);\n\n@id(\"typo\")\nforbid (principal, action, resource)\n  when { context.risk.levl == \"high\" };\n"},
			source: policy.SourcePolicies, pos: policy.Position{Line: 3, Column: 1}, policyID: "typo", message: "attribute `levl`"},
		{name: "wrong type",
			v:      policy.Version{Policies: "forbid (principal, action, resource) when { context.risk.score == \"high\" };"},
			source: policy.SourcePolicies, pos: policy.Position{Line: 1, Column: 1}, policyID: "policy0", message: "type"},
		{name: "optional attribute read without has",
			v:      policy.Version{Policies: "  forbid (principal, action, resource) when { context.ip.isLoopback() };"},
			source: policy.SourcePolicies, pos: policy.Position{Line: 1, Column: 3}, policyID: "policy0", message: "optional attribute `ip`"},
		{name: "action the schema does not declare",
			v:      policy.Version{Policies: "permit (principal, action == Weft::Action::\"deploy\", resource);"},
			source: policy.SourcePolicies, pos: policy.Position{Line: 1, Column: 1}, policyID: "policy0", message: "unrecognized action"},
		{name: "step_up on a permit",
			v:      policy.Version{Policies: "\n@step_up(\"reauthenticate\")\npermit (principal, action, resource);"},
			source: policy.SourcePolicies, pos: policy.Position{Line: 2, Column: 1}, policyID: "policy0", message: "@step_up belongs on a forbid"},
		{name: "step_up without an acr",
			v:      policy.Version{Policies: "@step_up(\"\")\nforbid (principal, action, resource);"},
			source: policy.SourcePolicies, pos: policy.Position{Line: 1, Column: 1}, policyID: "policy0", message: "@step_up needs the acr"},
		{name: "duplicate id",
			v:      policy.Version{Policies: "@id(\"a\")\npermit (principal, action, resource);\n@id(\"a\")\nforbid (principal, action, resource);"},
			source: policy.SourcePolicies, pos: policy.Position{Line: 3, Column: 1}, policyID: "a", message: "same @id"},
		{name: "reason that is not a code",
			v:      policy.Version{Policies: "@reason(\"too risky\")\nforbid (principal, action, resource);"},
			source: policy.SourcePolicies, pos: policy.Position{Line: 1, Column: 1}, policyID: "policy0", message: "@reason must be a code"},
		{name: "schema syntax error",
			v:      policy.Version{Policies: policy.DefaultPolicies, Schema: "namespace Weft {\n  entity User = { email: };\n}"},
			source: policy.SourceSchema, pos: policy.Position{Line: 2, Column: 26}, message: "expected identifier"},
		{name: "schema that drops a Weft attribute",
			v:      policy.Version{Policies: "permit (principal, action, resource);", Schema: strings.Replace(policy.WeftSchema, "email: String,", "", 1)},
			source: policy.SourceSchema, message: "Weft::User: attribute email is missing"},
		{name: "schema that adds a required attribute Weft does not fill",
			v:      policy.Version{Policies: "permit (principal, action, resource);", Schema: strings.Replace(policy.WeftSchema, "email: String,", "email: String, department: String,", 1)},
			source: policy.SourceSchema, message: "added attribute department must be optional"},
		{name: "schema that changes a context type",
			v:      policy.Version{Policies: "permit (principal, action, resource);", Schema: strings.Replace(policy.WeftSchema, "score: Long,", "score: String,", 1)},
			source: policy.SourceSchema, message: "attribute score must keep its type"},
		{name: "test case without an outcome",
			v: policy.Version{Policies: "permit (principal, action, resource);", Tests: []policy.TestCase{{Name: "x",
				Request: &policy.Request{Principal: user("alice"), Action: policy.ActionAccess}}}},
			source: policy.SourceTests, message: "the outcome must be allow, deny or step_up"},
		{name: "test case with neither request nor query",
			v:      policy.Version{Policies: "permit (principal, action, resource);", Tests: []policy.TestCase{{Name: "x", Expect: policy.Expectation{Outcome: policy.OutcomeAllow}}}},
			source: policy.SourceTests, message: "must have a request or a query"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := policy.Compile(tc.v)
			if err == nil || c != nil {
				t.Fatalf("compiled an invalid version: %v", c)
			}
			if !errors.Is(err, policy.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			var ve *policy.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T %v carries no *ValidationError", err, err)
			}
			if ve.Source != tc.source || ve.Position != tc.pos || ve.PolicyID != tc.policyID || !strings.Contains(ve.Message, tc.message) {
				t.Fatalf("got %s %v policy %q: %q\nwant %s %v policy %q: containing %q", ve.Source, ve.Position, ve.PolicyID, ve.Message,
					tc.source, tc.pos, tc.policyID, tc.message)
			}
		})
	}
}

// Every problem of a version is reported, each at its own policy.
func TestCompile_ReportsEveryProblem(t *testing.T) {
	_, err := policy.Compile(policy.Version{Policies: "@id(\"one\")\nforbid (principal, action, resource) when { context.nope };\n\n" +
		"@id(\"two\")\npermit (principal, action, resource) when { resource.nope };\n"})
	var errs policy.ValidationErrors
	if !errors.As(err, &errs) {
		t.Fatalf("want ValidationErrors, got %v", err)
	}
	at := map[string]int{}
	for _, e := range errs {
		at[e.PolicyID] = e.Position.Line
	}
	if !reflect.DeepEqual(at, map[string]int{"one": 1, "two": 4}) {
		t.Fatalf("problems not placed at their policies: %v", err)
	}
	if !strings.Contains(err.Error(), "policies:4:1: policy two: ") {
		t.Fatalf("message does not say where: %q", err.Error())
	}
}

func TestDefault_TestCasesPass(t *testing.T) {
	d := policy.Default()
	c := compile(t, d)
	if len(d.Tests) < 10 {
		t.Fatalf("the default set has %d test cases", len(d.Tests))
	}
	if f := c.RunTests(ctx, d.Tests); len(f) != 0 {
		t.Fatalf("default test cases fail: %+v", f)
	}
	if c.Version() != 0 || policy.NewEngine().Current().Version() != 0 {
		t.Fatal("the default set is not version 0")
	}
}

func TestDefault_RiskLevels(t *testing.T) {
	machine := policy.Principal{ID: "batch", Kind: policy.KindMachine, Status: "active"}
	client := policy.Principal{ID: "svc", Kind: policy.KindClient, Status: "active"}
	tests := []struct {
		level     string
		principal policy.Principal
		sensitive bool
		want      policy.Outcome
		stepUp    string
		reason    string
		policyID  string
	}{
		{"", user("alice"), false, policy.OutcomeAllow, "", "allowed", "allow-rest"},
		{"none", user("alice"), false, policy.OutcomeAllow, "", "allowed", "allow-rest"},
		{"none", user("alice"), true, policy.OutcomeAllow, "", "allowed", "allow-rest"},
		{"low", user("alice"), false, policy.OutcomeAllow, "", "allowed", "allow-rest"},
		{"low", user("alice"), true, policy.OutcomeAllow, "", "allowed", "allow-rest"},
		{"medium", user("alice"), false, policy.OutcomeAllow, "", "allowed", "allow-rest"},
		{"medium", user("alice"), true, policy.OutcomeStepUp, policy.StepUpReauthenticate, "step_up_required", "step-up-medium-risk-sensitive"},
		{"medium", machine, false, policy.OutcomeAllow, "", "allowed", "allow-rest"},
		{"medium", machine, true, policy.OutcomeDeny, "", "risk_medium_sensitive", "deny-medium-risk-sensitive-machine"},
		{"medium", client, true, policy.OutcomeDeny, "", "risk_medium_sensitive", "deny-medium-risk-sensitive-machine"},
		{"high", user("alice"), false, policy.OutcomeDeny, "", "risk_high", "deny-high-risk"},
		{"high", user("alice"), true, policy.OutcomeDeny, "", "risk_high", "deny-high-risk"},
		{"high", client, false, policy.OutcomeDeny, "", "risk_high", "deny-high-risk"},
		{"critical", user("alice"), false, policy.OutcomeDeny, "", "risk_critical", "deny-critical-risk"},
		{"critical", machine, true, policy.OutcomeDeny, "", "risk_critical", "deny-critical-risk"},
	}
	e := policy.NewEngine()
	for _, action := range []string{policy.ActionLogin, policy.ActionToken, policy.ActionIntrospect, policy.ActionAccess} {
		for _, tc := range tests {
			name := action + "/" + tc.level + "/" + tc.principal.Kind
			if tc.sensitive {
				name += "/sensitive"
			}
			t.Run(name, func(t *testing.T) {
				d := decide(t, e, policy.Request{Principal: tc.principal, Action: action, Application: "payroll", Sensitive: tc.sensitive, RiskLevel: tc.level})
				if d.Outcome() != tc.want || d.StepUp != tc.stepUp || d.Allow != (tc.want == policy.OutcomeAllow) {
					t.Fatalf("got %s (step-up %q), want %s (step-up %q)", d.Outcome(), d.StepUp, tc.want, tc.stepUp)
				}
				if !reflect.DeepEqual(policy.Codes(d.Reasons), []string{tc.reason}) || !reflect.DeepEqual(d.PolicyIDs, []string{tc.policyID}) {
					t.Fatalf("reasons %v by %v, want [%s] by [%s]", policy.Codes(d.Reasons), d.PolicyIDs, tc.reason, tc.policyID)
				}
				if d.Reasons[0].Message == "" || d.Version != 0 {
					t.Fatalf("decision lacks a message or a version: %+v", d)
				}
			})
		}
	}
}

const stepUpSet = `
@id("allow-staff")
permit (principal in Weft::Group::"staff", action, resource);

@id("reauth-sensitive")
@step_up("reauthenticate")
@reason("reauth")
forbid (principal, action, resource) when { resource.sensitive };

@id("mfa-payroll")
@step_up("mfa")
forbid (principal, action, resource == Weft::Application::"payroll");

@id("embargo")
@reason("embargoed_country")
@message("Not from there.")
forbid (principal, action, resource) when { context.country == "KP" };
`

func TestDecide_StepUpAndForbidPrecedence(t *testing.T) {
	c := compile(t, policy.Version{Number: 7, Policies: stepUpSet})
	staff := user("alice", "staff")
	tests := []struct {
		name      string
		r         policy.Request
		want      policy.Outcome
		stepUp    string
		policyIDs []string
		reasons   []string
	}{
		{"nothing forbids", policy.Request{Principal: staff, Application: "wiki"},
			policy.OutcomeAllow, "", []string{"allow-staff"}, []string{"allow-staff"}},
		{"only a step-up matches", policy.Request{Principal: staff, Application: "wiki", Sensitive: true},
			policy.OutcomeStepUp, "reauthenticate", []string{"reauth-sensitive"}, []string{"reauth"}},
		{"two step-ups match: the first names the acr", policy.Request{Principal: staff, Application: "payroll", Sensitive: true},
			policy.OutcomeStepUp, "reauthenticate", []string{"reauth-sensitive", "mfa-payroll"}, []string{"reauth", "mfa-payroll"}},
		{"a plain forbid wins over a step-up", policy.Request{Principal: staff, Application: "wiki", Sensitive: true, Country: "KP"},
			policy.OutcomeDeny, "", []string{"embargo"}, []string{"embargoed_country"}},
		{"a plain forbid alone", policy.Request{Principal: staff, Application: "wiki", Country: "KP"},
			policy.OutcomeDeny, "", []string{"embargo"}, []string{"embargoed_country"}},
		{"a step-up without a permit is a deny", policy.Request{Principal: user("bob"), Application: "wiki", Sensitive: true},
			policy.OutcomeDeny, "", nil, []string{policy.ReasonNoPermit}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.Action = policy.ActionAccess
			d := decide(t, c, tc.r)
			if d.Outcome() != tc.want || d.StepUp != tc.stepUp {
				t.Fatalf("got %s (step-up %q), want %s (step-up %q)", d.Outcome(), d.StepUp, tc.want, tc.stepUp)
			}
			if !reflect.DeepEqual(d.PolicyIDs, tc.policyIDs) || !reflect.DeepEqual(policy.Codes(d.Reasons), tc.reasons) {
				t.Fatalf("determined by %v with %v, want %v with %v", d.PolicyIDs, policy.Codes(d.Reasons), tc.policyIDs, tc.reasons)
			}
			if d.Version != 7 {
				t.Fatalf("version %d, want 7", d.Version)
			}
		})
	}
	d := decide(t, c, policy.Request{Principal: staff, Action: policy.ActionAccess, Application: "wiki", Country: "KP"})
	if d.Reasons[0].Message != "Not from there." {
		t.Fatalf("@message not used: %+v", d.Reasons)
	}
}

// Cedar skips a policy that fails to evaluate; Weft does not let a failing forbid
// allow: it denies. A failing permit grants nothing.
func TestDecide_EvaluationErrorFailsClosed(t *testing.T) {
	overflow := "context.risk.score * 9223372036854775807 > 1"
	c := compile(t, policy.Version{Policies: `
@id("allow") permit (principal, action, resource);
@id("overflowing-forbid") forbid (principal, action, resource) when { context.country == "XX" && ` + overflow + ` };
@id("overflowing-permit") permit (principal, action, resource == Weft::Application::"other") when { ` + overflow + ` };
`})
	r := policy.Request{Principal: user("alice"), Action: policy.ActionAccess, Application: "wiki", RiskScore: 10}
	if d := decide(t, c, r); !d.Allow {
		t.Fatalf("a forbid that does not apply denied: %+v", d)
	}
	r.Country = "XX"
	d := decide(t, c, r)
	if d.Outcome() != policy.OutcomeDeny || !reflect.DeepEqual(policy.Codes(d.Reasons), []string{policy.ReasonPolicyError}) ||
		!reflect.DeepEqual(d.PolicyIDs, []string{"overflowing-forbid"}) {
		t.Fatalf("a failing forbid did not deny: %+v", d)
	}
	only := compile(t, policy.Version{Policies: `@id("overflowing-permit") permit (principal, action, resource) when { ` + overflow + ` };`})
	if d := decide(t, only, policy.Request{Principal: user("alice"), Action: policy.ActionAccess, RiskScore: 10}); d.Allow ||
		!reflect.DeepEqual(policy.Codes(d.Reasons), []string{policy.ReasonNoPermit}) {
		t.Fatalf("a failing permit allowed: %+v", d)
	}
}

// Each field of a Request reaches the policy under its schema name.
func TestDecide_RequestReachesCedar(t *testing.T) {
	permit := func(cond string) *policy.Compiled {
		return compile(t, policy.Version{Policies: "permit (principal, action, resource) when { " + cond + " };"})
	}
	base := policy.Request{Principal: user("alice", "staff", "admins"), Action: policy.ActionAccess, ClientID: "portal", SessionID: "s1",
		Scopes: []string{"openid", "payroll:read"}, Application: "payroll", Sensitive: true, RouteHost: "pay.example", RoutePath: "/admin",
		IP: "10.1.2.3", DeviceID: "dev1", Country: "FR", Network: "AS3215", ACR: "urn:acr:mfa", AMR: []string{"pwd", "otp"},
		RiskScore: 42, RiskLevel: "medium", RiskReasons: []string{"new_device"}, Time: noon}
	tests := []struct {
		name string
		cond string
		r    func(r *policy.Request)
	}{
		{"principal type and id", `principal == Weft::User::"alice"`, nil},
		{"group membership as parents", `principal in Weft::Group::"admins"`, nil},
		{"groups attribute", `principal is Weft::User && principal.groups.contains("staff")`, nil},
		{"email and status", `principal is Weft::User && principal.email like "*@example.com" && principal.status == "active"`, nil},
		{"machine identity", `principal is Weft::MachineIdentity && principal.status == "active"`,
			func(r *policy.Request) {
				r.Principal = policy.Principal{ID: "m", Kind: policy.KindMachine, Status: "active"}
			}},
		{"client", `principal == Weft::Client::"svc"`, func(r *policy.Request) { r.Principal = policy.Principal{ID: "svc", Kind: policy.KindClient} }},
		{"action", `action == Weft::Action::"access"`, nil},
		{"route", `resource is Weft::Route && resource.host == "pay.example" && resource.path == "/admin" && resource.sensitive && resource.application == Weft::Application::"payroll"`, nil},
		{"route in its application", `resource in Weft::Application::"payroll"`, nil},
		{"application", `resource == Weft::Application::"payroll" && resource.sensitive`, func(r *policy.Request) { r.RouteHost, r.RoutePath = "", "" }},
		{"application defaults to the client", `resource == Weft::Application::"portal"`, func(r *policy.Request) { r.RouteHost, r.RoutePath, r.Application = "", "", "" }},
		{"Weft's API route", `action == Weft::Action::"api" && resource is Weft::Route && resource.path == "admin /users" && resource in Weft::Application::"weft"`,
			func(r *policy.Request) {
				r.Action, r.Resource, r.RouteHost, r.RoutePath, r.Application = policy.ActionAPI, "admin /users", "", "", ""
			}},
		{"risk", `context.risk.score == 42 && context.risk.level == "medium" && context.risk.reasons.contains("new_device")`, nil},
		{"ip", `context has ip && context.ip.isInRange(ip("10.0.0.0/8"))`, nil},
		{"geo and device", `context.country == "FR" && context.network == "AS3215" && context.device == "dev1"`, nil},
		{"assurance", `context.acr == "urn:acr:mfa" && context.amr.containsAll(["pwd", "otp"])`, nil},
		{"time", `context.time.hour == 12 && context.time.weekday == 3 && context.time.epoch == ` + strconv.FormatInt(noon.Unix(), 10), nil},
		{"client, session, scopes", `context.client == "portal" && context.session == "s1" && context.scopes.contains("payroll:read")`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := base
			if tc.r != nil {
				tc.r(&r)
			}
			if d := decide(t, permit(tc.cond), r); !d.Allow {
				t.Fatalf("the condition did not hold: %+v", d)
			}
		})
	}
	// and the negative: without an address there is no ip, and the guarded read is false.
	r := base
	r.IP = "not-an-ip"
	if d := decide(t, permit(`context has ip`), r); d.Allow {
		t.Fatal("an unparseable address reached the policy")
	}
}

func TestDecide_UnknownActionAndKind(t *testing.T) {
	e := policy.NewEngine()
	d := decide(t, e, policy.Request{Principal: user("alice"), Action: "deploy"})
	if d.Allow || !reflect.DeepEqual(policy.Codes(d.Reasons), []string{policy.ReasonUnknownAction}) {
		t.Fatalf("an undeclared action was not denied: %+v", d)
	}
	if _, err := e.Decide(ctx, policy.Request{Principal: policy.Principal{ID: "x", Kind: "robot"}, Action: policy.ActionAccess}); !errors.Is(err, policy.ErrInvalid) {
		t.Fatalf("unknown principal kind: %v, want ErrInvalid", err)
	}
}

// An extended schema: an action administrators declare, an optional attribute on a
// Weft type, and an entity type of their own.
var extendedSchema = func() string {
	s := strings.Replace(policy.WeftSchema, "email: String,", "email: String,\n    department?: String,", 1)
	end := strings.LastIndex(s, "}")
	return s[:end] + `
  entity Document = { owner: String, classification: Long };
  action deploy appliesTo { principal: [User], resource: [Application], context: Context };
  action read appliesTo { principal: [User], resource: [Document], context: { purpose: String, risk: Risk } };
}
`
}()

func TestEvaluate_QueryPropertiesReachCedar(t *testing.T) {
	c := compile(t, policy.Version{Schema: extendedSchema, Policies: `
@id("deploy-eng")
permit (principal, action == Weft::Action::"deploy", resource)
when { principal has department && principal.department == "eng" && !resource.sensitive };

@id("read-own")
permit (principal, action == Weft::Action::"read", resource)
when { resource.owner == principal.email && resource.classification < 3 && context.purpose == "audit" };

@id("admins-access")
permit (principal in Weft::Group::"admins", action == Weft::Action::"access", resource is Weft::Route)
when { resource.path like "/admin*" && resource in Weft::Application::"payroll" };

@id("step-up-sensitive")
@step_up("reauthenticate")
forbid (principal, action, resource is Weft::Route) when { resource.sensitive && context.risk.level == "medium" };
`})
	tests := []struct {
		name   string
		q      policy.Query
		want   policy.Outcome
		reason string
	}{
		{"declared optional property", policy.Query{Subject: policy.Entity{Type: "user", ID: "alice", Properties: map[string]any{"department": "eng"}},
			Action: "deploy", Resource: policy.Entity{Type: "application", ID: "ci"}}, policy.OutcomeAllow, ""},
		{"other value", policy.Query{Subject: policy.Entity{Type: "user", ID: "bob", Properties: map[string]any{"department": "sales"}},
			Action: "deploy", Resource: policy.Entity{Type: "application", ID: "ci"}}, policy.OutcomeDeny, policy.ReasonNoPermit},
		{"property left out", policy.Query{Subject: policy.Entity{Type: "user", ID: "bob"},
			Action: "deploy", Resource: policy.Entity{Type: "application", ID: "ci"}}, policy.OutcomeDeny, policy.ReasonNoPermit},
		{"resource property", policy.Query{Subject: policy.Entity{Type: "user", ID: "alice", Properties: map[string]any{"department": "eng"}},
			Action: "deploy", Resource: policy.Entity{Type: "Application", ID: "ci", Properties: map[string]any{"sensitive": true}}}, policy.OutcomeDeny, policy.ReasonNoPermit},
		{"administrators' entity type, numbers from JSON", policy.Query{Subject: policy.Entity{Type: "Weft::User", ID: "alice", Properties: map[string]any{"email": "alice@example.com"}},
			Action: "read", Resource: policy.Entity{Type: "document", ID: "d1", Properties: map[string]any{"owner": "alice@example.com", "classification": float64(2)}},
			Context: map[string]any{"purpose": "audit"}}, policy.OutcomeAllow, ""},
		{"context property", policy.Query{Subject: policy.Entity{Type: "user", ID: "alice", Properties: map[string]any{"email": "alice@example.com"}},
			Action: "read", Resource: policy.Entity{Type: "Document", ID: "d1", Properties: map[string]any{"owner": "alice@example.com", "classification": 2}},
			Context: map[string]any{"purpose": "marketing"}}, policy.OutcomeDeny, policy.ReasonNoPermit},
		{"groups become parents, a route's application its parent", policy.Query{Subject: policy.Entity{Type: "user", ID: "alice", Properties: map[string]any{"groups": []any{"admins"}}},
			Action: "access", Resource: policy.Entity{Type: "route", ID: "pay/admin", Properties: map[string]any{"host": "pay.example", "path": "/admin/users", "application": "payroll"}}},
			policy.OutcomeAllow, ""},
		{"step-up through a query", policy.Query{Subject: policy.Entity{Type: "user", ID: "alice", Properties: map[string]any{"groups": []any{"admins"}}},
			Action: "access", Resource: policy.Entity{Type: "route", ID: "pay/admin", Properties: map[string]any{"path": "/admin", "application": map[string]any{"type": "application", "id": "payroll"}, "sensitive": true}},
			Context: map[string]any{"risk": map[string]any{"score": 50, "level": "medium", "reasons": []any{"new_network"}}}}, policy.OutcomeStepUp, ""},
		{"undeclared properties are harmless", policy.Query{Subject: policy.Entity{Type: "user", ID: "alice", Properties: map[string]any{"department": "eng", "shoe_size": 44.5, "tags": []any{"a", 1.0}, "nested": map[string]any{"x": nil}}},
			Action: "deploy", Resource: policy.Entity{Type: "application", ID: "ci"}}, policy.OutcomeAllow, ""},
		{"unknown action", policy.Query{Subject: policy.Entity{Type: "user", ID: "alice"}, Action: "launch", Resource: policy.Entity{Type: "application", ID: "ci"}},
			policy.OutcomeDeny, policy.ReasonUnknownAction},
		{"unknown subject type", policy.Query{Subject: policy.Entity{Type: "robot", ID: "r2"}, Action: "access", Resource: policy.Entity{Type: "application", ID: "ci"}},
			policy.OutcomeDeny, policy.ReasonUnknownEntityType},
		{"unknown resource type", policy.Query{Subject: policy.Entity{Type: "user", ID: "alice"}, Action: "access", Resource: policy.Entity{Type: "printer", ID: "p"}},
			policy.OutcomeDeny, policy.ReasonUnknownEntityType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := c.Evaluate(ctx, tc.q)
			if err != nil {
				t.Fatalf("evaluate: %v", err)
			}
			if d.Outcome() != tc.want {
				t.Fatalf("got %s %v, want %s", d.Outcome(), d.Reasons, tc.want)
			}
			if tc.reason != "" && !reflect.DeepEqual(policy.Codes(d.Reasons), []string{tc.reason}) {
				t.Fatalf("reasons %v, want [%s]", policy.Codes(d.Reasons), tc.reason)
			}
		})
	}
}

func TestEvaluate_BadQueryIsAnError(t *testing.T) {
	e := policy.NewEngine()
	tests := []struct {
		name string
		q    policy.Query
		msg  string
	}{
		{"string for a boolean", policy.Query{Subject: policy.Entity{Type: "user", ID: "alice"}, Action: "access",
			Resource: policy.Entity{Type: "application", ID: "a", Properties: map[string]any{"sensitive": "yes"}}}, "resource.properties.sensitive must be a boolean"},
		{"fraction for a long", policy.Query{Subject: policy.Entity{Type: "user", ID: "alice"}, Action: "access",
			Resource: policy.Entity{Type: "application", ID: "a"}, Context: map[string]any{"risk": map[string]any{"score": 1.5}}}, "context.risk.score must be an integer"},
		{"bad address", policy.Query{Subject: policy.Entity{Type: "user", ID: "alice"}, Action: "access",
			Resource: policy.Entity{Type: "application", ID: "a"}, Context: map[string]any{"ip": "300.1.1.1"}}, "context.ip must be a ipaddr"},
		{"set of the wrong things", policy.Query{Subject: policy.Entity{Type: "user", ID: "alice", Properties: map[string]any{"groups": []any{1.0}}}, Action: "access",
			Resource: policy.Entity{Type: "application", ID: "a"}}, "subject.properties.groups[0] must be a string"},
		{"entity of another type", policy.Query{Subject: policy.Entity{Type: "user", ID: "alice"}, Action: "access",
			Resource: policy.Entity{Type: "route", ID: "r", Properties: map[string]any{"application": map[string]any{"type": "user", "id": "x"}}}}, "must be an entity of type Weft::Application"},
		{"no id", policy.Query{Subject: policy.Entity{Type: "user"}, Action: "access", Resource: policy.Entity{Type: "application", ID: "a"}}, "subject: id is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Evaluate(ctx, tc.q)
			if !errors.Is(err, policy.ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want ErrInvalid saying %q", err, tc.msg)
			}
		})
	}
}

// The query's context time defaults to now; a given one is used as is.
func TestEvaluate_Time(t *testing.T) {
	c := compile(t, policy.Version{Policies: `permit (principal, action, resource) when { context.time.epoch > 1700000000 && context.time.hour == 12 };`})
	q := policy.Query{Subject: policy.Entity{Type: "user", ID: "alice"}, Action: "access", Resource: policy.Entity{Type: "application", ID: "a"},
		Context: map[string]any{"time": map[string]any{"epoch": noon.Unix(), "hour": 12, "weekday": 3}}}
	if d, err := c.Evaluate(ctx, q); err != nil || !d.Allow {
		t.Fatalf("given time: %+v %v", d, err)
	}
	q.Context["time"] = map[string]any{"epoch": noon.Unix(), "hour": 13, "weekday": 3}
	if d, _ := c.Evaluate(ctx, q); d.Allow {
		t.Fatal("the given hour was not used")
	}
	now := compile(t, policy.Version{Policies: `permit (principal, action, resource) when { context.time.epoch > 1700000000 };`})
	q.Context = nil
	if d, err := now.Evaluate(ctx, q); err != nil || !d.Allow {
		t.Fatalf("time did not default to now: %+v %v", d, err)
	}
}

func TestEngine_InstallKeepsTheNewest(t *testing.T) {
	e := policy.NewEngine()
	v2 := compile(t, policy.Version{Number: 2, Policies: `forbid (principal, action, resource);`})
	v1 := compile(t, policy.Version{Number: 1, Policies: `permit (principal, action, resource);`})
	if !e.Install(v2) || e.Install(v1) {
		t.Fatal("Install did not keep the newest version")
	}
	if d := decide(t, e, policy.Request{Principal: user("alice"), Action: policy.ActionAccess}); d.Allow || d.Version != 2 {
		t.Fatalf("decided with %+v, want version 2's deny", d)
	}
	if ok, err := e.Load(policy.Version{Number: 3, Policies: "permit (principal, action, resource) when { context.nope };"}); ok || err == nil {
		t.Fatal("an invalid version was loaded")
	}
	if e.Current().Version() != 2 {
		t.Fatal("a refused load changed the version in force")
	}
}

// Decisions go on, without locks, while versions are swapped (run with -race).
func TestEngine_DecideWhileInstalling(t *testing.T) {
	e := policy.NewEngine()
	allow := policy.Version{Policies: `permit (principal, action, resource);`}
	deny := policy.Version{Policies: `forbid (principal, action, resource);`}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, err := e.Decide(ctx, policy.Request{Principal: user("alice"), Action: policy.ActionAccess, Time: noon})
				if err != nil || d.Allow != (d.Version%2 == 1 || d.Version == 0) {
					t.Errorf("decision %+v (%v) does not match its version", d, err)
					return
				}
			}
		}()
	}
	for n := int64(1); n <= 50; n++ {
		v := deny
		if n%2 == 1 {
			v = allow
		}
		v.Number = n
		if ok, err := e.Load(v); !ok || err != nil {
			t.Fatalf("load %d: %v %v", n, ok, err)
		}
	}
	close(stop)
	wg.Wait()
	if e.Current().Version() != 50 {
		t.Fatalf("version in force %d, want 50", e.Current().Version())
	}
}

func TestRunTests_ReportsWhatFailed(t *testing.T) {
	c := compile(t, policy.Version{Policies: stepUpSet})
	cases := []policy.TestCase{
		{Name: "passes", Request: &policy.Request{Principal: user("a", "staff"), Action: policy.ActionAccess, Time: noon}, Expect: policy.Expectation{Outcome: policy.OutcomeAllow}},
		{Name: "wrong outcome", Request: &policy.Request{Principal: user("a", "staff"), Action: policy.ActionAccess, Country: "KP", Time: noon}, Expect: policy.Expectation{Outcome: policy.OutcomeAllow}},
		{Name: "wrong acr", Request: &policy.Request{Principal: user("a", "staff"), Action: policy.ActionAccess, Sensitive: true, Time: noon}, Expect: policy.Expectation{Outcome: policy.OutcomeStepUp, StepUp: "mfa"}},
		{Name: "missing reason", Request: &policy.Request{Principal: user("a"), Action: policy.ActionAccess, Time: noon}, Expect: policy.Expectation{Outcome: policy.OutcomeDeny, Reasons: []string{"embargoed_country"}}},
		{Name: "bad query", Query: &policy.Query{Subject: policy.Entity{Type: "user"}, Action: "access", Resource: policy.Entity{Type: "app", ID: "x"}}, Expect: policy.Expectation{Outcome: policy.OutcomeDeny}},
	}
	got := c.RunTests(ctx, cases)
	want := []struct {
		name, got, msg string
	}{
		{"wrong outcome", "deny", "expected allow, got deny (decided by embargo)"},
		{"wrong acr", "step_up", `expected step-up to "mfa", got "reauthenticate"`},
		{"missing reason", "deny", `expected reason "embargoed_country" (no_permit)`},
		{"bad query", "", "could not be evaluated"},
	}
	if len(got) != len(want) {
		t.Fatalf("failures %+v", got)
	}
	for i, w := range want {
		if got[i].Name != w.name || string(got[i].Got) != w.got || !strings.Contains(got[i].Message, w.msg) {
			t.Errorf("failure %d: %+v, want %s got %q saying %q", i, got[i], w.name, w.got, w.msg)
		}
	}
}

func TestExpectation_JSON(t *testing.T) {
	var tc policy.TestCase
	if err := json.Unmarshal([]byte(`{"name":"x","request":{"principal":{"id":"a","kind":"user"},"action":"access"},"expect":"step_up"}`), &tc); err != nil || tc.Expect.Outcome != policy.OutcomeStepUp {
		t.Fatalf("bare outcome: %+v %v", tc, err)
	}
	if err := json.Unmarshal([]byte(`{"name":"x","expect":{"outcome":"deny","reasons":["risk_high"]}}`), &tc); err != nil || tc.Expect.Outcome != policy.OutcomeDeny || tc.Expect.Reasons[0] != "risk_high" {
		t.Fatalf("object: %+v %v", tc, err)
	}
	if err := json.Unmarshal([]byte(`{"name":"x","expect":42}`), &tc); err == nil {
		t.Fatal("a number was accepted as an expectation")
	}
}

func TestCompiled_ActionsAndPolicyIDs(t *testing.T) {
	e := policy.NewEngine()
	if got, want := e.Actions(ctx), []string{"access", "api", "introspect", "login", "token"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("actions %v, want %v", got, want)
	}
	if got, want := e.Current().PolicyIDs(), []string{"deny-critical-risk", "deny-high-risk", "step-up-medium-risk-sensitive",
		"deny-medium-risk-sensitive-machine", "allow-rest"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("policy ids %v, want %v", got, want)
	}
	c := compile(t, policy.Version{Schema: extendedSchema, Policies: "permit (principal, action, resource);"})
	if got, want := c.Actions(), []string{"access", "api", "deploy", "introspect", "login", "read", "token"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("actions of the extended schema %v, want %v", got, want)
	}
	d, err := c.Decide(ctx, policy.Request{Principal: user("alice"), Action: "deploy", Application: "ci", Time: noon})
	if err != nil || !d.Allow {
		t.Fatalf("a declared action could not be decided: %+v %v", d, err)
	}
}

// AuthZEN shares a batch's default subject, resource and context between evaluations:
// Evaluate must not change them.
func TestEvaluate_LeavesTheQueryAlone(t *testing.T) {
	q := policy.Query{Subject: policy.Entity{Type: "user", ID: "alice", Properties: map[string]any{"groups": []any{"staff"}, "extra": nil}},
		Action: "access", Resource: policy.Entity{Type: "route", ID: "r", Properties: map[string]any{"application": "payroll"}},
		Context: map[string]any{"risk": map[string]any{"level": "medium"}, "country": "FR"}}
	before, _ := json.Marshal(q)
	if _, err := policy.NewEngine().Evaluate(ctx, q); err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(q); string(after) != string(before) {
		t.Fatalf("the query changed:\n%s\n%s", before, after)
	}
}

// The default set stays valid, and passes its cases, under a schema that adds resource
// types without a sensitive attribute.
func TestDefault_UnderAnExtendedSchema(t *testing.T) {
	v := policy.Default()
	v.Schema = extendedSchema
	c := compile(t, v)
	if f := c.RunTests(ctx, v.Tests); len(f) != 0 {
		t.Fatalf("default cases fail under the extended schema: %+v", f)
	}
	d, err := c.Evaluate(ctx, policy.Query{Subject: policy.Entity{Type: "user", ID: "alice"}, Action: "read",
		Resource: policy.Entity{Type: "document", ID: "d1", Properties: map[string]any{"owner": "x", "classification": 1}},
		Context:  map[string]any{"purpose": "audit", "risk": map[string]any{"level": "medium"}}})
	if err != nil || !d.Allow {
		t.Fatalf("medium risk on a resource without sensitivity: %+v %v", d, err)
	}
}

// Decisions are remembered within a second, and a remembered decision is the one an
// evaluation gives: requests that differ in any input get their own, and a caller that
// changes what it got changes nothing for the next.
func TestDecide_RemembersExactly(t *testing.T) {
	c, err := policy.Compile(policy.Version{Number: 1, Policies: policy.DefaultPolicies + `
@id("team-a-only")
@reason("not_team_a")
forbid (principal is Weft::User, action == Weft::Action::"access", resource == Weft::Application::"team-app")
unless { principal in Weft::Group::"a" };
`})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	user := func(groups ...string) policy.Principal {
		return policy.Principal{ID: "u1", Kind: policy.KindUser, Status: "active", Groups: groups}
	}
	for _, tc := range []struct {
		name string
		r    policy.Request
		want policy.Outcome
	}{
		{"member", policy.Request{Principal: user("a", "bc"), Action: "access", Application: "team-app", Time: at}, policy.OutcomeAllow},
		// Naively joined, ["a","bc"] and ["ab","c"] would look alike.
		{"not a member", policy.Request{Principal: user("ab", "c"), Action: "access", Application: "team-app", Time: at}, policy.OutcomeDeny},
		{"quiet", policy.Request{Principal: user("a"), Action: "introspect", RiskLevel: "none", Time: at}, policy.OutcomeAllow},
		{"same, high risk", policy.Request{Principal: user("a"), Action: "introspect", RiskLevel: "high", Time: at}, policy.OutcomeDeny},
		{"same, quiet again", policy.Request{Principal: user("a"), Action: "introspect", RiskLevel: "none", Time: at}, policy.OutcomeAllow},
		{"sensitive, medium", policy.Request{Principal: user("a"), Action: "access", Application: "pay", Sensitive: true,
			RiskLevel: "medium", Time: at}, policy.OutcomeStepUp},
		{"not sensitive, medium", policy.Request{Principal: user("a"), Action: "access", Application: "pay",
			RiskLevel: "medium", Time: at}, policy.OutcomeAllow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 3 {
				d, err := c.Decide(ctx, tc.r)
				if err != nil {
					t.Fatal(err)
				}
				if d.Outcome() != tc.want {
					t.Fatalf("decision %d: %s %v, want %s", i, d.Outcome(), policy.Codes(d.Reasons), tc.want)
				}
				if len(d.Reasons) > 0 {
					d.Reasons[0].Code = "changed by a caller"
				}
				if len(d.PolicyIDs) > 0 {
					d.PolicyIDs[0] = "changed by a caller"
				}
			}
			d, _ := c.Decide(ctx, tc.r)
			if slices.Contains(policy.Codes(d.Reasons), "changed by a caller") || slices.Contains(d.PolicyIDs, "changed by a caller") {
				t.Fatal("a caller's change to a decision reached the next caller")
			}
		})
	}
}
