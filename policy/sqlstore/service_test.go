package sqlstore_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
	"github.com/weft-fabric/weft/policy"
	polsql "github.com/weft-fabric/weft/policy/sqlstore"
)

var ctx = context.Background()

var noon = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

// node is one Weft node's policy: its engine and the service over the shared store.
type node struct {
	engine *policy.Engine
	svc    *policy.Service
}

func newNode(db *sqlstore.DB) node {
	e := policy.NewEngine()
	return node{engine: e, svc: policy.NewService(polsql.New(db), e)}
}

func (n node) decide(t *testing.T, level string, sensitive bool) policy.Decision {
	t.Helper()
	d, err := n.engine.Decide(ctx, policy.Request{Principal: policy.Principal{ID: "alice", Kind: policy.KindUser, Status: "active"},
		Action: policy.ActionIntrospect, Application: "payroll", Sensitive: sensitive, RiskLevel: level, Time: noon})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// allowHigh is the default set with high risk no longer denied.
var allowHigh = strings.Replace(policy.DefaultPolicies, `context.risk.level == "high"`, `context.risk.level == "severe"`, 1)

func TestService_ApplyEnforcesAndKeepsHistory(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) {
		n := newNode(sqltest.Open(t, b))
		cur, err := n.svc.Current(ctx)
		if err != nil || cur.Number != 0 || cur.Policies != policy.DefaultPolicies {
			t.Fatalf("current of an empty store: %+v %v, want the default", cur, err)
		}
		// v1: the default text with one more rule and one more test case.
		geo := policy.DefaultPolicies + "\n@id(\"embargo\")\n@reason(\"embargoed_country\")\nforbid (principal, action, resource) when { context.country == \"KP\" };\n"
		embargoCase := policy.TestCase{Name: "embargoed country: denied", Request: &policy.Request{Principal: policy.Principal{ID: "a", Kind: policy.KindUser},
			Action: policy.ActionLogin, Country: "KP", Time: noon}, Expect: policy.Expectation{Outcome: policy.OutcomeDeny, Reasons: []string{"embargoed_country"}}}
		v1, err := n.svc.Apply(ctx, policy.Proposal{Policies: geo, Tests: []policy.TestCase{embargoCase}, Author: "alice", Comment: "embargo"})
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		if v1.Number != 1 || len(v1.Tests) != len(policy.Default().Tests)+1 || v1.CreatedAt.IsZero() {
			t.Fatalf("v1 = %+v", v1)
		}
		if n.engine.Current().Version() != 1 {
			t.Fatal("the applying node does not enforce v1")
		}
		d, _ := n.engine.Decide(ctx, *embargoCase.Request)
		if d.Allow || d.Version != 1 || !reflect.DeepEqual(d.PolicyIDs, []string{"embargo"}) {
			t.Fatalf("v1 not enforced: %+v", d)
		}
		// v2: the embargo goes, and so must its case, explicitly.
		v2, err := n.svc.Apply(ctx, policy.Proposal{Policies: policy.DefaultPolicies, RemoveTests: []string{embargoCase.Name}, Author: "bob", BaseVersion: 1})
		if err != nil {
			t.Fatalf("apply v2: %v", err)
		}
		if got, _ := n.svc.Current(ctx); !reflect.DeepEqual(got, v2) {
			t.Fatalf("current %+v, want %+v", got, v2)
		}
		h, err := n.svc.History(ctx, 0, 10)
		if err != nil || len(h) != 2 || h[0].Number != 2 || h[0].Author != "bob" || h[1].Number != 1 || h[1].Comment != "embargo" {
			t.Fatalf("history %+v %v", h, err)
		}
		got, err := n.svc.Get(ctx, 1)
		if err != nil || !reflect.DeepEqual(got, v1) {
			t.Fatalf("get 1: %+v %v", got, err)
		}
		if _, err := n.svc.Get(ctx, 9); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("get 9: %v, want ErrNotFound", err)
		}
		diff, err := n.svc.Diff(ctx, 1, 2)
		if err != nil || !strings.Contains(diff, "--- v1/policies\n+++ v2/policies\n") || !strings.Contains(diff, "-@id(\"embargo\")") ||
			!strings.Contains(diff, "-    \"name\": \"embargoed country: denied\",") {
			t.Fatalf("diff 1..2 (%v):\n%s", err, diff)
		}
		if d, err := n.svc.Diff(ctx, 0, 2); err != nil || d != "" {
			t.Fatalf("v2 is the default again, yet the diff says %q (%v)", d, err)
		}
		if _, err := n.svc.Diff(ctx, 1, 7); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("diff to a missing version: %v", err)
		}
	})
}

