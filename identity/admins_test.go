package identity_test

import (
	"context"
	"errors"
	"testing"

	"github.com/weft-fabric/weft/identity"
)

// TestDirectory_LastAdminGuard: no path (status change, member removal, exact member
// list, group deletion) may leave weft-admins without an active member; each refusal
// is ErrLastAdmin (a conflict) and changes nothing.
func TestDirectory_LastAdminGuard(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		boot, err := e.dir.EnsureBootstrapAdmin(ctx, "root", "root-password-123")
		if err != nil {
			t.Fatal(err)
		}
		root := boot.User
		admins, err := e.dir.GroupByName(ctx, identity.AdminGroup)
		if err != nil {
			t.Fatal(err)
		}
		bob := e.mustUser(t, identity.NewUser{Username: "bob"})
		carol := e.mustUser(t, identity.NewUser{Username: "carol"})
		if err := e.dir.AddMember(ctx, admins.ID, carol.ID); err != nil {
			t.Fatal(err)
		}
		// carol is an admin but suspended: she does not count.
		if _, _, err := e.dir.SetStatus(ctx, carol.ID, identity.StatusSuspended); err != nil {
			t.Fatalf("suspending a second admin: %v", err)
		}

		refused := []struct {
			name string
			do   func() error
		}{
			{"suspend", func() error { _, _, err := e.dir.SetStatus(ctx, root.ID, identity.StatusSuspended); return err }},
			{"deprovision", func() error { _, _, err := e.dir.SetStatus(ctx, root.ID, identity.StatusDeprovisioned); return err }},
			{"remove member", func() error { return e.dir.RemoveMember(ctx, admins.ID, root.ID) }},
			{"exact members without root", func() error { _, err := e.dir.SetMembers(ctx, admins.ID, []string{carol.ID}); return err }},
			{"delete group", func() error { return e.dir.DeleteGroup(ctx, admins.ID) }},
		}
		for _, tc := range refused {
			t.Run(tc.name, func(t *testing.T) {
				if err := tc.do(); !errors.Is(err, identity.ErrLastAdmin) || !errors.Is(err, identity.ErrConflict) {
					t.Fatalf("= %v, want ErrLastAdmin", err)
				}
				if u, _ := e.dir.UserByID(ctx, root.ID); u.Status != identity.StatusActive {
					t.Fatalf("root is %s after a refused change", u.Status)
				}
				ms, err := e.dir.Members(ctx, admins.ID)
				if err != nil || len(ms) != 2 {
					t.Fatalf("members after a refused change: %v, %v", ms, err)
				}
			})
		}

		// Non-admins and non-last admins are not guarded.
		if _, _, err := e.dir.SetStatus(ctx, bob.ID, identity.StatusSuspended); err != nil {
			t.Fatalf("suspending a non-admin: %v", err)
		}
		if err := e.dir.RemoveMember(ctx, admins.ID, carol.ID); err != nil {
			t.Fatalf("removing a suspended admin: %v", err)
		}
		// Replacing root by bob (active again) in one exact list is allowed: bob is added
		// before root is removed.
		if _, _, err := e.dir.SetStatus(ctx, bob.ID, identity.StatusActive); err != nil {
			t.Fatal(err)
		}
		if _, err := e.dir.SetMembers(ctx, admins.ID, []string{bob.ID}); err != nil {
			t.Fatalf("replacing the only admin: %v", err)
		}
		if _, _, err := e.dir.SetStatus(ctx, root.ID, identity.StatusSuspended); err != nil {
			t.Fatalf("suspending a former admin: %v", err)
		}
		if _, _, err := e.dir.SetStatus(ctx, bob.ID, identity.StatusSuspended); !errors.Is(err, identity.ErrLastAdmin) {
			t.Fatalf("suspending the new last admin = %v", err)
		}
	})
}
