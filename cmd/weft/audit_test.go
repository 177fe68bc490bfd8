package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// dataDir is the env's WEFT_DATA_DIR.
func (e *cliEnv) dataDir() string {
	for _, kv := range e.environ {
		if v, ok := strings.CutPrefix(kv, "WEFT_DATA_DIR="); ok {
			return v
		}
	}
	e.t.Fatal("no WEFT_DATA_DIR")
	return ""
}

// openDB opens the env's database the way someone with access to it would: past the
// application, able to drop the append-only triggers.
func (e *cliEnv) openDB() *sqlstore.DB {
	e.t.Helper()
	o := sqlstore.Options{SQLitePath: filepath.Join(e.dataDir(), "weft.db")}
	for _, kv := range e.environ {
		if v, ok := strings.CutPrefix(kv, "WEFT_DATABASE_URL="); ok && v != "" {
			o = sqlstore.Options{URL: v}
		}
	}
	db, err := sqlstore.Open(context.Background(), o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = db.Close() })
	return db
}

func (e *cliEnv) sql(db *sqlstore.DB, queries ...string) {
	e.t.Helper()
	for _, q := range queries {
		if err := db.Conn(context.Background()).Exec(q).Error; err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
	}
}

func dropAuditTriggers(e *cliEnv, db *sqlstore.DB) {
	if db.Dialect() == "sqlite" {
		e.sql(db, `DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`,
			`DROP TRIGGER audit_checkpoints_no_update`, `DROP TRIGGER audit_checkpoints_no_delete`)
		return
	}
	e.sql(db, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update`,
		`ALTER TABLE audit_checkpoints DISABLE TRIGGER audit_checkpoints_no_update`)
}

// verifyBroken runs weft audit verify and wants exit 1 with want in its message.
func (e *cliEnv) verifyBroken(want string, args ...string) {
	e.t.Helper()
	r := e.run("", append([]string{"audit", "verify"}, args...)...)
	if r.code != exitInternal || !strings.Contains(r.stderr, want) {
		e.t.Fatalf("verify = exit %d\nstdout: %s\nstderr: %s\nwant %q", r.code, r.stdout, r.stderr, want)
	}
}

// applyChanges runs weft apply n times with a changed display name, so each writes
// one audit entry.
func applyChanges(e *cliEnv, n int) {
	e.t.Helper()
	for i := range n {
		f := filepath.Join(e.t.TempDir(), "fabric.yaml")
		body := "users:\n  - username: carol\n    display_name: Carol " + strings.Repeat("I", i+1) + "\n"
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			e.t.Fatal(err)
		}
		e.ok("", "apply", "-f", f)
	}
}

func TestCLI_AuditVerify(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *cliEnv) {
		e.ok("", "apply", "-f", exampleFabric)
		e.ok("", "apply", "-f", exampleFabric) // no change: no entry
		if out := e.ok("", "audit", "list"); strings.Count(out, "fabric.apply") != 1 {
			t.Fatalf("audit list:\n%s", out)
		}
		out := e.ok("", "audit", "verify")
		if !strings.HasPrefix(out, "audit log intact: 1 entries") || !strings.Contains(out, "every entry is keyed") {
			t.Fatalf("verify: %s", out)
		}
		var rep map[string]any
		if err := json.Unmarshal([]byte(e.ok("", "audit", "verify", "-o", "json")), &rep); err != nil ||
			rep["intact"] != true || rep["sealed"] != true || rep["entries"] != float64(1) {
			t.Fatalf("verify -o json: %v %v", rep, err)
		}
		// Tamper with the database directly (past the append-only trigger).
		db := e.openDB()
		dropAuditTriggers(e, db)
		e.sql(db, `UPDATE audit_log SET actor = 'someone-else' WHERE seq = 1`)
		e.verifyBroken("audit log broken at entry 1: its MAC does not match")
	})
}

// The review's reproduction of L4, step by step, through the binary's commands.
func TestCLI_AuditVerify_ReviewForge(t *testing.T) {
	e := newCLIEnv(t, sqltest.SQLite)
	e.ok("", "apply", "-f", exampleFabric)
	applyChanges(e, 3) // entries 2..4
	e.ok("", "audit", "verify")
	db := e.openDB()
	dropAuditTriggers(e, db)

	// internal_forge: rewrite entry 2, relink every later entry with the keyless hash.
	entries, err := sqlstore.NewAudit(db).AuditAfter(context.Background(), 0, 100)
	if err != nil || len(entries) != 4 {
		t.Fatalf("entries: %d %v", len(entries), err)
	}
	prev := entries[0].Hash
	for _, en := range entries[1:] {
		if en.Seq == 2 {
			en.Actor = "mallory"
		}
		en.PrevHash = prev
		en.Hash, _ = identity.LegacyAuditHash(en)
		if err := db.Conn(context.Background()).Exec(`UPDATE audit_log SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?`,
			en.Actor, en.PrevHash, en.Hash, en.Seq).Error; err != nil {
			t.Fatal(err)
		}
		prev = en.Hash
	}
	e.verifyBroken("audit log broken at entry 2: its MAC does not match")

	// The parser differential: a detail naming a member twice.
	e.sql(db, `UPDATE audit_log SET detail = '{"created":0,"created":14,"updated":0}' WHERE seq = 1`)
	e.verifyBroken(`audit log broken at entry 1: its detail names "created" twice`)
}

// A truncated tail: the server writes a checkpoint at start, while running and at
// shutdown, into the database, data_dir/audit-head and its log; removing entries it
// vouched for fails verify, even with the database's checkpoints removed too.
func TestCLI_AuditVerify_TruncatedTail(t *testing.T) {
	e := newCLIEnv(t, sqltest.SQLite)
	s := startServer(t, e.environ)
	e.ok("", "apply", "-f", exampleFabric)
	applyChanges(e, 3) // entries 1..4, written by the CLI beside the running server
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	head := filepath.Join(e.dataDir(), "audit-head")
	kept, ok, err := identity.AuditHeadFile{Path: head}.Load()
	if err != nil || !ok || kept.Seq != 4 {
		t.Fatalf("audit-head after shutdown = %+v %v %v", kept, ok, err)
	}
	if st, err := os.Stat(head); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("audit-head mode: %v %v", st, err)
	}
	// The log carries the same checkpoint, ready to be copied elsewhere.
	var logged string
	for _, line := range strings.Split(s.log.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "audit checkpoint" && rec["seq"] == float64(4) {
			logged, _ = rec["checkpoint"].(string)
		}
	}
	if logged == "" {
		t.Fatalf("no audit checkpoint of entry 4 in the log:\n%s", s.log.String())
	}
	out := e.ok("", "audit", "verify")
	if !strings.Contains(out, "newest checkpoint: entry 4") {
		t.Fatalf("verify: %s", out)
	}

	db := e.openDB()
	dropAuditTriggers(e, db)
	e.sql(db, `DELETE FROM audit_log WHERE seq > 2`, `DELETE FROM audit_checkpoints WHERE seq > 2`)
	e.verifyBroken("audit log broken at entry 3: the log ends at entry 2, but the checkpoint")

	// Without the file, the checkpoint copied from the log holds the log to it.
	if err := os.Rename(head, head+".moved"); err != nil {
		t.Fatal(err)
	}
	r := e.run("", "audit", "verify")
	if r.code != 0 {
		t.Fatalf("without any checkpoint past entry 2 the shorter log verifies; got %+v", r)
	}
	cp := filepath.Join(t.TempDir(), "checkpoint.json")
	if err := os.WriteFile(cp, []byte(logged), 0o600); err != nil {
		t.Fatal(err)
	}
	e.verifyBroken("vouches for entry 4: entries were removed from the tail", "--checkpoint", cp)
	if r := e.run("", "audit", "verify", "--checkpoint", filepath.Join(t.TempDir(), "none")); r.code != exitUsage {
		t.Fatalf("missing --checkpoint file: %+v", r)
	}
}

// verify needs the key-encryption key that keyed the chain, says so, and never makes
// up a new one (which would make every link look forged).
func TestCLI_AuditVerify_NeedsTheKEK(t *testing.T) {
	e := newCLIEnv(t, sqltest.SQLite)
	e.ok("", "apply", "-f", exampleFabric)
	kek := filepath.Join(e.dataDir(), "kek")
	if err := os.Rename(kek, kek+".elsewhere"); err != nil {
		t.Fatal(err)
	}
	r := e.run("", "audit", "verify")
	if r.code != exitUsage || !strings.Contains(r.stderr, "verified with the key-encryption key it was keyed with") ||
		!strings.Contains(r.stderr, kek+" does not exist") {
		t.Fatalf("verify without the KEK: %+v", r)
	}
	if _, err := os.Stat(kek); err == nil {
		t.Fatal("verify generated a key-encryption key")
	}
	// Another key: every MAC fails, and the report says why.
	e.environ = append(e.environ, "WEFT_KEY_ENCRYPTION_KEY="+testKEK)
	e.verifyBroken("another key-encryption key")

	// On PostgreSQL the key must be configured.
	pg := newCLIEnv(t, sqltest.Postgres)
	pg.ok("", "apply", "-f", exampleFabric)
	var without []string
	for _, kv := range pg.environ {
		if !strings.HasPrefix(kv, "WEFT_KEY_ENCRYPTION_KEY=") {
			without = append(without, kv)
		}
	}
	pg.environ = without
	if r := pg.run("", "audit", "verify"); r.code != exitUsage || !strings.Contains(r.stderr, "set WEFT_KEY_ENCRYPTION_KEY") {
		t.Fatalf("verify on PostgreSQL without the KEK: %+v", r)
	}
}
