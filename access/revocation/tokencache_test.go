package revocation_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/revocation"
)

// memTokens is a TokenStorage holding access tokens in a map, counting lookups; what
// the cache never calls panics (the embedded nil interface). The database-backed store
// has its own tests; this one isolates the cache's decisions.
type memTokens struct {
	access.TokenStorage
	mu      sync.Mutex
	tokens  map[string]*memToken
	lookups atomic.Int64
	// hold, when set, blocks a lookup after it has read, until released.
	hold chan chan struct{}
}

type memToken struct {
	requestID, subject, sid, client string
	active                          bool
}

func newMemTokens() *memTokens { return &memTokens{tokens: map[string]*memToken{}} }

func (s *memTokens) add(sig, requestID, subject, sid, client string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[sig] = &memToken{requestID, subject, sid, client, true}
}

func (s *memTokens) GetAccessTokenSession(_ context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	s.lookups.Add(1)
	s.mu.Lock()
	t, ok := s.tokens[sig]
	var cp memToken
	if ok {
		cp = *t
	}
	s.mu.Unlock()
	if s.hold != nil {
		release := make(chan struct{})
		s.hold <- release
		<-release
	}
	if !ok {
		return nil, fosite.ErrNotFound
	}
	sess := access.NewSession(cp.subject, "", cp.sid)
	sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
	r := fosite.NewRequest()
	r.ID, r.Session, r.Client = cp.requestID, sess, &fosite.DefaultClient{ID: cp.client}
	if !cp.active {
		return r, fosite.ErrInactiveToken
	}
	return r, nil
}

// deactivate stands for another node's committed revocation: the database changes,
// this node's memory does not until an event says so.
func (s *memTokens) deactivate(match func(*memToken) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if match(t) {
			t.active = false
		}
	}
}

func (s *memTokens) RevokeAccessToken(_ context.Context, requestID string) error {
	s.deactivate(func(t *memToken) bool { return t.requestID == requestID })
	return nil
}

func (s *memTokens) BeginTX(ctx context.Context) (context.Context, error) { return ctx, nil }
func (s *memTokens) Commit(context.Context) error                         { return nil }

func lookup(c *revocation.TokenCache, sig string) (fosite.Requester, error) {
	return c.GetAccessTokenSession(context.Background(), sig, access.NewSession("", "", ""))
}

func TestTokenCache(t *testing.T) {
	store := newMemTokens()
	store.add("sig", "req", "alice-id", "sid-1", "web")
	c := revocation.NewTokenCache(store, time.Minute, 100)
	for i := range 5 {
		r, err := lookup(c, "sig")
		if err != nil || r.GetSession().GetSubject() != "alice-id" {
			t.Fatalf("lookup %d = %v, %v", i, r, err)
		}
		r.GetSession().(*access.Session).Subject = "tampered" // callers may mutate what they get
	}
	if n := store.lookups.Load(); n != 1 {
		t.Fatalf("store lookups = %d, want 1 (the rest from memory)", n)
	}
	if err := c.RevokeAccessToken(context.Background(), "req"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := lookup(c, "sig"); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Fatalf("after revocation.revocation the cache still answers: %v", err)
		}
	}
	// The revoked token was read once more, then its inactive answer came from memory.
	if n := store.lookups.Load(); n != 2 {
		t.Fatalf("store lookups = %d, want 2", n)
	}
	// Unknown tokens are not cached.
	for range 2 {
		if _, err := lookup(c, "nope"); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if n := store.lookups.Load(); n != 4 {
		t.Fatalf("store lookups = %d, want 4 (unknown tokens asked each time)", n)
	}
}

