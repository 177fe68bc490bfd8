package sqlstore_test

import (
	"context"
	"testing"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// BenchmarkAuditRecord measures one audit write as the revocation path makes it: its
// own transaction, the chain lock, the newest entry read, the link computed, the row
// written.
//
//	go test ./identity/sqlstore/ -run '^$' -bench AuditRecord -benchtime 2000x
func BenchmarkAuditRecord(b *testing.B) {
	for _, be := range sqltest.Backends {
		b.Run(string(be), func(b *testing.B) {
			ctx := context.Background()
			db := sqltest.Open(b, be)
			log := benchAuditLog(b, db)
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

func benchAuditLog(t testing.TB, db *sqlstore.DB) *identity.AuditLog {
	return sqltest.AuditLog(t, db)
}
