package sqlstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
)

func TestAuditLog_ChainAndTamperDetection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		log := identity.NewAuditLog(sqlstore.NewAudit(db), db)
		if rep, err := log.Verify(ctx); err != nil || !rep.Intact() || rep.Entries != 0 {
			t.Fatalf("empty log: %+v %v", rep, err)
		}
		for i := 1; i <= 4; i++ {
			if err := log.Record(ctx, "admin.change", "admin-id", fmt.Sprintf("user-%d", i), map[string]any{"route": "/api/v1/users", "n": i}); err != nil {
				t.Fatal(err)
			}
		}
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
		rep, err := log.Verify(ctx)
		if err != nil || !rep.Intact() || rep.Entries != 12 || len(rep.Head) != 64 {
			t.Fatalf("verify = %+v, %v", rep, err)
		}
		// The table refuses changes outright.
		if _, err := db.SQL().ExecContext(ctx, `UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3`); err == nil ||
			!strings.Contains(err.Error(), "append-only") {
			t.Fatalf("UPDATE on the audit log = %v, want refused", err)
		}
		if _, err := db.SQL().ExecContext(ctx, `DELETE FROM audit_log WHERE seq = 5`); err == nil {
			t.Fatal("DELETE on the audit log was accepted")
		}
		// Someone with the power to drop the triggers can change rows, but not unseen.
		disable := []string{`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update`}
		if db.Dialect() == "sqlite" {
			disable = []string{`DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`}
		}
		for _, q := range disable {
			if _, err := db.SQL().ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.SQL().ExecContext(ctx, `UPDATE audit_log SET detail = '{"n":99,"route":"/api/v1/users"}' WHERE seq = 3`); err != nil {
			t.Fatal(err)
		}
		if rep, _ := log.Verify(ctx); rep.BrokenAt != 3 || !strings.Contains(rep.Problem, "hash") {
			t.Fatalf("after editing entry 3: %+v", rep)
		}
		if _, err := db.SQL().ExecContext(ctx, `UPDATE audit_log SET detail = '{"n":3,"route":"/api/v1/users"}' WHERE seq = 3`); err != nil {
			t.Fatal(err)
		}
		if rep, _ := log.Verify(ctx); !rep.Intact() {
			t.Fatalf("restoring entry 3 did not restore the chain: %+v", rep)
		}
		if _, err := db.SQL().ExecContext(ctx, `DELETE FROM audit_log WHERE seq = 5`); err != nil {
			t.Fatal(err)
		}
		if rep, _ := log.Verify(ctx); rep.BrokenAt != 5 || !strings.Contains(rep.Problem, "missing") {
			t.Fatalf("after deleting entry 5: %+v", rep)
		}
	})
}
