// Package sqltest gives tests a fresh, migrated database on each backend: a SQLite file
// in t.TempDir(), and a PostgreSQL schema of its own on the server named by
// WEFT_TEST_POSTGRES_URL (default: the local trust-auth server, database test). Each
// test gets its own schema, dropped at cleanup, so packages run in parallel and again.
//
// When PostgreSQL is unreachable the test is skipped with a message naming it, unless
// WEFT_TEST_REQUIRE_SERVICES=1 (set by .ci/run), which turns the skip into a failure so
// that a green run never means "not run".
package sqltest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for schema setup

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
)

// DefaultPostgresURL is used when WEFT_TEST_POSTGRES_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Backend names a database the suites run on.
type Backend string

// The backends every storage suite runs against.
const (
	SQLite   Backend = "sqlite"
	Postgres Backend = "postgres"
)

// Backends lists them in the order suites run.
var Backends = []Backend{SQLite, Postgres}

// ServicesRequired reports whether missing services must fail tests.
func ServicesRequired() bool { return os.Getenv("WEFT_TEST_REQUIRE_SERVICES") == "1" }

// Unavailable skips or fails t because service is unreachable.
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	if ServicesRequired() {
		t.Fatalf("%s is required (WEFT_TEST_REQUIRE_SERVICES=1) but unreachable: %v", service, err)
	}
	t.Skipf("skipping: %s unreachable (%v); start it or set WEFT_TEST_REQUIRE_SERVICES=1 to make this fail", service, err)
}

// PostgresServerURL returns the server URL tests use.
func PostgresServerURL() string {
	if u := os.Getenv("WEFT_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// PostgresURL creates an empty schema for t and returns a URL whose connections use it
// (search_path), dropping the schema when t ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	server := PostgresServerURL()
	admin, err := sql.Open("pgx", server)
	if err != nil {
		Unavailable(t, "PostgreSQL ("+redact(server)+")", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		Unavailable(t, "PostgreSQL ("+redact(server)+")", err)
	}
	schema := randomName("t_")
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
		_ = admin.Close()
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("parse WEFT_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "unparseable URL"
	}
	return u.Redacted()
}

// Open returns a migrated database on backend b, closed when t ends.
func Open(t testing.TB, b Backend) *sqlstore.DB {
	t.Helper()
	db := OpenEmpty(t, b)
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", b, err)
	}
	return db
}

// OpenEmpty returns an unmigrated database on backend b.
func OpenEmpty(t testing.TB, b Backend) *sqlstore.DB {
	t.Helper()
	o := sqlstore.Options{MaxOpenConns: 10, MaxIdleConns: 2, ConnMaxLifetime: time.Minute}
	switch b {
	case SQLite:
		o.SQLitePath = filepath.Join(t.TempDir(), "weft.db")
	case Postgres:
		o.URL = PostgresURL(t)
	default:
		t.Fatalf("unknown backend %q", b)
	}
	db, err := sqlstore.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open %s: %v", b, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// DirectoryTables are the tables that declarative apply and the admin API write.
var DirectoryTables = []string{"users", "password_credentials", "groups", "group_members", "machine_identities", "oauth_clients",
	"applications", "gateway_routes"}

// Snapshot returns every row of tables in a stable order, as text, so a test can show
// that a refused request changed nothing at all.
func Snapshot(t testing.TB, db *sql.DB, tables ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := db.Query("SELECT * FROM " + table + " ORDER BY 1, 2")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if tm, ok := v.(time.Time); ok { // drivers differ in the zone they return
					vals[i] = tm.UTC().Format(time.RFC3339Nano)
				}
			}
			out[table] = append(out[table], fmt.Sprint(vals...))
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// AuditKeys are fixed audit chain keys for tests (in production they are derived
// from the key-encryption key).
var AuditKeys = identity.AuditKeys{Chain: bytes.Repeat([]byte{0xa1}, 32), Checkpoint: bytes.Repeat([]byte{0xc2}, 32)}

// AuditLog is the keyed audit log over db, with AuditKeys and no anchor.
func AuditLog(t testing.TB, db *sqlstore.DB) *identity.AuditLog {
	t.Helper()
	l, err := identity.NewAuditLog(sqlstore.NewAudit(db), db, identity.AuditConfig{Keys: AuditKeys})
	if err != nil {
		t.Fatal(err)
	}
	return l
}
