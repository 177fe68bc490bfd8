package keys_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access/keys"
	"github.com/weft-fabric/weft/access/keys/keysql"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

func TestManager_EnsureKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		created, err := e.m.EnsureKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(created) != 4 {
			t.Fatalf("created %d keys on an empty database, want 4: %+v", len(created), created)
		}
		r := ring(t, e.m)
		for _, alg := range keys.Algs {
			if len(r[alg][keys.StateCurrent]) != 1 || len(r[alg][keys.StateNext]) != 1 || len(r[alg][keys.StateRetired]) != 0 {
				t.Errorf("%s ring: %+v, want one current and one next", alg, r[alg])
			}
			cur := r[alg][keys.StateCurrent][0]
			if cur.ActivatedAt.IsZero() || !r[alg][keys.StateNext][0].ActivatedAt.IsZero() {
				t.Errorf("%s: activated_at current %v, next %v", alg, cur.ActivatedAt, r[alg][keys.StateNext][0].ActivatedAt)
			}
			if got := kidOf(t, e.m, alg); got != cur.KID {
				t.Errorf("%s signs with %s, want the current key %s", alg, got, cur.KID)
			}
		}

		// Published: all four, the two current keys first (ES256 first: the default).
		kids := jwksKIDs(t, e.m)
		want := []string{r[keys.ES256][keys.StateCurrent][0].KID, r[keys.RS256][keys.StateCurrent][0].KID}
		if len(kids) != 4 || !slices.Equal(kids[:2], want) ||
			!slices.Contains(kids, r[keys.ES256][keys.StateNext][0].KID) || !slices.Contains(kids, r[keys.RS256][keys.StateNext][0].KID) {
			t.Errorf("JWKS kids %v, want current %v first, then both next keys", kids, want)
		}
		set, err := e.m.PublicJWKS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range set.Keys {
			if k.Algorithm == "RS256" {
				if bits := k.Key.(interface{ Size() int }).Size() * 8; bits != 2048 {
					t.Errorf("RSA key %s is %d bits, want 2048", k.KeyID, bits)
				}
			}
		}

		// Again, and from a second node: nothing new.
		for i, m := range []*keys.Manager{e.m, e.manager(t, e.kek)} {
			again, err := m.EnsureKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(again) != 0 {
				t.Errorf("call %d created %d more keys: %+v", i+2, len(again), again)
			}
		}
		if infos, _ := e.m.Keys(ctx); len(infos) != 4 {
			t.Errorf("%d keys stored, want 4", len(infos))
		}
	})
}

