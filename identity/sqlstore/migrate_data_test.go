package sqlstore_test

import (
	"context"
	"testing"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
	"github.com/weft-fabric/weft/migrations"
)

// TestMigrations_KeepData puts rows in place at version 6 and checks that migration 7
// (which rebuilds oauth_clients on SQLite) keeps them and their foreign keys, and that
// every migration rolls back and forward again.
func TestMigrations_KeepData(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			ctx := context.Background()
			db := sqltest.OpenEmpty(t, b)
			sqlDB := db.SQL()
			if err := migrations.UpTo(ctx, sqlDB, db.Dialect(), 6); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				`INSERT INTO users (id, username, username_key, status, created_at, updated_at) VALUES ('u1', 'alice', 'alice', 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`,
				`INSERT INTO oauth_clients (id, name, client_type, secret_hash, grant_types, owner_id, created_at, updated_at, introspection, access_token_format)
				 VALUES ('c1', 'Client one', 'confidential', '$argon2id$x', '["client_credentials"]', 'u1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, TRUE, 'jwt')`,
				`INSERT INTO oauth_consents (user_id, client_id, scopes, granted_at) VALUES ('u1', 'c1', '["openid"]', CURRENT_TIMESTAMP)`,
			} {
				if _, err := sqlDB.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			var name, format, hash string
			var introspection bool
			err := sqlDB.QueryRowContext(ctx, `SELECT name, access_token_format, secret_hash, introspection FROM oauth_clients WHERE id = 'c1'`).
				Scan(&name, &format, &hash, &introspection)
			if err != nil || name != "Client one" || format != "jwt" || hash != "$argon2id$x" || !introspection {
				t.Fatalf("client after migration: %q %q %q %v %v", name, format, hash, introspection, err)
			}
			var consents int
			if err := sqlDB.QueryRowContext(ctx, `SELECT count(*) FROM oauth_consents`).Scan(&consents); err != nil || consents != 1 {
				t.Fatalf("consents after migration = %d, %v", consents, err)
			}
			// Foreign keys still point at the rebuilt table and are enforced.
			if _, err := sqlDB.ExecContext(ctx, `INSERT INTO oauth_consents (user_id, client_id, scopes, granted_at) VALUES ('u1', 'nope', '[]', CURRENT_TIMESTAMP)`); err == nil {
				t.Fatal("a consent for an unknown client was accepted: foreign key lost")
			}
			// The new rule: a confidential client without a secret needs private_key_jwt and a JWKS.
			if _, err := sqlDB.ExecContext(ctx, `INSERT INTO oauth_clients (id, name, client_type, created_at, updated_at) VALUES ('c2', 'x', 'confidential', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`); err == nil {
				t.Fatal("a confidential client without any credential was accepted")
			}
			if _, err := sqlDB.ExecContext(ctx, `INSERT INTO oauth_clients (id, name, client_type, token_endpoint_auth_method, jwks, created_at, updated_at) VALUES ('c3', 'x', 'confidential', 'private_key_jwt', '{"keys":[]}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`); err != nil {
				t.Fatalf("a private_key_jwt client was refused: %v", err)
			}
			// Down and up again.
			if err := migrations.Down(ctx, sqlDB, db.Dialect()); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := sqlDB.QueryRowContext(ctx, `SELECT name FROM oauth_clients WHERE id = 'c1'`).Scan(&name); err != nil {
				t.Fatalf("client lost after down/up: %v", err)
			}
		})
	}
}
