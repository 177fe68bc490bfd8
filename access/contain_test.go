package access_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
	"github.com/weft-fabric/weft/identity/sqlstore"
)

// observed records what a ClientObserver heard; fail makes it refuse the change.
type observed struct {
	statuses []string // "id:from->to"
	rotated  []string
	fail     error
}

func (o *observed) ClientStatusChanged(_ context.Context, c access.Client, from access.ClientStatus) error {
	o.statuses = append(o.statuses, c.ID+":"+string(from)+"->"+string(c.Status))
	return o.fail
}

func (o *observed) ClientSecretRotated(_ context.Context, c access.Client) error {
	o.rotated = append(o.rotated, c.ID)
	return o.fail
}

func observedClients(t *testing.T, e *env, o *observed) *access.Clients {
	return access.NewClients(e.store, sqlstore.NewDirectory(e.db), e.db, testHasher(t), o)
}

func TestClients_SetStatus(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		o := &observed{}
		cs := observedClients(t, e, o)
		if _, _, err := cs.Apply(ctx, webSpec()); err != nil {
			t.Fatal(err)
		}
		if c := e.client(t, "demo-web"); c.Status != access.ClientActive || c.Disabled() {
			t.Fatalf("a new client is %q; want active", c.Status)
		}
		c, changed, err := cs.SetStatus(ctx, "demo-web", access.ClientDisabled)
		if err != nil || !changed || !c.Disabled() || !e.client(t, "demo-web").Disabled() {
			t.Fatalf("disable = %+v, %v, %v", c.Status, changed, err)
		}
		if _, changed, err := cs.SetStatus(ctx, "demo-web", access.ClientDisabled); err != nil || changed {
			t.Fatalf("disable again = changed %v, %v; want no change", changed, err)
		}
		if _, changed, err := cs.SetStatus(ctx, "demo-web", access.ClientActive); err != nil || !changed || e.client(t, "demo-web").Disabled() {
			t.Fatalf("enable = changed %v, %v", changed, err)
		}
		want := []string{"demo-web:active->disabled", "demo-web:disabled->active"}
		if len(o.statuses) != 2 || o.statuses[0] != want[0] || o.statuses[1] != want[1] {
			t.Fatalf("observer heard %v; want %v", o.statuses, want)
		}

		// Bad input changes nothing.
		if _, _, err := cs.SetStatus(ctx, "no-such-client", access.ClientDisabled); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("unknown client = %v; want ErrNotFound", err)
		}
		if _, _, err := cs.SetStatus(ctx, "demo-web", "suspended"); err == nil {
			t.Fatal("status suspended accepted for a client")
		} else {
			wantField(t, err, "status")
		}
		// An observer that fails (the revocation could not be recorded) undoes the change.
		o.fail = errors.New("revocation store down")
		if _, _, err := cs.SetStatus(ctx, "demo-web", access.ClientDisabled); err == nil {
			t.Fatal("disable with a failing observer succeeded")
		}
		if e.client(t, "demo-web").Disabled() {
			t.Fatal("the client stayed disabled although its revocation failed")
		}
	})
}

func TestClients_RotateSecret(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		o := &observed{}
		cs := observedClients(t, e, o)
		now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
		cs.SetClock(func() time.Time { return now })
		if _, _, err := cs.Apply(ctx, webSpec()); err != nil {
			t.Fatal(err)
		}
		old := e.client(t, "demo-web").SecretHash

		// Without overlap the old secret is gone at once.
		rot, err := cs.RotateSecret(ctx, "demo-web", 0)
		if err != nil {
			t.Fatal(err)
		}
		got := e.client(t, "demo-web")
		if len(rot.Secret) < 43 || password.Verify(rot.Secret, got.SecretHash) != nil || got.SecretHash == old {
			t.Fatalf("the new secret (%d chars) does not match the stored hash", len(rot.Secret))
		}
		if password.Verify("a-long-enough-secret", got.SecretHash) == nil || got.PreviousSecretHash != "" || got.PreviousSecretValid(now) {
			t.Fatal("the old secret still works after a rotation without overlap")
		}

		// With an overlap the old one works until now+overlap, and not after.
		first := rot.Secret
		rot, err = cs.RotateSecret(ctx, "demo-web", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		got = e.client(t, "demo-web")
		if password.Verify(first, got.PreviousSecretHash) != nil || !got.PreviousSecretExpiresAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("previous secret expires %v; want %v", got.PreviousSecretExpiresAt, now.Add(time.Hour))
		}
		if !got.PreviousSecretValid(now.Add(59*time.Minute)) || got.PreviousSecretValid(now.Add(time.Hour)) {
			t.Fatal("the overlap does not end exactly an hour after the rotation")
		}
		// Rotating again ends the earlier overlap: one old secret at most.
		second := rot.Secret
		if _, err := cs.RotateSecret(ctx, "demo-web", time.Minute); err != nil {
			t.Fatal(err)
		}
		got = e.client(t, "demo-web")
		if password.Verify(second, got.PreviousSecretHash) != nil || password.Verify(first, got.PreviousSecretHash) == nil {
			t.Fatal("after two rotations the previous secret is not the second one")
		}
		if len(o.rotated) != 3 {
			t.Fatalf("observer heard %d rotations; want 3", len(o.rotated))
		}

		// Bad input: nothing changes, nothing is heard.
		before := e.client(t, "demo-web")
		for _, tc := range []struct {
			name, id string
			overlap  time.Duration
			field    string
		}{
			{"negative overlap", "demo-web", -time.Second, "overlap"},
			{"overlap above the cap", "demo-web", access.MaxSecretOverlap + time.Second, "overlap"},
			{"public client", "demo-spa", 0, "secret"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.id == "demo-spa" {
					if _, _, err := cs.Apply(ctx, spaSpec()); err != nil {
						t.Fatal(err)
					}
				}
				_, err := cs.RotateSecret(ctx, tc.id, tc.overlap)
				wantField(t, err, tc.field)
			})
		}
		if _, err := cs.RotateSecret(ctx, "no-such-client", 0); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("unknown client = %v; want ErrNotFound", err)
		}
		if after := e.client(t, "demo-web"); after.SecretHash != before.SecretHash || after.PreviousSecretHash != before.PreviousSecretHash ||
			len(o.rotated) != 3 {
			t.Fatal("a refused rotation changed the client")
		}
		o.fail = errors.New("audit log down")
		if _, err := cs.RotateSecret(ctx, "demo-web", 0); err == nil {
			t.Fatal("rotation with a failing observer succeeded")
		}
		if after := e.client(t, "demo-web"); after.SecretHash != before.SecretHash {
			t.Fatal("a rotation whose audit failed changed the secret")
		}
	})
}

