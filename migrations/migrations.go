// Package migrations holds Weft's schema as versioned SQL files, one folder per dialect,
// embedded into the binary and applied with goose. Both folders carry the same versions;
// a test keeps them in step. Schema changes happen only here, never through gorm's
// AutoMigrate.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialect names a migrations folder.
type Dialect string

// The two supported databases.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Version is one migration and whether it has been applied.
type Version struct {
	Version int64
	Source  string // file name
	Applied bool
}

// FS returns the migration files of a dialect.
func FS(d Dialect) (fs.FS, error) {
	switch d {
	case Postgres, SQLite:
		return fs.Sub(files, string(d))
	}
	return nil, fmt.Errorf("unknown migrations dialect %q", d)
}

func provider(db *sql.DB, d Dialect) (*goose.Provider, error) {
	fsys, err := FS(d)
	if err != nil {
		return nil, err
	}
	gd := goose.DialectPostgres
	if d == SQLite {
		gd = goose.DialectSQLite3
	}
	// The provider API keeps no global state, so two databases can be migrated in one
	// process (the test suites do).
	return goose.NewProvider(gd, db, fsys)
}

// Up applies every pending migration and returns the versions it applied. Concurrent
// starts on PostgreSQL are serialised by goose's session lock, so several nodes may
// migrate at once.
func Up(ctx context.Context, db *sql.DB, d Dialect) ([]int64, error) {
	p, err := provider(db, d)
	if err != nil {
		return nil, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate up: %w", err)
	}
	applied := make([]int64, 0, len(res))
	for _, r := range res {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// UpTo applies pending migrations up to and including version; tests use it to put
// data in place before a migration that must preserve it.
func UpTo(ctx context.Context, db *sql.DB, d Dialect, version int64) error {
	p, err := provider(db, d)
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("migrate up to %d: %w", version, err)
	}
	return nil
}

// Down rolls back the most recent migration.
func Down(ctx context.Context, db *sql.DB, d Dialect) error {
	p, err := provider(db, d)
	if err != nil {
		return err
	}
	if _, err := p.Down(ctx); err != nil {
		return fmt.Errorf("migrate down: %w", err)
	}
	return nil
}

// Status lists every known migration and whether it is applied.
func Status(ctx context.Context, db *sql.DB, d Dialect) ([]Version, error) {
	p, err := provider(db, d)
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]Version, 0, len(st))
	for _, s := range st {
		out = append(out, Version{Version: s.Source.Version, Source: s.Source.Path, Applied: s.State == goose.StateApplied})
	}
	return out, nil
}

// Pending reports whether any migration has not been applied; serve with
// migrate_on_start=false refuses to start on an outdated schema.
func Pending(ctx context.Context, db *sql.DB, d Dialect) (bool, error) {
	p, err := provider(db, d)
	if err != nil {
		return false, err
	}
	return p.HasPending(ctx)
}
