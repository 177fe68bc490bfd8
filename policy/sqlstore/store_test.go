package sqlstore_test

import (
	"context"
	"testing"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
	"github.com/weft-fabric/weft/policy"
	polsql "github.com/weft-fabric/weft/policy/sqlstore"
	"github.com/weft-fabric/weft/policy/storetest"
)

func forEachBackend(t *testing.T, fn func(t *testing.T, b sqltest.Backend)) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

func TestStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) {
		storetest.Run(t, func(t *testing.T) policy.Store { return polsql.New(sqltest.Open(t, b)) })
	})
}

// A saved version is history: the database itself refuses to change it.
func TestStore_VersionsNeverChange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) {
		db := sqltest.Open(t, b)
		s := polsql.New(db)
		ctx := context.Background()
		if err := s.SaveVersion(ctx, policy.Version{Number: 1, Policies: policy.DefaultPolicies, Author: "admin"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().ExecContext(ctx, "UPDATE policy_versions SET policies = 'permit (principal, action, resource);' WHERE version = 1"); err == nil {
			t.Fatal("UPDATE of a stored policy version succeeded")
		}
		v, err := s.Version(ctx, 1)
		if err != nil || v.Policies != policy.DefaultPolicies {
			t.Fatalf("version 1 after the refused update: %q, %v", v.Policies, err)
		}
	})
}
