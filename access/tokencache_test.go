package access_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
)

// countingStore is a TokenStorage whose access-token lookups are counted; everything
// else panics if called (the embedded nil interface), which the test never does.
type countingStore struct {
	access.TokenStorage
	lookups atomic.Int64
	revoked atomic.Bool
}

func (s *countingStore) GetAccessTokenSession(_ context.Context, _ string, _ fosite.Session) (fosite.Requester, error) {
	s.lookups.Add(1)
	if s.revoked.Load() {
		return nil, fosite.ErrInactiveToken
	}
	sess := access.NewSession("alice-id", "alice", "sid-1")
	sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
	r := fosite.NewRequest()
	r.Session = sess
	return r, nil
}

func (s *countingStore) RevokeAccessToken(context.Context, string) error {
	s.revoked.Store(true)
	return nil
}

func (s *countingStore) Commit(context.Context) error { return nil }

func TestTokenCache(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{}
	c := access.NewTokenCache(store, &access.LocalGeneration{}, time.Minute, 100)
	for i := 0; i < 5; i++ {
		r, err := c.GetAccessTokenSession(ctx, "sig", access.NewSession("", "", ""))
		if err != nil || r.GetSession().GetSubject() != "alice-id" {
			t.Fatalf("lookup %d = %v, %v", i, r, err)
		}
		r.GetSession().(*access.Session).Subject = "tampered" // callers may mutate what they get
	}
	if n := store.lookups.Load(); n != 1 {
		t.Fatalf("store lookups = %d, want 1 (the rest from memory)", n)
	}
	if err := c.RevokeAccessToken(ctx, "req"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetAccessTokenSession(ctx, "sig", access.NewSession("", "", "")); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("after revocation the cache still answers: %v", err)
	}
	// Inactive answers are not cached: each lookup asks the store.
	before := store.lookups.Load()
	_, _ = c.GetAccessTokenSession(ctx, "sig", access.NewSession("", "", ""))
	if store.lookups.Load() != before+1 {
		t.Fatal("an inactive lookup was cached")
	}
}

func TestTokenCache_ExpiryBoundsEntries(t *testing.T) {
	store := &countingStore{}
	c := access.NewTokenCache(store, &access.LocalGeneration{}, time.Nanosecond, 100)
	for i := 0; i < 3; i++ {
		if _, err := c.GetAccessTokenSession(context.Background(), "sig", access.NewSession("", "", "")); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.lookups.Load(); n != 3 {
		t.Fatalf("lookups = %d with a 1ns TTL, want 3", n)
	}
}

// failingGeneration stands for Redis being unreachable.
type failingGeneration struct{}

func (failingGeneration) Current(context.Context) (uint64, error) { return 0, errors.New("redis down") }
func (failingGeneration) Bump(context.Context) error              { return errors.New("redis down") }

func TestTokenCache_SharedGeneration(t *testing.T) {
	ctx := context.Background()
	gens := &access.LocalGeneration{}
	storeA, storeB := &countingStore{}, &countingStore{}
	nodeA := access.NewTokenCache(storeA, gens, time.Minute, 100)
	nodeB := access.NewTokenCache(storeB, gens, time.Minute, 100)
	for i := 0; i < 3; i++ {
		if _, err := nodeB.GetAccessTokenSession(ctx, "sig", access.NewSession("", "", "")); err != nil {
			t.Fatal(err)
		}
	}
	if storeB.lookups.Load() != 1 {
		t.Fatalf("node B lookups = %d, want 1", storeB.lookups.Load())
	}
	// A revocation on node A (the database is shared: B's store sees it too).
	storeB.revoked.Store(true)
	if err := nodeA.RevokeAccessToken(ctx, "req"); err != nil {
		t.Fatal(err)
	}
	if _, err := nodeB.GetAccessTokenSession(ctx, "sig", access.NewSession("", "", "")); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("node B served a token revoked on node A: %v", err)
	}

	// Without a readable generation the cache is bypassed, and a revocation that cannot
	// be published reports an error.
	storeC := &countingStore{}
	nodeC := access.NewTokenCache(storeC, failingGeneration{}, time.Minute, 100)
	for i := 0; i < 3; i++ {
		_, _ = nodeC.GetAccessTokenSession(ctx, "sig", access.NewSession("", "", ""))
	}
	if storeC.lookups.Load() != 3 {
		t.Fatalf("lookups with Redis down = %d, want 3 (cache bypassed)", storeC.lookups.Load())
	}
	if err := nodeC.RevokeAccessToken(ctx, "req"); err == nil {
		t.Fatal("a revocation that could not be published reported success")
	}
}
