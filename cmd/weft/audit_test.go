package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

func TestCLI_AuditVerify(t *testing.T) {
	e := newCLIEnv(t, sqltest.SQLite)
	e.ok("", "apply", "-f", exampleFabric)
	e.ok("", "apply", "-f", exampleFabric) // no change: no entry
	if out := e.ok("", "audit", "list"); strings.Count(out, "fabric.apply") != 1 {
		t.Fatalf("audit list:\n%s", out)
	}
	if out := e.ok("", "audit", "verify"); !strings.HasPrefix(out, "audit log intact: 1 entries") {
		t.Fatalf("verify: %s", out)
	}
	// Tamper with the file directly (past the append-only trigger).
	var dataDir string
	for _, kv := range e.environ {
		if v, ok := strings.CutPrefix(kv, "WEFT_DATA_DIR="); ok {
			dataDir = v
		}
	}
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{SQLitePath: filepath.Join(dataDir, "weft.db")})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_log_no_update`, `UPDATE audit_log SET actor = 'someone-else' WHERE seq = 1`} {
		if _, err := db.SQL().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()
	r := e.run("", "audit", "verify")
	if r.code != exitInternal || !strings.Contains(r.stderr, "audit log broken at entry 1") {
		t.Fatalf("verify after tampering: %+v", r)
	}
}
