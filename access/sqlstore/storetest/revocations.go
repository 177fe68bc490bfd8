package storetest

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/identity"
)

// newRevocation is a revocation with every field set, as revocation.Service writes it.
func newRevocation(t *testing.T, actor, key string, at time.Time) revocation.Record {
	t.Helper()
	id := random(t, "rev-")
	return revocation.Record{
		ID: id, Selector: revocation.Selector{Type: revocation.SelectSubject, Value: random(t, "user-")},
		Reason: "compromised laptop", Suspend: true, Actor: actor, IdempotencyKey: key, RequestHash: random(t, "hash-"),
		Sessions: 3, Tokens: 7, CreatedAt: at,
		Event: revocation.Event{ID: id, Origin: "node-1", RequestIDs: []string{"req-1", "req-2"},
			Signatures: []string{"sig-1"}, SIDs: []string{"sid-1", "sid-2"}, Subject: "user-1", ClientID: "client-1",
			Durable: true},
	}
}

func create(t *testing.T, s Stores, r revocation.Record) revocation.Record {
	t.Helper()
	must(t, "CreateRevocation "+r.ID, s.Revocations.CreateRevocation(t.Context(), r))
	return r
}

// sameRevocation compares every field; times as instants.
func sameRevocation(t *testing.T, got, want revocation.Record) {
	t.Helper()
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	got.CreatedAt, want.CreatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("revocation:\n got %+v\nwant %+v", got, want)
	}
}

func testRevocationRoundTrip(t *testing.T, s Stores) {
	ctx := t.Context()
	full := newRevocation(t, "soar-1", "key-1", base.In(elsewhere))
	// The zero values must come back as zero, not as defaults; Fanout stays nil until
	// it is recorded.
	bare := revocation.Record{ID: random(t, "rev-"), Selector: revocation.Selector{Type: revocation.SelectClient, Value: "client-9"},
		Reason: "r", Actor: "soar-1", CreatedAt: base.Add(time.Microsecond)}
	for _, r := range []revocation.Record{full, bare} {
		create(t, s, r)
	}
	for _, want := range []revocation.Record{full, bare} {
		got, err := s.Revocations.RevocationByID(ctx, want.ID)
		must(t, "RevocationByID", err)
		sameRevocation(t, got, want)
	}

	// Every selector the domain knows is storable.
	for _, typ := range []string{revocation.SelectToken, revocation.SelectSession, revocation.SelectSubject, revocation.SelectClient, revocation.SelectDevice} {
		r := newRevocation(t, "soar-1", "", base)
		r.Selector = revocation.Selector{Type: typ, Value: strings.Repeat("a", 64)}
		create(t, s, r)
		got, err := s.Revocations.RevocationByID(ctx, r.ID)
		must(t, "RevocationByID "+typ, err)
		if got.Selector != r.Selector {
			t.Errorf("selector = %+v, want %+v", got.Selector, r.Selector)
		}
	}
}

func testRevocationNotFound(t *testing.T, s Stores) {
	ctx := t.Context()
	create(t, s, newRevocation(t, "soar-1", "key-1", base))
	_, err := s.Revocations.RevocationByID(ctx, "rev-unknown")
	wantNotFound(t, "RevocationByID(unknown)", err)
	_, err = s.Revocations.RevocationByKey(ctx, "soar-1", "key-unknown")
	wantNotFound(t, "RevocationByKey(unknown key)", err)
	// A revocation without a key is not found by the empty key.
	create(t, s, newRevocation(t, "soar-2", "", base))
	_, err = s.Revocations.RevocationByKey(ctx, "soar-2", "")
	wantNotFound(t, "RevocationByKey(empty key)", err)
}

func testRevocationByKey(t *testing.T, s Stores) {
	ctx := t.Context()
	a := create(t, s, newRevocation(t, "soar-a", "key-1", base))
	a2 := create(t, s, newRevocation(t, "soar-a", "key-2", base))
	got, err := s.Revocations.RevocationByKey(ctx, "soar-a", "key-1")
	must(t, "RevocationByKey", err)
	sameRevocation(t, got, a)
	got, err = s.Revocations.RevocationByKey(ctx, "soar-a", "key-2")
	must(t, "RevocationByKey", err)
	sameRevocation(t, got, a2)
	// A key is the actor's own: another actor's retry must not replay a's answer.
	_, err = s.Revocations.RevocationByKey(ctx, "soar-b", "key-1")
	wantNotFound(t, "RevocationByKey(other actor)", err)
}

