package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/weft-fabric/weft/access/redisstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// testRedis connects to WEFT_TEST_REDIS_URL (default local) and returns a key prefix of
// the test's own, deleted afterwards.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	u := os.Getenv("WEFT_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		sqltest.Unavailable(t, "Redis ("+opts.Addr+")", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "weft-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

func TestGeneration(t *testing.T) {
	rdb, prefix := testRedis(t)
	ctx := context.Background()
	a, b := redisstore.NewGeneration(rdb, prefix), redisstore.NewGeneration(rdb, prefix)
	if g, err := a.Current(ctx); err != nil || g != 0 {
		t.Fatalf("fresh generation = %d, %v", g, err)
	}
	if err := a.Bump(ctx); err != nil {
		t.Fatal(err)
	}
	if g, err := b.Current(ctx); err != nil || g != 1 {
		t.Fatalf("another node sees generation %d, %v; want 1", g, err)
	}
	other := redisstore.NewGeneration(rdb, prefix+"other:")
	if g, _ := other.Current(ctx); g != 0 {
		t.Fatal("prefixes do not keep deployments apart")
	}
	down := redisstore.NewGeneration(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), prefix)
	if _, err := down.Current(ctx); err == nil {
		t.Fatal("an unreachable Redis read as a generation")
	}
	if err := down.Bump(ctx); err == nil {
		t.Fatal("an unreachable Redis accepted a bump")
	}
}