func TestTokenCache_ExpiryBoundsEntries(t *testing.T) {
	store := newMemTokens()
	store.add("sig", "req", "alice-id", "sid-1", "web")
	c := revocation.NewTokenCache(store, time.Nanosecond, 100)
	for range 3 {
		if _, err := lookup(c, "sig"); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.lookups.Load(); n != 3 {
		t.Fatalf("lookups = %d with a 1ns TTL, want 3", n)
	}
}

// An event from another node drops exactly the cached tokens it reaches.
func TestTokenCache_ApplyBySelector(t *testing.T) {
	tokens := []struct{ sig, req, sub, sid, client string }{
		{"t1", "r1", "alice", "s1", "web"},
		{"t2", "r2", "alice", "s2", "spa"},
		{"t3", "r3", "bob", "s3", "web"},
		{"t4", "r4", "ci", "", "m2m"},
	}
	cases := []struct {
		name    string
		ev      revocation.Event
		dropped []string
	}{
		{"one token", revocation.Event{Signatures: []string{"t3"}}, []string{"t3"}},
		{"a grant", revocation.Event{RequestIDs: []string{"r2"}}, []string{"t2"}},
		{"a session", revocation.Event{SIDs: []string{"s1"}}, []string{"t1"}},
		{"a subject", revocation.Event{Subject: "alice"}, []string{"t1", "t2"}},
		{"a client", revocation.Event{ClientID: "web"}, []string{"t1", "t3"}},
		{"a device's sessions", revocation.Event{SIDs: []string{"s2", "s3"}}, []string{"t2", "t3"}},
		{"everything", revocation.Event{All: true}, []string{"t1", "t2", "t3", "t4"}},
		{"nothing known", revocation.Event{Subject: "carol"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemTokens()
			for _, tk := range tokens {
				store.add(tk.sig, tk.req, tk.sub, tk.sid, tk.client)
			}
			c := revocation.NewTokenCache(store, time.Minute, 100)
			for _, tk := range tokens {
				if _, err := lookup(c, tk.sig); err != nil {
					t.Fatal(err)
				}
			}
			c.Apply(tc.ev)
			for _, tk := range tokens {
				before := store.lookups.Load()
				if _, err := lookup(c, tk.sig); err != nil {
					t.Fatal(err)
				}
				asked := store.lookups.Load() > before
				want := false
				for _, d := range tc.dropped {
					want = want || d == tk.sig
				}
				if asked != want {
					t.Errorf("%s: went to the store = %v, want %v", tk.sig, asked, want)
				}
			}
		})
	}
}

// A lookup that read the database before a revocation, and finishes after the
// revocation's event was applied, must not be cached.
func TestTokenCache_LookupRacingAnEvent(t *testing.T) {
	store := newMemTokens()
	store.add("sig", "req", "alice", "s1", "web")
	store.add("other", "req2", "bob", "s2", "web")
	store.hold = make(chan chan struct{})
	c := revocation.NewTokenCache(store, time.Minute, 100)
	done := make(chan error)
	go func() { _, err := lookup(c, "sig"); done <- err }()
	release := <-store.hold // the lookup has read "active"
	store.deactivate(func(t *memToken) bool { return t.subject == "alice" })
	c.Apply(revocation.Event{Subject: "alice"})
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the racing lookup = %v (it read before the revocation.revocation, so active is right)", err)
	}
	go func() { _, err := lookup(c, "sig"); done <- err }()
	close(<-store.hold)
	if err := <-done; !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("after the event the cache served the racing read: %v", err)
	}

	// A racing lookup the event does not reach is cached as usual.
	go func() { _, err := lookup(c, "other"); done <- err }()
	release = <-store.hold
	c.Apply(revocation.Event{Subject: "alice"})
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	store.hold = nil
	before := store.lookups.Load()
	if _, err := lookup(c, "other"); err != nil || store.lookups.Load() != before {
		t.Fatalf("an unaffected racing lookup was not cached: %v, lookups %d -> %d", err, before, store.lookups.Load())
	}
}

// While the node is not fresh on the bus, active tokens come from the database; what
// is known inactive stays inactive.
func TestTokenCache_NotFresh(t *testing.T) {
	store := newMemTokens()
	store.add("sig", "req", "alice", "s1", "web")
	store.add("dead", "req2", "bob", "s2", "web")
	store.deactivate(func(t *memToken) bool { return t.requestID == "req2" })
	var fresh atomic.Bool
	fresh.Store(true)
	c := revocation.NewTokenCache(store, time.Minute, 100)
	c.Attach(fresh.Load, nil)
	_, _ = lookup(c, "sig")
	_, _ = lookup(c, "dead")
	fresh.Store(false)
	before := store.lookups.Load()
	for range 3 {
		if _, err := lookup(c, "sig"); err != nil {
			t.Fatal(err)
		}
		if _, err := lookup(c, "dead"); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Fatal(err)
		}
	}
	if got := store.lookups.Load() - before; got != 3 {
		t.Fatalf("store lookups while not fresh = %d, want 3 (active ones only)", got)
	}
	// Another node revoked meanwhile: not fresh, so this node never serves it.
	store.deactivate(func(t *memToken) bool { return t.requestID == "req" })
	if _, err := lookup(c, "sig"); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("a node that is not fresh served a stale token: %v", err)
	}
}

