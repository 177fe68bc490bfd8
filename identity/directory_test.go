package identity_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// Cheap argon2id parameters: these tests are about the directory rules, not hashing cost.
var testParams = password.Params{MemoryKiB: password.MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type env struct {
	db     *sqlstore.DB
	store  *sqlstore.Store
	dir    *identity.Directory
	hasher *password.Hasher
}

func newEnv(t *testing.T, b sqltest.Backend) *env {
	t.Helper()
	db := sqltest.Open(t, b)
	h, err := password.NewHasher(testParams)
	if err != nil {
		t.Fatal(err)
	}
	store := sqlstore.NewDirectory(db)
	return &env{db: db, store: store, dir: identity.NewDirectory(store, db, h), hasher: h}
}

// forEachBackend runs fn against SQLite and PostgreSQL, each on a fresh database.
func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, b))
		})
	}
}

func (e *env) mustUser(t *testing.T, in identity.NewUser) identity.User {
	t.Helper()
	u, err := e.dir.CreateUser(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", in.Username, err)
	}
	return u
}

func (e *env) count(t *testing.T) int64 {
	t.Helper()
	n, err := e.store.CountUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) user(t *testing.T, id string) identity.User {
	t.Helper()
	u, err := e.dir.UserByID(context.Background(), id)
	if err != nil {
		t.Fatalf("UserByID(%s): %v", id, err)
	}
	return u
}

func (e *env) storedHash(t *testing.T, userID string) string {
	t.Helper()
	h, err := e.store.PasswordHash(context.Background(), userID)
	if err != nil {
		t.Fatalf("PasswordHash(%s): %v", userID, err)
	}
	return h
}

// wantField fails unless err is a *identity.ValidationError for field that unwraps to
// identity.ErrInvalid.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var ve *identity.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("err = %v; want a *identity.ValidationError for %q", err, field)
	}
	if ve.Field != field {
		t.Fatalf("ValidationError.Field = %q (%v); want %q", ve.Field, err, field)
	}
}

// sameUser compares every field, times by instant.
func sameUser(a, b identity.User) bool {
	return a.ID == b.ID && a.Username == b.Username && a.Email == b.Email && a.DisplayName == b.DisplayName &&
		a.Status == b.Status && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func userIDs(us []identity.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	slices.Sort(out)
	return out
}

func sorted(xs ...string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}

func TestCreateUser_UsernameCollidesAfterNormalisation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		alice := e.mustUser(t, identity.NewUser{Username: "Alice", Email: "alice@example.com", DisplayName: "Alice Example"})
		if alice.Username != "Alice" || alice.Status != identity.StatusActive {
			t.Fatalf("created %+v; want Username Alice, status active", alice)
		}
		if _, err := uuid.Parse(alice.ID); err != nil {
			t.Fatalf("ID %q is not a UUID: %v", alice.ID, err)
		}
		for _, name := range []string{"alice", "ALICE", "Ａｌｉｃｅ"} {
			t.Run(name, func(t *testing.T) {
				_, err := e.dir.CreateUser(ctx, identity.NewUser{Username: name})
				if !errors.Is(err, identity.ErrConflict) {
					t.Fatalf("CreateUser(%q) = %v; want ErrConflict", name, err)
				}
			})
		}
		if n := e.count(t); n != 1 {
			t.Fatalf("CountUsers = %d after rejected duplicates; want 1", n)
		}

		got, err := e.dir.UserByUsername(ctx, "ALICE")
		if err != nil || !sameUser(got, alice) {
			t.Fatalf("UserByUsername(ALICE) = %+v, %v; want %+v", got, err, alice)
		}

		// The display form is kept as entered, full-width included; lookups normalise.
		carol := e.mustUser(t, identity.NewUser{Username: "Ｃａｒｏｌ"})
		if carol.Username != "Ｃａｒｏｌ" {
			t.Fatalf("Username = %q; want the full-width form as entered", carol.Username)
		}
		if got, err := e.dir.UserByUsername(ctx, "carol"); err != nil || got.ID != carol.ID || got.Username != "Ｃａｒｏｌ" {
			t.Fatalf("UserByUsername(carol) = %+v, %v", got, err)
		}
		if _, err := uuid.Parse(carol.ID); err != nil || carol.ID == alice.ID {
			t.Fatalf("ids %q and %q: want two distinct UUIDs (%v)", alice.ID, carol.ID, err)
		}
	})
}

func TestCreateUser_EmailCollidesIgnoringCase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mustUser(t, identity.NewUser{Username: "alice", Email: "alice@example.com"})
		for _, email := range []string{"alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.com"} {
			t.Run(email, func(t *testing.T) {
				_, err := e.dir.CreateUser(ctx, identity.NewUser{Username: "alice2", Email: email})
				if !errors.Is(err, identity.ErrConflict) {
					t.Fatalf("CreateUser with email %q = %v; want ErrConflict", email, err)
				}
			})
		}
		if n := e.count(t); n != 1 {
			t.Fatalf("CountUsers = %d; want 1", n)
		}
		// Users without an email do not collide with one another.
		e.mustUser(t, identity.NewUser{Username: "bob"})
		e.mustUser(t, identity.NewUser{Username: "dave"})
	})
}

