package gate

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/policy"
)

// Subjects reads users and machine identities (identity.DirectoryStore implements it).
type Subjects interface {
	UserByID(ctx context.Context, id string) (identity.User, error)
	MachineByID(ctx context.Context, id string) (identity.MachineIdentity, error)
	GroupsOf(ctx context.Context, userID string) ([]identity.Group, error)
}

// DirectoryPrincipals resolves subjects from the directory: a user, else a machine
// identity, else the client itself (a client_credentials token of a client that acts
// for no machine identity has the client as its subject).
type DirectoryPrincipals struct {
	Subjects Subjects
}

// Principal implements Principals.
func (d DirectoryPrincipals) Principal(ctx context.Context, subject string) (policy.Principal, error) {
	u, err := d.Subjects.UserByID(ctx, subject)
	if err == nil {
		// Groups and email are what the central policy reads of a person.
		groups, err := d.Subjects.GroupsOf(ctx, u.ID)
		if err != nil {
			return policy.Principal{}, err
		}
		names := make([]string, len(groups))
		for i, g := range groups {
			names[i] = g.Name
		}
		return policy.Principal{ID: u.ID, Kind: policy.KindUser, Status: string(u.Status), Email: u.Email, Groups: names}, nil
	}
	if !errors.Is(err, identity.ErrNotFound) {
		return policy.Principal{}, err
	}
	m, err := d.Subjects.MachineByID(ctx, subject)
	if err == nil {
		st := m.Status
		if st == "" {
			st = identity.StatusActive
		}
		// A disabled machine identity's tokens were revoked when it was disabled; its
		// status is the defence in depth should one have been missed.
		return policy.Principal{ID: m.ID, Kind: policy.KindMachine, Status: string(st)}, nil
	}
	if !errors.Is(err, identity.ErrNotFound) {
		return policy.Principal{}, err
	}
	return policy.Principal{ID: subject, Kind: policy.KindClient, Status: string(identity.StatusActive)}, nil
}

// PrincipalCache keeps this node's recently seen principals in memory so that the hot
// path touches no SQL. It follows the token cache's rules (revocation.TokenCache):
//   - only principals in good standing are kept: a suspended subject is looked up each
//     time (its tokens are revoked and cached as inactive anyway, so that is rare), and
//     a reactivation needs no invalidation;
//   - fan-out events drop what they name (a subject, or everything), on every node,
//     before the revocation is answered; a lookup that raced an event is not kept;
//   - the cache is served only while the node is fresh on the bus, so a node cut off
//     from the other nodes' events answers from the database;
//   - entries expire after ttl at the latest, whatever was missed.
type PrincipalCache struct {
	next  Principals
	fresh func() bool
	ttl   time.Duration
	max   int
	now   func() time.Time

	mu      sync.RWMutex
	gen     uint64 // bumped by every event, so a lookup that raced one is not kept
	entries map[string]cachedPrincipal
}

type cachedPrincipal struct {
	p       policy.Principal
	expires time.Time
}

// NewPrincipalCache wraps next; fresh says whether the node may serve from memory
// (revocation.Fanout.Fresh), max bounds the entries.
func NewPrincipalCache(next Principals, fresh func() bool, ttl time.Duration, max int) *PrincipalCache {
	return &PrincipalCache{next: next, fresh: fresh, ttl: ttl, max: max, now: time.Now, entries: map[string]cachedPrincipal{}}
}

// Principal implements Principals.
func (c *PrincipalCache) Principal(ctx context.Context, subject string) (policy.Principal, error) {
	if !c.fresh() {
		return c.next.Principal(ctx, subject)
	}
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[subject]
	gen := c.gen
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.p, nil
	}
	p, err := c.next.Principal(ctx, subject)
	if err != nil || p.Status != string(identity.StatusActive) {
		return p, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.entries) >= c.max {
			c.entries = map[string]cachedPrincipal{} // crude but bounded; refills from the database
		}
		c.entries[subject] = cachedPrincipal{p: p, expires: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	return p, nil
}

// Forget drops subject, or everything when all is set (revocation.Listener: the
// fan-out calls it for every event that names a subject or resets the node).
func (c *PrincipalCache) Forget(subject string, all bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	switch {
	case all:
		c.entries = map[string]cachedPrincipal{}
	case subject != "":
		delete(c.entries, subject)
	}
}
