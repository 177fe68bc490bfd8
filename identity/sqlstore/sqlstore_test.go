package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
	"github.com/weft-fabric/weft/migrations"
)

// forEachBackend runs one suite against SQLite and PostgreSQL, each on a fresh database.
func forEachBackend(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, sqltest.Open(t, b))
		})
	}
}

func TestMigrations_FromEmpty(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			ctx := context.Background()
			db := sqltest.OpenEmpty(t, b)
			pending, err := migrations.Pending(ctx, db.SQL(), db.Dialect())
			if err != nil || !pending {
				t.Fatalf("Pending on empty database = %v, %v; want true", pending, err)
			}
			applied, err := db.Migrate(ctx)
			if err != nil {
				t.Fatalf("Up: %v", err)
			}
			if len(applied) == 0 {
				t.Fatal("Up applied nothing on an empty database")
			}
			again, err := db.Migrate(ctx)
			if err != nil || len(again) != 0 {
				t.Fatalf("second Up = %v, %v; want nothing applied", again, err)
			}
			st, err := migrations.Status(ctx, db.SQL(), db.Dialect())
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range st {
				if !v.Applied {
					t.Fatalf("migration %d not applied after Up", v.Version)
				}
			}
			if pending, _ := migrations.Pending(ctx, db.SQL(), db.Dialect()); pending {
				t.Fatal("Pending after Up")
			}
		})
	}
}

// Both dialect folders must carry the same versions under the same names, or one
// backend silently lags the other.
func TestMigrations_DialectsInStep(t *testing.T) {
	names := map[migrations.Dialect][]string{}
	for _, d := range []migrations.Dialect{migrations.Postgres, migrations.SQLite} {
		fsys, err := migrations.FS(d)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			names[d] = append(names[d], e.Name())
		}
	}
	if len(names[migrations.Postgres]) == 0 || !slices.Equal(names[migrations.Postgres], names[migrations.SQLite]) {
		t.Fatalf("migration files differ: postgres %v, sqlite %v", names[migrations.Postgres], names[migrations.SQLite])
	}
}

func newUser(name, email string) identity.User {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return identity.User{ID: uuid.NewString(), Username: name, Email: email, DisplayName: "D " + name,
		Status: identity.StatusActive, CreatedAt: now, UpdatedAt: now}
}

func TestStore_Users(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewDirectory(db)
		alice := newUser("Alice", "Alice@example.com")
		if err := s.CreateUser(ctx, alice, "alice"); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		got, err := s.UserByID(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got != alice {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, alice)
		}
		if got, err := s.UserByUsername(ctx, "alice"); err != nil || got.ID != alice.ID {
			t.Fatalf("UserByUsername = %+v, %v", got, err)
		}
		if _, err := s.UserByID(ctx, "nope"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("UserByID(missing) = %v, want ErrNotFound", err)
		}
		dupName := newUser("ALICE", "other@example.com")
		if err := s.CreateUser(ctx, dupName, "alice"); !errors.Is(err, identity.ErrConflict) {
			t.Fatalf("duplicate username key = %v, want ErrConflict", err)
		}
		dupEmail := newUser("alice2", "alice@EXAMPLE.com")
		dupEmail.Email = "ALICE@example.com"
		if err := s.CreateUser(ctx, dupEmail, "alice2"); !errors.Is(err, identity.ErrConflict) {
			t.Fatalf("duplicate email (other case) = %v, want ErrConflict", err)
		}
		// Two users without email do not collide (NULL is not equal to NULL).
		for _, n := range []string{"noemail1", "noemail2"} {
			if err := s.CreateUser(ctx, newUser(n, ""), n); err != nil {
				t.Fatalf("user without email: %v", err)
			}
		}
		alice.DisplayName, alice.Status = "Alice A.", identity.StatusSuspended
		if err := s.UpdateUser(ctx, alice, "alice"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.UserByID(ctx, alice.ID); got.DisplayName != "Alice A." || got.Status != identity.StatusSuspended {
			t.Fatalf("after update: %+v", got)
		}
		ghost := newUser("ghost", "")
		if err := s.UpdateUser(ctx, ghost, "ghost"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("UpdateUser(missing) = %v, want ErrNotFound", err)
		}
		if n, err := s.CountUsers(ctx); err != nil || n != 3 {
			t.Fatalf("CountUsers = %d, %v; want 3", n, err)
		}
	})
}