// A fabric file's status disables (observed like any other path); a file that does not
// mention status leaves it alone; a new secret in the file ends a rotation's overlap.
func TestClients_ApplyStatus(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		o := &observed{}
		cs := observedClients(t, e, o)
		if _, _, err := cs.Apply(ctx, webSpec()); err != nil {
			t.Fatal(err)
		}
		spec := webSpec()
		spec.Status = access.ClientDisabled
		if _, changed, err := cs.Apply(ctx, spec); err != nil || !changed || !e.client(t, "demo-web").Disabled() {
			t.Fatalf("apply status disabled = changed %v, %v", changed, err)
		}
		if len(o.statuses) != 1 || o.statuses[0] != "demo-web:active->disabled" {
			t.Fatalf("observer heard %v", o.statuses)
		}
		if _, changed, err := cs.Apply(ctx, webSpec()); err != nil || changed || !e.client(t, "demo-web").Disabled() {
			t.Fatalf("apply without status = changed %v, %v; want the client left disabled", changed, err)
		}
		spec.Status = "paused"
		if _, _, err := cs.Apply(ctx, spec); err == nil {
			t.Fatal("status paused accepted")
		} else {
			wantField(t, err, "status")
		}

		if _, err := cs.RotateSecret(ctx, "demo-web", time.Hour); err != nil {
			t.Fatal(err)
		}
		spec = webSpec()
		spec.Secret = "another-long-enough-secret"
		if _, _, err := cs.Apply(ctx, spec); err != nil {
			t.Fatal(err)
		}
		if c := e.client(t, "demo-web"); c.PreviousSecretHash != "" {
			t.Fatal("a new secret from a fabric file kept the rotated-out secret alive")
		}
	})
}

// A change written to the store behind the cache (by another node) is served from
// the cache until the TTL, unless the fan-out tells the cache to forget the client:
// that is how a disable on one node reaches the others at once.
func TestClientCache_Forget(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		cache := access.NewClientCache(e.store, time.Hour)
		if _, _, err := e.clients.Apply(ctx, webSpec()); err != nil {
			t.Fatal(err)
		}
		if c, err := cache.ClientByID(ctx, "demo-web"); err != nil || c.Disabled() {
			t.Fatalf("first read = %+v, %v", c.Status, err)
		}
		// Another node disables the client (through its own registry).
		if _, _, err := e.clients.SetStatus(ctx, "demo-web", access.ClientDisabled); err != nil {
			t.Fatal(err)
		}
		if c, _ := cache.ClientByID(ctx, "demo-web"); c.Disabled() {
			t.Fatal("the cache read through before being told: this test shows nothing")
		}
		cache.Forget("alice", false) // a user's id: no client of that name
		if c, _ := cache.ClientByID(ctx, "demo-web"); c.Disabled() {
			t.Fatal("forgetting another name dropped the client")
		}
		cache.Forget("demo-web", false)
		if c, _ := cache.ClientByID(ctx, "demo-web"); !c.Disabled() {
			t.Fatal("after Forget the cache still serves the client as active")
		}
		if _, _, err := e.clients.SetStatus(ctx, "demo-web", access.ClientActive); err != nil {
			t.Fatal(err)
		}
		cache.Forget("", true)
		if c, _ := cache.ClientByID(ctx, "demo-web"); c.Disabled() {
			t.Fatal("after Forget(all) the cache still serves the client as disabled")
		}
	})
}