func TestCreateUser_InvalidInputStoresNothing(t *testing.T) {
	h, err := password.NewHasher(testParams)
	if err != nil {
		t.Fatal(err)
	}
	goodHash, err := h.Hash("a-perfectly-good-password")
	if err != nil {
		t.Fatal(err)
	}
	// A well-formed PHC string whose memory cost exceeds password.MaxMemoryKiB.
	hugeHash := strings.Replace(goodHash, fmt.Sprintf("m=%d,", testParams.MemoryKiB), "m=2097152,", 1) // 2 GiB (review S2)
	cases := []struct {
		name  string
		in    identity.NewUser
		field string
	}{
		{"email not an address", identity.NewUser{Username: "u1", Email: "not-an-email"}, "email"},
		{"email with display name", identity.NewUser{Username: "u2", Email: "U <u@example.com>"}, "email"},
		{"email single-label domain", identity.NewUser{Username: "u3", Email: "u@localhost"}, "email"},
		{"empty username", identity.NewUser{Username: ""}, "username"},
		{"username with space", identity.NewUser{Username: "a b"}, "username"},
		{"username with NUL", identity.NewUser{Username: "u4\x00"}, "username"},
		{"username with zero-width space", identity.NewUser{Username: "u5\u200b"}, "username"},
		{"display name with BEL", identity.NewUser{Username: "u6", DisplayName: "Ursula\a"}, "display_name"},
		{"display name with newline", identity.NewUser{Username: "u7", DisplayName: "Ursula\nAdmin"}, "display_name"},
		{"display name with DEL", identity.NewUser{Username: "u8", DisplayName: "Ursula\x7f"}, "display_name"},
		{"bad status", identity.NewUser{Username: "u9", Status: "asleep"}, "status"},
		{"password too short", identity.NewUser{Username: "u10", Password: "short"}, "password"},
		{"password one under the minimum", identity.NewUser{Username: "u11", Password: strings.Repeat("x", identity.MinPasswordLen-1)}, "password"},
		{"password is the username", identity.NewUser{Username: "ursula-the-admin", Password: "URSULA-THE-ADMIN"}, "password"},
		{"password and hash", identity.NewUser{Username: "u12", Password: "a-perfectly-good-password", PasswordHash: goodHash}, "password"},
		{"bcrypt hash", identity.NewUser{Username: "u13", PasswordHash: "$2a$10$abcdefghijklmnopqrstuv"}, "password_hash"},
		{"truncated hash", identity.NewUser{Username: "u14", PasswordHash: goodHash[:len(goodHash)-10] + "$"}, "password_hash"},
		{"hash with excessive memory", identity.NewUser{Username: "u15", PasswordHash: hugeHash}, "password_hash"},
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mustUser(t, identity.NewUser{Username: "existing"})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.dir.CreateUser(ctx, tc.in)
				wantField(t, err, tc.field)
				if n := e.count(t); n != 1 {
					t.Fatalf("CountUsers = %d after a rejected CreateUser; want 1", n)
				}
				if _, err := identity.NormalizeUsername(tc.in.Username); err == nil {
					if _, err := e.dir.UserByUsername(ctx, tc.in.Username); !errors.Is(err, identity.ErrNotFound) {
						t.Fatalf("UserByUsername(%q) = %v; want ErrNotFound", tc.in.Username, err)
					}
				}
			})
		}
	})
}

func TestCreateUser_PasswordHashStoredVerbatim(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		// Another system's hash: valid argon2id, other (cheap) parameters.
		other, err := password.NewHasher(password.Params{MemoryKiB: password.MinMemoryKiB, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32})
		if err != nil {
			t.Fatal(err)
		}
		hash, err := other.Hash("migrated-password-1")
		if err != nil {
			t.Fatal(err)
		}
		u := e.mustUser(t, identity.NewUser{Username: "migrated", PasswordHash: hash})
		if got := e.storedHash(t, u.ID); got != hash {
			t.Fatalf("stored hash = %q; want the supplied %q verbatim", got, hash)
		}
		if got, err := e.dir.Authenticate(ctx, "migrated", "migrated-password-1"); err != nil || got.ID != u.ID {
			t.Fatalf("Authenticate with the migrated password = %+v, %v", got, err)
		}
	})
}

func TestCreateUser_PasswordIsHashed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		u := e.mustUser(t, identity.NewUser{Username: "alice", Password: "alice-password-1"})
		h := e.storedHash(t, u.ID)
		if strings.Contains(h, "alice-password-1") || password.Verify("alice-password-1", h) != nil || e.hasher.NeedsRehash(h) {
			t.Fatalf("stored %q: want an argon2id hash of the password with the current parameters", h)
		}
		// A user created without a password has no credential row.
		v := e.mustUser(t, identity.NewUser{Username: "victor"})
		if _, err := e.store.PasswordHash(context.Background(), v.ID); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("PasswordHash of a user without password = %v; want ErrNotFound", err)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	const pw = "correct-horse-battery"
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		alice := e.mustUser(t, identity.NewUser{Username: "Alice", Password: pw})
		e.mustUser(t, identity.NewUser{Username: "nopass"})
		e.mustUser(t, identity.NewUser{Username: "sus", Password: pw, Status: identity.StatusSuspended})
		gone := e.mustUser(t, identity.NewUser{Username: "gone", Password: pw})
		if _, _, err := e.dir.SetStatus(ctx, gone.ID, identity.StatusDeprovisioned); err != nil {
			t.Fatal(err)
		}

		for _, name := range []string{"Alice", "alice", "ALICE", "Ａｌｉｃｅ"} {
			t.Run("ok "+name, func(t *testing.T) {
				got, err := e.dir.Authenticate(ctx, name, pw)
				if err != nil || !sameUser(got, alice) {
					t.Fatalf("Authenticate(%q) = %+v, %v; want %+v", name, got, err, alice)
				}
			})
		}

		failures := []struct {
			name, username, password string
		}{
			{"wrong password", "alice", "wrong-horse-battery"},
			{"password differs in case", "alice", strings.ToUpper(pw)},
			{"empty password", "alice", ""},
			{"unknown user", "mallory", pw},
			{"user without password", "nopass", pw},
			{"user without password, empty password", "nopass", ""},
			{"suspended user, right password", "sus", pw},
			{"deprovisioned user, right password", "gone", pw},
			{"invalid username syntax", "a b", pw},
			{"empty username", "", pw},
		}
		for _, tc := range failures {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.dir.Authenticate(ctx, tc.username, tc.password)
				if !errors.Is(err, identity.ErrInvalidCredentials) || err.Error() != identity.ErrInvalidCredentials.Error() {
					t.Fatalf("Authenticate(%q) err = %v; want exactly ErrInvalidCredentials", tc.username, err)
				}
				if got != (identity.User{}) {
					t.Fatalf("Authenticate(%q) returned user %+v alongside the error", tc.username, got)
				}
			})
		}

		// No enumeration: an unknown user and a wrong password are indistinguishable.
		_, errUnknown := e.dir.Authenticate(ctx, "mallory", pw)
		_, errWrong := e.dir.Authenticate(ctx, "alice", "wrong-horse-battery")
		if errUnknown == nil || errWrong == nil || errUnknown.Error() != errWrong.Error() ||
			!errors.Is(errUnknown, identity.ErrInvalidCredentials) || !errors.Is(errWrong, identity.ErrInvalidCredentials) ||
			errors.Is(errUnknown, identity.ErrNotFound) {
			t.Fatalf("unknown user: %v; wrong password: %v; want the same ErrInvalidCredentials", errUnknown, errWrong)
		}
	})
}

