package access_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// countingClients counts the reads that reach the real store.
type countingClients struct {
	access.ClientStore
	reads atomic.Int64
}

func (c *countingClients) ClientByID(ctx context.Context, id string) (access.Client, error) {
	c.reads.Add(1)
	return c.ClientStore.ClientByID(ctx, id)
}

// TestClientCache_ProbingDoesNotEvictKnownClients: client ids are public, and unknown
// ids are cached as negatives; a flood of random ids must not push a gateway's client
// out of the cache (review S4: the cache used to be flushed whole when full).
func TestClientCache_ProbingDoesNotEvictKnownClients(t *testing.T) {
	// The cache is the same over either store; SQLite is enough.
	db := sqltest.Open(t, sqltest.SQLite)
	h := testHasher(t)
	users := sqlstore.NewDirectory(db)
	store := accsql.NewClients(db)
	e := &env{db: db, dir: identity.NewDirectory(users, db, h), store: store, clients: access.NewClients(store, users, db, h)}
	ctx := context.Background()
	e.apply(t, webSpec(), true, true)
	counted := &countingClients{ClientStore: e.store}
	cache := access.NewClientCache(counted, time.Minute)
	if _, err := cache.ClientByID(ctx, "demo-web"); err != nil {
		t.Fatal(err)
	}
	for i := range 10001 {
		if _, err := cache.ClientByID(ctx, "probe-"+strconv.Itoa(i)); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("probe %d: %v", i, err)
		}
	}
	before := counted.reads.Load()
	if _, err := cache.ClientByID(ctx, "demo-web"); err != nil {
		t.Fatal(err)
	}
	if counted.reads.Load() != before {
		t.Fatal("demo-web was read from the database again: probing evicted it")
	}
}