// Invalidations inside a transaction are published when it commits, not before; a
// failed publication is reported.
func TestTokenCache_Publishing(t *testing.T) {
	store := newMemTokens()
	var mu sync.Mutex
	var published []revocation.Event
	fail := false
	c := revocation.NewTokenCache(store, time.Minute, 100)
	c.Attach(nil, func(_ context.Context, ev revocation.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("redis down")
		}
		published = append(published, ev)
		return nil
	})
	ctx := context.Background()
	tctx, err := c.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeAccessToken(tctx, "req-in-tx"); err != nil {
		t.Fatal(err)
	}
	if len(published) != 0 {
		t.Fatal("published before the transaction committed")
	}
	if err := c.Commit(tctx); err != nil {
		t.Fatal(err)
	}
	if len(published) != 1 || published[0].RequestIDs[0] != "req-in-tx" {
		t.Fatalf("after commit published %+v", published)
	}
	if err := c.RevokeAccessToken(ctx, "req-now"); err != nil {
		t.Fatal(err)
	}
	if len(published) != 2 || published[1].RequestIDs[0] != "req-now" {
		t.Fatalf("outside a transaction published %+v", published)
	}
	fail = true
	if err := c.RevokeAccessToken(ctx, "req"); err == nil {
		t.Fatal("a revocation.revocation that could not be published reported success")
	}
}

// PeekAccessToken lends what GetAccessTokenSession would serve from memory and nothing
// else: never a database read, never an entry an event reached, never while the node
// is not fresh, never an inactive token.
func TestTokenCache_Peek(t *testing.T) {
	store := newMemTokens()
	store.add("sig", "req", "alice", "s1", "web")
	store.add("other", "req2", "bob", "s2", "web")
	store.add("dead", "req3", "carol", "s3", "web")
	store.deactivate(func(t *memToken) bool { return t.requestID == "req3" })
	var fresh atomic.Bool
	fresh.Store(true)
	c := revocation.NewTokenCache(store, time.Minute, 100)
	c.Attach(fresh.Load, nil)

	if _, ok := c.PeekAccessToken("sig"); ok {
		t.Fatal("a token never looked up was lent")
	}
	if n := store.lookups.Load(); n != 0 {
		t.Fatalf("peeking read the store %d times", n)
	}
	for _, sig := range []string{"sig", "other", "dead"} {
		_, _ = lookup(c, sig)
	}
	r, ok := c.PeekAccessToken("sig")
	if !ok || r.GetSession().GetSubject() != "alice" || r.GetID() != "req" {
		t.Fatalf("peek = %v, %v", r, ok)
	}
	if _, ok := c.PeekAccessToken("dead"); ok {
		t.Fatal("an inactive token was lent")
	}
	fresh.Store(false)
	stale := c.Stats().Stale
	if _, ok := c.PeekAccessToken("sig"); ok {
		t.Fatal("a node that is not fresh lent a cached token")
	}
	if c.Stats().Stale != stale {
		t.Fatal("a peek counted a stale read it did not make")
	}
	fresh.Store(true)
	// Another node revoked alice's session: the event reaches the entry.
	c.Apply(revocation.Event{SIDs: []string{"s1"}})
	if _, ok := c.PeekAccessToken("sig"); ok {
		t.Fatal("a token an event revoked was lent")
	}
	if _, ok := c.PeekAccessToken("other"); !ok {
		t.Fatal("an event about another session dropped bob's token")
	}
	if n := store.lookups.Load(); n != 3 {
		t.Fatalf("store lookups = %d, want 3 (the first lookups only)", n)
	}
}

// sharingTokens is memTokens that can tell a transaction's context (txCtxKey), as the
// database-backed store can: the cache shares its reads only outside one.
type sharingTokens struct{ *memTokens }