func TestAuthenticate_RehashesOldParameters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		oldParams := password.Params{MemoryKiB: password.MinMemoryKiB * 2, Time: 2, Threads: 2, SaltLen: 24, KeyLen: 24}
		old, err := password.NewHasher(oldParams)
		if err != nil {
			t.Fatal(err)
		}
		oldHash, err := old.Hash("legacy-password-1")
		if err != nil {
			t.Fatal(err)
		}
		u := e.mustUser(t, identity.NewUser{Username: "legacy", PasswordHash: oldHash})

		// A failed login does not touch the hash.
		if _, err := e.dir.Authenticate(ctx, "legacy", "not-the-password"); !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
		if got := e.storedHash(t, u.ID); got != oldHash {
			t.Fatalf("hash changed after a failed login: %q", got)
		}

		if _, err := e.dir.Authenticate(ctx, "legacy", "legacy-password-1"); err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		newHash := e.storedHash(t, u.ID)
		if newHash == oldHash {
			t.Fatal("hash not upgraded after a successful login")
		}
		p, salt, key, err := password.Decode(newHash)
		if err != nil {
			t.Fatalf("Decode(new hash): %v", err)
		}
		if p != testParams || len(salt) != int(testParams.SaltLen) || len(key) != int(testParams.KeyLen) {
			t.Fatalf("new hash params = %+v; want the current %+v", p, testParams)
		}
		if password.Verify("legacy-password-1", newHash) != nil {
			t.Fatal("upgraded hash does not verify the password")
		}
		// The upgraded hash keeps working, and is not rewritten again.
		if _, err := e.dir.Authenticate(ctx, "LEGACY", "legacy-password-1"); err != nil {
			t.Fatalf("Authenticate after rehash: %v", err)
		}
		if got := e.storedHash(t, u.ID); got != newHash {
			t.Fatal("a hash with current parameters was rewritten on login")
		}
	})
}

func TestSetStatus(t *testing.T) {
	const pw = "status-password-1"
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := e.mustUser(t, identity.NewUser{Username: "sam", Password: pw})

		step := func(s identity.Status, wantChanged bool) identity.User {
			t.Helper()
			before := e.user(t, u.ID)
			got, changed, err := e.dir.SetStatus(ctx, u.ID, s)
			if err != nil || changed != wantChanged || got.Status != s {
				t.Fatalf("SetStatus(%s) = %+v, changed %v, %v; want status %s, changed %v", s, got, changed, err, s, wantChanged)
			}
			after := e.user(t, u.ID)
			if after.Status != s || !sameUser(after, got) {
				t.Fatalf("stored %+v; returned %+v", after, got)
			}
			if wantChanged && !after.UpdatedAt.After(before.UpdatedAt) {
				t.Fatalf("UpdatedAt %v not after %v on a change", after.UpdatedAt, before.UpdatedAt)
			}
			if !wantChanged && !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Fatalf("UpdatedAt bumped from %v to %v without a change", before.UpdatedAt, after.UpdatedAt)
			}
			return after
		}

		step(identity.StatusActive, false)
		step(identity.StatusSuspended, true)
		if _, err := e.dir.Authenticate(ctx, "sam", pw); !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Fatalf("suspended user authenticated: %v", err)
		}
		step(identity.StatusSuspended, false)
		step(identity.StatusActive, true)
		if _, err := e.dir.Authenticate(ctx, "sam", pw); err != nil {
			t.Fatalf("reactivated user cannot authenticate: %v", err)
		}
		gone := step(identity.StatusDeprovisioned, true)
		step(identity.StatusDeprovisioned, false)

		for _, s := range []identity.Status{identity.StatusActive, identity.StatusSuspended} {
			t.Run("deprovisioned to "+string(s), func(t *testing.T) {
				_, changed, err := e.dir.SetStatus(ctx, u.ID, s)
				wantField(t, err, "status")
				if changed {
					t.Fatal("changed = true on a rejected transition")
				}
				if after := e.user(t, u.ID); !sameUser(after, gone) {
					t.Fatalf("row changed by a rejected transition: %+v; want %+v", after, gone)
				}
			})
		}

		t.Run("invalid status", func(t *testing.T) {
			v := e.mustUser(t, identity.NewUser{Username: "vera"})
			for _, s := range []identity.Status{"", "asleep", "Active"} {
				_, changed, err := e.dir.SetStatus(ctx, v.ID, s)
				if !errors.Is(err, identity.ErrInvalid) || changed {
					t.Fatalf("SetStatus(%q) = changed %v, %v; want ErrInvalid", s, changed, err)
				}
				wantField(t, err, "status")
			}
			if got := e.user(t, v.ID); got.Status != identity.StatusActive {
				t.Fatalf("status = %s after invalid SetStatus", got.Status)
			}
		})

		t.Run("unknown id", func(t *testing.T) {
			_, changed, err := e.dir.SetStatus(ctx, uuid.NewString(), identity.StatusSuspended)
			if !errors.Is(err, identity.ErrNotFound) || changed {
				t.Fatalf("SetStatus(unknown) = changed %v, %v; want ErrNotFound", changed, err)
			}
		})
	})
}

func TestUpdateUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		alice := e.mustUser(t, identity.NewUser{Username: "Alice", Email: "alice@example.com", DisplayName: "Alice"})
		bob := e.mustUser(t, identity.NewUser{Username: "bob", Email: "bob@example.com"})
		str := func(s string) *string { return &s }

		noops := []struct {
			name  string
			patch identity.UserPatch
		}{
			{"empty patch", identity.UserPatch{}},
			{"same values", identity.UserPatch{Username: str("Alice"), Email: str("alice@example.com"), DisplayName: str("Alice")}},
			{"email domain case", identity.UserPatch{Email: str("alice@EXAMPLE.com")}},
		}
		for _, tc := range noops {
			t.Run(tc.name, func(t *testing.T) {
				before := e.user(t, alice.ID)
				got, changed, err := e.dir.UpdateUser(ctx, alice.ID, tc.patch)
				if err != nil || changed || !sameUser(got, before) {
					t.Fatalf("UpdateUser = %+v, changed %v, %v; want unchanged %+v", got, changed, err, before)
				}
				if after := e.user(t, alice.ID); !sameUser(after, before) {
					t.Fatalf("row written by a no-op patch: %+v; was %+v", after, before)
				}
			})
		}

		conflicts := []struct {
			name  string
			patch identity.UserPatch
		}{
			{"email of another user", identity.UserPatch{Email: str("bob@example.com")}},
			{"email of another user, other case", identity.UserPatch{Email: str("BOB@example.com")}},
			{"username of another user", identity.UserPatch{Username: str("BOB")}},
		}
		for _, tc := range conflicts {
			t.Run(tc.name, func(t *testing.T) {
				before := e.user(t, alice.ID)
				_, changed, err := e.dir.UpdateUser(ctx, alice.ID, tc.patch)
				if !errors.Is(err, identity.ErrConflict) || changed {
					t.Fatalf("UpdateUser = changed %v, %v; want ErrConflict", changed, err)
				}
				if after := e.user(t, alice.ID); !sameUser(after, before) {
					t.Fatalf("row changed by a conflicting update: %+v; was %+v", after, before)
				}
				if after := e.user(t, bob.ID); !sameUser(after, bob) {
					t.Fatalf("the other user changed: %+v; was %+v", after, bob)
				}
			})
		}

		t.Run("invalid", func(t *testing.T) {
			_, _, err := e.dir.UpdateUser(ctx, alice.ID, identity.UserPatch{DisplayName: str("x\x00")})
			wantField(t, err, "display_name")
			_, _, err = e.dir.UpdateUser(ctx, alice.ID, identity.UserPatch{Email: str("nope")})
			wantField(t, err, "email")
			_, _, err = e.dir.UpdateUser(ctx, alice.ID, identity.UserPatch{Username: str("a b")})
			wantField(t, err, "username")
		})

		t.Run("unknown id", func(t *testing.T) {
			if _, _, err := e.dir.UpdateUser(ctx, uuid.NewString(), identity.UserPatch{DisplayName: str("x")}); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("UpdateUser(unknown) = %v; want ErrNotFound", err)
			}
		})

		t.Run("real change", func(t *testing.T) {
			before := e.user(t, alice.ID)
			got, changed, err := e.dir.UpdateUser(ctx, alice.ID, identity.UserPatch{Email: str("alice@corp.example.com"), DisplayName: str("Alice E.")})
			if err != nil || !changed || got.Email != "alice@corp.example.com" || got.DisplayName != "Alice E." {
				t.Fatalf("UpdateUser = %+v, changed %v, %v", got, changed, err)
			}
			after := e.user(t, alice.ID)
			if !sameUser(after, got) || !after.UpdatedAt.After(before.UpdatedAt) || !after.CreatedAt.Equal(before.CreatedAt) {
				t.Fatalf("stored %+v; returned %+v; before %+v", after, got, before)
			}
			// The old email is free again.
			e.mustUser(t, identity.NewUser{Username: "carol", Email: "alice@example.com"})
		})
	})
}

