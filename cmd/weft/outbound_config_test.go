package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// TestConfig_OutboundPolicy: loopback is reachable while the issuer is on loopback or
// the operator allows it; the allowlist is parsed strictly and cannot allow everything.
func TestConfig_OutboundPolicy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      []string
		loopback bool
		allow    string
		problem  string
	}{
		{"laptop default", nil, true, "[] []", ""},
		{"https issuer", []string{"WEFT_ISSUER=https://weft.example"}, false, "[] []", ""},
		{"https issuer, loopback allowed", []string{"WEFT_ISSUER=https://weft.example", "WEFT_OUTBOUND_ALLOW_LOOPBACK=true"}, true, "[] []", ""},
		{"allowlist", []string{"WEFT_ISSUER=https://weft.example", "WEFT_OUTBOUND_ALLOW=10.1.2.3, 192.168.0.0/16 ,hooks.corp"}, false, "[10.1.2.3/32 192.168.0.0/16] [hooks.corp]", ""},
		{"everything", []string{"WEFT_OUTBOUND_ALLOW=0.0.0.0/0"}, false, "", "allows every address"},
		{"everything v6", []string{"WEFT_OUTBOUND_ALLOW=::/0"}, false, "", "allows every address"},
		{"bad entry", []string{"WEFT_OUTBOUND_ALLOW=https://hooks.corp"}, false, "", "neither an IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig("", tc.env, nil)
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) || !strings.Contains(err.Error(), "outbound_allow") {
					t.Fatalf("err = %v, want %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := c.outboundPolicy()
			got := fmt.Sprint(p.Allow, p.AllowHosts)
			if p.Loopback != tc.loopback || got != tc.allow {
				t.Fatalf("policy %+v (%s), want loopback %v, allow %s", p, got, tc.loopback, tc.allow)
			}
		})
	}
}

// TestApply_BackchannelLogoutURIOutboundRule: weft apply, wired as shipped, refuses a
// back-channel logout URI on loopback while the issuer is not on loopback (http, and
// https too, since the pod's loopback carries admin ports), and accepts it on a laptop
// (issuer on loopback) or when the operator allows loopback (issue 9, M2).
func TestApply_BackchannelLogoutURIOutboundRule(t *testing.T) {
	fabric := func(uri string) string {
		path := filepath.Join(t.TempDir(), "fabric.yaml")
		body := "clients:\n  - id: rp\n    name: RP\n    type: confidential\n    secret: rp-secret-long-enough\n" +
			"    grant_types: [client_credentials]\n    backchannel_logout_uri: " + uri + "\n"
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name, issuer, allowLoopback, uri, refuse string
	}{
		{"http loopback, https issuer", "https://weft.example", "false", "http://127.0.0.1:9772/bcl", "https"},
		{"https loopback, https issuer", "https://weft.example", "false", "https://127.0.0.1:15000/quitquitquit", "loopback"},
		{"metadata, https issuer", "https://weft.example", "false", "https://169.254.169.254/latest/", "metadata"},
		{"metadata, laptop", "http://localhost:8080", "false", "https://169.254.169.254/latest/", "metadata"},
		{"http loopback, laptop", "http://localhost:8080", "false", "http://127.0.0.1:9772/bcl", ""},
		{"http loopback, allowed", "https://weft.example", "true", "http://127.0.0.1:9772/bcl", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCLIEnv(t, sqltest.SQLite)
			e.environ = append(e.environ, "WEFT_ISSUER="+tc.issuer, "WEFT_OUTBOUND_ALLOW_LOOPBACK="+tc.allowLoopback)
			r := e.run("", "apply", "-f", fabric(tc.uri))
			if tc.refuse == "" {
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				return
			}
			if r.code == 0 || !strings.Contains(r.stderr, "backchannel_logout_uri") || !strings.Contains(r.stderr, tc.refuse) {
				t.Fatalf("exit %d, stderr %q; want a refusal naming %q", r.code, r.stderr, tc.refuse)
			}
		})
	}
}
