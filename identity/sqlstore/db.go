// Package sqlstore implements the identity stores over gorm, on PostgreSQL or on an
// embedded SQLite file (pure Go, no cgo). It also owns the database handle shared by
// the other SQL adapters: opening it, carrying a transaction in the context, and
// translating driver errors into the identity sentinels, and running after-commit hooks
// (identity.Transactor.AfterCommit). Row types never leave it.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/migrations"
)

// Options selects and tunes the database.
type Options struct {
	// URL is a postgres:// URL, or empty for SQLite at SQLitePath.
	URL string
	// SQLitePath is the SQLite file used when URL is empty.
	SQLitePath      string
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
}

// DB is the shared database handle. It implements identity.Transactor.
type DB struct {
	gorm    *gorm.DB
	dialect migrations.Dialect
}

var _ identity.Transactor = (*DB)(nil)

// ownerOnly creates the SQLite file (and makes an existing one, with its WAL and shared
// memory files) readable and writable by the owner only, whatever the umask and the
// directory's mode: it holds password hashes, encrypted signing keys and token
// signatures. SQLite gives the -wal and -shm files it creates the database file's mode.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open database file: %w", err)
	}
	_ = f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restrict database file %s: %w", p, err)
		}
	}
	return nil
}

// Open connects and checks the connection. It does not migrate.
func Open(ctx context.Context, o Options) (*DB, error) {
	var (
		dial    gorm.Dialector
		dialect migrations.Dialect
	)
	if o.URL != "" {
		dial, dialect = postgres.Open(o.URL), migrations.Postgres
	} else {
		if o.SQLitePath == "" {
			return nil, errors.New("open database: no PostgreSQL URL and no SQLite path")
		}
		if err := os.MkdirAll(filepath.Dir(o.SQLitePath), 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		if err := ownerOnly(o.SQLitePath); err != nil {
			return nil, err
		}
		dial, dialect = sqlite.Open(sqliteDSN(o.SQLitePath)), migrations.SQLite
	}
	g, err := gorm.Open(dial, &gorm.Config{
		Logger:                 logger.Discard, // stores return errors; the edge logs them once
		SkipDefaultTransaction: true,           // we open transactions where they matter
		NowFunc:                func() time.Time { return time.Now().UTC() },
		TranslateError:         false,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, redactErr(err, o.URL))
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, err
	}
	if dialect == migrations.SQLite {
		// SQLite allows one writer; a single connection avoids SQLITE_BUSY between our
		// own goroutines, and WAL lets other processes (weft apply beside weft serve) read.
		sqlDB.SetMaxOpenConns(1)
	} else {
		if o.MaxOpenConns > 0 {
			sqlDB.SetMaxOpenConns(o.MaxOpenConns)
		}
		sqlDB.SetMaxIdleConns(o.MaxIdleConns)
		sqlDB.SetConnMaxLifetime(o.ConnMaxLifetime)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("connect to %s: %w", dialect, redactErr(err, o.URL))
	}
	return &DB{gorm: g, dialect: dialect}, nil
}

// sqliteDSN turns on foreign keys (off by default in SQLite), WAL and a busy timeout so
// that a CLI command and a running server can share the file.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate") // take the write lock at BEGIN: no upgrade deadlocks
	return path + "?" + q.Encode()
}

// redactErr keeps a password embedded in the URL out of error text.
func redactErr(err error, rawURL string) error {
	if rawURL == "" {
		return err
	}
	u, perr := url.Parse(rawURL)
	if perr != nil || u.User == nil {
		return err
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
}

// Dialect reports which database this is.
func (db *DB) Dialect() migrations.Dialect { return db.dialect }

// SQL returns the database/sql handle, for migrations, pool metrics and pings.
func (db *DB) SQL() *sql.DB {
	s, _ := db.gorm.DB() // cannot fail: Open checked it
	return s
}

// Close closes the pool.
func (db *DB) Close() error { return db.SQL().Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.SQL().PingContext(ctx) }

// Migrate applies pending migrations.
func (db *DB) Migrate(ctx context.Context) ([]int64, error) {
	return migrations.Up(ctx, db.SQL(), db.dialect)
}

type (
	txKey    struct{}
	hooksKey struct{}
)

// afterCommit holds the functions to run once a transaction has committed.
type afterCommit struct {
	mu  sync.Mutex
	fns []func(ctx context.Context)
}

// run calls the hooks in the order they were added; hooks added meanwhile (a hook that
// starts a transaction of its own gets its own list) do not reach this one.
func (h *afterCommit) run(ctx context.Context) {
	h.mu.Lock()
	fns := h.fns
	h.fns = nil
	h.mu.Unlock()
	for _, fn := range fns {
		fn(ctx)
	}
}

// withTx is ctx carrying tx and a fresh list of after-commit hooks.
func withTx(ctx context.Context, tx *gorm.DB) (context.Context, *afterCommit) {
	hooks := &afterCommit{}
	return context.WithValue(context.WithValue(ctx, txKey{}, tx), hooksKey{}, hooks), hooks
}

// withoutTx is ctx with its transaction and hooks removed, for the hooks themselves.
func withoutTx(ctx context.Context) context.Context {
	return context.WithValue(context.WithValue(ctx, txKey{}, nil), hooksKey{}, nil)
}

// InTx runs fn inside one transaction; calls on any store built on this DB that use the
// context fn receives join it. Nested calls reuse the outer transaction. Hooks added
// with AfterCommit run after the commit, before InTx returns.
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return fn(ctx)
	}
	var hooks *afterCommit
	err := db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var tctx context.Context
		tctx, hooks = withTx(ctx, tx)
		return fn(tctx)
	})
	if err == nil && hooks != nil {
		hooks.run(withoutTx(ctx))
	}
	return err
}

