package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// BenchmarkAuditRecord measures one audit write as the revocation path makes it: its
// own transaction, the chain lock, the newest entry read, the link computed, the row
// written; "anchored" adds what a server does every 100th entry (a checkpoint row,
// and data_dir/audit-head rewritten and synced after the commit).
//
//	go test ./identity/sqlstore/ -run '^$' -bench AuditRecord -benchtime 2000x
func BenchmarkAuditRecord(b *testing.B) {
	for _, be := range sqltest.Backends {
		for _, anchored := range []bool{false, true} {
			name := string(be)
			if anchored {
				name += "/anchored"
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				db := sqltest.Open(b, be)
				cfg := identity.AuditConfig{Keys: sqltest.AuditKeys}
				if anchored {
					cfg.Anchor = identity.AuditHeadFile{Path: filepath.Join(b.TempDir(), "audit-head")}
				}
				log, err := identity.NewAuditLog(sqlstore.NewAudit(db), db, cfg)
				if err != nil {
					b.Fatal(err)
				}
				detail := map[string]any{"id": "0f9c2b1e-5b7a-4a39-9d1e-3c8e6f1a2b4d", "reason": "incident 4711", "suspend": true, "sessions": 2, "tokens": 5}
				b.ReportAllocs()
				for b.Loop() {
					if err := log.Record(ctx, "revocation", "soar-client", "subject:3b2f0c", detail); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
