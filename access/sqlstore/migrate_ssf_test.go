package sqlstore_test

import (
	"context"
	"testing"

	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/access/ssf"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
	"github.com/weft-fabric/weft/migrations"
)

// TestMigration18_ExistingStreams: a stream from before migration 00018 keeps
// receiving every subject's events (default_subjects ALL), and its clear authorization
// header stays readable until the server seals it at start-up; 00018 rolls back and
// forward again.
func TestMigration18_ExistingStreams(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			ctx := context.Background()
			db := sqltest.OpenEmpty(t, b)
			sqlDB := db.SQL()
			if err := migrations.UpTo(ctx, sqlDB, db.Dialect(), 17); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				`INSERT INTO oauth_clients (id, name, client_type, secret_hash, grant_types, created_at, updated_at)
				 VALUES ('rcv', 'Receiver', 'confidential', '$argon2id$x', '["client_credentials"]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
				`INSERT INTO ssf_streams (id, client_id, delivery_method, endpoint_url, authorization_header, events_requested, status, created_at, updated_at)
				 VALUES ('s1', 'rcv', 'urn:ietf:rfc:8935', 'https://rcv.example/e', 'Bearer old-secret', '[]', 'enabled', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
			} {
				if _, err := sqlDB.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			streams := accsql.NewStreams(db)
			s, err := streams.StreamByID(ctx, "s1")
			if err != nil {
				t.Fatal(err)
			}
			if s.DefaultSubjects != ssf.SubjectsAll || s.LegacyAuthorization != "Bearer old-secret" || len(s.AuthorizationSealed) != 0 {
				t.Fatalf("stream after 00018 = %+v", s)
			}
			legacy, err := streams.LegacyAuthorizations(ctx)
			if err != nil || len(legacy) != 1 || legacy[0].ID != "s1" {
				t.Fatalf("LegacyAuthorizations = %v, %v", legacy, err)
			}
			if _, err := sqlDB.ExecContext(ctx, `UPDATE ssf_streams SET default_subjects = 'SOME' WHERE id = 's1'`); err == nil {
				t.Fatal("default_subjects accepted SOME")
			}
			if err := migrations.Down(ctx, sqlDB, db.Dialect()); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if s, err := streams.StreamByID(ctx, "s1"); err != nil || s.DefaultSubjects != ssf.SubjectsAll || s.LegacyAuthorization != "Bearer old-secret" {
				t.Fatalf("after down and up: %+v, %v", s, err)
			}
		})
	}
}
