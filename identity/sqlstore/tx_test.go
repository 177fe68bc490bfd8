package sqlstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weft-fabric/weft/identity/sqlstore"
)

// AfterCommit: hooks run once the outermost transaction has committed (so what they
// announce is visible to every other connection), never after a rollback, and at once
// outside a transaction.
func TestDB_AfterCommit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		count := func() int {
			var n int
			if err := db.Conn(ctx).Raw("SELECT COUNT(*) FROM groups").Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		insert := func(ctx context.Context, name string) error {
			return db.Conn(ctx).Exec("INSERT INTO groups (id, name, name_key, description, created_at, updated_at) VALUES (?, ?, ?, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
				name, name, name).Error
		}
		var log []string

		// Committed, nested: the hooks of the inner InTx wait for the outer commit, and see
		// the row from another connection (count runs outside the transaction).
		err := db.InTx(ctx, func(ctx context.Context) error {
			if err := insert(ctx, "g1"); err != nil {
				return err
			}
			db.AfterCommit(ctx, func(context.Context) { log = append(log, "outer") })
			return db.InTx(ctx, func(ctx context.Context) error {
				db.AfterCommit(ctx, func(hctx context.Context) {
					log = append(log, "inner")
					// The hook's context carries no transaction: a write here is its own.
					if err := db.InTx(hctx, func(ctx context.Context) error { return insert(ctx, "from-hook") }); err != nil {
						t.Error(err)
					}
				})
				if len(log) != 0 {
					t.Error("a hook ran before the commit")
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(log, []string{"outer", "inner"}) || count() != 2 {
			t.Fatalf("hooks %v, rows %d; want [outer inner] and 2", log, count())
		}

		// Rolled back: no hook.
		log = nil
		err = db.InTx(ctx, func(ctx context.Context) error {
			_ = insert(ctx, "g2")
			db.AfterCommit(ctx, func(context.Context) { log = append(log, "rolled back") })
			return errors.New("abort")
		})
		if err == nil || len(log) != 0 || count() != 2 {
			t.Fatalf("after a rollback: hooks %v, rows %d", log, count())
		}

		// BeginTx/Commit (fosite's transactions) run the hooks at Commit; Rollback drops them.
		tctx, err := db.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		db.AfterCommit(tctx, func(context.Context) { log = append(log, "commit") })
		if len(log) != 0 {
			t.Fatal("a hook ran before Commit")
		}
		if err := db.Commit(tctx); err != nil {
			t.Fatal(err)
		}
		tctx, err = db.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		db.AfterCommit(tctx, func(context.Context) { log = append(log, "rollback") })
		if err := db.Rollback(tctx); err != nil {
			t.Fatal(err)
		}
		// Outside a transaction: at once.
		db.AfterCommit(ctx, func(context.Context) { log = append(log, "now") })
		if !slices.Equal(log, []string{"commit", "now"}) {
			t.Fatalf("hooks %v, want [commit now]", log)
		}
	})
}

// The embedded database and its WAL files are the owner's only, whatever the umask and
// the directory's mode, and an existing file with a looser mode is tightened (issue 9, L5).
func TestOpen_SQLiteFilesAreOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "weft.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil { // left behind loose
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstore.Options{SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil { // writes: the WAL files exist now
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}