// nodes opens n separate database handles (connection pools) on one database, the
// way n `weft serve` processes share it, each with its own Manager.
func nodes(t *testing.T, b sqltest.Backend, n int, kek []byte) []*keys.Manager {
	t.Helper()
	o := sqlstore.Options{MaxOpenConns: 4, MaxIdleConns: 1, ConnMaxLifetime: time.Minute}
	if b == sqltest.Postgres {
		o.URL = sqltest.PostgresURL(t)
	} else {
		o.SQLitePath = t.TempDir() + "/weft.db"
	}
	out := make([]*keys.Manager, n)
	for i := range out {
		db, err := sqlstore.Open(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		if i == 0 {
			if _, err := db.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if out[i], err = keys.New(keysql.New(db), db, keys.Config{KEK: kek}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestManager_EnsureKeysConcurrentNodes(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			const n = 4
			ms := nodes(t, b, n, newKEK(t))
			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				created = make([]int, n)
				errs    = make([]error, n)
			)
			for i, m := range ms {
				wg.Go(func() {
					<-start
					c, err := m.EnsureKeys(context.Background())
					created[i], errs[i] = len(c), err
				})
			}
			close(start)
			wg.Wait()
			total := 0
			for i := range ms {
				if errs[i] != nil {
					t.Errorf("node %d: %v", i, errs[i])
				}
				total += created[i]
			}
			if total != 4 {
				t.Errorf("nodes created %v keys in all (%d), want 4", created, total)
			}
			r := ring(t, ms[0])
			for _, alg := range keys.Algs {
				if len(r[alg][keys.StateCurrent]) != 1 || len(r[alg][keys.StateNext]) != 1 {
					t.Errorf("%s: %d current, %d next, want exactly one each", alg, len(r[alg][keys.StateCurrent]), len(r[alg][keys.StateNext]))
				}
				for i, m := range ms {
					if kid := kidOf(t, m, alg); kid != r[alg][keys.StateCurrent][0].KID {
						t.Errorf("node %d signs %s with %s, want %s", i, alg, kid, r[alg][keys.StateCurrent][0].KID)
					}
				}
			}
		})
	}
}

func TestManager_RotateAndPrune(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.m.EnsureKeys(ctx); err != nil {
			t.Fatal(err)
		}
		before := ring(t, e.m)
		oldCur, oldNext := before[keys.ES256][keys.StateCurrent][0], before[keys.ES256][keys.StateNext][0]
		rsCur := before[keys.RS256][keys.StateCurrent][0]

		const retain = 2 * time.Hour
		now := e.clock.Now()
		rot, err := e.m.Rotate(ctx, keys.ES256, retain)
		if err != nil {
			t.Fatal(err)
		}
		if rot.Retired.KID != oldCur.KID || rot.Current.KID != oldNext.KID || rot.Next.KID == "" ||
			rot.Next.KID == oldCur.KID || rot.Next.KID == oldNext.KID {
			t.Fatalf("rotation %+v from current %s, next %s", rot, oldCur.KID, oldNext.KID)
		}
		// retainFor + the refresh interval (stale nodes still sign with it) + a minute.
		wantRetire := now.Add(retain + keys.DefaultRefresh + time.Minute).Truncate(time.Microsecond)
		after := ring(t, e.m)
		es := after[keys.ES256]
		if len(es[keys.StateRetired]) != 1 || es[keys.StateRetired][0].KID != oldCur.KID || !es[keys.StateRetired][0].RetireAfter.Equal(wantRetire) {
			t.Errorf("retired: %+v, want %s until %v", es[keys.StateRetired], oldCur.KID, wantRetire)
		}
		if len(es[keys.StateCurrent]) != 1 || es[keys.StateCurrent][0].KID != oldNext.KID {
			t.Errorf("current: %+v, want the former next %s", es[keys.StateCurrent], oldNext.KID)
		}
		if len(es[keys.StateNext]) != 1 || es[keys.StateNext][0].KID != rot.Next.KID {
			t.Errorf("next: %+v, want %s", es[keys.StateNext], rot.Next.KID)
		}
		if got := kidOf(t, e.m, keys.ES256); got != oldNext.KID {
			t.Errorf("ES256 signs with %s after rotation, want the former next %s", got, oldNext.KID)
		}
		if got := kidOf(t, e.m, keys.RS256); got != rsCur.KID {
			t.Errorf("rotating ES256 changed the RS256 key: %s, want %s", got, rsCur.KID)
		}
		kids := jwksKIDs(t, e.m)
		if len(kids) != 5 || !slices.Equal(kids[:2], []string{oldNext.KID, rsCur.KID}) ||
			!slices.Contains(kids, oldCur.KID) || !slices.Contains(kids, rot.Next.KID) {
			t.Errorf("JWKS after rotation %v: want current %s and %s first, retired %s and new next %s present",
				kids, oldNext.KID, rsCur.KID, oldCur.KID, rot.Next.KID)
		}

		// Prune keeps it until retire_after, then deletes it.
		for _, at := range []time.Time{now, wantRetire.Add(-time.Microsecond)} {
			if n, err := e.m.Prune(ctx, at); err != nil || n != 0 {
				t.Errorf("Prune(%v) = %d, %v; want nothing before retire_after", at, n, err)
			}
		}
		if n, err := e.m.Prune(ctx, wantRetire); err != nil || n != 1 {
			t.Fatalf("Prune at retire_after = %d, %v; want 1", n, err)
		}
		if kids := jwksKIDs(t, e.m); len(kids) != 4 || slices.Contains(kids, oldCur.KID) {
			t.Errorf("JWKS after prune %v still has %s", kids, oldCur.KID)
		}
		if r := ring(t, e.m); len(r[keys.ES256][keys.StateRetired]) != 0 {
			t.Errorf("retired keys left after prune: %+v", r[keys.ES256][keys.StateRetired])
		}
	})
}

