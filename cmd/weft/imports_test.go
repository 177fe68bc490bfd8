package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/weft-fabric/weft"

// storePackages are the adapter packages allowed to use gorm or go-redis, and their
// test helpers.
var storePackages = []string{"sqlstore", "redisstore", "fositestore", "keysql", "sqltest", "storetest"}

// transport is what serves HTTP: echo, the server package and the packages with
// handlers. The domain and store packages below must not depend on any of it, so that
// a store or the revocation service can be built (and tested) without a web server.
var transport = []string{"github.com/labstack/echo", "github.com/prometheus/client_golang",
	module + "/access/httpserver", module + "/access/oauth", module + "/access/gate", module + "/access/admin",
	module + "/access/revocation/revocationapi", module + "/access/ssf/ssfapi", module + "/access/authzen", module + "/ui"}

// transportFree are the packages (relative to the module) that must not import transport.
var transportFree = []string{"access", "access/revocation", "access/outbox", "access/backchannel", "access/websession",
	"access/ssf", "access/keys", "access/apply", "access/sqlstore", "access/sqlstore/storetest", "access/redisstore",
	"access/fositestore", "access/fositestore/storetest", "access/keys/keysql", "identity", "policy", "policy/sqlstore",
	"policy/storetest", "analytics"}

// TestImportRules keeps the layout honest (see ../shared/STYLE.md, sections 1 and 8):
// only store adapters touch gorm or go-redis; the domains import in one direction
// (identity, policy and analytics import no other domain; access never imports ui);
// and the domain and store packages of access import nothing that serves HTTP.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := map[string][]string{
		"identity":  {module + "/access", module + "/policy", module + "/analytics", module + "/ui"},
		"policy":    {module + "/access", module + "/identity", module + "/analytics", module + "/ui"},
		"analytics": {module + "/access", module + "/identity", module + "/policy", module + "/ui"},
		"access":    {module + "/ui"},
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := fields[0], fields[1:]
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		domain, _, _ := strings.Cut(rel, "/")
		if domain == "cmd" || domain == "migrations" || rel == "" {
			continue
		}
		checked++
		last := rel[strings.LastIndex(rel, "/")+1:]
		isStore := slices.Contains(storePackages, last)
		for _, d := range deps {
			if !isStore && (strings.HasPrefix(d, "gorm.io/") || strings.HasPrefix(d, "github.com/redis/go-redis")) {
				t.Errorf("%s imports %s: only store packages may use gorm or Redis", rel, d)
			}
			if slices.Contains(transportFree, rel) {
				for _, f := range transport {
					if d == f || strings.HasPrefix(d, f+"/") {
						t.Errorf("%s imports %s: domain and store packages must not depend on the HTTP layer", rel, d)
					}
				}
			}
			for _, f := range forbidden[domain] {
				// A store adapter of another domain shares identity/sqlstore's database
				// handle, and so depends on identity through it; its domain does not.
				if isStore && f == module+"/identity" {
					continue
				}
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s imports %s: %s must not depend on it", rel, d, domain)
				}
			}
		}
	}
	for _, rel := range transportFree {
		if !strings.Contains(string(out), module+"/"+rel+" ") && !strings.Contains(string(out), module+"/"+rel+"\n") {
			t.Errorf("%s is listed in transportFree but go list does not know it: update the list", rel)
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d packages: go list output changed?", checked)
	}
}
