package fositestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/storage"
	"gorm.io/gorm"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
)

// Options tunes the store.
type Options struct {
	// Now is the clock for client-assertion expiry checks; nil means time.Now.
	Now func() time.Time
}

// Store implements fosite's storage interfaces over the shared SQL database. Clients
// come from an access.ClientStore (which may be cached); grants live in the tables of
// migration 00003.
type Store struct {
	db      *sqlstore.DB
	clients access.ClientStore
	now     func() time.Time
}

var (
	_ fosite.ClientManager               = (*Store)(nil)
	_ fosite.Storage                     = (*Store)(nil)
	_ oauth2.CoreStorage                 = (*Store)(nil)
	_ oauth2.TokenRevocationStorage      = (*Store)(nil)
	_ openid.OpenIDConnectRequestStorage = (*Store)(nil)
	_ pkce.PKCERequestStorage            = (*Store)(nil)
	_ storage.Transactional              = (*Store)(nil)
)

// New returns a store over db that loads clients from clients.
func New(db *sqlstore.DB, clients access.ClientStore, opts Options) *Store {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, clients: clients, now: now}
}

// SessionIDer is implemented by sessions that belong to a login session (access.Session
// does). Its SessionID is stored in the sid column of every code and token, which is
// what RevokeBySessionID matches; an empty id is stored as NULL.
type SessionIDer interface {
	SessionID() string
}

// BeginTX implements storage.Transactional: the returned context carries a transaction
// that every store method (and every other store on the same DB) joins. It fails if ctx
// already carries one, so callers must not wrap fosite's token endpoint in their own
// transaction. On SQLite the pool has one connection: while a transaction is open, a
// call from the same goroutine with a context that lacks it waits forever.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	tctx, err := s.db.BeginTx(ctx)
	if err != nil {
		return ctx, translate(kTx, err)
	}
	return tctx, nil
}

// Commit implements storage.Transactional.
func (s *Store) Commit(ctx context.Context) error { return translate(kTx, s.db.Commit(ctx)) }

// Rollback implements storage.Transactional.
func (s *Store) Rollback(ctx context.Context) error { return translate(kTx, s.db.Rollback(ctx)) }

func (s *Store) conn(ctx context.Context) *gorm.DB { return s.db.Conn(ctx) }

// InTransaction reports whether ctx carries a transaction of this store's database
// (revocation.TokenCache shares only reads made outside one).
func (s *Store) InTransaction(ctx context.Context) bool { return s.db.InTransaction(ctx) }

// kind describes one table of grant state.
type kind struct {
	table  string
	what   string           // for error messages
	expiry fosite.TokenType // which expiry of the session the row carries
	// inactive is what a deactivated row means to fosite; nil where rows are deleted,
	// never deactivated.
	inactive error
	// accessSig marks the table with an access_signature column (refresh tokens).
	accessSig bool
}

var (
	kCode    = kind{table: "oauth_authorization_codes", what: "authorization code", expiry: fosite.AuthorizeCode, inactive: fosite.ErrInvalidatedAuthorizeCode}
	kAccess  = kind{table: "oauth_access_tokens", what: "access token", expiry: fosite.AccessToken, inactive: fosite.ErrInactiveToken}
	kRefresh = kind{table: "oauth_refresh_tokens", what: "refresh token", expiry: fosite.RefreshToken, inactive: fosite.ErrInactiveToken, accessSig: true}
	kPKCE    = kind{table: "oauth_pkce_requests", what: "PKCE request", expiry: fosite.AuthorizeCode}
	kOIDC    = kind{table: "oauth_oidc_sessions", what: "OpenID Connect session", expiry: fosite.AuthorizeCode}
	kJTI     = kind{table: "oauth_jtis", what: "client assertion jti"}
	kClient  = kind{what: "client"}
	kTx      = kind{what: "transaction"}
)

// errInactive marks a row that exists but is no longer active, or a conditional
// deactivation that changed no row (another request got there first).
var errInactive = errors.New("inactive")

// translate maps an error onto fosite's storage contract (see the package comment),
// keeping the cause in the chain.
func translate(k kind, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errInactive):
		var rfc *fosite.RFC6749Error
		switch {
		case k.inactive == nil:
			return fmt.Errorf("%s: %w", k.what, fosite.ErrNotFound.WithWrap(err))
		case errors.As(k.inactive, &rfc):
			// A copy: fosite may annotate the error it receives, never our sentinel.
			return fmt.Errorf("%s: %w", k.what, rfc.WithWrap(err))
		}
		return fmt.Errorf("%s: %w", k.what, k.inactive)
	case serializationFailure(err):
		return fmt.Errorf("%s: %w", k.what, fosite.ErrSerializationFailure.WithWrap(err))
	}
	// No row, or a missing client behind a foreign key, becomes identity.ErrNotFound;
	// a duplicate signature becomes identity.ErrConflict.
	err = sqlstore.TranslateError(err)
	if errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("%s: %w", k.what, fosite.ErrNotFound.WithWrap(err))
	}
	return fmt.Errorf("%s: %w", k.what, err)
}

// serializationFailure reports errors after which a retry of the whole transaction may
// succeed: PostgreSQL 40001 (serialization_failure) and 40P01 (deadlock_detected), and
// SQLite's busy error once its timeout ran out.
func serializationFailure(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}

// utc normalises times before they reach the database: UTC (SQLite compares them as
// text) at PostgreSQL's microsecond precision.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
