package sqlstore_test

import (
	"context"
	"testing"

	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/access/sqlstore/storetest"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// opener returns fresh stores over a migrated database on b holding the storetest
// clients.
func opener(b sqltest.Backend) func(t *testing.T) storetest.Stores {
	return func(t *testing.T) storetest.Stores {
		db := sqltest.Open(t, b)
		clients := accsql.NewClients(db)
		for _, c := range storetest.Clients() {
			if err := clients.CreateClient(context.Background(), c); err != nil {
				t.Fatalf("create client %s: %v", c.ID, err)
			}
		}
		revocations := accsql.NewRevocations(db)
		return storetest.Stores{Revocations: revocations, Log: revocations, Outbox: accsql.NewOutbox(db), Streams: accsql.NewStreams(db)}
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

func TestStores(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) { storetest.Run(t, opener(b)) })
}

func TestStores_Concurrency(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) { storetest.RunConcurrency(t, opener(b)) })
}
