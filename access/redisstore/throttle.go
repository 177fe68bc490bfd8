package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/weft-fabric/weft/access/throttle"
)

// Throttle is the throttle.Store shared by every node: GCRA buckets kept atomically in
// Redis by redis_rate's script, so a limit holds for the cluster, not per node.
//
// Keys: redis_rate puts its own "rate:" in front of the bucket keys, so buckets live at
// "rate:<prefix>throttle:<kind>:<hash>" and marks at "<prefix>throttle:mark:<kind>:<hash>";
// both expire by themselves once a bucket is full again or a mark is old.
type Throttle struct {
	rdb    redis.UniversalClient
	rate   *redis_rate.Limiter
	prefix string
}

var _ throttle.Store = (*Throttle)(nil)

// NewThrottle keeps buckets and marks under prefix (the deployment's redis_prefix).
func NewThrottle(rdb redis.UniversalClient, prefix string) *Throttle {
	return &Throttle{rdb: rdb, rate: redis_rate.NewLimiter(rdb), prefix: prefix + "throttle:"}
}

// Take implements throttle.Store.
func (s *Throttle) Take(ctx context.Context, key string, l throttle.Limit, n int) (throttle.Result, error) {
	if !l.Valid() {
		return throttle.Result{}, fmt.Errorf("throttle: invalid limit %s", l)
	}
	r, err := s.rate.AllowN(ctx, s.prefix+key, redis_rate.Limit{Rate: l.Rate, Period: l.Period, Burst: l.Burst}, n)
	if err != nil {
		return throttle.Result{}, fmt.Errorf("redis throttle take: %w", err)
	}
	if r.Allowed < n || (n == 0 && r.RetryAfter > 0) {
		return throttle.Result{RetryAfter: r.RetryAfter}, nil
	}
	return throttle.Result{Allowed: true, Remaining: r.Remaining}, nil
}

// give moves a bucket's arrival time back by n emissions, on redis_rate's key and clock
// (Redis TIME since 2017-01-01, as its script keeps them). redis_rate itself cannot
// refund: with a negative cost its script skips the write whenever the bucket would
// become full, which leaves the spent token spent.
var give = redis.NewScript(`
local key = KEYS[1]
local emission_interval = tonumber(ARGV[2]) / tonumber(ARGV[1])
local cost = tonumber(ARGV[3])
local now = redis.call("TIME")
now = (now[1] - 1483228800) + (now[2] / 1000000)
local tat = redis.call("GET", key)
if not tat then
  return 0
end
tat = math.max(tonumber(tat), now) - emission_interval * cost
if tat <= now then
  redis.call("DEL", key)
else
  redis.call("SET", key, tat, "EX", math.ceil(tat - now))
end
return 1
`)

// Give implements throttle.Store.
func (s *Throttle) Give(ctx context.Context, key string, l throttle.Limit, n int) error {
	if !l.Valid() {
		return fmt.Errorf("throttle: invalid limit %s", l)
	}
	// "rate:" is redis_rate's own key prefix.
	if err := give.Run(ctx, s.rdb, []string{"rate:" + s.prefix + key}, l.Rate, l.Period.Seconds(), n).Err(); err != nil {
		return fmt.Errorf("redis throttle give: %w", err)
	}
	return nil
}

// Mark implements throttle.Store.
func (s *Throttle) Mark(ctx context.Context, key string, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, s.prefix+"mark:"+key, "1", ttl).Err(); err != nil {
		return fmt.Errorf("redis throttle mark: %w", err)
	}
	return nil
}

// Marked implements throttle.Store.
func (s *Throttle) Marked(ctx context.Context, key string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.prefix+"mark:"+key).Result()
	if err != nil {
		return false, fmt.Errorf("redis throttle marked: %w", err)
	}
	return n == 1, nil
}
