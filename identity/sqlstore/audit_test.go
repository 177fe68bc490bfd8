package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// auditLog is the keyed log over db with the test keys, checkpointing every `every`
// entries (0: the default) into anchor (nil: none).
func auditLog(t *testing.T, db *sqlstore.DB, every int64, anchor identity.AuditAnchor) *identity.AuditLog {
	t.Helper()
	l, err := identity.NewAuditLog(sqlstore.NewAudit(db), db, identity.AuditConfig{Keys: sqltest.AuditKeys,
		CheckpointEvery: every, Anchor: anchor, Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// exec runs SQL as someone who writes the database directly would.
func exec(t *testing.T, db *sqlstore.DB, queries ...string) {
	t.Helper()
	for _, q := range queries {
		if _, err := db.SQL().ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// dropAppendOnly removes the triggers that refuse UPDATE and DELETE on the log and its
// checkpoints: what a database owner can do.
func dropAppendOnly(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	if db.Dialect() == "sqlite" {
		exec(t, db, `DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`,
			`DROP TRIGGER audit_checkpoints_no_update`, `DROP TRIGGER audit_checkpoints_no_delete`)
		return
	}
	exec(t, db, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update`,
		`ALTER TABLE audit_checkpoints DISABLE TRIGGER audit_checkpoints_no_update`)
}

func record(t *testing.T, l *identity.AuditLog, n int) {
	t.Helper()
	for i := range n {
		if err := l.Record(context.Background(), "admin.change", "admin-id", fmt.Sprintf("user-%d", i), map[string]any{"route": "/api/v1/users", "n": i}); err != nil {
			t.Fatal(err)
		}
	}
}

func mustVerify(t *testing.T, l *identity.AuditLog, extra ...identity.AuditCheckpoint) identity.AuditReport {
	t.Helper()
	rep, err := l.Verify(context.Background(), extra...)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestAuditLog_ChainAndTamperDetection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		log := auditLog(t, db, 0, nil)
		if rep := mustVerify(t, log); !rep.Intact() || rep.Entries != 0 || rep.Sealed {
			t.Fatalf("empty log: %+v", rep)
		}
		record(t, log, 4)
		// Concurrent writers still form one chain.
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				if err := log.Record(ctx, "security.test", "system", "", map[string]any{"i": i}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		rep := mustVerify(t, log)
		if !rep.Intact() || rep.Entries != 12 || len(rep.Head) != 64 || !rep.Sealed || rep.LegacyEntries != 0 || rep.Checkpoints != 1 {
			t.Fatalf("verify = %+v", rep)
		}
		// The tables refuse changes outright.
		for _, q := range []string{`UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3`, `DELETE FROM audit_log WHERE seq = 5`,
			`UPDATE audit_checkpoints SET seq = 99`, `DELETE FROM audit_checkpoints`} {
			if _, err := db.SQL().ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("%s = %v, want refused", q, err)
			}
		}
		// Someone with the power to drop the triggers can change rows, but not unseen.
		dropAppendOnly(t, db)
		exec(t, db, `UPDATE audit_log SET detail = '{"n":99,"route":"/api/v1/users"}' WHERE seq = 3`)
		if rep := mustVerify(t, log); rep.BrokenAt != 3 || !strings.Contains(rep.Problem, "MAC does not match") {
			t.Fatalf("after editing entry 3: %+v", rep)
		}
		exec(t, db, `UPDATE audit_log SET detail = '{"n":2,"route":"/api/v1/users"}' WHERE seq = 3`)
		if rep := mustVerify(t, log); !rep.Intact() {
			t.Fatalf("restoring entry 3 did not restore the chain: %+v", rep)
		}
		exec(t, db, `DELETE FROM audit_log WHERE seq = 5`)
		if rep := mustVerify(t, log); rep.BrokenAt != 5 || !strings.Contains(rep.Problem, "missing") {
			t.Fatalf("after deleting entry 5: %+v", rep)
		}
	})
}

// The review's forge (L4): change entry 2 and recompute every later link with the
// keyless function. It used to verify; the keyed chain does not.
func TestAuditLog_KeylessForgeIsDetected(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		log := auditLog(t, db, 0, nil)
		record(t, log, 6)
		if rep := mustVerify(t, log); !rep.Intact() {
			t.Fatalf("before the forge: %+v", rep)
		}
		dropAppendOnly(t, db)
		forge(t, db, 2, "mallory")
		rep := mustVerify(t, log)
		if rep.Intact() || rep.BrokenAt != 2 || !strings.Contains(rep.Problem, "MAC does not match") {
			t.Fatalf("after rewriting entry 2 and relinking with the keyless hash: %+v", rep)
		}
		// Presenting the whole log as legacy does not help either: the seal says it
		// was keyed from the start.
		entries, _ := sqlstore.NewAudit(db).AuditAfter(ctx, 0, 100)
		if rep.Sealed != true || entries[1].Actor != "mallory" {
			t.Fatalf("forge did not apply: %+v", entries[1])
		}
	})
}

// forge is the review's internal_forge: read the log in order, change one entry's
// actor, and rewrite prev_hash and hash of it and every later entry with the keyless
// function anyone can compute.
func forge(t *testing.T, db *sqlstore.DB, seq int64, actor string) {
	t.Helper()
	ctx := context.Background()
	entries, err := sqlstore.NewAudit(db).AuditAfter(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	for _, e := range entries {
		if e.Seq == seq {
			e.Actor = actor
		}
		if e.Seq >= seq {
			e.PrevHash = prev
			h, err := identity.LegacyAuditHash(e)
			if err != nil {
				t.Fatal(err)
			}
			e.Hash = h
			if err := db.Conn(ctx).Exec(`UPDATE audit_log SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?`,
				e.Actor, e.PrevHash, e.Hash, e.Seq).Error; err != nil {
				t.Fatal(err)
			}
		}
		prev = e.Hash
	}
}

// Removing the newest entries leaves a shorter chain that links perfectly; a checkpoint
// (in the database, and kept outside it) shows the loss.
func TestAuditLog_TruncatedTailIsDetected(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		anchor := identity.AuditHeadFile{Path: filepath.Join(t.TempDir(), "audit-head")}
		log := auditLog(t, db, 5, anchor)
		record(t, log, 6) // checkpoints: the seal (entry 0) and entry 5
		if _, err := log.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		record(t, log, 2)
		rep := mustVerify(t, log)
		if !rep.Intact() || rep.Entries != 8 || rep.Checkpoints != 3 || rep.Newest.Seq != 6 {
			t.Fatalf("before truncation: %+v", rep)
		}
		kept, ok, err := anchor.Load()
		if err != nil || !ok || kept.Seq != 6 {
			t.Fatalf("anchor = %+v, %v, %v; want the checkpoint of entry 6", kept, ok, err)
		}
		if st, err := os.Stat(anchor.Path); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("anchor file mode: %v %v", st, err)
		}

		dropAppendOnly(t, db)
		// Entries after the newest checkpoint can go unseen (bounded by how often
		// checkpoints are written)...
		exec(t, db, `DELETE FROM audit_log WHERE seq > 6`)
		if rep := mustVerify(t, log); !rep.Intact() || rep.Entries != 6 {
			t.Fatalf("after removing entries past the newest checkpoint: %+v", rep)
		}
		// ...but not those it vouches for.
		exec(t, db, `DELETE FROM audit_log WHERE seq > 5`)
		rep = mustVerify(t, log)
		if rep.Intact() || rep.BrokenAt != 6 || !strings.Contains(rep.Problem, "removed from the tail") {
			t.Fatalf("after removing entry 6: %+v", rep)
		}
		// Removing the database's checkpoints too leaves the one kept outside.
		exec(t, db, `DELETE FROM audit_checkpoints WHERE seq > 5`)
		rep = mustVerify(t, log)
		if rep.Intact() || !strings.Contains(rep.Problem, "removed from the tail") || rep.Newest.Source != anchor.Path {
			t.Fatalf("after removing the checkpoints of the database: %+v", rep)
		}
		// A new checkpoint written now does not move the anchor back over the loss.
		if _, err := log.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if kept, _, _ := anchor.Load(); kept.Seq != 6 {
			t.Fatalf("anchor moved to %d after the truncation", kept.Seq)
		}
		// And a checkpoint copied from the logs counts like the file.
		other := auditLog(t, db, 5, nil)
		if rep := mustVerify(t, other, kept); rep.Intact() || !strings.Contains(rep.Problem, "removed from the tail") {
			t.Fatalf("with the checkpoint given: %+v", rep)
		}
	})
}

// The review's parser differential: the old verify re-encoded the detail, so a stored
// detail naming a member twice verified while SQL and Go read different values.
func TestAuditLog_DuplicateKeysInDetail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		store := sqlstore.NewAudit(db)
		legacy := writeLegacyLog(t, store, 3, map[string]any{"created": 14, "updated": 0})
		log := auditLog(t, db, 0, nil)
		// Written before the upgrade and not sealed yet: nothing vouches for it.
		if rep := mustVerify(t, log); rep.Intact() || rep.Sealed || rep.LegacyEntries != 3 || !strings.Contains(rep.Problem, "start weft serve once to seal") {
			t.Fatalf("legacy log: %+v", rep)
		}
		record(t, log, 2) // seals after entry 3; 4 and 5 are keyed
		if rep := mustVerify(t, log); !rep.Intact() || rep.LegacyEntries != 3 || rep.Entries != 5 {
			t.Fatalf("sealed: %+v", rep)
		}
		dropAppendOnly(t, db)
		for _, tc := range []struct {
			name, detail, restore string
			seq                   int64
			problem               string
		}{
			{"legacy entry", `{"created":0,"created":14,"updated":0}`, legacy[0].RawDetail, 1, `names "created" twice`},
			{"legacy entry, not canonical", `{"updated":0,"created":14}`, legacy[0].RawDetail, 1, "not the canonical JSON"},
			{"legacy entry, escaped name", `{"created":14,"\u0075pdated":0}`, legacy[0].RawDetail, 1, "not the canonical JSON"},
			{"keyed entry", `{"n":9,"n":0,"route":"/api/v1/users"}`, `{"n":0,"route":"/api/v1/users"}`, 4, `names "n" twice`},
			{"keyed entry, nested", `{"n":0,"route":{"a":1,"a":2}}`, `{"n":0,"route":"/api/v1/users"}`, 4, `names "a" twice`},
			{"keyed entry, not JSON", `{"n":0,"route":"/api/v1/users"} x`, `{"n":0,"route":"/api/v1/users"}`, 4, "not valid JSON"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				exec(t, db, fmt.Sprintf(`UPDATE audit_log SET detail = '%s' WHERE seq = %d`, tc.detail, tc.seq))
				rep := mustVerify(t, log)
				exec(t, db, fmt.Sprintf(`UPDATE audit_log SET detail = '%s' WHERE seq = %d`, tc.restore, tc.seq))
				if rep.Intact() || rep.BrokenAt != tc.seq || !strings.Contains(rep.Problem, tc.problem) {
					t.Fatalf("verify = %+v, want entry %d: %s", rep, tc.seq, tc.problem)
				}
				if rep := mustVerify(t, log); !rep.Intact() {
					t.Fatalf("restored: %+v", rep)
				}
			})
		}
	})
}

// writeLegacyLog writes n entries as the keyless code did before the chain was keyed.
func writeLegacyLog(t *testing.T, store *sqlstore.Audit, n int, detail map[string]any) []identity.AuditEntry {
	t.Helper()
	var (
		out  []identity.AuditEntry
		prev string
	)
	at := time.Now().UTC().Truncate(time.Microsecond).Add(-time.Hour)
	for i := 1; i <= n; i++ {
		e := identity.AuditEntry{Seq: int64(i), At: at.Add(time.Duration(i) * time.Second), Kind: "fabric.apply", Actor: "cli",
			Subject: "fabric.yaml", Detail: detail, PrevHash: prev}
		h, err := identity.LegacyAuditHash(e)
		if err != nil {
			t.Fatal(err)
		}
		e.Hash = h
		// The old store wrote json.Marshal(detail), the encoding the hash covered.
		e.RawDetail = mustJSON(t, detail)
		if err := store.AppendAudit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		out, prev = append(out, e), e.Hash
	}
	return out
}

// A log written before the upgrade verifies with the old rule up to the seal, keyed
// after it; rewriting the legacy part with the keyless function breaks the first keyed
// link, which cannot be recomputed.
func TestAuditLog_LegacyEntriesThenKeyed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		writeLegacyLog(t, sqlstore.NewAudit(db), 4, map[string]any{"created": 1})
		log := auditLog(t, db, 0, nil)
		// Serving seals the log at once (RunCheckpoints starts with a checkpoint).
		c, err := log.Checkpoint(ctx)
		if err != nil || c.Seq != 4 || c.LegacyUntil != 4 {
			t.Fatalf("seal = %+v, %v", c, err)
		}
		record(t, log, 3)
		rep := mustVerify(t, log)
		if !rep.Intact() || !rep.Sealed || rep.LegacyEntries != 4 || rep.Entries != 7 || rep.Checkpoints != 1 {
			t.Fatalf("verify = %+v", rep)
		}
		dropAppendOnly(t, db)
		forge(t, db, 2, "mallory") // relinks 2..7 keylessly
		if rep := mustVerify(t, log); rep.Intact() || rep.BrokenAt != 4 {
			// entries 2 and 3 relink fine, the seal vouches for entry 4's old link
			t.Fatalf("after the forge: %+v", rep)
		}
		// Removing the seal to present everything as legacy: the keyed entries say so.
		exec(t, db, `DELETE FROM audit_checkpoints`)
		fresh := auditLog(t, db, 0, nil)
		if rep := mustVerify(t, fresh); rep.Intact() || !strings.Contains(rep.Problem, "checkpoints were removed") {
			t.Fatalf("forged log without checkpoints verified: %+v", rep)
		}
	})
}

// Two nodes (two AuditLog instances over one database) sealing and writing at once
// still form one chain with one seal.
func TestAuditLog_ConcurrentNodesSealOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		writeLegacyLog(t, sqlstore.NewAudit(db), 2, nil)
		nodes := []*identity.AuditLog{auditLog(t, db, 5, nil), auditLog(t, db, 5, nil)}
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Go(func() {
				if err := nodes[i%2].Record(context.Background(), "security.test", "system", "", map[string]any{"i": i}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		rep := mustVerify(t, nodes[0])
		// the seal, and the checkpoints of entries 5, 10
		if !rep.Intact() || rep.Entries != 14 || rep.LegacyEntries != 2 || rep.Checkpoints != 3 {
			t.Fatalf("verify = %+v", rep)
		}
	})
}

// Another key (another KEK) cannot verify the chain, and says why.
func TestAuditLog_OtherKey(t *testing.T) {
	db := sqltest.Open(t, sqltest.SQLite)
	record(t, auditLog(t, db, 0, nil), 3)
	other, err := identity.NewAuditLog(sqlstore.NewAudit(db), db, identity.AuditConfig{Keys: identity.AuditKeys{
		Chain: []byte(strings.Repeat("x", 32)), Checkpoint: []byte(strings.Repeat("y", 32))}})
	if err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, other); rep.Intact() || !strings.Contains(rep.Problem, "another key-encryption key") {
		t.Fatalf("verify under another key = %+v", rep)
	}
	for _, cfg := range []identity.AuditConfig{{}, {Keys: identity.AuditKeys{Chain: sqltest.AuditKeys.Chain}},
		{Keys: identity.AuditKeys{Chain: sqltest.AuditKeys.Chain, Checkpoint: sqltest.AuditKeys.Chain}}} {
		if _, err := identity.NewAuditLog(sqlstore.NewAudit(db), db, cfg); err == nil {
			t.Errorf("NewAuditLog(%+v) accepted missing or equal keys", cfg)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Removing every checkpoint of a keyed log does not make it pass as legacy, and the
// next writer does not seal it again over the keyed entries.
func TestAuditLog_RemovedCheckpoints(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		record(t, auditLog(t, db, 0, nil), 3)
		dropAppendOnly(t, db)
		exec(t, db, `DELETE FROM audit_checkpoints`)
		next := auditLog(t, db, 0, nil)
		record(t, next, 1)
		rep := mustVerify(t, next)
		if rep.Intact() || rep.BrokenAt != 1 || !strings.Contains(rep.Problem, "checkpoints were removed") || rep.Checkpoints != 0 {
			t.Fatalf("verify = %+v", rep)
		}
	})
}

// RunCheckpoints writes one at start, one after each interval in which the log grew
// (none while it did not), and a last one when it stops.
func TestAuditLog_RunCheckpoints(t *testing.T) {
	db := sqltest.Open(t, sqltest.SQLite)
	anchor := identity.AuditHeadFile{Path: filepath.Join(t.TempDir(), "audit-head")}
	log := auditLog(t, db, 0, anchor)
	store := sqlstore.NewAudit(db)
	count := func() int {
		cps, err := store.AuditCheckpoints(context.Background(), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(cps)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { log.RunCheckpoints(ctx, 20*time.Millisecond); close(done) }()
	waitFor := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); count() < n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d checkpoints, want %d", count(), n)
			}
		}
	}
	waitFor(1) // the seal, at start
	time.Sleep(100 * time.Millisecond)
	if n := count(); n != 1 {
		t.Fatalf("%d checkpoints while the log did not grow", n)
	}
	record(t, log, 2)
	waitFor(2)
	record(t, log, 1)
	cancel()
	<-done
	kept, ok, err := anchor.Load()
	if err != nil || !ok || kept.Seq != 3 {
		t.Fatalf("after stopping, the anchor holds %+v (%v, %v); want entry 3", kept, ok, err)
	}
	if rep := mustVerify(t, log); !rep.Intact() || rep.Newest.Seq != 3 {
		t.Fatalf("verify = %+v", rep)
	}
}