func TestStore_ListUsersPaginates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewDirectory(db)
		for _, n := range []string{"erin", "bob", "dave", "carol", "alice"} {
			u := newUser(n, "")
			if n == "dave" {
				u.Status = identity.StatusSuspended
			}
			if err := s.CreateUser(ctx, u, n); err != nil {
				t.Fatal(err)
			}
		}
		var seen []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not terminate")
			}
			us, next, err := s.ListUsers(ctx, identity.UserFilter{}, identity.Page{After: after, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range us {
				seen = append(seen, u.Username)
			}
			if next == "" {
				break
			}
			after = next
		}
		if want := []string{"alice", "bob", "carol", "dave", "erin"}; !slices.Equal(seen, want) {
			t.Fatalf("pages = %v, want %v", seen, want)
		}
		sus, _, err := s.ListUsers(ctx, identity.UserFilter{Status: identity.StatusSuspended}, identity.Page{})
		if err != nil || len(sus) != 1 || sus[0].Username != "dave" {
			t.Fatalf("suspended filter = %v, %v", sus, err)
		}
	})
}

func TestStore_Passwords(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewDirectory(db)
		u := newUser("alice", "")
		if err := s.CreateUser(ctx, u, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PasswordHash(ctx, u.ID); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("PasswordHash before set = %v, want ErrNotFound", err)
		}
		for _, h := range []string{"$argon2id$first", "$argon2id$second"} {
			if err := s.SetPasswordHash(ctx, u.ID, h); err != nil {
				t.Fatal(err)
			}
			if got, err := s.PasswordHash(ctx, u.ID); err != nil || got != h {
				t.Fatalf("PasswordHash = %q, %v; want %q", got, err, h)
			}
		}
		if err := s.SetPasswordHash(ctx, "no-such-user", "$argon2id$x"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("SetPasswordHash(missing user) = %v, want ErrNotFound", err)
		}
	})
}

func TestStore_GroupsAndMembers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewDirectory(db)
		alice, bob := newUser("alice", ""), newUser("bob", "")
		for _, u := range []identity.User{alice, bob} {
			if err := s.CreateUser(ctx, u, u.Username); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		g := identity.Group{ID: uuid.NewString(), Name: "Engineering", Description: "builders", CreatedAt: now, UpdatedAt: now}
		if err := s.CreateGroup(ctx, g, "engineering"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GroupByName(ctx, "engineering"); err != nil || got != g {
			t.Fatalf("GroupByName = %+v, %v; want %+v", got, err, g)
		}
		if err := s.CreateGroup(ctx, identity.Group{ID: uuid.NewString(), Name: "ENGINEERING", CreatedAt: now, UpdatedAt: now}, "engineering"); !errors.Is(err, identity.ErrConflict) {
			t.Fatalf("duplicate group = %v, want ErrConflict", err)
		}
		for i := 0; i < 2; i++ { // AddMember is idempotent
			if err := s.AddMember(ctx, g.ID, bob.ID); err != nil {
				t.Fatal(err)
			}
			if err := s.AddMember(ctx, g.ID, alice.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddMember(ctx, g.ID, "no-such-user"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("AddMember(missing user) = %v, want ErrNotFound", err)
		}
		if err := s.AddMember(ctx, "no-such-group", alice.ID); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("AddMember(missing group) = %v, want ErrNotFound", err)
		}
		ms, err := s.Members(ctx, g.ID)
		if err != nil || len(ms) != 2 || ms[0].ID != alice.ID || ms[1].ID != bob.ID {
			t.Fatalf("Members = %+v, %v", ms, err)
		}
		gs, err := s.GroupsOf(ctx, bob.ID)
		if err != nil || len(gs) != 1 || gs[0].ID != g.ID {
			t.Fatalf("GroupsOf = %+v, %v", gs, err)
		}
		if err := s.RemoveMember(ctx, g.ID, bob.ID); err != nil {
			t.Fatal(err)
		}
		if ms, _ := s.Members(ctx, g.ID); len(ms) != 1 {
			t.Fatalf("after RemoveMember: %+v", ms)
		}
		if err := s.DeleteGroup(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GroupByID(ctx, g.ID); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("GroupByID after delete = %v", err)
		}
		if err := s.DeleteGroup(ctx, g.ID); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("DeleteGroup twice = %v, want ErrNotFound", err)
		}
	})
}