// A retired key past retire_after is unpublished at the next load even when nobody
// has pruned it yet.
func TestManager_ExpiredRetiredKeyUnpublishedBeforePrune(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.m.EnsureKeys(ctx); err != nil {
			t.Fatal(err)
		}
		rot, err := e.m.Rotate(ctx, keys.RS256, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(jwksKIDs(t, e.m), rot.Retired.KID) {
			t.Fatal("retired key not published")
		}
		e.clock.Advance(rot.Retired.RetireAfter.Sub(e.clock.Now()))
		if err := e.m.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(jwksKIDs(t, e.m), rot.Retired.KID) {
			t.Error("retired key still published at retire_after")
		}
		if infos, _ := e.m.Keys(ctx); len(infos) != 5 {
			t.Errorf("%d keys stored, want 5 (not pruned yet)", len(infos))
		}
	})
}

func TestManager_RotateErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.m.Rotate(ctx, keys.ES256, time.Hour); !errors.Is(err, keys.ErrIncompleteRing) {
			t.Errorf("rotate before EnsureKeys: %v, want ErrIncompleteRing", err)
		}
		if _, err := e.m.Rotate(ctx, keys.Alg("HS256"), time.Hour); !errors.Is(err, keys.ErrUnsupportedAlg) {
			t.Errorf("rotate HS256: %v, want ErrUnsupportedAlg", err)
		}
		if _, err := e.m.Rotate(ctx, keys.ES256, -time.Second); err == nil {
			t.Error("negative retention accepted")
		}
		if infos, _ := e.m.Keys(ctx); len(infos) != 0 {
			t.Errorf("failed rotations stored %d keys", len(infos))
		}
		if _, _, err := e.m.SigningKey(ctx, keys.ES256); !errors.Is(err, keys.ErrNoSigningKey) {
			t.Errorf("SigningKey with no keys: %v, want ErrNoSigningKey", err)
		}
	})
}

func TestManager_TokensVerifyAcrossRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.m.EnsureKeys(ctx); err != nil {
			t.Fatal(err)
		}
		for _, alg := range keys.Algs {
			t.Run(string(alg), func(t *testing.T) {
				next := ring(t, e.m)[alg][keys.StateNext][0].KID
				oldTok, oldKID := signJWT(t, e.m, alg, map[string]any{"sub": "alice", "n": 1})
				if _, err := e.m.Rotate(ctx, alg, time.Hour); err != nil {
					t.Fatal(err)
				}
				set := fetchJWKS(t, e.m)
				if kid, err := verifyWithJWKS(set, oldTok); err != nil || kid != oldKID {
					t.Errorf("token signed before rotation: kid %q, %v; want it to verify with %s", kid, err, oldKID)
				}
				if _, err := e.m.Verify(ctx, oldTok); err != nil {
					t.Errorf("Verify(token before rotation): %v", err)
				}
				newTok, newKID := signJWT(t, e.m, alg, map[string]any{"sub": "alice", "n": 2})
				if newKID != next || newKID == oldKID {
					t.Errorf("token after rotation signed by %s, want the former next %s", newKID, next)
				}
				if kid, err := verifyWithJWKS(set, newTok); err != nil || kid != next {
					t.Errorf("token signed after rotation: kid %q, %v", kid, err)
				}
			})
		}
	})
}

