package fositestore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/fositestore"
	"github.com/weft-fabric/weft/access/fositestore/storetest"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// openDB returns a migrated database on b holding the storetest clients.
func openDB(t *testing.T, b sqltest.Backend) (*sqlstore.DB, access.ClientStore) {
	t.Helper()
	db := sqltest.Open(t, b)
	clients := accsql.NewClients(db)
	for _, c := range storetest.Clients() {
		if err := clients.CreateClient(context.Background(), c); err != nil {
			t.Fatalf("create client %s: %v", c.ID, err)
		}
	}
	return db, clients
}

func opener(b sqltest.Backend) func(t *testing.T) *fositestore.Store {
	return func(t *testing.T) *fositestore.Store {
		db, clients := openDB(t, b)
		return fositestore.New(db, clients, fositestore.Options{})
	}
}

func forEachBackend(t *testing.T, fn func(t *testing.T, b sqltest.Backend)) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

func TestStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) { storetest.Run(t, opener(b)) })
}

func TestStore_Concurrency(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) { storetest.RunConcurrency(t, opener(b)) })
}

// fosite v0.49 keys OpenID Connect sessions by the raw authorization code; only its
// hash may reach the database.
func TestStore_OIDCSessionKeyIsHashed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		db, clients := openDB(t, b)
		s := fositestore.New(db, clients, fositestore.Options{})
		c, err := s.GetClient(ctx, storetest.WebID)
		if err != nil {
			t.Fatal(err)
		}
		req := fosite.NewRequest()
		req.Client = c
		req.Session = access.NewSession("user-1", "", "sid-1")
		const code = "ory_ac_rawcodevalue.signaturepart"
		if err := s.CreateOpenIDConnectSession(ctx, code, req); err != nil {
			t.Fatal(err)
		}
		var total, raw int
		if err := db.SQL().QueryRowContext(ctx, "SELECT count(*) FROM oauth_oidc_sessions").Scan(&total); err != nil {
			t.Fatal(err)
		}
		if err := db.SQL().QueryRowContext(ctx,
			"SELECT count(*) FROM oauth_oidc_sessions WHERE signature LIKE '%rawcodevalue%' OR signature LIKE '%signaturepart%'").Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if total != 1 || raw != 0 {
			t.Fatalf("rows = %d, rows keyed by the raw code = %d; want 1 and 0", total, raw)
		}
	})
}

// The clock option governs client-assertion expiry.
func TestStore_ClockOption(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		db, clients := openDB(t, b)
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		s := fositestore.New(db, clients, fositestore.Options{Now: func() time.Time { return now }})
		if err := s.SetClientAssertionJWT(ctx, "jti-1", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.ClientAssertionJWTValid(ctx, "jti-1"); !errors.Is(err, fosite.ErrJTIKnown) {
			t.Fatalf("before expiry: %v, want ErrJTIKnown", err)
		}
		now = now.Add(2 * time.Minute)
		if err := s.ClientAssertionJWTValid(ctx, "jti-1"); err != nil {
			t.Fatalf("after expiry: %v, want nil", err)
		}
		if err := s.SetClientAssertionJWT(ctx, "jti-1", now.Add(time.Minute)); err != nil {
			t.Fatalf("reuse after expiry: %v", err)
		}
	})
}
