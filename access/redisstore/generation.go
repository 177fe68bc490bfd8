// Package redisstore implements access's shared, hot state on Redis: so far the token
// revocation generation that keeps every node's token cache honest.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/weft-fabric/weft/access"
)

// Generation is an access.Generation shared by every node through one Redis key.
type Generation struct {
	rdb redis.UniversalClient
	key string
}

var _ access.Generation = (*Generation)(nil)

// NewGeneration uses the key prefix+"token-revocation-generation" (a prefix per
// deployment, or per test, keeps several apart on one Redis).
func NewGeneration(rdb redis.UniversalClient, prefix string) *Generation {
	return &Generation{rdb: rdb, key: prefix + "token-revocation-generation"}
}

// Current implements access.Generation; a missing key is generation 0.
func (g *Generation) Current(ctx context.Context) (uint64, error) {
	v, err := g.rdb.Get(ctx, g.key).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read token revocation generation: %w", err)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("token revocation generation %q: %w", v, err)
	}
	return n, nil
}

// Bump implements access.Generation with INCR, which is atomic across nodes.
func (g *Generation) Bump(ctx context.Context) error {
	if err := g.rdb.Incr(ctx, g.key).Err(); err != nil {
		return fmt.Errorf("bump token revocation generation: %w", err)
	}
	return nil
}
