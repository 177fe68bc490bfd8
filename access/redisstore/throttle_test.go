package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/weft-fabric/weft/access/redisstore"
	"github.com/weft-fabric/weft/access/throttle"
	"github.com/weft-fabric/weft/access/throttle/throttletest"
)

// throttleRedis is testRedis plus the cleanup of redis_rate's "rate:"-prefixed keys.
func throttleRedis(t *testing.T) (*redis.Client, string) {
	rdb, prefix := testRedis(t)
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), "rate:"+prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	return rdb, prefix
}

func TestThrottle_Conformance(t *testing.T) {
	throttletest.Run(t, func(t *testing.T) throttle.Store {
		rdb, prefix := throttleRedis(t)
		return redisstore.NewThrottle(rdb, prefix)
	})
}

// Two nodes are two Throttles, each with its own connection, on one Redis.
func TestThrottle_TwoNodesShareTheCount(t *testing.T) {
	rdb, prefix := throttleRedis(t)
	other := redis.NewClient(rdb.Options())
	t.Cleanup(func() { _ = other.Close() })
	throttletest.RunShared(t, redisstore.NewThrottle(rdb, prefix), redisstore.NewThrottle(other, prefix))
}

// When Redis is unreachable, Fallback limits on the node: still throttled, never an
// error and never everyone refused.
func TestThrottle_FallbackWhenRedisIsDown(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	shared := redisstore.NewThrottle(down, "weft-test:down:")
	ctx := context.Background()
	lim := throttle.Limit{Rate: 1, Period: time.Hour, Burst: 2}
	if _, err := shared.Take(ctx, "k", lim, 1); err == nil {
		t.Fatal("a Redis that is down answered")
	}
	f := throttle.NewFallback(shared, throttle.NewLocal(), nil)
	for i, want := range []bool{true, true, false} {
		r, err := f.Take(ctx, "k", lim, 1)
		if err != nil || r.Allowed != want {
			t.Fatalf("take %d = %+v, %v; want allowed %v", i, r, err, want)
		}
	}
	if f.Errors() != 3 {
		t.Fatalf("%d fallbacks counted, want 3", f.Errors())
	}
	if err := f.Mark(ctx, "m", time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Marked(ctx, "m"); !ok || err != nil {
		t.Fatalf("a mark made during the outage is lost: %v %v", ok, errors.Unwrap(err))
	}
}