func testRevocationConflict(t *testing.T, s Stores) {
	ctx := t.Context()
	first := create(t, s, newRevocation(t, "soar-a", "key-1", base))

	second := newRevocation(t, "soar-a", "key-1", base.Add(time.Second))
	second.Reason = "a different request"
	if err := s.Revocations.CreateRevocation(ctx, second); !errors.Is(err, identity.ErrConflict) {
		t.Fatalf("same actor and key: err = %v, want identity.ErrConflict", err)
	}
	_, err := s.Revocations.RevocationByID(ctx, second.ID)
	wantNotFound(t, "the refused revocation", err)
	got, err := s.Revocations.RevocationByKey(ctx, "soar-a", "key-1")
	must(t, "RevocationByKey", err)
	sameRevocation(t, got, first)

	// The same id twice would overwrite a durable record.
	dup := newRevocation(t, "soar-c", "key-3", base)
	dup.ID = first.ID
	if err := s.Revocations.CreateRevocation(ctx, dup); !errors.Is(err, identity.ErrConflict) {
		t.Fatalf("same id: err = %v, want identity.ErrConflict", err)
	}
	got, err = s.Revocations.RevocationByID(ctx, first.ID)
	must(t, "RevocationByID", err)
	sameRevocation(t, got, first)

	// Keys are per actor; revocations without a key never conflict.
	other := create(t, s, newRevocation(t, "soar-b", "key-1", base))
	got, err = s.Revocations.RevocationByKey(ctx, "soar-b", "key-1")
	must(t, "RevocationByKey(other actor)", err)
	sameRevocation(t, got, other)
	create(t, s, newRevocation(t, "soar-a", "", base))
	create(t, s, newRevocation(t, "soar-a", "", base))
}

func testEventsSince(t *testing.T, s Stores) {
	ctx := t.Context()
	// Created out of order; the boundary is exact to the microsecond, and the zone
	// a time was given in must not matter.
	at := []time.Time{base.Add(time.Hour), base.Add(-2 * time.Second), base, base.Add(time.Microsecond), base.Add(-time.Microsecond).In(elsewhere)}
	revs := map[time.Time]revocation.Record{}
	for _, ts := range at {
		r := newRevocation(t, "soar-1", "", ts)
		if ts.Equal(base.Add(time.Microsecond)) {
			r.Event = revocation.Event{} // as a row from before the log read
		}
		revs[ts] = create(t, s, r)
	}
	want := []time.Time{base, base.Add(time.Microsecond), base.Add(time.Hour)}
	for _, since := range []time.Time{base, base.In(elsewhere)} {
		got, err := s.Log.EventsSince(ctx, since)
		must(t, "EventsSince", err)
		if len(got) != len(want) {
			t.Fatalf("EventsSince(base) returned %d events, want %d: %+v", len(got), len(want), got)
		}
		for i, le := range got {
			r := revs[want[i]]
			sameTime(t, "CreatedAt", le.CreatedAt, r.CreatedAt)
			// Every logged event names its revocation, by which CatchUp records the
			// receipt, and is durable, even one stored without them.
			ev := r.Event
			ev.ID, ev.Durable = r.ID, true
			if !reflect.DeepEqual(le.Event, ev) {
				t.Errorf("event %d:\n got %+v\nwant %+v", i, le.Event, ev)
			}
		}
	}
	got, err := s.Log.EventsSince(ctx, base.Add(time.Hour+time.Microsecond))
	must(t, "EventsSince", err)
	if len(got) != 0 {
		t.Errorf("EventsSince(after the newest) = %+v, want none", got)
	}
}

func sortApps(a []revocation.NodeApplication) []revocation.NodeApplication {
	a = slices.Clone(a)
	slices.SortFunc(a, func(x, y revocation.NodeApplication) int {
		if c := x.AppliedAt.Compare(y.AppliedAt); c != 0 {
			return c
		}
		return strings.Compare(x.Node, y.Node)
	})
	return a
}

