package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/identity"
)

// memo is a bounded in-memory cache under the rules of the gate's principal cache: it is
// served only while the node is fresh on the fan-out bus (a node cut off from the other
// nodes' revocations asks the database), entries expire after ttl at the latest, and a
// lookup that raced an invalidation is not kept (gen).
type memo[K comparable, V any] struct {
	fresh func() bool
	ttl   time.Duration
	max   int
	now   func() time.Time

	mu      sync.RWMutex
	gen     uint64
	entries map[K]memoEntry[V]
}

type memoEntry[V any] struct {
	v       V
	err     error // a negative answer (no such session), cached like a positive one
	expires time.Time
}

func newMemo[K comparable, V any](fresh func() bool, ttl time.Duration, max int) *memo[K, V] {
	if fresh == nil {
		fresh = func() bool { return true }
	}
	return &memo[K, V]{fresh: fresh, ttl: ttl, max: max, now: time.Now, entries: map[K]memoEntry[V]{}}
}

// get returns the cached answer for k, or loads it. load returns the value, an upper
// bound on how long it stays true (zero: none), and a negative answer to cache (err
// matching keepErr) or any other error, which is never cached.
func (c *memo[K, V]) get(k K, keepErr error, load func() (V, time.Time, error)) (V, error) {
	if !c.fresh() {
		v, _, err := load()
		return v, err
	}
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[k]
	gen := c.gen
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.v, e.err
	}
	v, until, err := load()
	if err != nil && !errors.Is(err, keepErr) {
		return v, err
	}
	expires := now.Add(c.ttl)
	if !until.IsZero() && until.Before(expires) {
		expires = until
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.entries) >= c.max {
			// Expired and negative entries go first; if that is not enough, all go:
			// crude but bounded, and the database refills what is in use.
			for key, e := range c.entries {
				if e.err != nil || !now.Before(e.expires) {
					delete(c.entries, key)
				}
			}
			if len(c.entries) >= c.max {
				clear(c.entries)
			}
		}
		c.entries[k] = memoEntry[V]{v: v, err: err, expires: expires}
	}
	c.mu.Unlock()
	return v, err
}

// drop removes the entries for which match says so, or everything when all is set.
func (c *memo[K, V]) drop(all bool, match func(K, V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if all {
		clear(c.entries)
		return
	}
	for k, e := range c.entries {
		if e.err == nil && match(k, e.v) {
			delete(c.entries, k)
		}
	}
}

// SessionResumer checks a session cookie (*identity.Sessions).
type SessionResumer interface {
	Resume(ctx context.Context, cookie string) (identity.LoginSession, error)
}

// SessionCache resumes browser login sessions from their cookie without SQL in the
// steady state. Entries are keyed by the cookie's SHA-256, so no cookie is kept in
// memory; a cookie that names no session is remembered as such (a session id is random
// and never comes back to life), so probing with made-up cookies does not reach the
// database either. Fan-out events that end sessions (by sid, by subject, or everything)
// drop them on every node before a revocation is answered.
type SessionCache struct {
	next SessionResumer
	m    *memo[[32]byte, identity.LoginSession]
}

var _ revocation.Watcher = (*SessionCache)(nil)

// NewSessionCache wraps next; fresh says whether the node may serve from memory
// (revocation.Fanout.Fresh), max bounds the entries.
func NewSessionCache(next SessionResumer, fresh func() bool, ttl time.Duration, max int) *SessionCache {
	return &SessionCache{next: next, m: newMemo[[32]byte, identity.LoginSession](fresh, ttl, max)}
}

// Resume returns the live session of cookie, or identity.ErrNoSession.
func (c *SessionCache) Resume(ctx context.Context, cookie string) (identity.LoginSession, error) {
	return c.m.get(sha256.Sum256([]byte(cookie)), identity.ErrNoSession, func() (identity.LoginSession, time.Time, error) {
		ls, err := c.next.Resume(ctx, cookie)
		if err != nil {
			return identity.LoginSession{}, time.Time{}, err
		}
		ls.SecretHash = nil // nothing secret stays in memory longer than needed
		return ls, ls.ExpiresAt, nil
	})
}

// Watch implements revocation.Watcher.
func (c *SessionCache) Watch(ev revocation.Event) {
	if ev.All {
		c.m.drop(true, nil)
		return
	}
	if len(ev.SIDs) == 0 && ev.Subject == "" {
		return
	}
	c.m.drop(false, func(_ [32]byte, ls identity.LoginSession) bool {
		return slices.Contains(ev.SIDs, ls.ID) || ev.Subject != "" && ls.UserID == ev.Subject
	})
}

// Profile is what forward-auth tells the application about a person.
type Profile struct {
	Username string
	Email    string
	Groups   []string // names, ordered
}

// ProfileSource reads people and their groups (*identity.Directory).
type ProfileSource interface {
	UserByID(ctx context.Context, id string) (identity.User, error)
	GroupsOf(ctx context.Context, userID string) ([]identity.Group, error)
}

// ProfileCache keeps the identity headers of recently seen people, so that answering
// with them touches no SQL. An event naming the subject (a suspension, a revocation)
// drops it at once; other changes (a new email, a group membership) show within the ttl.
type ProfileCache struct {
	next ProfileSource
	m    *memo[string, Profile]
}

var _ revocation.Watcher = (*ProfileCache)(nil)

// NewProfileCache wraps next like NewSessionCache.
func NewProfileCache(next ProfileSource, fresh func() bool, ttl time.Duration, max int) *ProfileCache {
	return &ProfileCache{next: next, m: newMemo[string, Profile](fresh, ttl, max)}
}

// Profile returns the person's username, email and group names.
func (c *ProfileCache) Profile(ctx context.Context, userID string) (Profile, error) {
	return c.m.get(userID, nil, func() (Profile, time.Time, error) {
		u, err := c.next.UserByID(ctx, userID)
		if err != nil {
			return Profile{}, time.Time{}, err
		}
		gs, err := c.next.GroupsOf(ctx, userID)
		if err != nil {
			return Profile{}, time.Time{}, err
		}
		p := Profile{Username: u.Username, Email: u.Email, Groups: make([]string, len(gs))}
		for i, g := range gs {
			p.Groups[i] = g.Name
		}
		return p, time.Time{}, nil
	})
}

// Watch implements revocation.Watcher.
func (c *ProfileCache) Watch(ev revocation.Event) {
	if ev.All {
		c.m.drop(true, nil)
	} else if ev.Subject != "" {
		c.m.drop(false, func(k string, _ Profile) bool { return k == ev.Subject })
	}
}
