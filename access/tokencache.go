package access

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"
)

// TokenCache keeps access-token lookups in memory so that steady-state introspection and
// userinfo do not query SQL. It decorates the token storage and never trades a
// revocation for speed: anything revoked, deleted, rotated or committed through it
// invalidates every cached lookup on every node (revocations are rare next to lookups,
// and a cold cache costs one query per token).
//
// Several nodes share one revocation generation (Generation): every revocation bumps it
// after its write is committed and before it is answered, and a cached lookup is served
// only while the generation it was read under is still current. So once a revocation is
// answered, no node serves a token from memory that the database no longer holds
// active. If the generation cannot be read, lookups bypass the cache.
type TokenCache struct {
	TokenStorage
	gens Generation
	ttl  time.Duration
	max  int

	mu      sync.Mutex
	entries map[string]cachedToken
}

// Generation is the shared revocation counter: in process for one node
// (LocalGeneration), in Redis for several (access/redisstore).
type Generation interface {
	// Current returns the generation; an error makes the caller bypass the cache.
	Current(ctx context.Context) (uint64, error)
	// Bump advances it; an error means other nodes may not have seen a revocation.
	Bump(ctx context.Context) error
}

// LocalGeneration is a Generation for a single node.
type LocalGeneration struct{ n atomic.Uint64 }

// Current implements Generation.
func (g *LocalGeneration) Current(context.Context) (uint64, error) { return g.n.Load(), nil }

// Bump implements Generation.
func (g *LocalGeneration) Bump(context.Context) error { g.n.Add(1); return nil }

type cachedToken struct {
	req     *fosite.Request
	gen     uint64
	expires time.Time
}

// NewTokenCache wraps store, keeping each lookup at most ttl and at most max entries.
func NewTokenCache(store TokenStorage, gens Generation, ttl time.Duration, max int) *TokenCache {
	return &TokenCache{TokenStorage: store, gens: gens, ttl: ttl, max: max, entries: map[string]cachedToken{}}
}

// GetAccessTokenSession serves from memory when it can. Inactive, unknown and failed
// lookups are never cached.
func (c *TokenCache) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	now := time.Now()
	gen, gerr := c.gens.Current(ctx)
	if gerr != nil {
		return c.TokenStorage.GetAccessTokenSession(ctx, signature, session)
	}
	c.mu.Lock()
	e, ok := c.entries[signature]
	c.mu.Unlock()
	if ok && e.gen == gen && now.Before(e.expires) {
		return cloneRequest(e.req), nil
	}
	req, err := c.TokenStorage.GetAccessTokenSession(ctx, signature, session)
	if err != nil {
		return req, err
	}
	r, ok := req.(*fosite.Request)
	if !ok || r.GetSession() == nil {
		return req, nil
	}
	exp := now.Add(c.ttl)
	if te := r.GetSession().GetExpiresAt(fosite.AccessToken); !te.IsZero() && te.Before(exp) {
		exp = te
	}
	c.mu.Lock()
	// Tagged with the generation read before the database: a revocation committed
	// meanwhile has bumped it, so this entry will not be served.
	if len(c.entries) >= c.max {
		clear(c.entries)
	}
	c.entries[signature] = cachedToken{req: cloneRequest(r), gen: gen, expires: exp}
	c.mu.Unlock()
	return req, nil
}

// cloneRequest copies the request and its session, so that callers mutating what they
// got (fosite sets fields on sessions) never touch the cached copy.
func cloneRequest(r *fosite.Request) *fosite.Request {
	cp := *r
	if s := r.GetSession(); s != nil {
		cp.Session = s.Clone()
	}
	return &cp
}

// bump advances the shared generation, so every node's cached lookups become misses.
func (c *TokenCache) bump(ctx context.Context, err error) error {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
	if berr := c.gens.Bump(context.WithoutCancel(ctx)); berr != nil {
		return errors.Join(err, fmt.Errorf("publish token revocation to other nodes: %w", berr))
	}
	return err
}

// Invalidate makes every node's cached lookups misses; callers that revoke through
// other paths call it after their transaction commits.
func (c *TokenCache) Invalidate(ctx context.Context) error { return c.bump(ctx, nil) }

// DeleteAccessTokenSession deletes, then invalidates.
func (c *TokenCache) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return c.bump(ctx, c.TokenStorage.DeleteAccessTokenSession(ctx, signature))
}

// RevokeAccessToken revokes, then invalidates.
func (c *TokenCache) RevokeAccessToken(ctx context.Context, requestID string) error {
	return c.bump(ctx, c.TokenStorage.RevokeAccessToken(ctx, requestID))
}

// RevokeRefreshToken invalidates too: the store may revoke the grant's access tokens with it.
func (c *TokenCache) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return c.bump(ctx, c.TokenStorage.RevokeRefreshToken(ctx, requestID))
}

// RotateRefreshToken invalidates too: rotation deactivates the grant's access tokens.
func (c *TokenCache) RotateRefreshToken(ctx context.Context, requestID, refreshSignature string) error {
	return c.bump(ctx, c.TokenStorage.RotateRefreshToken(ctx, requestID, refreshSignature))
}

// RevokeBySessionID revokes by login session, then invalidates.
func (c *TokenCache) RevokeBySessionID(ctx context.Context, sid string) (int64, error) {
	r, ok := c.TokenStorage.(SessionRevoker)
	if !ok {
		return 0, errors.New("token storage cannot revoke by session")
	}
	n, err := r.RevokeBySessionID(ctx, sid)
	return n, c.bump(ctx, err)
}

// Commit invalidates again after the transaction ends: a revocation made inside it
// becomes visible to other readers only now, and a lookup in between may have cached
// the old state under the generation bumped before the commit.
func (c *TokenCache) Commit(ctx context.Context) error {
	return c.bump(ctx, c.TokenStorage.Commit(ctx))
}