func TestSetPassword(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := e.mustUser(t, identity.NewUser{Username: "alexander-the-great", Password: "first-password-1"})
		first := e.storedHash(t, u.ID)

		rejected := []struct{ name, pw string }{
			{"equals username", "alexander-the-great"},
			{"equals username, other case", "Alexander-The-Great"},
			{"equals username, full width", "ａｌｅｘａｎｄｅｒ-ｔｈｅ-ｇｒｅａｔ"},
			{"empty must not erase the credential", ""},
			{"too short", "short-pw"},
			{"too long", strings.Repeat("x", identity.MaxPasswordLen+1)},
		}
		for _, tc := range rejected {
			t.Run(tc.name, func(t *testing.T) {
				wantField(t, e.dir.SetPassword(ctx, u.ID, tc.pw), "password")
				if got := e.storedHash(t, u.ID); got != first {
					t.Fatal("hash replaced by a rejected password")
				}
			})
		}

		if err := e.dir.SetPassword(ctx, u.ID, "second-password-2"); err != nil {
			t.Fatalf("SetPassword: %v", err)
		}
		if got := e.storedHash(t, u.ID); got == first || password.Verify("second-password-2", got) != nil {
			t.Fatalf("hash after SetPassword = %q; want a new hash of the new password", got)
		}
		for _, tc := range []struct {
			pw   string
			want bool
		}{{"second-password-2", true}, {"first-password-1", false}, {"", false}} {
			if ok, err := e.dir.PasswordMatches(ctx, u.ID, tc.pw); err != nil || ok != tc.want {
				t.Fatalf("PasswordMatches(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
			}
		}
		if _, err := e.dir.Authenticate(ctx, "alexander-the-great", "first-password-1"); !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Fatalf("old password still authenticates: %v", err)
		}
		if _, err := e.dir.Authenticate(ctx, "alexander-the-great", "second-password-2"); err != nil {
			t.Fatalf("new password does not authenticate: %v", err)
		}

		// A user without a password gets one.
		np := e.mustUser(t, identity.NewUser{Username: "nopass"})
		if ok, err := e.dir.PasswordMatches(ctx, np.ID, "anything-at-all"); err != nil || ok {
			t.Fatalf("PasswordMatches without a password = %v, %v; want false, nil", ok, err)
		}
		if err := e.dir.SetPassword(ctx, np.ID, "nopass-password-1"); err != nil {
			t.Fatal(err)
		}
		if ok, err := e.dir.PasswordMatches(ctx, np.ID, "nopass-password-1"); err != nil || !ok {
			t.Fatalf("PasswordMatches after SetPassword = %v, %v", ok, err)
		}

		if err := e.dir.SetPassword(ctx, uuid.NewString(), "orphan-password-1"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("SetPassword(unknown) = %v; want ErrNotFound", err)
		}
	})
}

func TestSetPasswordHash(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := e.mustUser(t, identity.NewUser{Username: "hashy"})
		h1, err := e.hasher.Hash("hash-password-1")
		if err != nil {
			t.Fatal(err)
		}
		h2, err := e.hasher.Hash("hash-password-2")
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name    string
			hash    string
			changed bool
		}{
			{"first hash", h1, true},
			{"same hash", h1, false},
			{"other hash", h2, true},
			{"other hash again", h2, false},
			{"back to first", h1, true},
		}
		for _, st := range steps {
			changed, err := e.dir.SetPasswordHash(ctx, u.ID, st.hash)
			if err != nil || changed != st.changed {
				t.Fatalf("%s: SetPasswordHash = %v, %v; want changed %v", st.name, changed, err, st.changed)
			}
			if got := e.storedHash(t, u.ID); got != st.hash {
				t.Fatalf("%s: stored %q; want %q", st.name, got, st.hash)
			}
		}
		for _, bad := range []string{"$argon2id$v=19$m=1,t=1,p=1$c2FsdA$a2V5", ""} {
			changed, err := e.dir.SetPasswordHash(ctx, u.ID, bad)
			wantField(t, err, "password_hash")
			if changed || e.storedHash(t, u.ID) != h1 {
				t.Fatalf("hash %q: changed %v, stored %q; want unchanged", bad, changed, e.storedHash(t, u.ID))
			}
		}
		if changed, err := e.dir.SetPasswordHash(ctx, uuid.NewString(), h1); changed || !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("SetPasswordHash(unknown user) = %v, %v; want false, ErrNotFound", changed, err)
		}
		if ok, err := e.dir.PasswordMatches(ctx, u.ID, "hash-password-1"); err != nil || !ok {
			t.Fatalf("PasswordMatches = %v, %v; want true", ok, err)
		}
	})
}