func TestService_InvalidPolicyChangesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) {
		db := sqltest.Open(t, b)
		n := newNode(db)
		if _, err := n.svc.Apply(ctx, policy.Proposal{Policies: policy.DefaultPolicies, Author: "alice"}); err != nil {
			t.Fatal(err)
		}
		before := sqltest.Snapshot(t, db.SQL(), "policy_versions")
		bad := policy.DefaultPolicies + "\n@id(\"broken\")\nforbid (principal, action, resource)\n  when { context.risk.lvel == \"low\" };\n"
		line := strings.Count(policy.DefaultPolicies, "\n") + 2
		for name, p := range map[string]policy.Proposal{
			"validation error": {Policies: bad, Author: "mallory"},
			"syntax error":     {Policies: "permit (principal, action resource);", Author: "mallory"},
			"no author":        {Policies: policy.DefaultPolicies},
			"unknown removal":  {Policies: policy.DefaultPolicies, RemoveTests: []string{"no such case"}, Author: "mallory"},
			"schema":           {Policies: policy.DefaultPolicies, Schema: "namespace Weft { entity User; }", Author: "mallory"},
			"stale base":       {Policies: policy.DefaultPolicies, Author: "mallory", BaseVersion: 7},
		} {
			_, err := n.svc.Apply(ctx, p)
			if err == nil {
				t.Fatalf("%s: applied", name)
			}
			if name == "stale base" && !errors.Is(err, policy.ErrConflict) || name != "stale base" && !errors.Is(err, policy.ErrInvalid) {
				t.Fatalf("%s: %v", name, err)
			}
		}
		_, err := n.svc.Apply(ctx, policy.Proposal{Policies: bad, Author: "mallory"})
		var ve *policy.ValidationError
		if !errors.As(err, &ve) || ve.PolicyID != "broken" || ve.Position != (policy.Position{Line: line, Column: 1}) || !strings.Contains(ve.Message, "lvel") {
			t.Fatalf("error %v does not place the problem at line %d", err, line)
		}
		if err := n.svc.Validate(ctx, policy.Proposal{Policies: bad}); !errors.As(err, &ve) {
			t.Fatalf("validate: %v", err)
		}
		if after := sqltest.Snapshot(t, db.SQL(), "policy_versions"); !reflect.DeepEqual(before, after) {
			t.Fatalf("a refused change wrote:\nbefore %v\nafter  %v", before, after)
		}
		if n.engine.Current().Version() != 1 {
			t.Fatal("a refused change reached the engine")
		}
	})
}

