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

// TestImportRules keeps the layout honest (see ../shared/STYLE.md, sections 1 and 8):
// only store adapters touch gorm or go-redis, and the domains import in one direction:
// identity, policy and analytics import no other domain; access never imports ui.
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
			for _, f := range forbidden[domain] {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s imports %s: %s must not depend on it", rel, d, domain)
				}
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d packages: go list output changed?", checked)
	}
}