type txCtxKey struct{}

func (sharingTokens) InTransaction(ctx context.Context) bool { return ctx.Value(txCtxKey{}) != nil }

// Concurrent misses of one token share one read, unless a caller may know more than
// the read: an event applied since it began, a node that is not fresh, a transaction.
func TestTokenCache_ConcurrentMissesShareARead(t *testing.T) {
	setup := func() (*memTokens, *revocation.TokenCache, *atomic.Bool) {
		store := newMemTokens()
		store.add("sig", "req", "alice", "s1", "web")
		store.hold = make(chan chan struct{}, 16)
		c := revocation.NewTokenCache(sharingTokens{store}, time.Minute, 100)
		fresh := &atomic.Bool{}
		fresh.Store(true)
		c.Attach(fresh.Load, nil)
		return store, c, fresh
	}
	type result struct {
		r   fosite.Requester
		err error
	}
	start := func(c *revocation.TokenCache, ctx context.Context, n int) chan result {
		out := make(chan result, n)
		for range n {
			go func() {
				r, err := c.GetAccessTokenSession(ctx, "sig", access.NewSession("", "", ""))
				out <- result{r, err}
			}()
		}
		return out
	}
	// waitJoined gives the callers time to reach the cache (and join, or not).
	waitJoined := func() { time.Sleep(50 * time.Millisecond) }
	// next is the next read to reach the store, held until released.
	next := func(t *testing.T, store *memTokens) chan struct{} {
		t.Helper()
		select {
		case r := <-store.hold:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal("no read reached the store: a caller joined a read it should not have")
			return nil
		}
	}

	t.Run("shared", func(t *testing.T) {
		store, c, _ := setup()
		out := start(c, context.Background(), 10)
		release := next(t, store)
		waitJoined()
		close(release)
		for len(store.hold) > 0 { // reads that did not join, released so that they end
			close(<-store.hold)
		}
		var sessions []*access.Session
		for range 10 {
			res := <-out
			if res.err != nil || res.r.GetSession().GetSubject() != "alice" {
				t.Fatalf("lookup = %v, %v", res.r, res.err)
			}
			sessions = append(sessions, res.r.GetSession().(*access.Session))
		}
		if n := store.lookups.Load(); n != 1 {
			t.Fatalf("store lookups = %d, want 1 shared by 10 callers", n)
		}
		sessions[0].Subject = "changed"
		for _, s := range sessions[1:] {
			if s.Subject != "alice" {
				t.Fatal("callers that shared a read share its session: one's change reached another")
			}
		}
	})

	t.Run("an event applied meanwhile", func(t *testing.T) {
		store, c, _ := setup()
		first := start(c, context.Background(), 1)
		release := next(t, store) // read "active" before the revocation
		defer close(release)
		store.deactivate(func(t *memToken) bool { return t.subject == "alice" })
		c.Apply(revocation.Event{Subject: "alice"})
		later := start(c, context.Background(), 1) // arrives after the revocation
		close(next(t, store))
		if res := <-later; !errors.Is(res.err, fosite.ErrInactiveToken) {
			t.Fatalf("a lookup after the revocation joined a read from before it: %v", res.err)
		}
		release <- struct{}{}
		if res := <-first; res.err != nil {
			t.Fatalf("the read that began before the revocation = %v", res.err)
		}
	})

	for _, tc := range []struct {
		name string
		ctx  context.Context
		stop func(fresh *atomic.Bool)
	}{
		{"in a transaction", context.WithValue(context.Background(), txCtxKey{}, true), func(*atomic.Bool) {}},
		{"node not fresh", context.Background(), func(f *atomic.Bool) { f.Store(false) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, c, fresh := setup()
			tc.stop(fresh)
			out := start(c, tc.ctx, 3)
			var held []chan struct{}
			for range 3 { // all three in the store at once: none joined another
				held = append(held, next(t, store))
			}
			for _, r := range held {
				close(r)
			}
			for range 3 {
				if res := <-out; res.err != nil {
					t.Fatal(res.err)
				}
			}
			if n := store.lookups.Load(); n != 3 {
				t.Fatalf("store lookups = %d, want 3", n)
			}
		})
	}
}