func TestGroups(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		eng, err := e.dir.CreateGroup(ctx, identity.NewGroup{Name: "Engineering", Description: "Builds things"})
		if err != nil || eng.Name != "Engineering" {
			t.Fatalf("CreateGroup = %+v, %v", eng, err)
		}
		if _, err := uuid.Parse(eng.ID); err != nil {
			t.Fatalf("group id %q is not a UUID", eng.ID)
		}
		for _, name := range []string{"engineering", "ENGINEERING", "Ｅｎｇｉｎｅｅｒｉｎｇ"} {
			if _, err := e.dir.CreateGroup(ctx, identity.NewGroup{Name: name}); !errors.Is(err, identity.ErrConflict) {
				t.Fatalf("CreateGroup(%q) = %v; want ErrConflict", name, err)
			}
		}
		_, err = e.dir.CreateGroup(ctx, identity.NewGroup{Name: "a b"})
		wantField(t, err, "name")
		_, err = e.dir.CreateGroup(ctx, identity.NewGroup{Name: "ok", Description: "bad\x00"})
		wantField(t, err, "description")
		if got, err := e.dir.GroupByName(ctx, "ENGINEERING"); err != nil || got.ID != eng.ID {
			t.Fatalf("GroupByName(ENGINEERING) = %+v, %v", got, err)
		}
		ops, err := e.dir.CreateGroup(ctx, identity.NewGroup{Name: "ops"})
		if err != nil {
			t.Fatal(err)
		}

		a := e.mustUser(t, identity.NewUser{Username: "a"})
		b := e.mustUser(t, identity.NewUser{Username: "b"})
		c := e.mustUser(t, identity.NewUser{Username: "c"})

		steps := []struct {
			name    string
			set     []string
			changed bool
			want    []string
		}{
			{"first", []string{a.ID, b.ID}, true, []string{a.ID, b.ID}},
			{"same list", []string{a.ID, b.ID}, false, []string{a.ID, b.ID}},
			{"same list reordered, with a repeat", []string{b.ID, a.ID, b.ID}, false, []string{a.ID, b.ID}},
			{"subset", []string{a.ID}, true, []string{a.ID}},
			{"swap", []string{c.ID}, true, []string{c.ID}},
			{"empty", nil, true, nil},
			{"empty again", []string{}, false, nil},
			{"all", []string{a.ID, b.ID, c.ID}, true, []string{a.ID, b.ID, c.ID}},
		}
		for _, st := range steps {
			changed, err := e.dir.SetMembers(ctx, eng.ID, st.set)
			if err != nil || changed != st.changed {
				t.Fatalf("%s: SetMembers = %v, %v; want changed %v", st.name, changed, err, st.changed)
			}
			ms, err := e.dir.Members(ctx, eng.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := userIDs(ms), sorted(st.want...); !slices.Equal(got, want) {
				t.Fatalf("%s: members %v; want %v", st.name, got, want)
			}
		}

		// An unknown user fails the whole call: earlier removals are rolled back.
		if _, err := e.dir.SetMembers(ctx, eng.ID, []string{a.ID, uuid.NewString()}); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("SetMembers with an unknown user = %v; want ErrNotFound", err)
		}
		if ms, _ := e.dir.Members(ctx, eng.ID); !slices.Equal(userIDs(ms), sorted(a.ID, b.ID, c.ID)) {
			t.Fatalf("members after failed SetMembers = %v; want a, b, c unchanged", userIDs(ms))
		}

		if _, err := e.dir.SetMembers(ctx, ops.ID, []string{a.ID}); err != nil {
			t.Fatal(err)
		}
		gs, err := e.dir.GroupsOf(ctx, a.ID)
		if err != nil || len(gs) != 2 || gs[0].ID != eng.ID || gs[1].ID != ops.ID {
			t.Fatalf("GroupsOf(a) = %+v, %v; want engineering, ops", gs, err)
		}
		if gs, err := e.dir.GroupsOf(ctx, b.ID); err != nil || len(gs) != 1 || gs[0].ID != eng.ID {
			t.Fatalf("GroupsOf(b) = %+v, %v; want engineering", gs, err)
		}
		loner := e.mustUser(t, identity.NewUser{Username: "loner"})
		if gs, err := e.dir.GroupsOf(ctx, loner.ID); err != nil || len(gs) != 0 {
			t.Fatalf("GroupsOf(loner) = %+v, %v; want none", gs, err)
		}

		unknown := uuid.NewString()
		if _, err := e.dir.Members(ctx, unknown); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("Members(unknown) = %v; want ErrNotFound", err)
		}
		if _, err := e.dir.SetMembers(ctx, unknown, []string{a.ID}); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("SetMembers(unknown group) = %v; want ErrNotFound", err)
		}
	})
}

func TestMachines(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		alice := e.mustUser(t, identity.NewUser{Username: "alice"})
		bob := e.mustUser(t, identity.NewUser{Username: "bob"})
		gone := e.mustUser(t, identity.NewUser{Username: "gone"})
		if _, _, err := e.dir.SetStatus(ctx, gone.ID, identity.StatusDeprovisioned); err != nil {
			t.Fatal(err)
		}

		rejected := []struct {
			name  string
			in    identity.NewMachine
			field string
		}{
			{"no owner", identity.NewMachine{Name: "bot1"}, "owner"},
			{"unknown owner", identity.NewMachine{Name: "bot2", OwnerID: uuid.NewString()}, "owner"},
			{"owner is a name, not an id", identity.NewMachine{Name: "bot3", OwnerID: "alice"}, "owner"},
			{"deprovisioned owner", identity.NewMachine{Name: "bot4", OwnerID: gone.ID}, "owner"},
			{"bad name", identity.NewMachine{Name: "bot 5", OwnerID: alice.ID}, "name"},
			{"bad description", identity.NewMachine{Name: "bot6", Description: "x\x1b[31m", OwnerID: alice.ID}, "description"},
		}
		for _, tc := range rejected {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.dir.CreateMachine(ctx, tc.in)
				wantField(t, err, tc.field)
				if _, err := e.dir.MachineByName(ctx, tc.in.Name); !errors.Is(err, identity.ErrNotFound) && !errors.Is(err, identity.ErrInvalid) {
					t.Fatalf("MachineByName(%q) = %v; want nothing stored", tc.in.Name, err)
				}
			})
		}
		if ms, _, err := e.dir.ListMachines(ctx, identity.Page{}); err != nil || len(ms) != 0 {
			t.Fatalf("ListMachines = %+v, %v; want none after rejections", ms, err)
		}

		ci, err := e.dir.CreateMachine(ctx, identity.NewMachine{Name: "CI-Runner", Description: "builds", OwnerID: alice.ID})
		if err != nil || ci.Name != "CI-Runner" || ci.OwnerID != alice.ID {
			t.Fatalf("CreateMachine = %+v, %v", ci, err)
		}
		for _, name := range []string{"ci-runner", "CI-RUNNER"} {
			if _, err := e.dir.CreateMachine(ctx, identity.NewMachine{Name: name, OwnerID: bob.ID}); !errors.Is(err, identity.ErrConflict) {
				t.Fatalf("CreateMachine(%q) = %v; want ErrConflict", name, err)
			}
		}

		steps := []struct {
			name, desc, owner string
			changed           bool
		}{
			{"same", "builds", alice.ID, false},
			{"new description", "builds and tests", alice.ID, true},
			{"same again", "builds and tests", alice.ID, false},
			{"new owner", "builds and tests", bob.ID, true},
		}
		for _, st := range steps {
			m, changed, err := e.dir.UpdateMachine(ctx, ci.ID, st.desc, st.owner)
			if err != nil || changed != st.changed || m.Description != st.desc || m.OwnerID != st.owner {
				t.Fatalf("%s: UpdateMachine = %+v, changed %v, %v; want changed %v", st.name, m, changed, err, st.changed)
			}
			got, err := e.dir.MachineByName(ctx, "ci-runner")
			if err != nil || got.Description != st.desc || got.OwnerID != st.owner || !got.UpdatedAt.Equal(m.UpdatedAt) {
				t.Fatalf("%s: stored %+v, %v; returned %+v", st.name, got, err, m)
			}
		}
		before, _ := e.dir.MachineByName(ctx, "ci-runner")
		for _, owner := range []string{"", gone.ID, uuid.NewString()} {
			_, changed, err := e.dir.UpdateMachine(ctx, ci.ID, "builds and tests", owner)
			wantField(t, err, "owner")
			if changed {
				t.Fatalf("UpdateMachine(owner %q): changed = true on error", owner)
			}
		}
		if after, _ := e.dir.MachineByName(ctx, "ci-runner"); after.ID != before.ID || after.Description != before.Description ||
			after.OwnerID != before.OwnerID || !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Fatalf("machine changed by rejected updates: %+v; was %+v", after, before)
		}
		if _, _, err := e.dir.UpdateMachine(ctx, uuid.NewString(), "x", alice.ID); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("UpdateMachine(unknown) = %v; want ErrNotFound", err)
		}
	})
}

