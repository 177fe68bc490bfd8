// Package storetest is the conformance suite every policy.Store passes, run by each
// implementation's tests on each backend it supports.
package storetest

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/weft-fabric/weft/policy"
)

// base is the creation time of the suite's versions (microseconds: what both
// databases keep).
var base = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

// version builds version n with a test case and, for even n, a schema.
func version(n int64) policy.Version {
	v := policy.Version{Number: n, Policies: policy.DefaultPolicies + "\n// v" + string(rune('0'+n%10)) + "\n",
		Author: "admin-" + string(rune('a'+n%26)), Comment: "change", CreatedAt: base.Add(time.Duration(n) * time.Minute),
		Tests: []policy.TestCase{{Name: "alice may", Request: &policy.Request{Principal: policy.Principal{ID: "alice", Kind: policy.KindUser,
			Status: "active", Groups: []string{"staff"}}, Action: policy.ActionAccess, Application: "wiki", RiskLevel: "low",
			Time: base}, Expect: policy.Expectation{Outcome: policy.OutcomeAllow, Reasons: []string{"allowed"}}}},
	}
	if n%2 == 0 {
		v.Schema = policy.WeftSchema
	}
	return v
}

// Run runs the suite; open returns an empty store.
func Run(t *testing.T, open func(t *testing.T) policy.Store) {
	ctx := context.Background()

	t.Run("EmptyStore", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if _, err := s.CurrentVersion(ctx); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("CurrentVersion on an empty store: %v, want ErrNotFound", err)
		}
		if _, err := s.Version(ctx, 1); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("Version(1) on an empty store: %v, want ErrNotFound", err)
		}
		h, err := s.History(ctx, 0, 10)
		if err != nil || len(h) != 0 {
			t.Fatalf("History on an empty store: %v, %v", h, err)
		}
	})

	t.Run("SaveAndRead", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for n := int64(1); n <= 3; n++ {
			if err := s.SaveVersion(ctx, version(n)); err != nil {
				t.Fatalf("save %d: %v", n, err)
			}
		}
		cur, err := s.CurrentVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cur, version(3)) {
			t.Fatalf("current:\n got %+v\nwant %+v", cur, version(3))
		}
		for n := int64(1); n <= 3; n++ {
			v, err := s.Version(ctx, n)
			if err != nil || !reflect.DeepEqual(v, version(n)) {
				t.Fatalf("version %d: %+v, %v", n, v, err)
			}
		}
		if _, err := s.Version(ctx, 4); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("Version(4): %v, want ErrNotFound", err)
		}
	})

	t.Run("NoTestCases", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		v := version(1)
		v.Tests = nil
		if err := s.SaveVersion(ctx, v); err != nil {
			t.Fatal(err)
		}
		got, err := s.Version(ctx, 1)
		if err != nil || len(got.Tests) != 0 || got.Policies != v.Policies {
			t.Fatalf("version without test cases: %+v, %v", got, err)
		}
	})

	t.Run("TakenNumberConflicts", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if err := s.SaveVersion(ctx, version(1)); err != nil {
			t.Fatal(err)
		}
		other := version(1)
		other.Policies, other.Author = "permit (principal, action, resource);", "mallory"
		if err := s.SaveVersion(ctx, other); !errors.Is(err, policy.ErrConflict) {
			t.Fatalf("saving a taken number: %v, want ErrConflict", err)
		}
		if got, _ := s.Version(ctx, 1); !reflect.DeepEqual(got, version(1)) {
			t.Fatalf("the refused save changed version 1: %+v", got)
		}
	})

	t.Run("NumberMustBePositive", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for _, n := range []int64{0, -1} {
			v := version(1)
			v.Number = n
			if err := s.SaveVersion(ctx, v); !errors.Is(err, policy.ErrInvalid) {
				t.Fatalf("saving version %d: %v, want ErrInvalid", n, err)
			}
		}
		if _, err := s.CurrentVersion(ctx); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("a refused save stored something: %v", err)
		}
	})

	t.Run("History", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for n := int64(1); n <= 5; n++ {
			if err := s.SaveVersion(ctx, version(n)); err != nil {
				t.Fatal(err)
			}
		}
		numbers := func(vs []policy.Version) []int64 {
			out := make([]int64, len(vs))
			for i, v := range vs {
				out[i] = v.Number
			}
			return out
		}
		for _, tc := range []struct {
			before int64
			limit  int
			want   []int64
		}{
			{0, 10, []int64{5, 4, 3, 2, 1}},
			{0, 2, []int64{5, 4}},
			{4, 2, []int64{3, 2}},
			{2, 10, []int64{1}},
			{1, 10, []int64{}},
		} {
			h, err := s.History(ctx, tc.before, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := numbers(h); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("History(before %d, limit %d) = %v, want %v", tc.before, tc.limit, got, tc.want)
			}
		}
		h, _ := s.History(ctx, 0, 1)
		if len(h) != 1 || !reflect.DeepEqual(h[0], version(5)) {
			t.Fatalf("History returns whole versions: %+v", h)
		}
	})

	t.Run("ConcurrentSavesOfOneNumber", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		const n = 8
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			won     int
			authors []string
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v := version(1)
				v.Author = "node-" + string(rune('a'+i))
				err := s.SaveVersion(ctx, v)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
					authors = append(authors, v.Author)
				case !errors.Is(err, policy.ErrConflict):
					t.Errorf("concurrent save: %v, want nil or ErrConflict", err)
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d concurrent saves of version 1 succeeded, want exactly 1", won)
		}
		if cur, err := s.CurrentVersion(ctx); err != nil || cur.Author != authors[0] {
			t.Fatalf("current is %+v (%v), want the winner %s", cur, err, authors[0])
		}
	})
}
