package gate_test

import (
	"context"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/policy"
)

// BenchmarkCheck is the seam's own cost on the hot path, in steady state: the token
// found (the fake stands in for the token cache), the principal served from the cache,
// no risk, allow-all policy, events discarded.
func BenchmarkCheck(b *testing.B) {
	pc := gate.NewPrincipalCache(people, func() bool { return true }, time.Hour, 1000)
	g, err := gate.New(gate.Deps{Tokens: fixture(), Principals: pc, Risk: analytics.NoRisk{}, Policy: policy.AllowAll{},
		Events: analytics.Discard{}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	req := gate.Request{Token: "alice-access", AccessTokenOnly: true, Action: policy.ActionIntrospect, IP: "127.0.0.1", UserAgent: "bench"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, err := g.Check(ctx, req); err != nil || !res.Allow {
				b.Fatal(res, err)
			}
		}
	})
}

// BenchmarkDecide is what introspection adds after fosite found the token: subject,
// risk, policy, event.
func BenchmarkDecide(b *testing.B) {
	pc := gate.NewPrincipalCache(people, func() bool { return true }, time.Hour, 1000)
	g, err := gate.New(gate.Deps{Tokens: fixture(), Principals: pc, Risk: analytics.NoRisk{}, Policy: policy.AllowAll{},
		Events: analytics.Discard{}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	tok := fixture()["alice-access"]
	req := gate.Request{Action: policy.ActionIntrospect, IP: "127.0.0.1", UserAgent: "bench"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, err := g.Decide(ctx, req, tok.use, tok.ar); err != nil || !res.Allow {
				b.Fatal(res, err)
			}
		}
	})
}
