// Package throttletest is the conformance suite every throttle.Store runs: the in-process
// one and the Redis one must behave the same, since the embedded default and a cluster
// share the rules built on them.
package throttletest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access/throttle"
)

// Run checks one store; open returns an empty one (a fresh key prefix on Redis).
func Run(t *testing.T, open func(t *testing.T) throttle.Store) {
	ctx := context.Background()
	slow := throttle.Limit{Rate: 1, Period: time.Hour, Burst: 3} // no refill within a test

	t.Run("burst then refusal with a retry time", func(t *testing.T) {
		s := open(t)
		for i, want := range []int{2, 1, 0} {
			r, err := s.Take(ctx, "k", slow, 1)
			if err != nil || !r.Allowed || r.Remaining != want {
				t.Fatalf("take %d = %+v, %v; want allowed with %d left", i, r, err, want)
			}
		}
		r, err := s.Take(ctx, "k", slow, 1)
		if err != nil || r.Allowed {
			t.Fatalf("take past the burst = %+v, %v", r, err)
		}
		if r.RetryAfter < 59*time.Minute || r.RetryAfter > time.Hour {
			t.Fatalf("retry after %s, want about an hour (one token's emission)", r.RetryAfter)
		}
		if r, _ := s.Take(ctx, "other", slow, 1); !r.Allowed {
			t.Fatal("another key shares the bucket")
		}
	})

	t.Run("a take of n is all or nothing", func(t *testing.T) {
		s := open(t)
		if r, _ := s.Take(ctx, "k", slow, 2); !r.Allowed || r.Remaining != 1 {
			t.Fatalf("take 2 = %+v", r)
		}
		if r, _ := s.Take(ctx, "k", slow, 2); r.Allowed {
			t.Fatal("took 2 from a bucket holding 1")
		}
		if r, _ := s.Take(ctx, "k", slow, 1); !r.Allowed || r.Remaining != 0 {
			t.Fatalf("the refused take spent tokens: %+v", r)
		}
	})

	t.Run("give returns tokens, never beyond full", func(t *testing.T) {
		s := open(t)
		for range 3 {
			_, _ = s.Take(ctx, "k", slow, 1)
		}
		if err := s.Give(ctx, "k", slow, 1); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.Take(ctx, "k", slow, 1); !r.Allowed {
			t.Fatal("a given-back token cannot be taken")
		}
		if r, _ := s.Take(ctx, "k", slow, 1); r.Allowed {
			t.Fatal("give returned more than one token")
		}
		// Giving back to a full (or unknown) bucket must not bank extra tokens.
		for range 5 {
			if err := s.Give(ctx, "fresh", slow, 1); err != nil {
				t.Fatal(err)
			}
		}
		_, _ = s.Take(ctx, "fresh", slow, 1)
		if err := s.Give(ctx, "fresh", slow, 3); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if r, _ := s.Take(ctx, "fresh", slow, 1); !r.Allowed {
				t.Fatalf("take %d of a refilled bucket refused", i)
			}
		}
		if r, _ := s.Take(ctx, "fresh", slow, 1); r.Allowed {
			t.Fatal("give filled a bucket beyond its burst")
		}
	})

	t.Run("tokens come back at the rate", func(t *testing.T) {
		s := open(t)
		fast := throttle.Limit{Rate: 10, Period: time.Second, Burst: 1} // one token per 100 ms
		if r, _ := s.Take(ctx, "k", fast, 1); !r.Allowed {
			t.Fatal("first take refused")
		}
		r, _ := s.Take(ctx, "k", fast, 1)
		if r.Allowed || r.RetryAfter <= 0 || r.RetryAfter > 100*time.Millisecond {
			t.Fatalf("second take = %+v, want refused for at most 100ms", r)
		}
		time.Sleep(r.RetryAfter + 20*time.Millisecond)
		if r, _ := s.Take(ctx, "k", fast, 1); !r.Allowed {
			t.Fatalf("no token back after the retry time: %+v", r)
		}
	})

	t.Run("concurrent takes never exceed the burst", func(t *testing.T) {
		s := open(t)
		lim := throttle.Limit{Rate: 1, Period: time.Hour, Burst: 10}
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for range 60 {
			wg.Go(func() {
				if r, err := s.Take(ctx, "k", lim, 1); err == nil && r.Allowed {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		if allowed.Load() != 10 {
			t.Fatalf("%d of 60 concurrent takes allowed, want exactly the burst (10)", allowed.Load())
		}
	})

	t.Run("marks expire", func(t *testing.T) {
		s := open(t)
		if ok, err := s.Marked(ctx, "m"); err != nil || ok {
			t.Fatalf("unmarked key reported marked: %v %v", ok, err)
		}
		if err := s.Mark(ctx, "m", 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.Marked(ctx, "m"); !ok {
			t.Fatal("mark not remembered")
		}
		if ok, _ := s.Marked(ctx, "n"); ok {
			t.Fatal("another key is marked")
		}
		time.Sleep(400 * time.Millisecond)
		if ok, _ := s.Marked(ctx, "m"); ok {
			t.Fatal("mark outlived its ttl")
		}
	})

	t.Run("an invalid limit is an error, not a division by zero", func(t *testing.T) {
		s := open(t)
		if _, err := s.Take(ctx, "k", throttle.Limit{}, 1); err == nil {
			t.Fatal("zero limit accepted")
		}
	})
}

// RunShared checks that two stores over one backend (two nodes on one Redis) share
// their buckets and marks.
func RunShared(t *testing.T, a, b throttle.Store) {
	ctx := context.Background()
	lim := throttle.Limit{Rate: 1, Period: time.Hour, Burst: 4}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			if r, err := s.Take(ctx, "shared", lim, 1); err == nil && r.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 4 {
		t.Fatalf("two nodes allowed %d takes from one bucket of 4", allowed.Load())
	}
	if err := a.Give(ctx, "shared", lim, 1); err != nil {
		t.Fatal(err)
	}
	if r, _ := b.Take(ctx, "shared", lim, 1); !r.Allowed {
		t.Fatal("a token given back on one node cannot be taken on the other")
	}
	if err := a.Mark(ctx, "mark", time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Marked(ctx, "mark"); !ok {
		t.Fatal("a mark made on one node is unknown on the other")
	}
}