func sameApps(t *testing.T, got, want []revocation.NodeApplication) {
	t.Helper()
	got, want = sortApps(got), sortApps(want)
	if len(got) != len(want) {
		t.Fatalf("applications = %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i].Node != want[i].Node || got[i].Via != want[i].Via || !got[i].AppliedAt.Equal(want[i].AppliedAt) {
			t.Errorf("application %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func testRecordApplied(t *testing.T, s Stores) {
	ctx := t.Context()
	r := create(t, s, newRevocation(t, "soar-1", "", base))
	other := create(t, s, newRevocation(t, "soar-1", "", base))
	t1 := base.Add(time.Millisecond + time.Microsecond)
	must(t, "RecordApplied", s.Log.RecordApplied(ctx, r.ID, "node-a", revocation.ViaOrigin, t1))
	// Idempotent: a node applies a revocation once, however often it is told; the
	// first record stands (the bus may deliver after the origin recorded it).
	must(t, "RecordApplied again", s.Log.RecordApplied(ctx, r.ID, "node-a", revocation.ViaOrigin, t1))
	must(t, "RecordApplied by log", s.Log.RecordApplied(ctx, r.ID, "node-a", revocation.ViaLog, t1.Add(time.Minute)))
	must(t, "RecordApplied node-b", s.Log.RecordApplied(ctx, r.ID, "node-b", revocation.ViaBus, base.In(elsewhere)))
	must(t, "RecordApplied node-c", s.Log.RecordApplied(ctx, r.ID, "node-c", revocation.ViaLog, t1))
	must(t, "RecordApplied other", s.Log.RecordApplied(ctx, other.ID, "node-z", revocation.ViaBus, t1))

	got, err := s.Log.Applications(ctx, r.ID)
	must(t, "Applications", err)
	sameApps(t, got, []revocation.NodeApplication{
		{Node: "node-b", AppliedAt: base, Via: revocation.ViaBus},
		{Node: "node-a", AppliedAt: t1, Via: revocation.ViaOrigin},
		{Node: "node-c", AppliedAt: t1, Via: revocation.ViaLog},
	})
	got, err = s.Log.Applications(ctx, other.ID)
	must(t, "Applications(other)", err)
	sameApps(t, got, []revocation.NodeApplication{{Node: "node-z", AppliedAt: t1, Via: revocation.ViaBus}})
	got, err = s.Log.Applications(ctx, "rev-unknown")
	must(t, "Applications(unknown)", err)
	if len(got) != 0 {
		t.Errorf("Applications(unknown) = %+v, want none", got)
	}
}

func testRecordFanout(t *testing.T, s Stores) {
	ctx := t.Context()
	r := create(t, s, newRevocation(t, "soar-1", "key-1", base))
	other := create(t, s, newRevocation(t, "soar-1", "key-2", base))
	empty := create(t, s, newRevocation(t, "soar-1", "key-3", base))
	acks := revocation.Acks{Acknowledged: []string{"node-b", "node-c"}, Missing: []string{"node-d"}, Waited: time.Second}
	must(t, "RecordFanout", s.Log.RecordFanout(ctx, r.ID, acks))
	must(t, "RecordFanout(empty)", s.Log.RecordFanout(ctx, empty.ID, revocation.Acks{Acknowledged: []string{}, Missing: []string{}}))

	got, err := s.Revocations.RevocationByID(ctx, r.ID)
	must(t, "RevocationByID", err)
	if got.Fanout == nil || !slices.Equal(got.Fanout.Acknowledged, acks.Acknowledged) || !slices.Equal(got.Fanout.Missing, acks.Missing) {
		t.Errorf("Fanout = %+v, want %+v", got.Fanout, acks)
	}
	// Recording the fan-out changes nothing else.
	got.Fanout = nil
	sameRevocation(t, got, r)

	got, err = s.Revocations.RevocationByID(ctx, empty.ID)
	must(t, "RevocationByID(empty)", err)
	if got.Fanout == nil || len(got.Fanout.Acknowledged) != 0 || len(got.Fanout.Missing) != 0 {
		t.Errorf("empty Fanout = %+v, want recorded and empty", got.Fanout)
	}
	got, err = s.Revocations.RevocationByID(ctx, other.ID)
	must(t, "RevocationByID(other)", err)
	if got.Fanout != nil {
		t.Errorf("unrecorded Fanout = %+v, want nil", got.Fanout)
	}
}

// --- concurrency ---------------------------------------------------------------------

// race runs fn on n goroutines released together.
func race(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func testConcurrentIdempotencyKey(t *testing.T, s Stores) {
	ctx := t.Context()
	const n = 8
	errs := make([]error, n)
	revs := make([]revocation.Record, n)
	for i := range revs {
		revs[i] = newRevocation(t, "soar-a", "key-1", base)
	}
	race(n, func(i int) { errs[i] = s.Revocations.CreateRevocation(ctx, revs[i]) })
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("CreateRevocation %d and %d both took the key", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, identity.ErrConflict):
			t.Errorf("CreateRevocation %d: err = %v, want nil or identity.ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no CreateRevocation succeeded")
	}
	got, err := s.Revocations.RevocationByKey(ctx, "soar-a", "key-1")
	must(t, "RevocationByKey", err)
	if got.ID != revs[winner].ID {
		t.Errorf("RevocationByKey = %s, want the winner %s", got.ID, revs[winner].ID)
	}
}

func testConcurrentRecordApplied(t *testing.T, s Stores) {
	ctx := t.Context()
	r := create(t, s, newRevocation(t, "soar-1", "", base))
	const n = 8
	errs := make([]error, n)
	race(n, func(i int) {
		errs[i] = s.Log.RecordApplied(ctx, r.ID, "node-a", revocation.ViaBus, base.Add(time.Duration(i)*time.Millisecond))
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("RecordApplied %d: %v", i, err)
		}
	}
	got, err := s.Log.Applications(ctx, r.ID)
	must(t, "Applications", err)
	if len(got) != 1 || got[0].Node != "node-a" {
		t.Errorf("applications = %+v, want node-a once", got)
	}
}