func TestEnsureBootstrapAdmin_EmptyDirectoryGeneratesPassword(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		bs, err := e.dir.EnsureBootstrapAdmin(ctx, "admin", "")
		if err != nil || !bs.Created || bs.User.Username != "admin" {
			t.Fatalf("EnsureBootstrapAdmin = %+v, %v; want admin created", bs, err)
		}
		if len(bs.GeneratedPassword) < 20 {
			t.Fatalf("generated password %q is shorter than 20 characters", bs.GeneratedPassword)
		}
		if u, err := e.dir.Authenticate(ctx, "admin", bs.GeneratedPassword); err != nil || u.ID != bs.User.ID {
			t.Fatalf("generated password does not authenticate: %+v, %v", u, err)
		}
		g, err := e.dir.GroupByName(ctx, identity.AdminGroup)
		if err != nil {
			t.Fatalf("GroupByName(%s): %v", identity.AdminGroup, err)
		}
		if ms, err := e.dir.Members(ctx, g.ID); err != nil || len(ms) != 1 || ms[0].ID != bs.User.ID {
			t.Fatalf("admin group members = %+v, %v; want exactly the bootstrap user", ms, err)
		}

		again, err := e.dir.EnsureBootstrapAdmin(ctx, "admin", "")
		if err != nil || again.Created || again.GeneratedPassword != "" || again.User.ID != "" {
			t.Fatalf("second EnsureBootstrapAdmin = %+v, %v; want nothing done", again, err)
		}
		if n := e.count(t); n != 1 {
			t.Fatalf("CountUsers = %d after second call; want 1", n)
		}
		if _, err := e.dir.Authenticate(ctx, "admin", bs.GeneratedPassword); err != nil {
			t.Fatalf("second call changed the admin password: %v", err)
		}
	})
}

// Two calls never generate the same password.
func TestEnsureBootstrapAdmin_GeneratedPasswordsDiffer(t *testing.T) {
	seen := map[string]bool{}
	for i := range 3 {
		e := newEnv(t, sqltest.SQLite)
		bs, err := e.dir.EnsureBootstrapAdmin(context.Background(), "admin", "")
		if err != nil || !bs.Created {
			t.Fatalf("run %d: %+v, %v", i, bs, err)
		}
		if seen[bs.GeneratedPassword] {
			t.Fatalf("run %d: generated password repeated", i)
		}
		seen[bs.GeneratedPassword] = true
	}
}

func TestEnsureBootstrapAdmin_SuppliedPassword(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		bs, err := e.dir.EnsureBootstrapAdmin(ctx, "Root", "supplied-password-1")
		if err != nil || !bs.Created || bs.GeneratedPassword != "" || bs.User.Username != "Root" {
			t.Fatalf("EnsureBootstrapAdmin = %+v, %v; want created without a generated password", bs, err)
		}
		if u, err := e.dir.Authenticate(ctx, "root", "supplied-password-1"); err != nil || u.ID != bs.User.ID {
			t.Fatalf("supplied password does not authenticate: %+v, %v", u, err)
		}
		gs, err := e.dir.GroupsOf(ctx, bs.User.ID)
		if err != nil || len(gs) != 1 || gs[0].Name != identity.AdminGroup {
			t.Fatalf("GroupsOf(admin) = %+v, %v; want [%s]", gs, err, identity.AdminGroup)
		}
	})
}

