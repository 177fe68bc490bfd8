// Package statetest is the conformance suite of analytics.State: every implementation
// (memstore, redisstore) must pass it.
package statetest

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/weft-fabric/weft/analytics"
)

// Run runs the suite; open returns an empty State for each subtest.
func Run(t *testing.T, open func(t *testing.T) analytics.State) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	load := func(t *testing.T, s analytics.State, q analytics.Query) analytics.Snapshot {
		t.Helper()
		if q.FailureWindow == 0 {
			q.FailureWindow = 15 * time.Minute
		}
		snap, err := s.Load(ctx, q)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		return snap
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	t.Run("EmptyIsZero", func(t *testing.T) {
		s := open(t)
		snap := load(t, s, analytics.Query{Subject: "u1", SessionID: "s1", DeviceID: "d1", Network: "AS1", User: "u1", IP: "192.0.2.1", At: t0})
		if snap != (analytics.Snapshot{}) {
			t.Fatalf("empty state loaded %+v", snap)
		}
	})

	t.Run("DevicesAndNetworksAreLearntOnlyWhenAsked", func(t *testing.T) {
		s := open(t)
		must(t, s.Observe(ctx, analytics.Observation{Subject: "u1", DeviceID: "d1", Network: "AS1", At: t0}))
		q := analytics.Query{Subject: "u1", DeviceID: "d1", Network: "AS1", At: t0.Add(time.Minute)}
		if snap := load(t, s, q); !snap.Subject.Seen || snap.Subject.DeviceKnown || snap.Subject.NetworkKnown {
			t.Fatalf("after an observation without Learn: %+v", snap.Subject)
		}
		must(t, s.Observe(ctx, analytics.Observation{Subject: "u1", DeviceID: "d1", Network: "AS1", Learn: true, At: t0}))
		if snap := load(t, s, q); !snap.Subject.DeviceKnown || !snap.Subject.NetworkKnown {
			t.Fatalf("after learning: %+v", snap.Subject)
		}
		other := analytics.Query{Subject: "u1", DeviceID: "d2", Network: "AS2", At: t0.Add(time.Minute)}
		if snap := load(t, s, other); !snap.Subject.Seen || snap.Subject.DeviceKnown || snap.Subject.NetworkKnown {
			t.Fatalf("another device and network are known: %+v", snap.Subject)
		}
		if snap := load(t, s, analytics.Query{Subject: "u2", DeviceID: "d1", Network: "AS1", At: t0}); snap.Subject != (analytics.SubjectView{}) {
			t.Fatalf("another subject shares the baseline: %+v", snap.Subject)
		}
		if snap := load(t, s, analytics.Query{Subject: "u1", At: t0}); snap.Subject.DeviceKnown || snap.Subject.NetworkKnown {
			t.Fatalf("an empty device or network is known: %+v", snap.Subject)
		}
	})

	t.Run("LastPlaceIsTheLatest", func(t *testing.T) {
		s := open(t)
		berlin := analytics.Place{Lat: 52.52, Lon: 13.405, AccuracyKM: 20, Country: "DE", City: "2950159", At: t0}
		ny := analytics.Place{Lat: 40.7128, Lon: -74.006, AccuracyKM: 50, Country: "US", City: "5128581", At: t0.Add(time.Hour)}
		must(t, s.Observe(ctx, analytics.Observation{Subject: "u1", Place: berlin, Located: true, At: berlin.At}))
		must(t, s.Observe(ctx, analytics.Observation{Subject: "u1", Place: ny, Located: true, At: ny.At}))
		// A late write of an earlier event does not move the subject back.
		must(t, s.Observe(ctx, analytics.Observation{Subject: "u1", Place: berlin, Located: true, At: berlin.At}))
		// An unlocated event leaves the place alone.
		must(t, s.Observe(ctx, analytics.Observation{Subject: "u1", DeviceID: "d1", At: ny.At.Add(time.Minute)}))
		snap := load(t, s, analytics.Query{Subject: "u1", At: ny.At.Add(2 * time.Minute)})
		if !snap.Subject.HasLast || !samePlace(snap.Subject.Last, ny) {
			t.Fatalf("last place %+v (has %v), want %+v", snap.Subject.Last, snap.Subject.HasLast, ny)
		}
	})

	t.Run("SessionKeepsItsFirstValues", func(t *testing.T) {
		s := open(t)
		must(t, s.Observe(ctx, analytics.Observation{Subject: "u1", SessionID: "s1", Country: "DE", Network: "AS1", DeviceID: "d1", At: t0}))
		must(t, s.Observe(ctx, analytics.Observation{Subject: "u1", SessionID: "s1", Country: "US", Network: "AS2", DeviceID: "d2", At: t0.Add(time.Minute)}))
		snap := load(t, s, analytics.Query{Subject: "u1", SessionID: "s1", At: t0.Add(2 * time.Minute)})
		want := analytics.SessionView{Seen: true, Country: "DE", Network: "AS1", DeviceID: "d1", At: t0}
		if !snap.Session.At.Equal(want.At) || snap.Session.Seen != want.Seen || snap.Session.Country != want.Country ||
			snap.Session.Network != want.Network || snap.Session.DeviceID != want.DeviceID {
			t.Fatalf("session %+v, want %+v", snap.Session, want)
		}
		if snap := load(t, s, analytics.Query{SessionID: "s2", At: t0}); snap.Session.Seen {
			t.Fatalf("another session shares the baseline: %+v", snap.Session)
		}
	})

	t.Run("FailuresCountWithinTheWindow", func(t *testing.T) {
		s := open(t)
		for i := range 3 {
			must(t, s.AddFailure(ctx, "u1", "192.0.2.1", t0.Add(time.Duration(i)*time.Minute)))
		}
		must(t, s.AddFailure(ctx, "u2", "192.0.2.1", t0.Add(3*time.Minute)))
		must(t, s.AddFailure(ctx, "", "192.0.2.2", t0.Add(3*time.Minute)))
		must(t, s.AddFailure(ctx, "u3", "", t0.Add(3*time.Minute)))
		q := analytics.Query{User: "u1", IP: "192.0.2.1", At: t0.Add(4 * time.Minute), FailureWindow: 15 * time.Minute}
		if snap := load(t, s, q); snap.UserFailures != 3 || snap.IPFailures != 4 {
			t.Fatalf("failures user %d ip %d, want 3 and 4", snap.UserFailures, snap.IPFailures)
		}
		q.At, q.FailureWindow = t0.Add(16*time.Minute+30*time.Second), 15*time.Minute // the first two are out
		if snap := load(t, s, q); snap.UserFailures != 1 || snap.IPFailures != 2 {
			t.Fatalf("after the window moved: user %d ip %d, want 1 and 2", snap.UserFailures, snap.IPFailures)
		}
		if snap := load(t, s, analytics.Query{User: "u3", IP: "192.0.2.2", At: t0.Add(4 * time.Minute), FailureWindow: time.Hour}); snap.UserFailures != 1 || snap.IPFailures != 1 {
			t.Fatalf("one-sided failures: %+v", snap)
		}
		if snap := load(t, s, analytics.Query{At: t0.Add(4 * time.Minute), FailureWindow: time.Hour}); snap.UserFailures != 0 || snap.IPFailures != 0 {
			t.Fatalf("empty keys count: %+v", snap)
		}
	})

	t.Run("StandingRiskDecaysAndAccumulates", func(t *testing.T) {
		s := open(t)
		hl := time.Hour
		r1 := analytics.Reason{Code: "credential_compromise", Message: "The password was found in a breach."}
		must(t, s.RaiseStanding(ctx, "u1", 40, r1, hl, t0))
		snap := load(t, s, analytics.Query{Subject: "u1", At: t0.Add(hl)})
		if got := snap.Standing.Decayed(t0.Add(hl), hl); math.Abs(got-20) > 0.01 || snap.Standing.Reason != r1 {
			t.Fatalf("standing after one half-life: %v (%+v), want 20", got, snap.Standing)
		}
		if snap.Subject.Seen {
			t.Fatal("standing risk alone made a baseline")
		}
		r2 := analytics.Reason{Code: "device_compromised", Message: "A device was reported compromised."}
		must(t, s.RaiseStanding(ctx, "u1", 50, r2, hl, t0.Add(hl)))
		snap = load(t, s, analytics.Query{Subject: "u1", At: t0.Add(hl)})
		if got := snap.Standing.Decayed(t0.Add(hl), hl); math.Abs(got-70) > 0.01 || snap.Standing.Reason != r2 {
			t.Fatalf("standing after a second raise: %v (%+v), want 70", got, snap.Standing)
		}
		must(t, s.RaiseStanding(ctx, "u1", 90, r2, hl, t0.Add(hl)))
		snap = load(t, s, analytics.Query{Subject: "u1", At: t0.Add(hl)})
		if got := snap.Standing.Decayed(t0.Add(hl), hl); got != 100 {
			t.Fatalf("standing is not capped: %v", got)
		}
		if snap := load(t, s, analytics.Query{Subject: "u2", At: t0}); snap.Standing.Score != 0 {
			t.Fatalf("another subject has standing risk: %+v", snap.Standing)
		}
	})
}

func samePlace(a, b analytics.Place) bool {
	return math.Abs(a.Lat-b.Lat) < 1e-9 && math.Abs(a.Lon-b.Lon) < 1e-9 && a.AccuracyKM == b.AccuracyKM &&
		a.Country == b.Country && a.City == b.City && a.At.Equal(b.At)
}