func TestService_BrokenTestCaseRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) {
		db := sqltest.Open(t, b)
		n := newNode(db)
		if _, err := n.svc.Apply(ctx, policy.Proposal{Policies: policy.DefaultPolicies, Author: "alice"}); err != nil {
			t.Fatal(err)
		}
		before := sqltest.Snapshot(t, db.SQL(), "policy_versions")
		p := policy.Proposal{Policies: allowHigh, Author: "mallory", Comment: "let high risk in"}
		report, err := n.svc.Test(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		names := func(fs []policy.TestFailure) []string {
			var out []string
			for _, f := range fs {
				out = append(out, f.Name)
			}
			return out
		}
		wantBroken := []string{"high risk: denied", "high risk, sensitive application: denied, not stepped up"}
		if !reflect.DeepEqual(names(report.Failures), wantBroken) || report.Version != 2 || len(report.Passed) != len(policy.Default().Tests)-2 {
			t.Fatalf("report %+v", report)
		}
		_, err = n.svc.Apply(ctx, p)
		var tf *policy.TestFailures
		if !errors.As(err, &tf) || !errors.Is(err, policy.ErrTestsFailed) || !reflect.DeepEqual(names(tf.Failures), wantBroken) {
			t.Fatalf("apply of a change that breaks stored cases: %v", err)
		}
		f := tf.Failures[0]
		if f.Want != policy.OutcomeDeny || f.Got != policy.OutcomeAllow || !strings.Contains(f.Message, `expected deny, got allow; expected reason "risk_high" (decided by allow-rest)`) {
			t.Fatalf("failure does not say why: %+v", f)
		}
		if after := sqltest.Snapshot(t, db.SQL(), "policy_versions"); !reflect.DeepEqual(before, after) || n.engine.Current().Version() != 1 {
			t.Fatal("a refused change was saved or enforced")
		}
		if d := n.decide(t, "high", false); d.Allow {
			t.Fatal("high risk allowed after the refusal")
		}
		// Changing the cases along with the policy, in the open, is accepted.
		p.Tests = []policy.TestCase{{Name: "high risk: denied", Request: &policy.Request{Principal: policy.Principal{ID: "a", Kind: policy.KindUser},
			Action: policy.ActionLogin, RiskLevel: "high", Time: noon}, Expect: policy.Expectation{Outcome: policy.OutcomeAllow}}}
		p.RemoveTests = []string{"high risk, sensitive application: denied, not stepped up"}
		if _, err := n.svc.Apply(ctx, p); err != nil {
			t.Fatalf("apply with the cases changed: %v", err)
		}
		if d := n.decide(t, "high", false); !d.Allow || d.Version != 2 {
			t.Fatalf("v2 not enforced: %+v", d)
		}
	})
}

// A version applied on one node is enforced on another once it syncs (the bus tells it
// when; wiring is cmd's).
func TestService_SyncOnAnotherNode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) {
		db := sqltest.Open(t, b)
		n1, n2 := newNode(db), newNode(db)
		if v, err := n2.svc.Sync(ctx); err != nil || v != 0 {
			t.Fatalf("sync of an empty store: %d %v", v, err)
		}
		if _, err := n1.svc.Apply(ctx, policy.Proposal{Policies: allowHigh, Author: "alice",
			RemoveTests: []string{"high risk: denied", "high risk, sensitive application: denied, not stepped up"}}); err != nil {
			t.Fatal(err)
		}
		if d := n2.decide(t, "high", false); d.Allow {
			t.Fatal("node 2 changed before syncing")
		}
		if v, err := n2.svc.Sync(ctx); err != nil || v != 1 {
			t.Fatalf("sync: %d %v", v, err)
		}
		if d := n2.decide(t, "high", false); !d.Allow || d.Version != 1 {
			t.Fatalf("node 2 does not enforce v1: %+v", d)
		}
		if v, err := n2.svc.Sync(ctx); err != nil || v != 1 {
			t.Fatalf("second sync: %d %v", v, err)
		}
	})
}

// Two nodes applying at once: one wins, the other is told to retry, and nothing is
// half-written.
func TestService_ConcurrentApply(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) {
		db := sqltest.Open(t, b)
		nodes := []node{newNode(db), newNode(db), newNode(db), newNode(db)}
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			won       []int64
			conflicts int
		)
		for i, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := n.svc.Apply(ctx, policy.Proposal{Policies: policy.DefaultPolicies, Author: "node", Comment: string(rune('a' + i))})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won = append(won, v.Number)
				case errors.Is(err, policy.ErrConflict):
					conflicts++
				default:
					t.Errorf("apply: %v", err)
				}
			}()
		}
		wg.Wait()
		h, err := nodes[0].svc.History(ctx, 0, 10)
		if err != nil || len(h) != len(won) || len(won)+conflicts != len(nodes) || len(won) == 0 {
			t.Fatalf("%d applied %v, %d conflicts, history %d (%v)", len(won), won, conflicts, len(h), err)
		}
		for i, v := range h { // numbers without gaps or repeats
			if v.Number != int64(len(h)-i) {
				t.Fatalf("history numbers %v", h)
			}
		}
	})
}
