package policy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weft-fabric/weft/policy"
)

// hundredPolicies is the default set and 95 more of the kinds administrators write:
// per-application group permits, country embargoes, admin-route guards and step-ups
// for weak authentication. 100 policies in all.
func hundredPolicies() string {
	var b strings.Builder
	b.WriteString(policy.DefaultPolicies)
	for i := range 95 {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "@id(\"staff-app-%d\")\npermit (principal in Weft::Group::\"team-%d\", action in [Weft::Action::\"access\", Weft::Action::\"introspect\"], resource in Weft::Application::\"app-%d\");\n", i, i, i)
		case 1:
			fmt.Fprintf(&b, "@id(\"embargo-%d\")\n@reason(\"embargoed_country\")\nforbid (principal, action, resource == Weft::Application::\"app-%d\") when { context.country == \"C%d\" };\n", i, i, i)
		case 2:
			fmt.Fprintf(&b, "@id(\"admin-route-%d\")\nforbid (principal, action, resource is Weft::Route) when { resource.path like \"/admin-%d/*\" && !(principal in Weft::Group::\"admins\") };\n", i, i)
		case 3:
			fmt.Fprintf(&b, "@id(\"weak-auth-%d\")\n@step_up(\"mfa\")\nforbid (principal is Weft::User, action, resource) when { context.risk.score > %d && resource.sensitive && !context.amr.contains(\"hwk\") && context.time.hour > 22 };\n", i, 40+i%50)
		}
	}
	return b.String()
}

// introspection is the request the gate makes for a person's token at a gateway.
var introspection = policy.Request{Principal: policy.Principal{ID: "alice", Kind: policy.KindUser, Status: "active", Email: "alice@example.com",
	Groups: []string{"staff", "team-4"}}, ClientID: "portal", SessionID: "sess-1", Scopes: []string{"openid", "profile"},
	Action: policy.ActionIntrospect, Application: "app-4", RouteHost: "app4.example", RoutePath: "/reports", IP: "192.0.2.10",
	UserAgent: "Mozilla/5.0", DeviceID: "dev-1", Country: "FR", Network: "AS3215", ACR: "aal1", AMR: []string{"pwd"},
	RiskScore: 12, RiskLevel: "low", RiskReasons: []string{"new_device"}, Time: noon}

func benchDecide(b *testing.B, policies string, r policy.Request, want policy.Outcome) {
	c, err := policy.Compile(policy.Version{Number: 1, Policies: policies})
	if err != nil {
		b.Fatal(err)
	}
	if n := len(c.PolicyIDs()); policies != policy.DefaultPolicies && n != 100 {
		b.Fatalf("%d policies", n)
	}
	e := policy.NewEngine()
	e.Install(c)
	if d, err := e.Decide(ctx, r); err != nil || d.Outcome() != want {
		b.Fatalf("decision %+v %v, want %s", d, err, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	// A new second each call: decisions are remembered within a second, and this
	// measures evaluating (BenchmarkDecide_Remembered measures the other case).
	start := r.Time
	i := 0
	for b.Loop() {
		i++
		r.Time = start.Add(time.Duration(i) * time.Second)
		if _, err := e.Decide(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecide_Remembered is a gateway's steady state: the same question within one
// second, answered from the set's memory of decisions.
func BenchmarkDecide_Remembered(b *testing.B) {
	e := policy.NewEngine()
	if _, err := e.Decide(ctx, introspection); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Decide(ctx, introspection); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	stepUp := introspection
	stepUp.RiskScore, stepUp.RiskLevel, stepUp.Sensitive = 50, "medium", true
	stepUp.Time = noon.Add(11 * 3600e9) // 23:00: the weak-auth step-ups apply too
	b.Run("default", func(b *testing.B) { benchDecide(b, policy.DefaultPolicies, introspection, policy.OutcomeAllow) })
	b.Run("default-step-up", func(b *testing.B) { benchDecide(b, policy.DefaultPolicies, stepUp, policy.OutcomeStepUp) })
	b.Run("100-policies", func(b *testing.B) { benchDecide(b, hundredPolicies(), introspection, policy.OutcomeAllow) })
	b.Run("100-policies-step-up", func(b *testing.B) { benchDecide(b, hundredPolicies(), stepUp, policy.OutcomeStepUp) })
	b.Run("100-policies-parallel", func(b *testing.B) {
		c, err := policy.Compile(policy.Version{Number: 1, Policies: hundredPolicies()})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Decide(ctx, introspection); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkEvaluate(b *testing.B) {
	q := policy.Query{Subject: policy.Entity{Type: "user", ID: "alice", Properties: map[string]any{"email": "alice@example.com", "groups": []any{"staff"}}},
		Action: "access", Resource: policy.Entity{Type: "route", ID: "app4/reports", Properties: map[string]any{"host": "app4.example", "path": "/reports", "application": "app-4"}},
		Context: map[string]any{"risk": map[string]any{"score": 12, "level": "low", "reasons": []any{}}, "ip": "192.0.2.10", "country": "FR"}}
	for _, tc := range []struct{ name, policies string }{{"default", policy.DefaultPolicies}, {"100-policies", hundredPolicies()}} {
		b.Run(tc.name, func(b *testing.B) {
			c, err := policy.Compile(policy.Version{Policies: tc.policies})
			if err != nil {
				b.Fatal(err)
			}
			if d, err := c.Evaluate(ctx, q); err != nil || !d.Allow {
				b.Fatalf("%+v %v", d, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Evaluate(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	v := policy.Version{Policies: hundredPolicies(), Tests: policy.Default().Tests}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := policy.Compile(v); err != nil {
			b.Fatal(err)
		}
	}
}
