package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// ccToken asks the running server for a client_credentials token over HTTP Basic, and
// returns the status and the body.
func (o *oidcEnv) ccToken(id, secret, scope string) (int, map[string]any) {
	o.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, _ := http.NewRequest(http.MethodPost, o.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	var out map[string]any
	_ = json.Unmarshal([]byte(readAll(o.t, resp)), &out)
	return resp.StatusCode, out
}

// bearerPost posts a JSON body with a bearer token.
func (o *oidcEnv) bearerPost(token, path, body string) (int, map[string]any) {
	o.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, o.issuer+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	var out map[string]any
	_ = json.Unmarshal([]byte(readAll(o.t, resp)), &out)
	return resp.StatusCode, out
}

func (o *oidcEnv) mustToken(id, secret, scope string) string {
	o.t.Helper()
	code, out := o.ccToken(id, secret, scope)
	tok, _ := out["access_token"].(string)
	if code != http.StatusOK || tok == "" {
		o.t.Fatalf("%s token: %d %v", id, code, out)
	}
	return tok
}

// TestContainment_M7 reproduces review finding M7 against the real server: revoking the
// client demo-m2m used to leave its secret minting a new token the next second. With
// "disable": true the revocation contains it; the admin API enables it again and
// rotates its secret; the CLI disables the machine identity it acts for.
func TestContainment_M7(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			o := newOIDCEnv(t, b)
			soar := o.mustToken("demo-soar", "demo-soar-secret", "weft:revoke")
			admin := o.mustToken("demo-admin", "demo-admin-secret", "weft:admin")
			before := o.mustToken("demo-m2m", "demo-m2m-secret", "api.read")
			if !o.active(before) {
				t.Fatal("the machine token is not active to begin with")
			}

			// The review's reproduction, with disable: true.
			code, rec := o.bearerPost(soar, "/api/v1/revocations",
				`{"selector":{"type":"client","value":"demo-m2m"},"reason":"compromised","disable":true}`)
			if code != http.StatusCreated || rec["disable"] != true || rec["status"] != "applied" {
				t.Fatalf("revoke with disable: %d %v", code, rec)
			}
			if code, out := o.ccToken("demo-m2m", "demo-m2m-secret", "api.read"); code != http.StatusUnauthorized || out["error"] != "invalid_client" {
				t.Fatalf("a token request of the disabled client = %d %v; want 401 invalid_client", code, out)
			}
			if o.active(before) {
				t.Fatal("the disabled client's token is still active")
			}

			// Enabled again (admin API), the secret works; rotated without overlap, only
			// the new one does, at once.
			if code, out := o.bearerPost(admin, "/api/v1/clients/demo-m2m/enable", ""); code != http.StatusOK || out["status"] != "active" {
				t.Fatalf("enable: %d %v", code, out)
			}
			o.mustToken("demo-m2m", "demo-m2m-secret", "api.read")
			code, rot := o.bearerPost(admin, "/api/v1/clients/demo-m2m/secret", `{}`)
			secret, _ := rot["client_secret"].(string)
			if code != http.StatusOK || len(secret) != 43 {
				t.Fatalf("rotate: %d %v", code, rot)
			}
			if code, _ := o.ccToken("demo-m2m", "demo-m2m-secret", "api.read"); code != http.StatusUnauthorized {
				t.Fatalf("the rotated-out secret = %d; want 401", code)
			}
			m2m := o.mustToken("demo-m2m", secret, "api.read")

			// The machine identity it acts for, disabled with the CLI (another process on
			// the same database): no new token, and its tokens inactive.
			o.cli.ok("", "machine", "disable", "ci-runner", "--reason", "runner compromised")
			if code, out := o.ccToken("demo-m2m", secret, "api.read"); code != http.StatusUnauthorized || out["error"] != "invalid_client" {
				t.Fatalf("a token for the disabled machine identity = %d %v; want 401 invalid_client", code, out)
			}
			eventually(t, "the disabled machine identity's token to be inactive", func() bool { return !o.active(m2m) })
			o.cli.ok("", "machine", "enable", "ci-runner")
			o.mustToken("demo-m2m", secret, "api.read")
		})
	}
}

