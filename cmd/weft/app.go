package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/migrations"
)

// newLogger builds the one logger of the process. Records logged with a request's
// context carry its request id.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by Config.Validate
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(httpserver.LogHandler(h))
}

// sqlitePath is where the embedded database lives.
func sqlitePath(cfg Config) string { return filepath.Join(cfg.DataDir, "weft.db") }

// schemaMode says what openDB does about pending migrations.
type schemaMode int

const (
	schemaMigrate schemaMode = iota // apply them
	schemaRequire                   // refuse to run on an outdated schema
	schemaAsIs                      // look only (migrate status)
)

// openDB opens the configured database and handles pending migrations per mode.
func openDB(ctx context.Context, cfg Config, log *slog.Logger, mode schemaMode) (*sqlstore.DB, error) {
	if cfg.DatabaseURL == "" {
		// The data directory holds the database and, later, generated dev secrets:
		// readable by the owner only.
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
		}
	}
	db, err := sqlstore.Open(ctx, sqlstore.Options{
		URL: cfg.DatabaseURL, SQLitePath: sqlitePath(cfg),
		MaxOpenConns: cfg.DBMaxOpenConns, MaxIdleConns: cfg.DBMaxIdleConns, ConnMaxLifetime: cfg.DBConnMaxLifetime,
	})
	if err != nil {
		return nil, err
	}
	switch mode {
	case schemaAsIs:
		return db, nil
	case schemaMigrate:
		applied, err := db.Migrate(ctx)
		if err != nil {
			_ = db.Close()
			return nil, err
		}
		if len(applied) > 0 {
			log.Info("database migrated", "dialect", string(db.Dialect()), "applied", applied)
		}
		return db, nil
	}
	pending, err := migrations.Pending(ctx, db.SQL(), db.Dialect())
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	if pending {
		_ = db.Close()
		return nil, fmt.Errorf("the database schema is out of date and migrate_on_start is off: run `weft migrate up`")
	}
	return db, nil
}

// withApp loads configuration, wires the app for one admin command and closes it after.
// Admin commands log only warnings and errors, to stderr, so stdout stays parseable.
func (c *cli) withApp(ctx context.Context, fn func(a *app) error) error {
	return c.withAppAs(ctx, roleCLI, fn)
}

// withAppAs is withApp for a command in role r (roleCLI or roleAuditor).
func (c *cli) withAppAs(ctx context.Context, r role, fn func(a *app) error) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	quiet := cfg
	if quiet.LogLevel == "info" || quiet.LogLevel == "debug" {
		quiet.LogLevel = "warn"
	}
	a, err := newApp(ctx, cfg, newLogger(quiet, c.stderr), r)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a)
}
