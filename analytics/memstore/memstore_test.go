package memstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/analytics/memstore"
	"github.com/weft-fabric/weft/analytics/statetest"
)

func TestStore_Conformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) analytics.State { return memstore.New(memstore.Options{}) })
}

// Memory is bounded: old subjects, sessions, devices and failures are forgotten.
func TestStore_Bounds(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s := memstore.New(memstore.Options{MaxSubjects: 2, MaxSessions: 2, MaxCounters: 2, MaxKnown: 2, MaxFailures: 3, TTL: time.Hour, SessionTTL: time.Hour})
	for i, d := range []string{"d1", "d2", "d3"} {
		if err := s.Observe(ctx, analytics.Observation{Subject: "u1", DeviceID: d, Learn: true, At: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	known := func(subject, device string, at time.Time) bool {
		snap, _ := s.Load(ctx, analytics.Query{Subject: subject, DeviceID: device, At: at})
		return snap.Subject.DeviceKnown
	}
	if known("u1", "d1", t0) || !known("u1", "d2", t0) || !known("u1", "d3", t0) {
		t.Fatal("the least recently seen device was not the one forgotten")
	}
	if known("u1", "d3", t0.Add(2*time.Hour)) {
		t.Fatal("a device unused for longer than the TTL is still known")
	}
	for i := range 3 {
		_ = s.Observe(ctx, analytics.Observation{Subject: fmt.Sprint("s", i), SessionID: fmt.Sprint("sess", i), Country: "DE", At: t0})
	}
	snap, _ := s.Load(ctx, analytics.Query{Subject: "u1", SessionID: "sess0", At: t0})
	if snap.Subject.Seen || snap.Session.Seen {
		t.Fatalf("the oldest subject and session were not evicted: %+v", snap)
	}
	for i := range 5 {
		_ = s.AddFailure(ctx, "u9", "", t0.Add(time.Duration(i)*time.Second))
	}
	if snap, _ := s.Load(ctx, analytics.Query{User: "u9", At: t0.Add(10 * time.Second), FailureWindow: time.Hour}); snap.UserFailures != 3 {
		t.Fatalf("%d failures kept, want the cap of 3", snap.UserFailures)
	}
	if snap, _ := s.Load(ctx, analytics.Query{SessionID: "sess2", At: t0.Add(2 * time.Hour)}); snap.Session.Seen {
		t.Fatal("a session older than SessionTTL is still there")
	}
}