func TestCLI_Containment(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *cliEnv) {
		e.ok("", "apply", "-f", exampleFabric)
		r := e.run("", "client", "disable", "demo-m2m", "--reason", "leaked in a build log")
		if r.code != 0 || !strings.Contains(r.stdout, "client demo-m2m is now disabled") || !strings.Contains(r.stderr, "revocation ") {
			t.Fatalf("disable: %+v", r)
		}
		if out := e.ok("", "client", "disable", "demo-m2m"); !strings.Contains(out, "already disabled") {
			t.Fatalf("disable twice: %s", out)
		}
		var list struct {
			Clients []clientView `json:"clients"`
		}
		if err := json.Unmarshal([]byte(e.ok("", "client", "list", "-o", "json")), &list); err != nil {
			t.Fatal(err)
		}
		for _, c := range list.Clients {
			if want := map[bool]string{true: "disabled", false: "active"}[c.ID == "demo-m2m"]; c.Status != want {
				t.Fatalf("client %s is %q, want %q", c.ID, c.Status, want)
			}
		}
		if out := e.ok("", "client", "enable", "demo-m2m"); !strings.Contains(out, "client demo-m2m is now enabled") {
			t.Fatalf("enable: %s", out)
		}

		r = e.run("", "client", "rotate-secret", "demo-m2m", "--overlap", "1h")
		if secret := strings.TrimSpace(r.stdout); r.code != 0 || len(secret) != 43 || strings.Contains(secret, "\n") || !strings.Contains(r.stderr, "works until") {
			t.Fatalf("rotate-secret: %+v", r)
		}
		var rotated struct {
			Secret string `json:"client_secret"`
			Until  string `json:"rotation_overlap_until"`
		}
		if err := json.Unmarshal([]byte(e.ok("", "client", "rotate-secret", "demo-m2m", "-o", "json")), &rotated); err != nil ||
			len(rotated.Secret) != 43 || rotated.Until != "" {
			t.Fatalf("rotate-secret -o json without overlap = %+v, %v", rotated, err)
		}

		// Bad input: a clear error, a non-zero exit, and nothing changed.
		before := e.ok("", "client", "list", "-o", "json")
		for _, args := range [][]string{
			{"client", "disable", "no-such-client"},
			{"client", "enable", "no-such-client"},
			{"client", "rotate-secret", "no-such-client"},
			{"client", "rotate-secret", "demo-m2m", "--overlap", "169h"},
			{"client", "rotate-secret", "demo-m2m", "--overlap", "soon"},
			{"client", "rotate-secret", "demo-spa"},
			{"machine", "disable", "no-such-machine"},
		} {
			if r := e.run("", args...); r.code == 0 || r.stderr == "" || r.stdout != "" {
				t.Fatalf("weft %s: %+v; want a non-zero exit with an error", strings.Join(args, " "), r)
			}
		}
		if after := e.ok("", "client", "list", "-o", "json"); after != before {
			t.Fatalf("a refused command changed the clients:\n%s\n%s", before, after)
		}

		if out := e.ok("", "machine", "disable", "ci-runner"); !strings.Contains(out, "machine identity ci-runner is now disabled") {
			t.Fatalf("machine disable: %s", out)
		}
		if out := e.ok("", "machine", "list"); !strings.Contains(out, "disabled") {
			t.Fatalf("machine list does not show the status:\n%s", out)
		}
		if out := e.ok("", "machine", "enable", "ci-runner"); !strings.Contains(out, "now enabled") {
			t.Fatalf("machine enable: %s", out)
		}
	})
}

// TestContainment_AcrossNodes: a client disabled, enabled or rotated through one node is
// refused (or accepted) by another node at once, although that node had the client in
// its 10-second client cache and the secret's verdict in its verifier cache: the
// revocation fan-out tells every node's client cache to forget the client before the
// change is answered.
func TestContainment_AcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two weft processes")
	}
	f := newFabric(t)
	n1 := startNode(t, f.bin, f.env, "node-1", f.addr1, "")
	n2 := startNode(t, f.bin, f.env, "node-2", closedPort(t), "")
	n1.waitReady(t)
	n2.waitReady(t)
	o1, o2 := &oidcEnv{t: t, issuer: n1.base}, &oidcEnv{t: t, issuer: n2.base}
	soar := o1.mustToken("demo-soar", "demo-soar-secret", "weft:revoke")
	admin := o1.mustToken("demo-admin", "demo-admin-secret", "weft:admin")

	// Node 2 caches the client and the secret's verdict.
	o2.mustToken("demo-m2m", "demo-m2m-secret", "api.read")
	if code, rec := o1.bearerPost(soar, "/api/v1/revocations",
		`{"selector":{"type":"client","value":"demo-m2m"},"reason":"compromised","disable":true}`); code != http.StatusCreated || rec["status"] != "applied" {
		t.Fatalf("revoke with disable on node 1: %d %v", code, rec)
	}
	if code, out := o2.ccToken("demo-m2m", "demo-m2m-secret", "api.read"); code != http.StatusUnauthorized {
		t.Fatalf("node 2 answered %d %v for the client node 1 disabled; want 401 at once", code, out)
	}
	if code, out := o1.bearerPost(admin, "/api/v1/clients/demo-m2m/enable", ""); code != http.StatusOK {
		t.Fatalf("enable: %d %v", code, out)
	}
	o2.mustToken("demo-m2m", "demo-m2m-secret", "api.read")
	code, rot := o1.bearerPost(admin, "/api/v1/clients/demo-m2m/secret", "")
	secret, _ := rot["client_secret"].(string)
	if code != http.StatusOK || secret == "" {
		t.Fatalf("rotate: %d %v", code, rot)
	}
	if code, _ := o2.ccToken("demo-m2m", "demo-m2m-secret", "api.read"); code != http.StatusUnauthorized {
		t.Fatalf("node 2 accepted the rotated-out secret: %d", code)
	}
	o2.mustToken("demo-m2m", secret, "api.read")
}