// The hot path reads memory only: after the first load, signing and publishing never
// reach the store, even when it is down; another process's rotation arrives by Reload
// or, in the background, once the refresh interval has passed.
func TestManager_HotPathAvoidsStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		admin := e.manager(t, e.kek) // the `weft keys` CLI
		if _, err := admin.EnsureKeys(ctx); err != nil {
			t.Fatal(err)
		}
		kid := kidOf(t, e.m, keys.ES256) // first use: one load
		if got := e.store.calls.Load(); got != 1 {
			t.Fatalf("first SigningKey made %d store calls, want 1", got)
		}
		e.store.fail.Store(true) // the database is gone
		tok, _ := signJWT(t, e.m, keys.ES256, map[string]any{"sub": "bob"})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 100 {
					for _, alg := range keys.Algs {
						if _, _, err := e.m.SigningKey(ctx, alg); err != nil {
							t.Error(err)
						}
						if _, err := e.m.FositeKey(alg)(ctx); err != nil {
							t.Error(err)
						}
					}
					if _, err := e.m.JWKSJSON(ctx); err != nil {
						t.Error(err)
					}
					if _, err := e.m.Verify(ctx, tok); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if got := e.store.calls.Load(); got != 1 {
			t.Errorf("hot path made %d store calls in all, want only the first load", got)
		}
		e.store.fail.Store(false)

		rot, err := admin.Rotate(ctx, keys.ES256, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if got := kidOf(t, e.m, keys.ES256); got != kid {
			t.Fatalf("rotation visible before reload or refresh: %s", got)
		}
		if err := e.m.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if got := kidOf(t, e.m, keys.ES256); got != rot.Current.KID {
			t.Fatalf("after Reload signs with %s, want %s", got, rot.Current.KID)
		}

		// A second rotation arrives without Reload once the interval has passed:
		// exactly one background reload however many requests notice the staleness.
		rot2, err := admin.Rotate(ctx, keys.ES256, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(keys.DefaultRefresh - time.Second)
		calls := e.store.calls.Load()
		if kidOf(t, e.m, keys.ES256) != rot.Current.KID || e.store.calls.Load() != calls {
			t.Fatal("reloaded before the refresh interval passed")
		}
		e.clock.Advance(time.Second)
		var seen bool
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() { _, _, _ = e.m.SigningKey(ctx, keys.ES256) })
			}
			wg.Wait()
			if kidOf(t, e.m, keys.ES256) == rot2.Current.KID {
				seen = true
				break
			}
		}
		if !seen {
			t.Fatal("rotation by another Manager not picked up after the refresh interval")
		}
		if got := e.store.calls.Load() - calls; got != 1 {
			t.Errorf("%d store calls for the background refresh, want 1", got)
		}
	})
}

// A failed Reload keeps serving the keys loaded before.
func TestManager_FailedReloadKeepsKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.m.EnsureKeys(ctx); err != nil {
			t.Fatal(err)
		}
		kid := kidOf(t, e.m, keys.ES256)
		e.store.fail.Store(true)
		if err := e.m.Reload(ctx); !errors.Is(err, errStoreDown) {
			t.Fatalf("Reload with the store down: %v", err)
		}
		if got := kidOf(t, e.m, keys.ES256); got != kid {
			t.Errorf("after a failed reload signs with %q, want %s", got, kid)
		}
	})
}

func TestNew_Config(t *testing.T) {
	tests := []struct {
		name string
		cfg  keys.Config
		want error
	}{
		{"short KEK", keys.Config{KEK: make([]byte, 16)}, keys.ErrInvalidKEK},
		{"no KEK", keys.Config{}, keys.ErrInvalidKEK},
		{"unknown alg", keys.Config{KEK: make([]byte, 32), Algs: []keys.Alg{"HS256"}}, keys.ErrUnsupportedAlg},
		{"no alg", keys.Config{KEK: make([]byte, 32), Algs: []keys.Alg{}}, keys.ErrUnsupportedAlg},
		{"ok", keys.Config{KEK: make([]byte, 32), Algs: []keys.Alg{keys.ES256}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keys.New(nil, nil, tc.cfg)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("New: %v, want %v", err, tc.want)
			}
		})
	}
}