func TestStore_Machines(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewDirectory(db)
		owner := newUser("owner", "")
		if err := s.CreateUser(ctx, owner, "owner"); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		m := identity.MachineIdentity{ID: uuid.NewString(), Name: "ci-runner", Description: "builds", OwnerID: owner.ID,
			Status: identity.StatusActive, CreatedAt: now, UpdatedAt: now}
		if err := s.CreateMachine(ctx, m, "ci-runner"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.MachineByName(ctx, "ci-runner"); err != nil || got != m {
			t.Fatalf("MachineByName = %+v, %v", got, err)
		}
		// The status round-trips (migration 00020).
		off := m
		off.Status = identity.StatusDisabled
		if err := s.UpdateMachine(ctx, off, "ci-runner"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.MachineByID(ctx, m.ID); err != nil || got.Status != identity.StatusDisabled {
			t.Fatalf("MachineByID after disable = %+v, %v", got, err)
		}
		if err := s.UpdateMachine(ctx, m, "ci-runner"); err != nil {
			t.Fatal(err)
		}
		orphan := m
		orphan.ID, orphan.OwnerID = uuid.NewString(), "no-such-user"
		if err := s.CreateMachine(ctx, orphan, "orphan"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("CreateMachine(unknown owner) = %v, want ErrNotFound", err)
		}
		dup := m
		dup.ID = uuid.NewString()
		if err := s.CreateMachine(ctx, dup, "ci-runner"); !errors.Is(err, identity.ErrConflict) {
			t.Fatalf("duplicate machine = %v, want ErrConflict", err)
		}
		list, next, err := s.ListMachines(ctx, identity.Page{})
		if err != nil || len(list) != 1 || next != "" {
			t.Fatalf("ListMachines = %+v, %q, %v", list, next, err)
		}
	})
}

func TestDB_InTxRollsBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewDirectory(db)
		boom := errors.New("boom")
		err := db.InTx(ctx, func(ctx context.Context) error {
			if err := s.CreateUser(ctx, newUser("temp", ""), "temp"); err != nil {
				return err
			}
			// Nested InTx joins the outer transaction.
			if err := db.InTx(ctx, func(ctx context.Context) error {
				return s.CreateUser(ctx, newUser("temp2", ""), "temp2")
			}); err != nil {
				return err
			}
			if n, _ := s.CountUsers(ctx); n != 2 {
				t.Errorf("inside tx CountUsers = %d, want 2", n)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want boom", err)
		}
		if n, err := s.CountUsers(ctx); err != nil || n != 0 {
			t.Fatalf("after rollback CountUsers = %d, %v; want 0", n, err)
		}
	})
}

func TestDB_BeginCommitRollback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewDirectory(db)
		for _, commit := range []bool{false, true} {
			txCtx, err := db.BeginTx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.BeginTx(txCtx); err == nil {
				t.Fatal("nested BeginTx succeeded")
			}
			name := fmt.Sprintf("u%v", commit)
			if err := s.CreateUser(txCtx, newUser(name, ""), name); err != nil {
				t.Fatal(err)
			}
			if commit {
				err = db.Commit(txCtx)
			} else {
				err = db.Rollback(txCtx)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.UserByUsername(ctx, name)
			if commit != (err == nil) {
				t.Fatalf("commit=%v: user visible afterwards = %v", commit, err == nil)
			}
		}
		if err := db.Commit(ctx); err == nil {
			t.Fatal("Commit without a transaction succeeded")
		}
	})
}
