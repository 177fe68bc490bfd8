package revocation

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
)

// TokenCache keeps access-token lookups in memory so that steady-state introspection and
// userinfo do not query SQL. It decorates the token storage and never trades a
// revocation for speed:
//
//   - Whatever revokes, deletes or rotates a token through it becomes a Event,
//     published after the write commits (through the Fanout, to every node), and
//     applied here before the caller gets its answer.
//   - Events from other nodes (Apply) drop the cached lookups they reach. A lookup that
//     was reading the database while an event arrived is checked against that event
//     before it is cached, so a read from before a revocation is never kept after it.
//   - Cached active lookups are served only while the node is fresh on the bus (its
//     lease: it has applied everything published until a moment ago). Otherwise every
//     lookup goes to the database, which holds the truth.
//   - Inactive lookups are cached too: a token never becomes active again, so a revoked
//     token replayed at a node costs no database query after the first.
type TokenCache struct {
	access.TokenStorage
	ttl time.Duration
	max int

	fresh   func() bool                               // nil: always fresh (one node)
	publish func(ctx context.Context, ev Event) error // nil: apply here only

	// Counters for operators: a node that is often not fresh serves from the database,
	// which shows as latency long before it shows as errors.
	hits, misses, stale atomic.Uint64

	flight singleflight.Group // concurrent misses of one token, one read

	mu       sync.Mutex
	gen      uint64     // advanced by every applied event
	recent   []genEvent // the last events applied, oldest first
	entries  map[string]cachedToken
	inactive map[string]cachedToken
}

// recentEvents bounds how far back a lookup that raced events can be revalidated;
// beyond it the lookup is simply not cached.
const recentEvents = 256

type genEvent struct {
	gen uint64
	ev  Event
}

type cachedToken struct {
	req     *fosite.Request
	err     error // for inactive entries: what the store answered
	gen     uint64
	expires time.Time
	// What revocation events are matched against.
	requestID, sid, subject, clientID string
}

// NewTokenCache wraps store, keeping each lookup at most ttl and at most max entries
// (of each kind).
func NewTokenCache(store access.TokenStorage, ttl time.Duration, max int) *TokenCache {
	return &TokenCache{TokenStorage: store, ttl: ttl, max: max,
		entries: map[string]cachedToken{}, inactive: map[string]cachedToken{}}
}

// Attach connects the cache to the node's fan-out: its invalidations are published to
// every node, and cached lookups are served only while fresh says so.
func (c *TokenCache) Attach(fresh func() bool, publish func(ctx context.Context, ev Event) error) {
	c.fresh, c.publish = fresh, publish
}

// GetAccessTokenSession serves from memory when it can. Unknown and failed lookups are
// never cached.
func (c *TokenCache) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	now := time.Now()
	fresh := c.fresh == nil || c.fresh()
	c.mu.Lock()
	if e, ok := c.inactive[signature]; ok && now.Before(e.expires) {
		c.mu.Unlock()
		return cloneRequest(e.req), e.err
	}
	gen := c.gen
	if req := c.hit(signature, now, fresh); req != nil {
		c.mu.Unlock()
		return cloneRequest(req), nil
	}
	c.mu.Unlock()
	c.misses.Add(1)

	req, err := c.read(ctx, signature, session, gen, fresh)
	r, ok := req.(*fosite.Request)
	switch {
	case !ok || r.GetSession() == nil:
		return req, err
	case err != nil && !errors.Is(err, fosite.ErrInactiveToken):
		return req, err
	}
	e := entryFor(r, gen, now, c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		e.err = err
		put(c.inactive, signature, e, c.max)
		return req, err
	}
	// Tagged with the generation read before the database: an event applied meanwhile
	// may have revoked what the read returned.
	if fresh && c.revalidate(signature, &e) {
		put(c.entries, signature, e, c.max)
	}
	return req, nil
}