// AfterCommit implements identity.Transactor.
func (db *DB) AfterCommit(ctx context.Context, fn func(ctx context.Context)) {
	if h, ok := ctx.Value(hooksKey{}).(*afterCommit); ok {
		h.mu.Lock()
		h.fns = append(h.fns, fn)
		h.mu.Unlock()
		return
	}
	fn(ctx)
}

// BeginTx starts a transaction and returns a context carrying it, for callers whose
// transaction boundaries are not a callback (fosite's storage.Transactional). Finish it
// with Commit or Rollback on the returned context. A context that already carries a
// transaction is returned as is, and Commit/Rollback on it then fail, so an outer owner
// stays in charge.
func (db *DB) BeginTx(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return ctx, errors.New("begin transaction: one is already open in this context")
	}
	tx := db.gorm.WithContext(ctx).Begin()
	if tx.Error != nil {
		return ctx, TranslateError(tx.Error)
	}
	tctx, _ := withTx(ctx, tx)
	return tctx, nil
}

// Commit commits the transaction opened by BeginTx.
func (db *DB) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*gorm.DB)
	if !ok {
		return errors.New("commit: no transaction in context")
	}
	if err := tx.Commit().Error; err != nil {
		return TranslateError(err)
	}
	if h, ok := ctx.Value(hooksKey{}).(*afterCommit); ok {
		h.run(withoutTx(ctx))
	}
	return nil
}

// Rollback rolls back the transaction opened by BeginTx.
func (db *DB) Rollback(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*gorm.DB)
	if !ok {
		return errors.New("rollback: no transaction in context")
	}
	return TranslateError(tx.Rollback().Error)
}

// Lock implements identity.Transactor. On PostgreSQL it is a transaction-scoped
// advisory lock; SQLite transactions already hold the database's single write lock from
// BEGIN (txlock=immediate), so there it only checks that a transaction is open.
func (db *DB) Lock(ctx context.Context, name string) error {
	tx, ok := ctx.Value(txKey{}).(*gorm.DB)
	if !ok {
		return errors.New("lock " + name + ": not inside a transaction")
	}
	if db.dialect != migrations.Postgres {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(hashtext(?))", name).Error
}

// InTransaction reports whether ctx carries a transaction: a read made with it sees the
// transaction's own writes, so it must not be shared with callers outside it.
func (db *DB) InTransaction(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*gorm.DB)
	return ok
}

// Conn returns the transaction carried by ctx, or the pool. Every store method starts
// with it so that it joins a caller's transaction.
func (db *DB) Conn(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx
	}
	return db.gorm.WithContext(ctx)
}

// TranslateError maps driver errors onto the identity sentinels, wrapping the cause so
// errors.Is still sees it: no row → ErrNotFound, unique violation → ErrConflict,
// foreign-key violation → ErrNotFound (a referenced object is missing).
func TranslateError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("%w: %w", identity.ErrNotFound, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return fmt.Errorf("%w: %s", identity.ErrConflict, pgErr.ConstraintName)
		case "23503":
			return fmt.Errorf("%w: referenced object (%s)", identity.ErrNotFound, pgErr.ConstraintName)
		}
		return err
	}
	// The pure-Go SQLite driver reports constraint failures only as text.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "UNIQUE constraint failed"):
		return fmt.Errorf("%w: %s", identity.ErrConflict, msg)
	case strings.Contains(msg, "FOREIGN KEY constraint failed"):
		return fmt.Errorf("%w: referenced object", identity.ErrNotFound)
	}
	return err
}

// Paginate runs q as one keyset page over column: ordered by it, starting after
// p.After, at most p.Limit rows (capped at identity.MaxPageSize). It returns the rows
// and the cursor of the next page, "" on the last. Keyset paging stays stable under
// inserts and never scans skipped rows as OFFSET would.
func Paginate[R any](q *gorm.DB, column string, p identity.Page, key func(R) string) ([]R, string, error) {
	limit := p.Limit
	if limit <= 0 || limit > identity.MaxPageSize {
		limit = identity.MaxPageSize
	}
	q = q.Order(column).Limit(limit + 1)
	if p.After != "" {
		q = q.Where(column+" > ?", p.After)
	}
	var rows []R
	if err := q.Find(&rows).Error; err != nil {
		return nil, "", TranslateError(err)
	}
	if len(rows) <= limit {
		return rows, "", nil
	}
	rows = rows[:limit]
	return rows, key(rows[limit-1]), nil
}
