package gate_test

import (
	"context"
	"slices"
	"testing"

	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
	"github.com/weft-fabric/weft/policy"
)

// The directory's principals carry what the central policy reads: a person's email and
// groups; machine identities and clients have neither.
func TestDirectoryPrincipals(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := sqltest.Open(t, b)
			store := sqlstore.NewDirectory(db)
			hasher, err := password.NewHasher(password.Params{MemoryKiB: password.MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
			if err != nil {
				t.Fatal(err)
			}
			dir := identity.NewDirectory(store, db, hasher)
			u, err := dir.CreateUser(ctx, identity.NewUser{Username: "dana", Email: "dana@example.com", DisplayName: "Dana"})
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"payroll-admins", "engineering"} {
				g, err := dir.CreateGroup(ctx, identity.NewGroup{Name: name})
				if err != nil {
					t.Fatal(err)
				}
				if err := dir.AddMember(ctx, g.ID, u.ID); err != nil {
					t.Fatal(err)
				}
			}
			m, err := dir.CreateMachine(ctx, identity.NewMachine{Name: "ci", OwnerID: u.ID})
			if err != nil {
				t.Fatal(err)
			}
			ps := gate.DirectoryPrincipals{Subjects: store}
			for _, tc := range []struct {
				subject string
				want    policy.Principal
			}{
				{u.ID, policy.Principal{ID: u.ID, Kind: policy.KindUser, Status: "active", Email: "dana@example.com",
					Groups: []string{"engineering", "payroll-admins"}}},
				{m.ID, policy.Principal{ID: m.ID, Kind: policy.KindMachine, Status: "active"}},
				{"demo-m2m", policy.Principal{ID: "demo-m2m", Kind: policy.KindClient, Status: "active"}},
			} {
				p, err := ps.Principal(ctx, tc.subject)
				if err != nil {
					t.Fatal(err)
				}
				if p.ID != tc.want.ID || p.Kind != tc.want.Kind || p.Status != tc.want.Status || p.Email != tc.want.Email ||
					!slices.Equal(p.Groups, tc.want.Groups) {
					t.Errorf("Principal(%s) = %+v, want %+v", tc.subject, p, tc.want)
				}
			}
		})
	}
}
