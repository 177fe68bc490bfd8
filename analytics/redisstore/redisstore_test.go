package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/analytics/redisstore"
	"github.com/weft-fabric/weft/analytics/statetest"
)

// testRedis connects to WEFT_TEST_REDIS_URL (default the local server) and gives the
// test a key prefix of its own, deleted at cleanup. An unreachable Redis skips the
// test, or fails it when WEFT_TEST_REQUIRE_SERVICES=1.
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
		if os.Getenv("WEFT_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("Redis (%s) is required (WEFT_TEST_REQUIRE_SERVICES=1) but unreachable: %v", opts.Addr, err)
		}
		t.Skipf("skipping: Redis (%s) unreachable: %v", opts.Addr, err)
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

func TestStore_Conformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) analytics.State {
		rdb, prefix := testRedis(t)
		return redisstore.New(rdb, redisstore.Options{Prefix: prefix})
	})
}

// Two nodes, each with its own connection, share one baseline: what one learns, the
// other knows, and their failures add up.
func TestStore_TwoNodesShare(t *testing.T) {
	rdb, prefix := testRedis(t)
	other := redis.NewClient(rdb.Options())
	t.Cleanup(func() { _ = other.Close() })
	a, b := redisstore.New(rdb, redisstore.Options{Prefix: prefix}), redisstore.New(other, redisstore.Options{Prefix: prefix})
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	if err := a.Observe(ctx, analytics.Observation{Subject: "u1", DeviceID: "d1", Network: "AS1", Learn: true, At: t0}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*redisstore.Store{a, b, a} {
		if err := s.AddFailure(ctx, "u1", "192.0.2.1", t0); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := b.Load(ctx, analytics.Query{Subject: "u1", DeviceID: "d1", Network: "AS1", User: "u1", IP: "192.0.2.1", At: t0, FailureWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Subject.DeviceKnown || !snap.Subject.NetworkKnown || snap.UserFailures != 3 || snap.IPFailures != 3 {
		t.Fatalf("node b sees %+v", snap)
	}
}

// Redis forgets scripts when it restarts (SCRIPT FLUSH does the same): Observe loads
// its script again and succeeds.
func TestStore_ObserveAfterScriptFlush(t *testing.T) {
	rdb, prefix := testRedis(t)
	s := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
	ctx := context.Background()
	t0 := time.Now().UTC()
	for i, flush := range []bool{false, true} {
		if flush {
			if err := rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		device := "d" + strconv.Itoa(i)
		if err := s.Observe(ctx, analytics.Observation{Subject: "u1", DeviceID: device, Learn: true, At: t0}); err != nil {
			t.Fatalf("Observe (flushed %v): %v", flush, err)
		}
		snap, err := s.Load(ctx, analytics.Query{Subject: "u1", DeviceID: device, At: t0})
		if err != nil || !snap.Subject.DeviceKnown {
			t.Fatalf("after Observe (flushed %v): %+v, %v", flush, snap.Subject, err)
		}
	}
}

// Memory in Redis is bounded too: devices and failures are trimmed, and every key
// expires.
func TestStore_Bounds(t *testing.T) {
	rdb, prefix := testRedis(t)
	s := redisstore.New(rdb, redisstore.Options{Prefix: prefix, MaxKnown: 2, MaxFailures: 3, TTL: time.Hour, SessionTTL: time.Hour, FailureTTL: time.Hour})
	ctx := context.Background()
	t0 := time.Now().UTC()
	for i, d := range []string{"d1", "d2", "d3"} {
		if err := s.Observe(ctx, analytics.Observation{Subject: "u1", SessionID: "s1", DeviceID: d, Learn: true, At: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	known := func(device string, at time.Time) bool {
		snap, err := s.Load(ctx, analytics.Query{Subject: "u1", DeviceID: device, At: at})
		if err != nil {
			t.Fatal(err)
		}
		return snap.Subject.DeviceKnown
	}
	if known("d1", t0) || !known("d2", t0) || !known("d3", t0) {
		t.Fatal("the least recently seen device was not the one trimmed")
	}
	if known("d3", t0.Add(2*time.Hour)) {
		t.Fatal("a device older than the TTL is known")
	}
	for i := range 5 {
		_ = s.AddFailure(ctx, "u9", "", t0.Add(time.Duration(i)*time.Millisecond))
	}
	snap, _ := s.Load(ctx, analytics.Query{User: "u9", At: t0.Add(time.Second), FailureWindow: time.Hour})
	if snap.UserFailures != 3 {
		t.Fatalf("%d failures kept, want the cap of 3", snap.UserFailures)
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if len(keys) != 4 {
		t.Fatalf("keys %v", keys)
	}
	for _, k := range keys {
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("key %s has TTL %v", k, ttl)
		}
	}
}

// With Redis down, the engine still decides: the request is scored on what it shows,
// and each failed call is counted.
func TestEngine_RedisDown(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	e, err := analytics.NewEngine(analytics.Config{State: redisstore.New(down, redisstore.Options{Prefix: "weft-test:down:"}),
		Detectors: append(analytics.DefaultDetectors(nil, 0), listed{}), WriteBehind: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Score(context.Background(), analytics.Signal{Subject: "u1", SessionID: "s", IP: "192.0.2.1", DeviceID: "d"})
	if err != nil || r.Score != 50 || r.Reasons[0].Code != "listed" {
		t.Fatalf("Score with Redis down = %+v, %v", r, err)
	}
	e.Close()
	if st := e.Stats(); st.StateErrors != 2 { // the read, and the queued write
		t.Fatalf("stats %+v", st)
	}
	if err := e.RecordLoginFailure(context.Background(), "u1", "192.0.2.1"); err == nil {
		t.Fatal("a failure recorded into a Redis that is down")
	}
}

// listed is a detector that needs no state.
type listed struct{}

func (listed) Detect(*analytics.Input) (analytics.Finding, bool) {
	return analytics.Finding{Score: 50, Reason: analytics.Reason{Code: "listed", Message: "listed"}}, true
}

// Score with the state in Redis: one pipelined read per request, the writes queued.
func BenchmarkEngine_ScoreRedis(b *testing.B) {
	u := os.Getenv("WEFT_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		b.Skipf("Redis unreachable: %v", err)
	}
	prefix := "weft-bench:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	b.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
		_ = rdb.Close()
	})
	e, err := analytics.NewEngine(analytics.Config{State: redisstore.New(rdb, redisstore.Options{Prefix: prefix}), WriteBehind: true})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	s := analytics.Signal{Subject: "u1", SessionID: "s1", IP: "192.0.2.10", DeviceID: "d1"}
	_, _ = e.Score(ctx, s)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Score(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st := e.Stats(); st.StateErrors != 0 {
		b.Fatalf("stats %+v", st)
	}
}

// The floor under BenchmarkEngine_ScoreRedis: one pipeline of six reads on this Redis.
func BenchmarkRedis_PipelineFloor(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	if u := os.Getenv("WEFT_TEST_REDIS_URL"); u != "" {
		opts, err := redis.ParseURL(u)
		if err != nil {
			b.Fatal(err)
		}
		rdb = redis.NewClient(opts)
	}
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		b.Skipf("Redis unreachable: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for range 6 {
				p.Get(ctx, "weft-bench:absent")
			}
			return nil
		})
	}
}
