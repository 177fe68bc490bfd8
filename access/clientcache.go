package access

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/weft-fabric/weft/identity"
)

// ClientCache is a ClientStore decorator that keeps ClientByID answers for a short TTL,
// so that authenticating a gateway on every introspection does not query SQL. Writes
// through it invalidate the entry at once; a containment change (disable, secret
// rotation) made on another node arrives as a fan-out event (Forget); any other change
// made elsewhere is seen within the TTL.
type ClientCache struct {
	ClientStore
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]cachedClient
}

type cachedClient struct {
	c       Client
	err     error
	expires time.Time
}

var _ ClientStore = (*ClientCache)(nil)

const maxCachedClients = 10000

// NewClientCache wraps store.
func NewClientCache(store ClientStore, ttl time.Duration) *ClientCache {
	return &ClientCache{ClientStore: store, ttl: ttl, entries: map[string]cachedClient{}}
}

// ClientByID implements ClientStore. Unknown ids are cached too (briefly), so probing
// with random ids does not reach the database either.
func (c *ClientCache) ClientByID(ctx context.Context, id string) (Client, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[id]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.c, e.err
	}
	cl, err := c.ClientStore.ClientByID(ctx, id)
	if err != nil && !isNotFound(err) {
		return cl, err // database trouble is not cached
	}
	c.mu.Lock()
	// Unknown ids are disposable first: probing with random ids must not push the
	// gateways' clients out.
	MakeRoom(c.entries, maxCachedClients, func(e cachedClient) bool { return e.err != nil || !now.Before(e.expires) })
	c.entries[id] = cachedClient{c: cl, err: err, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return cl, err
}

// Client is ClientByID under the ClientLookup name.
func (c *ClientCache) Client(ctx context.Context, id string) (Client, error) {
	return c.ClientByID(ctx, id)
}

// CreateClient implements ClientStore.
func (c *ClientCache) CreateClient(ctx context.Context, cl Client) error {
	c.forget(cl.ID)
	return c.ClientStore.CreateClient(ctx, cl)
}

// UpdateClient implements ClientStore.
func (c *ClientCache) UpdateClient(ctx context.Context, cl Client) error {
	c.forget(cl.ID)
	return c.ClientStore.UpdateClient(ctx, cl)
}

// Forget drops the cached client id, or every client when all is set. The revocation
// fan-out calls it (as a revocation.Listener) on every node for each event that names a
// client or a subject: a client disabled or its secret rotated on one node is then
// refused by every node at once, not after the TTL. Names that are no client id (a
// user's) match nothing.
func (c *ClientCache) Forget(id string, all bool) {
	if all {
		c.mu.Lock()
		clear(c.entries)
		c.mu.Unlock()
		return
	}
	if id != "" {
		c.forget(id)
	}
}

func (c *ClientCache) forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, identity.ErrNotFound) }