// PeekAccessToken returns the cached active lookup of signature, when this node may
// serve it from memory (the same rules as GetAccessTokenSession), and nothing
// otherwise: it never reads the database and never caches. The request is the cache's
// own, not a copy, for read-only use on a hot path (lean introspection): read it,
// never change it or keep it.
func (c *TokenCache) PeekAccessToken(signature string) (*fosite.Request, bool) {
	if c.fresh != nil && !c.fresh() {
		return nil, false // GetAccessTokenSession counts it, when the caller goes there
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.inactive[signature]; ok {
		return nil, false
	}
	req := c.hit(signature, now, true)
	return req, req != nil
}

// hit returns the cached active request of signature if it may be served (unexpired,
// the node fresh, no event since that reaches it), counting it as a hit, and nil
// otherwise; an entry an event reached is dropped. c.mu is held.
func (c *TokenCache) hit(signature string, now time.Time, fresh bool) *fosite.Request {
	e, ok := c.entries[signature]
	switch {
	case !ok || !now.Before(e.expires):
		return nil
	case !fresh:
		c.stale.Add(1)
		return nil
	case !c.revalidate(signature, &e):
		delete(c.entries, signature)
		return nil
	}
	c.entries[signature] = e
	c.hits.Add(1)
	return e.req
}

// read asks the storage. Concurrent misses of one token share one read (a gateway that
// opens many connections at once, or a node that just started, would otherwise send
// each of them to the database: 2,000 reads of one token were measured in the first
// second of a 5,000/s load). A read is shared only among callers that could not have
// learnt of a revocation in between: the node fresh, the same generation of applied
// events (a revocation is applied here, advancing it, before it is answered, or this
// node stops being fresh), and no transaction in the context (its reads see its own
// writes). Whoever shares a result gets a copy of it.
func (c *TokenCache) read(ctx context.Context, signature string, session fosite.Session, gen uint64, fresh bool) (fosite.Requester, error) {
	tx, ok := c.TokenStorage.(interface{ InTransaction(context.Context) bool })
	if !fresh || !ok || tx.InTransaction(ctx) || ctx.Value(pendingKey{}) != nil {
		return c.TokenStorage.GetAccessTokenSession(ctx, signature, session)
	}
	key := signature + "\x00" + strconv.FormatUint(gen, 10)
	ch := c.flight.DoChan(key, func() (any, error) {
		// Not the first caller's cancellation: the others wait on this read too.
		req, err := c.TokenStorage.GetAccessTokenSession(context.WithoutCancel(ctx), signature, session)
		return sharedRead{req, err}, nil
	})
	select {
	case res := <-ch:
		sr := res.Val.(sharedRead)
		if r, ok := sr.req.(*fosite.Request); ok && res.Shared {
			return cloneRequest(r), sr.err
		}
		return sr.req, sr.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type sharedRead struct {
	req fosite.Requester
	err error
}

// CacheStats counts access-token lookups: served from memory, read from the database,
// and of those reads, the ones made only because the node was not fresh on the bus.
type CacheStats struct{ Hits, Misses, Stale uint64 }

// Stats returns the counters since start.
func (c *TokenCache) Stats() CacheStats {
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Stale: c.stale.Load()}
}

// entryFor describes r for the cache; it expires with the token or after ttl.
func entryFor(r *fosite.Request, gen uint64, now time.Time, ttl time.Duration) cachedToken {
	e := cachedToken{req: cloneRequest(r), gen: gen, expires: now.Add(ttl), requestID: r.GetID()}
	if te := r.GetSession().GetExpiresAt(fosite.AccessToken); !te.IsZero() && te.Before(e.expires) {
		e.expires = te
	}
	e.subject = r.GetSession().GetSubject()
	if s, ok := r.GetSession().(*access.Session); ok {
		e.sid = s.SID
	}
	if cl := r.GetClient(); cl != nil {
		e.clientID = cl.GetID()
	}
	return e
}

func put(m map[string]cachedToken, k string, e cachedToken, max int) {
	now := time.Now()
	access.MakeRoom(m, max, func(c cachedToken) bool { return !now.Before(c.expires) })
	m[k] = e
}

// revalidate reports whether e, read under generation e.gen, is still good now, and
// moves it to the current generation. c.mu is held.
func (c *TokenCache) revalidate(signature string, e *cachedToken) bool {
	if e.gen == c.gen {
		return true
	}
	if len(c.recent) == 0 || c.recent[0].gen > e.gen+1 {
		return false // events it missed are no longer known
	}
	for _, g := range c.recent {
		if g.gen > e.gen && g.ev.matches(signature, e.requestID, e.sid, e.subject, e.clientID) {
			return false
		}
	}
	e.gen = c.gen
	return true
}

// Apply drops every cached lookup ev reaches. Only active lookups are dropped: an
// event names grants, sessions or subjects, which may since hold new valid tokens.
func (c *TokenCache) Apply(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if ev.All {
		clear(c.entries)
	} else {
		for sig, e := range c.entries {
			if ev.matches(sig, e.requestID, e.sid, e.subject, e.clientID) {
				delete(c.entries, sig)
			}
		}
	}
	if len(c.recent) == recentEvents {
		c.recent = append(c.recent[:0], c.recent[1:]...)
	}
	c.recent = append(c.recent, genEvent{gen: c.gen, ev: ev})
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

// pendingKey carries the events of a transaction until it commits.
type pendingKey struct{}

type pendingEvents struct {
	mu  sync.Mutex
	evs []Event
}

// invalidated publishes ev after a write, or, inside a transaction, when it commits:
// before that, other readers still see the old state and a node could cache it again.
func (c *TokenCache) invalidated(ctx context.Context, ev Event, err error) error {
	if p, ok := ctx.Value(pendingKey{}).(*pendingEvents); ok {
		p.mu.Lock()
		p.evs = append(p.evs, ev)
		p.mu.Unlock()
		return err
	}
	return errors.Join(err, c.send(ctx, ev))
}

func (c *TokenCache) send(ctx context.Context, ev Event) error {
	if c.publish == nil {
		c.Apply(ev)
		return nil
	}
	return c.publish(ctx, ev)
}

// BeginTX starts the storage's transaction and collects its invalidations.
func (c *TokenCache) BeginTX(ctx context.Context) (context.Context, error) {
	tctx, err := c.TokenStorage.BeginTX(ctx)
	if err != nil {
		return tctx, err
	}
	return context.WithValue(tctx, pendingKey{}, &pendingEvents{}), nil
}

// Commit commits, then publishes what the transaction revoked.
func (c *TokenCache) Commit(ctx context.Context) error {
	if err := c.TokenStorage.Commit(ctx); err != nil {
		return err
	}
	p, ok := ctx.Value(pendingKey{}).(*pendingEvents)
	if !ok {
		return nil
	}
	p.mu.Lock()
	evs := p.evs
	p.evs = nil
	p.mu.Unlock()
	var errs []error
	ctx = context.WithValue(ctx, pendingKey{}, nil)
	for _, ev := range evs {
		errs = append(errs, c.send(ctx, ev))
	}
	return errors.Join(errs...)
}

// DeleteAccessTokenSession deletes, then invalidates.
func (c *TokenCache) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	err := c.TokenStorage.DeleteAccessTokenSession(ctx, signature)
	return c.invalidated(ctx, Event{Signatures: []string{signature}}, err)
}

// RevokeAccessToken revokes, then invalidates.
func (c *TokenCache) RevokeAccessToken(ctx context.Context, requestID string) error {
	err := c.TokenStorage.RevokeAccessToken(ctx, requestID)
	return c.invalidated(ctx, Event{RequestIDs: []string{requestID}}, err)
}

// RevokeRefreshToken invalidates too: the store may revoke the grant's access tokens with it.
func (c *TokenCache) RevokeRefreshToken(ctx context.Context, requestID string) error {
	err := c.TokenStorage.RevokeRefreshToken(ctx, requestID)
	return c.invalidated(ctx, Event{RequestIDs: []string{requestID}}, err)
}

// RotateRefreshToken invalidates too: rotation deactivates the grant's access tokens.
func (c *TokenCache) RotateRefreshToken(ctx context.Context, requestID, refreshSignature string) error {
	err := c.TokenStorage.RotateRefreshToken(ctx, requestID, refreshSignature)
	return c.invalidated(ctx, Event{RequestIDs: []string{requestID}}, err)
}

// RevokeBySessionID revokes by login session, then invalidates.
func (c *TokenCache) RevokeBySessionID(ctx context.Context, sid string) (int64, error) {
	r, ok := c.TokenStorage.(access.SessionRevoker)
	if !ok {
		return 0, errors.New("token storage cannot revoke by session")
	}
	n, err := r.RevokeBySessionID(ctx, sid)
	return n, c.invalidated(ctx, Event{SIDs: []string{sid}}, err)
}
