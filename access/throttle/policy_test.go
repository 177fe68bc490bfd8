package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access/throttle"
)

var hourly = func(n int) throttle.Limit { return throttle.Limit{Rate: n, Period: time.Hour, Burst: n} }

func TestClientAuth(t *testing.T) {
	ctx := context.Background()
	g, err := throttle.NewClientAuth(throttle.NewLocal(), throttle.ClientAuthLimits{PerClient: hourly(5), PerIP: hourly(3), KnownFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The gateway authenticates once from its address: that address is now known.
	r, err := g.Reserve(ctx, "gateway", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Succeeded(ctx); err != nil {
		t.Fatal(err)
	}
	// An attacker on many addresses fails for the gateway's (public) client id.
	failures := 0
	for i := range 20 {
		if _, err := g.Reserve(ctx, "gateway", fmt.Sprintf("192.0.2.%d", i)); err == nil {
			failures++
		} else if !errors.Is(err, throttle.ErrRefused) {
			t.Fatal(err)
		}
	}
	if failures != 5 {
		t.Fatalf("%d failures were let through for one client id, want its limit (5)", failures)
	}
	// One address fails for many client ids (known or not: the throttle cannot tell).
	for i := range 3 {
		if _, err := g.Reserve(ctx, fmt.Sprintf("client-%d", i), "198.51.100.7"); err != nil {
			t.Fatalf("failure %d refused early: %v", i, err)
		}
	}
	_, err = g.Reserve(ctx, "unknown-client", "198.51.100.7")
	var re *throttle.RefusedError
	if !errors.As(err, &re) || re.RetryAfterSeconds() < 1 {
		t.Fatalf("the address past its limit: %v", err)
	}
	// The gateway's own address still gets a verification, though its client id is
	// exhausted everywhere else.
	r, err = g.Reserve(ctx, "gateway", "10.0.0.1")
	if err != nil {
		t.Fatalf("the gateway, from its known address, is locked out by others' failures: %v", err)
	}
	_ = r.Succeeded(ctx)
	// A success gives its reservation back: successes never add up to a refusal.
	for i := range 10 {
		r, err := g.Reserve(ctx, "fresh", "10.0.0.2")
		if err != nil {
			t.Fatalf("success %d refused", i)
		}
		_ = r.Succeeded(ctx)
	}
	// IPv6: one /64 is one address.
	for i := range 3 {
		_, _ = g.Reserve(ctx, fmt.Sprintf("v6-%d", i), fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	if _, err := g.Reserve(ctx, "v6-x", "2001:db8:1:2:ffff::1"); !errors.Is(err, throttle.ErrRefused) {
		t.Fatalf("another address of the same /64 has a bucket of its own: %v", err)
	}
}

func TestLogin(t *testing.T) {
	ctx := context.Background()
	lim := throttle.LoginLimits{PerIP: hourly(6), PerAccountIP: hourly(3), PerAccount: hourly(4),
		MaxDelay: time.Second, DeviceKnownFor: time.Hour}
	g, err := throttle.NewLogin(throttle.NewLocal(), lim)
	if err != nil {
		t.Fatal(err)
	}
	// One address, one account: refused after PerAccountIP.
	for i := range 3 {
		if _, err := g.Reserve(ctx, "alice", "192.0.2.1", ""); err != nil {
			t.Fatalf("failure %d refused: %v", i, err)
		}
	}
	if _, err := g.Reserve(ctx, "alice", "192.0.2.1", ""); !errors.Is(err, throttle.ErrRefused) {
		t.Fatalf("4th failure for one account from one address: %v", err)
	}
	// The same address, other accounts: refused after PerIP.
	for i := range 3 {
		if _, err := g.Reserve(ctx, fmt.Sprintf("user%d", i), "192.0.2.1", ""); err != nil {
			t.Fatalf("other account %d refused: %v", i, err)
		}
	}
	if _, err := g.Reserve(ctx, "carol", "192.0.2.1", ""); !errors.Is(err, throttle.ErrRefused) {
		t.Fatalf("address past its limit: %v", err)
	}
	// Many addresses against alice: never refused, delayed more and more (alice has
	// 3 failures so far; the 2nd past PerAccount waits 200 ms, then 400, 800, 1s).
	var delays []time.Duration
	for i := range 8 {
		a, err := g.Reserve(ctx, "alice", fmt.Sprintf("198.51.100.%d", i), "")
		if err != nil {
			t.Fatalf("alice locked out from a fresh address: %v", err)
		}
		delays = append(delays, a.Delay)
	}
	want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, time.Second, time.Second, time.Second}
	if fmt.Sprint(delays) != fmt.Sprint(want) {
		t.Fatalf("delays %v, want %v", delays, want)
	}
	// A browser that signed in to alice before skips the delay.
	a, err := g.Reserve(ctx, "alice", "203.0.113.9", "dev-1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Delay == 0 {
		t.Fatal("an unknown device was not delayed")
	}
	_ = a.Succeeded(ctx)
	if err := g.RememberDevice(ctx, "alice", "dev-1"); err != nil {
		t.Fatal(err)
	}
	if a, err := g.Reserve(ctx, "alice", "203.0.113.10", "dev-1"); err != nil || a.Delay != 0 {
		t.Fatalf("known device: %v, delay %v", err, a.Delay)
	}
	if a, _ := g.Reserve(ctx, "alice", "203.0.113.11", "dev-2"); a.Delay == 0 {
		t.Fatal("another device skipped the delay")
	}
	// A device known for alice is nothing for bob.
	for range 4 {
		_, _ = g.Reserve(ctx, "bob", "203.0.113.12", "")
		_, _ = g.Reserve(ctx, "bob", "203.0.113.13", "")
	}
	if a, _ := g.Reserve(ctx, "bob", "203.0.113.14", "dev-1"); a.Delay == 0 {
		t.Fatal("a device known for alice skips bob's delay")
	}
}

// TestClientAuth_HoldRefusal: a refused answer waits Hold (never beyond its retry-after,
// never beyond the request's end), so a flood tool's closed loop is slowed down instead
// of answered as fast as it can ask.
func TestClientAuth_HoldRefusal(t *testing.T) {
	// Upper bounds are generous (a loaded machine), lower bounds are what is asserted.
	for _, tc := range []struct {
		name           string
		hold           time.Duration
		retryAfter     time.Duration
		cancelAfter    time.Duration // 0: not cancelled
		atLeast, below time.Duration
	}{
		{"held for Hold", 80 * time.Millisecond, time.Minute, 0, 80 * time.Millisecond, 4 * time.Second},
		{"never beyond the retry-after", 10 * time.Second, 10 * time.Millisecond, 0, 10 * time.Millisecond, 4 * time.Second},
		{"released when the request ends", 10 * time.Second, time.Minute, 5 * time.Millisecond, 5 * time.Millisecond, 4 * time.Second},
		{"no hold configured", 0, time.Minute, 0, 0, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := throttle.NewClientAuth(throttle.NewLocal(), throttle.ClientAuthLimits{PerClient: hourly(5), PerIP: hourly(3),
				KnownFor: time.Hour, Hold: tc.hold})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.cancelAfter > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.cancelAfter)
				defer cancel()
			}
			began := time.Now()
			g.HoldRefusal(ctx, &throttle.RefusedError{RetryAfter: tc.retryAfter})
			if took := time.Since(began); took < tc.atLeast || took >= tc.below {
				t.Fatalf("held %v, want at least %v and less than %v", took, tc.atLeast, tc.below)
			}
		})
	}
}