func TestEnsureBootstrapAdmin_BadInputCreatesNothing(t *testing.T) {
	cases := []struct {
		name, username, pw, field string
	}{
		{"short password", "admin", "short", "password"},
		{"password is the username", "administrator", "Administrator", "password"},
		{"bad username", "the admin", "", "username"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, e *env) {
				ctx := context.Background()
				bs, err := e.dir.EnsureBootstrapAdmin(ctx, tc.username, tc.pw)
				wantField(t, err, tc.field)
				if bs.Created {
					t.Fatalf("Created = true alongside %v", err)
				}
				if n := e.count(t); n != 0 {
					t.Fatalf("CountUsers = %d; want 0", n)
				}
				if _, err := e.dir.GroupByName(ctx, identity.AdminGroup); !errors.Is(err, identity.ErrNotFound) {
					t.Fatalf("GroupByName(%s) = %v; want ErrNotFound", identity.AdminGroup, err)
				}
			})
		})
	}
}

func TestEnsureBootstrapAdmin_NonEmptyDirectory(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mustUser(t, identity.NewUser{Username: "alice", Status: identity.StatusSuspended})
		bs, err := e.dir.EnsureBootstrapAdmin(ctx, "admin", "")
		if err != nil || bs.Created || bs.GeneratedPassword != "" {
			t.Fatalf("EnsureBootstrapAdmin = %+v, %v; want nothing done", bs, err)
		}
		if n := e.count(t); n != 1 {
			t.Fatalf("CountUsers = %d; want 1", n)
		}
		if _, err := e.dir.UserByUsername(ctx, "admin"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("UserByUsername(admin) = %v; want ErrNotFound", err)
		}
		if _, err := e.dir.GroupByName(ctx, identity.AdminGroup); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("GroupByName(%s) = %v; want ErrNotFound", identity.AdminGroup, err)
		}
	})
}

// Several nodes with the same configuration starting at once on a fresh database:
// exactly one administrator, and every node starts cleanly.
func TestEnsureBootstrapAdmin_Concurrent(t *testing.T) {
	const n = 5
	for _, sameName := range []bool{true, false} {
		t.Run(fmt.Sprintf("same username %v", sameName), func(t *testing.T) {
			testBootstrapConcurrent(t, n, sameName)
		})
	}
}

// testBootstrapConcurrent starts n bootstraps at once. With different usernames no unique
// index stops a second admin, so only the lock in EnsureBootstrapAdmin keeps it to one.
func testBootstrapConcurrent(t *testing.T, n int, sameName bool) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			results = make([]identity.Bootstrap, n)
			errs    = make([]error, n)
		)
		for i := range n {
			wg.Go(func() {
				<-start
				name := "admin"
				if !sameName {
					name = fmt.Sprintf("admin%d", i)
				}
				results[i], errs[i] = e.dir.EnsureBootstrapAdmin(ctx, name, "")
			})
		}
		close(start)
		wg.Wait()

		created := -1
		for i := range n {
			if errs[i] != nil {
				t.Errorf("goroutine %d: EnsureBootstrapAdmin error: %v", i, errs[i])
			}
			if results[i].Created {
				if created >= 0 {
					t.Errorf("goroutines %d and %d both report Created", created, i)
				}
				created = i
			}
		}
		if cnt := e.count(t); cnt != 1 {
			t.Fatalf("CountUsers = %d after %d concurrent bootstraps; want 1", cnt, n)
		}
		if created < 0 {
			t.Fatal("no goroutine reports Created")
		}
		win := results[created]
		if _, err := e.dir.Authenticate(ctx, win.User.Username, win.GeneratedPassword); err != nil {
			t.Fatalf("winner's generated password does not authenticate: %v", err)
		}
		g, err := e.dir.GroupByName(ctx, identity.AdminGroup)
		if err != nil {
			t.Fatal(err)
		}
		if ms, err := e.dir.Members(ctx, g.ID); err != nil || len(ms) != 1 || ms[0].ID != win.User.ID {
			t.Fatalf("admin group members = %+v, %v; want exactly the winner", ms, err)
		}
	})
}

func TestListUsers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for _, s := range []identity.Status{"asleep", "ACTIVE", " active"} {
			us, next, err := e.dir.ListUsers(ctx, identity.UserFilter{Status: s}, identity.Page{})
			if !errors.Is(err, identity.ErrInvalid) || us != nil || next != "" {
				t.Fatalf("ListUsers(status %q) = %v, %q, %v; want ErrInvalid", s, us, next, err)
			}
			wantField(t, err, "status")
		}

		names := []string{"dave", "Carol", "bob", "Alice", "eve"}
		ids := map[string]string{}
		for _, name := range names {
			ids[name] = e.mustUser(t, identity.NewUser{Username: name}).ID
		}
		if _, _, err := e.dir.SetStatus(ctx, ids["bob"], identity.StatusSuspended); err != nil {
			t.Fatal(err)
		}

		var got []string
		page := identity.Page{Limit: 2}
		for range 10 {
			us, next, err := e.dir.ListUsers(ctx, identity.UserFilter{}, page)
			if err != nil {
				t.Fatal(err)
			}
			if len(us) > 2 {
				t.Fatalf("page of %d users with Limit 2", len(us))
			}
			for _, u := range us {
				got = append(got, u.Username)
			}
			if next == "" {
				break
			}
			page.After = next
		}
		if want := []string{"Alice", "bob", "Carol", "dave", "eve"}; !slices.Equal(got, want) {
			t.Fatalf("paged ListUsers = %v; want %v (normalised order)", got, want)
		}

		sus, _, err := e.dir.ListUsers(ctx, identity.UserFilter{Status: identity.StatusSuspended}, identity.Page{})
		if err != nil || len(sus) != 1 || sus[0].ID != ids["bob"] {
			t.Fatalf("ListUsers(suspended) = %+v, %v; want bob", sus, err)
		}
	})
}
