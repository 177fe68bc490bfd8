package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/policy"
)

// A policy applied with the CLI is enforced by every node within a second (two real
// processes on PostgreSQL and Redis); a policy that does not validate is refused with
// its position and changes nothing.
func TestPolicy_ChangeReachesEveryNode(t *testing.T) {
	f := newFabric(t)
	n1 := startNode(t, f.bin, f.env, "node-1", f.addr1, "")
	n2 := startNode(t, f.bin, f.env, "node-2", closedPort(t), "")
	n1.waitReady(t)
	n2.waitReady(t)
	tok, err := (&clientcredentials.Config{ClientID: "demo-m2m", ClientSecret: "demo-m2m-secret",
		TokenURL: n1.base + "/oauth2/token", Scopes: []string{"api.read"}}).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{n1, n2} {
		if active, _ := introspectAt(t, n.base, tok.AccessToken); !active {
			t.Fatalf("%s: the machine token is not active under the default policy", n.name)
		}
	}
	dir := t.TempDir()
	pausing := filepath.Join(dir, "pause.cedar")
	text := policy.DefaultPolicies + `
@id("pause-machine-introspection")
@reason("machine_access_paused")
forbid (principal, action == Weft::Action::"introspect", resource)
unless { principal is Weft::User };
`
	if err := os.WriteFile(pausing, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := &cliEnv{t: t, environ: f.env}
	cli.ok("", "policy", "validate", "-f", pausing)
	out := cli.ok("", "policy", "apply", "-f", pausing, "--comment", "pause machine access")
	applied := time.Now()
	if !strings.Contains(out, "version 1 ") {
		t.Fatalf("apply said %q, want version 1", out)
	}
	for _, n := range []*node{n2, n1} {
		for {
			active, _ := introspectAt(t, n.base, tok.AccessToken)
			if !active {
				break
			}
			if time.Since(applied) > time.Second {
				t.Fatalf("%s still accepts the token %s after the policy was applied", n.name, time.Since(applied))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	if d := cli.ok("", "policy", "diff", "0", "1"); !strings.Contains(d, "+@id(\"pause-machine-introspection\")") {
		t.Fatalf("diff 0 1 does not show the added policy:\n%s", d)
	}
	// A test case the policy in force breaks: `policy test` reports it and fails.
	cases := filepath.Join(dir, "cases.json")
	if err := os.WriteFile(cases, []byte(`[{"name": "machines may introspect",
	  "request": {"principal": {"id": "m", "kind": "machine", "status": "active"}, "action": "introspect", "risk_level": "none"},
	  "expect": "allow"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := cli.run("", "policy", "test", "-f", pausing, "--tests", cases); r.code == 0 ||
		!strings.Contains(r.stdout, "FAIL") || !strings.Contains(r.stdout, "machines may introspect") {
		t.Fatalf("policy test with a broken case: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	broken := filepath.Join(dir, "broken.cedar")
	if err := os.WriteFile(broken, []byte("permit (principal, action, resource)\nwhen { context.risk.levle == \"none\" };\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := cli.run("", "policy", "apply", "-f", broken)
	if r.code == 0 || !strings.Contains(r.stderr, ":1:") {
		t.Fatalf("an invalid policy: exit %d, stderr %q; want a refusal that names line 1", r.code, r.stderr)
	}
	if hist := cli.ok("", "policy", "history"); strings.Count(hist, "\n") != 2 || !strings.Contains(hist, "pause machine access") {
		t.Fatalf("history after a refused change:\n%s", hist)
	}
	if active, _ := introspectAt(t, n2.base, tok.AccessToken); active {
		t.Fatal("a refused change put something else in force on node 2")
	}
}

// A node loads the policy when the bus announces a version or resyncs (it may have
// missed one), not on revocations; announcements that arrive while a load is pending
// fold into it, and the bus is never blocked.
func TestPolicyReloads_Watch(t *testing.T) {
	w := &policyReloads{kick: make(chan struct{}, 1)}
	for _, tc := range []struct {
		ev   revocation.Event
		want bool
	}{
		{revocation.Event{Reload: []string{reloadPolicy}}, true},
		{revocation.Event{All: true}, true},
		{revocation.Event{Reload: []string{"routes"}}, false},
		{revocation.Event{Subject: "alice", Durable: true}, false},
	} {
		w.Watch(tc.ev)
		w.Watch(tc.ev) // pending already: must not block
		select {
		case <-w.kick:
			if !tc.want {
				t.Errorf("%+v asked for a policy load", tc.ev)
			}
		default:
			if tc.want {
				t.Errorf("%+v did not ask for a policy load", tc.ev)
			}
		}
	}
}
