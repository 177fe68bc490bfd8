package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access/backchannel"
	"github.com/weft-fabric/weft/access/outbox"
	"github.com/weft-fabric/weft/access/ssf"
)

// lease is how long the suites lease what they claim.
const lease = time.Minute

// messages builds the messages of one test; every message carries the test's revocation
// id, so ByRevocation reads back their state.
type messages struct {
	t   *testing.T
	s   Stores
	rev string
}

func newOutbox(t *testing.T, s Stores) *messages {
	return &messages{t: t, s: s, rev: random(t, "rev-")}
}

// push enqueues a push message due at next.
func (o *messages) push(stream string, next time.Time) outbox.Message {
	o.t.Helper()
	id := random(o.t, "msg-")
	m := outbox.Message{ID: id, Kind: ssf.KindPush, Target: "https://rp.example/events/" + id,
		Payload: []byte(`{"claims":{"jti":"` + id + `"}}`), RevocationID: o.rev, NextAttemptAt: next, CreatedAt: base, StreamID: stream}
	if stream == "" {
		m.Kind = backchannel.Kind
	}
	return o.enqueue(m)
}

// pushTo enqueues a back-channel logout message for target key, due at next.
func (o *messages) pushTo(key string, next time.Time) outbox.Message {
	o.t.Helper()
	id := random(o.t, "msg-")
	return o.enqueue(outbox.Message{ID: id, Kind: backchannel.Kind, Target: "https://rp.example/bcl/" + id, TargetKey: key,
		Payload: []byte(`{}`), RevocationID: o.rev, NextAttemptAt: next, CreatedAt: base})
}

// pull enqueues a poll stream's message created at created (and due at once).
func (o *messages) pull(stream string, created time.Time) outbox.Message {
	o.t.Helper()
	id := random(o.t, "set-")
	return o.enqueue(outbox.Message{ID: id, Kind: ssf.KindPoll, Target: "https://weft.example/ssf/poll/" + stream,
		Payload: []byte(`{"claims":{"jti":"` + id + `"}}`), RevocationID: o.rev, NextAttemptAt: created, CreatedAt: created,
		StreamID: stream, Pull: true})
}

func (o *messages) enqueue(m outbox.Message) outbox.Message {
	o.t.Helper()
	must(o.t, "Enqueue", o.s.Outbox.Enqueue(o.t.Context(), m))
	return m
}

// get reads a message back.
func (o *messages) get(id string) outbox.Message {
	o.t.Helper()
	ms, err := o.s.Outbox.ByRevocation(o.t.Context(), o.rev)
	must(o.t, "ByRevocation", err)
	for _, m := range ms {
		if m.ID == id {
			return m
		}
	}
	o.t.Fatalf("message %s is not listed by its revocation", id)
	return outbox.Message{}
}

// claim claims at now and checks that exactly want came back (in any order).
func (o *messages) claim(now time.Time, limit int, want ...outbox.Message) []outbox.Message {
	o.t.Helper()
	got, err := o.s.Outbox.Claim(o.t.Context(), now, lease, limit, outbox.ClaimOptions{})
	must(o.t, "Claim", err)
	if g, w := ids(got), ids(want); !slices.Equal(g, w) {
		o.t.Fatalf("Claim(base%+v) = %v, want %v", now.Sub(base), g, w)
	}
	return got
}

// pending checks that the stream's pending messages are want, in this order.
func (o *messages) pending(stream string, limit int, want ...outbox.Message) []outbox.Message {
	o.t.Helper()
	got, err := o.s.Outbox.Pending(o.t.Context(), stream, limit)
	must(o.t, "Pending", err)
	g, w := make([]string, len(got)), make([]string, len(want))
	for i := range got {
		g[i] = got[i].ID
	}
	for i := range want {
		w[i] = want[i].ID
	}
	if !slices.Equal(g, w) {
		o.t.Fatalf("Pending(%s, %d) = %v, want %v", stream, limit, g, w)
	}
	return got
}

// sameMessage compares every field; times as instants.
func sameMessage(t *testing.T, got, want outbox.Message) {
	t.Helper()
	if got.ID != want.ID || got.Kind != want.Kind || got.Target != want.Target || !bytes.Equal(got.Payload, want.Payload) ||
		got.RevocationID != want.RevocationID || got.Attempts != want.Attempts || got.LastError != want.LastError ||
		got.StreamID != want.StreamID || got.Pull != want.Pull || got.Key() != want.Key() {
		t.Errorf("message:\n got %+v\nwant %+v", got, want)
	}
	sameTime(t, want.ID+" NextAttemptAt", got.NextAttemptAt, want.NextAttemptAt)
	sameTime(t, want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTimePtr(t, want.ID+" DeliveredAt", got.DeliveredAt, want.DeliveredAt)
	sameTimePtr(t, want.ID+" FailedAt", got.FailedAt, want.FailedAt)
}

func ptr(t time.Time) *time.Time { return &t }

func testEnqueueByRevocation(t *testing.T, s Stores) {
	ctx := t.Context()
	o, other := newOutbox(t, s), newOutbox(t, s)
	stream := random(t, "stream-")
	m1 := o.push("", base)
	m2 := o.enqueue(outbox.Message{ID: random(t, "msg-"), Kind: ssf.KindPush, Target: "https://rp.example/ssf",
		Payload: []byte(`{"claims":{"events":{}}}`), RevocationID: o.rev, NextAttemptAt: base.Add(-time.Hour).In(elsewhere),
		CreatedAt: base.Add(time.Second).In(elsewhere), StreamID: stream})
	m3 := o.pull(stream, base.Add(2*time.Second))
	m4 := other.push("", base)
	o.enqueue(outbox.Message{ID: random(t, "msg-"), Kind: backchannel.Kind, Target: "https://rp.example/bcl",
		Payload: []byte(`{}`), NextAttemptAt: base, CreatedAt: base}) // caused by no revocation

	got, err := s.Outbox.ByRevocation(ctx, o.rev)
	must(t, "ByRevocation", err)
	want := byID([]outbox.Message{m1, m2, m3}, func(m outbox.Message) string { return m.ID })
	got = byID(got, func(m outbox.Message) string { return m.ID })
	if len(got) != len(want) {
		t.Fatalf("ByRevocation = %v, want %v", ids(got), ids(want))
	}
	for i := range got {
		sameMessage(t, got[i], want[i])
	}
	got, err = s.Outbox.ByRevocation(ctx, other.rev)
	must(t, "ByRevocation(other)", err)
	if len(got) != 1 {
		t.Fatalf("ByRevocation(other) = %v, want [%s]", ids(got), m4.ID)
	}
	sameMessage(t, got[0], m4)
	got, err = s.Outbox.ByRevocation(ctx, "rev-unknown")
	must(t, "ByRevocation(unknown)", err)
	if len(got) != 0 {
		t.Errorf("ByRevocation(unknown) = %v, want none", ids(got))
	}
}

func testClaimLease(t *testing.T, s Stores) {
	o := newOutbox(t, s)
	overdue := o.push("", base.Add(-time.Minute).In(elsewhere))
	due := o.push("", base)
	future := o.push("", base.Add(time.Second))
	delivered := o.push("", base.Add(-time.Hour))
	must(t, "MarkDelivered", s.Outbox.MarkDelivered(t.Context(), delivered.ID, base.Add(-time.Minute)))
	given := o.push("", base.Add(-time.Hour))
	must(t, "MarkGivenUp", s.Outbox.MarkGivenUp(t.Context(), given.ID, 1, base.Add(-time.Minute), "400"))
	o.pull(random(t, "stream-"), base.Add(-time.Hour))

	got := o.claim(base.In(elsewhere), 10, overdue, due)
	// What a claim hands the worker is the message as enqueued.
	for _, g := range got {
		want := overdue
		if g.ID == due.ID {
			want = due
		}
		g.NextAttemptAt = want.NextAttemptAt // the lease may or may not show
		sameMessage(t, g, want)
	}
	// Leased: no one else takes them until the lease ends.
	o.claim(base, 10)
	o.claim(base.Add(lease-time.Microsecond).In(elsewhere), 10, future)
	o.claim(base.Add(lease), 10, overdue, due)
}

func testClaimLimit(t *testing.T, s Stores) {
	o := newOutbox(t, s)
	var all []outbox.Message
	for i := range 5 {
		all = append(all, o.push("", base.Add(-time.Duration(i+1)*time.Minute)))
	}
	seen := map[string]bool{}
	for _, n := range []int{2, 2, 1, 0} {
		got, err := s.Outbox.Claim(t.Context(), base, lease, 2, outbox.ClaimOptions{})
		must(t, "Claim", err)
		if len(got) != n {
			t.Fatalf("Claim(limit 2) = %v, want %d messages", ids(got), n)
		}
		for _, m := range got {
			if seen[m.ID] {
				t.Fatalf("message %s claimed twice", m.ID)
			}
			seen[m.ID] = true
		}
	}
	if len(seen) != len(all) {
		t.Fatalf("claimed %d of %d messages", len(seen), len(all))
	}
}

// testClaimSpread: a claim takes at most PerTarget messages of one target (the
// oldest), and none of the targets it is told to skip.
func testClaimSpread(t *testing.T, s Stores) {
	o := newOutbox(t, s)
	a, b, c := random(t, "bcl:a-"), random(t, "ssf:b-"), random(t, "bcl:c-")
	var as []outbox.Message
	for i := range 4 {
		as = append(as, o.pushTo(a, base.Add(-time.Duration(4-i)*time.Minute)))
	}
	b1 := o.pushTo(b, base)
	c1, c2 := o.pushTo(c, base.Add(-time.Second)), o.pushTo(c, base)
	cLater := o.pushTo(c, base.Add(time.Second))
	claim := func(now time.Time, limit int, opts outbox.ClaimOptions, want ...outbox.Message) {
		t.Helper()
		got, err := s.Outbox.Claim(t.Context(), now, lease, limit, opts)
		must(t, "Claim", err)
		if g, w := ids(got), ids(want); !slices.Equal(g, w) {
			t.Fatalf("Claim(%+v, %d, %+v) = %v, want %v", now.Sub(base), limit, opts, g, w)
		}
		for _, m := range got {
			if m.TargetKey == "" {
				t.Errorf("claimed %s without its target key", m.ID)
			}
		}
	}
	// The oldest due first, whatever the target.
	claim(base, 1, outbox.ClaimOptions{PerTarget: 2}, as[0])
	claim(base, 10, outbox.ClaimOptions{PerTarget: 2, Skip: []string{c}}, as[1], as[2], b1)
	claim(base, 10, outbox.ClaimOptions{PerTarget: 1, Skip: []string{a, "bcl:unknown"}}, c1)
	claim(base, 10, outbox.ClaimOptions{PerTarget: 1}, as[3], c2)
	claim(base, 10, outbox.ClaimOptions{PerTarget: 1})
	claim(base.Add(time.Second), 10, outbox.ClaimOptions{PerTarget: 2, Skip: []string{a, b}}, cLater)
}

// testDeferTarget: a failing target's waiting messages wait as a whole; later ones,
// finished ones, leases that end later and other targets keep their times.
func testDeferTarget(t *testing.T, s Stores) {
	ctx := t.Context()
	o := newOutbox(t, s)
	a, b := random(t, "bcl:a-"), random(t, "bcl:b-")
	// long is leased for a day, leased until base: both in flight somewhere.
	long := o.pushTo(a, base.Add(-time.Hour))
	got, err := s.Outbox.Claim(ctx, base.Add(-time.Hour), 24*time.Hour, 10, outbox.ClaimOptions{})
	must(t, "Claim(long lease)", err)
	if len(got) != 1 || got[0].ID != long.ID {
		t.Fatalf("Claim(long lease) = %v, want [%s]", ids(got), long.ID)
	}
	leased := o.pushTo(a, base.Add(-time.Minute))
	o.claim(base.Add(-time.Minute), 10, leased)
	due, later := o.pushTo(a, base), o.pushTo(a, base.Add(2*time.Hour))
	delivered := o.pushTo(a, base)
	must(t, "MarkDelivered", s.Outbox.MarkDelivered(ctx, delivered.ID, base))
	other := o.pushTo(b, base)

	must(t, "DeferTarget", s.Outbox.DeferTarget(ctx, a, base.Add(10*time.Minute).In(elsewhere)))
	done := func(ms []outbox.Message) {
		for _, m := range ms {
			must(t, "MarkDelivered", s.Outbox.MarkDelivered(ctx, m.ID, base))
		}
	}
	done(o.claim(base.Add(10*time.Minute-time.Microsecond), 10, other))
	done(o.claim(base.Add(10*time.Minute), 10, due, leased))
	done(o.claim(base.Add(2*time.Hour), 10, later))
	o.claim(base.Add(23*time.Hour), 10, long)
	// Deferring never brings a message forward (long is leased until base+23h1m).
	must(t, "DeferTarget(earlier)", s.Outbox.DeferTarget(ctx, a, base))
	o.claim(base.Add(23*time.Hour+time.Second), 10)
}

// testNextDue: the earliest time a claim could take something, leaving out skipped
// targets, finished and pulled messages; a lease counts at its end.
func testNextDue(t *testing.T, s Stores) {
	ctx := t.Context()
	o := newOutbox(t, s)
	next := func(want time.Time, skip ...string) {
		t.Helper()
		got, err := s.Outbox.NextDue(ctx, skip)
		must(t, "NextDue", err)
		if !got.Equal(want) {
			t.Fatalf("NextDue(skip %v) = %v, want %v", skip, got, want)
		}
	}
	// Other tests share the database: only what is due before base counts here, so
	// this test's messages are due in the far past.
	past := base.Add(-100 * 365 * 24 * time.Hour)
	a, b := random(t, "bcl:a-"), random(t, "bcl:b-")
	o.pull(random(t, "stream-"), past.Add(-3*time.Hour))
	given := o.pushTo(a, past.Add(-2*time.Hour))
	must(t, "MarkGivenUp", s.Outbox.MarkGivenUp(ctx, given.ID, 1, past, "400"))
	leased := o.pushTo(a, past.Add(-time.Hour))
	got, err := s.Outbox.Claim(ctx, past.Add(-time.Hour), time.Minute, 1, outbox.ClaimOptions{Skip: []string{b}})
	must(t, "Claim", err)
	if len(got) != 1 || got[0].ID != leased.ID {
		t.Fatalf("Claim = %v, want [%s]", ids(got), leased.ID)
	}
	o.pushTo(b, past.Add(time.Minute).In(elsewhere))
	o.pushTo(a, past.Add(time.Hour))
	next(past.Add(-time.Hour + time.Minute))
	// Skipping a target leaves out its messages only.
	next(past.Add(time.Minute), a)
	next(past.Add(time.Minute), a, "bcl:unknown")
}

func testMarkDelivered(t *testing.T, s Stores) {
	o := newOutbox(t, s)
	m, control := o.push("", base), o.push("", base)
	o.claim(base, 10, m, control)
	must(t, "MarkDelivered", s.Outbox.MarkDelivered(t.Context(), m.ID, base.Add(time.Second).In(elsewhere)))
	want := m
	want.DeliveredAt = ptr(base.Add(time.Second))
	got := o.get(m.ID)
	got.NextAttemptAt = want.NextAttemptAt // the lease
	sameMessage(t, got, want)
	o.claim(base.Add(lease), 10, control)
	o.claim(base.Add(24*time.Hour), 10, control)
}

func testMarkFailed(t *testing.T, s Stores) {
	o := newOutbox(t, s)
	failed, held, control := o.push("", base), o.push("", base), o.push("", base)
	o.claim(base, 10, failed, held, control)
	must(t, "MarkFailed", s.Outbox.MarkFailed(t.Context(), failed.ID, 3, base.Add(10*time.Minute), "connection refused"))
	// A hold (a paused stream) may end before the lease would: next replaces the lease.
	must(t, "MarkFailed(hold)", s.Outbox.MarkFailed(t.Context(), held.ID, 0, base.Add(10*time.Second).In(elsewhere), "stream paused"))

	want := failed
	want.Attempts, want.NextAttemptAt, want.LastError = 3, base.Add(10*time.Minute), "connection refused"
	sameMessage(t, o.get(failed.ID), want)

	o.claim(base.Add(10*time.Second-time.Microsecond), 10)
	if got := o.claim(base.Add(10*time.Second), 10, held); got[0].LastError != "stream paused" || got[0].Attempts != 0 {
		t.Errorf("held message = %+v, want attempts 0 and its reason", got[0])
	}
	o.claim(base.Add(lease), 10, control)
	o.claim(base.Add(10*time.Minute-time.Microsecond), 10, control, held)
	// The worker backs off from the attempts so far: the claim must carry them.
	got := o.claim(base.Add(10*time.Minute), 10, failed)
	if got[0].Attempts != 3 || got[0].LastError != "connection refused" {
		t.Errorf("claimed after failing = %+v, want attempts 3 and its error", got[0])
	}
}

func testMarkGivenUp(t *testing.T, s Stores) {
	o := newOutbox(t, s)
	claimed, unclaimed, control := o.push("", base), o.push("", base.Add(time.Hour)), o.push("", base)
	o.claim(base, 10, claimed, control)
	must(t, "MarkGivenUp", s.Outbox.MarkGivenUp(t.Context(), claimed.ID, 2, base.Add(time.Second).In(elsewhere), "400 invalid_request"))
	must(t, "MarkGivenUp(unclaimed)", s.Outbox.MarkGivenUp(t.Context(), unclaimed.ID, 0, base.Add(time.Second), "stream deleted"))

	want := claimed
	want.Attempts, want.FailedAt, want.LastError = 2, ptr(base.Add(time.Second)), "400 invalid_request"
	got := o.get(claimed.ID)
	got.NextAttemptAt = want.NextAttemptAt // the lease
	sameMessage(t, got, want)
	if got := o.get(unclaimed.ID); got.FailedAt == nil || got.DeliveredAt != nil {
		t.Errorf("unclaimed given up = %+v, want FailedAt set and not delivered", got)
	}
	o.claim(base.Add(lease), 10, control)
	o.claim(base.Add(365*24*time.Hour), 10, control)
}

func testPullNeverClaimed(t *testing.T, s Stores) {
	o := newOutbox(t, s)
	stream := random(t, "stream-")
	p1, p2 := o.pull(stream, base.Add(-time.Hour)), o.pull(stream, base)
	control := o.push(stream, base)
	o.claim(base.Add(365*24*time.Hour), 100, control)
	o.claim(base.Add(365*24*time.Hour+lease), 100, control)
	// Untouched by the worker: still pending, no attempt counted.
	for i, m := range o.pending(stream, 10, p1, p2) {
		sameMessage(t, m, []outbox.Message{p1, p2}[i])
	}
}

func testPending(t *testing.T, s Stores) {
	o := newOutbox(t, s)
	s1, s2 := random(t, "stream-"), random(t, "stream-")
	p3 := o.pull(s1, base.Add(2*time.Second))
	p1 := o.pull(s1, base)
	p2 := o.pull(s1, base.Add(time.Second).In(elsewhere))
	o.push(s1, base.Add(-time.Hour))
	other := o.pull(s2, base.Add(-time.Hour))
	given := o.pull(s1, base.Add(-time.Hour))
	must(t, "MarkGivenUp", s.Outbox.MarkGivenUp(t.Context(), given.ID, 0, base, "stream disabled"))
	acked := o.pull(s1, base.Add(-time.Hour))
	if n, err := s.Outbox.Acknowledge(t.Context(), s1, []string{acked.ID}, base, ""); err != nil || n != 1 {
		t.Fatalf("Acknowledge = %d, %v; want 1", n, err)
	}

	for i, m := range o.pending(s1, 10, p1, p2, p3) {
		sameMessage(t, m, []outbox.Message{p1, p2, p3}[i])
	}
	o.pending(s1, 2, p1, p2)
	o.pending(s2, 10, other)
	o.pending(random(t, "stream-"), 10)
}

func testServed(t *testing.T, s Stores) {
	o := newOutbox(t, s)
	stream := random(t, "stream-")
	p1, p2, p3 := o.pull(stream, base), o.pull(stream, base.Add(time.Second)), o.pull(stream, base.Add(2*time.Second))
	must(t, "Served", s.Outbox.Served(t.Context(), []string{p1.ID, p2.ID}))
	must(t, "Served", s.Outbox.Served(t.Context(), []string{p1.ID}))
	must(t, "Served(none)", s.Outbox.Served(t.Context(), nil))
	got := o.pending(stream, 10, p1, p2, p3)
	for i, want := range []int{2, 1, 0} {
		if got[i].Attempts != want {
			t.Errorf("%s attempts = %d, want %d", got[i].ID, got[i].Attempts, want)
		}
	}
}

func testAcknowledge(t *testing.T, s Stores) {
	ctx := t.Context()
	o := newOutbox(t, s)
	s1, s2 := random(t, "stream-"), random(t, "stream-")
	p1, p2, p3 := o.pull(s1, base), o.pull(s1, base.Add(time.Second)), o.pull(s1, base.Add(2*time.Second))
	push := o.push(s1, base)
	foreign := o.pull(s2, base)
	given := o.pull(s1, base)
	must(t, "MarkGivenUp", s.Outbox.MarkGivenUp(ctx, given.ID, 0, base, "stream disabled"))

	// Ids that are not the stream's pending pull messages are ignored: another
	// receiver cannot acknowledge (and so suppress) someone else's events.
	n, err := s.Outbox.Acknowledge(ctx, s1, []string{p1.ID, p2.ID, foreign.ID, push.ID, given.ID, "set-unknown"}, base.Add(time.Second), "")
	must(t, "Acknowledge", err)
	if n != 2 {
		t.Errorf("Acknowledge marked %d, want 2", n)
	}
	o.pending(s1, 10, p3)
	o.pending(s2, 10, foreign)
	want := p1
	want.DeliveredAt = ptr(base.Add(time.Second))
	sameMessage(t, o.get(p1.ID), want)
	for _, m := range []outbox.Message{push, foreign, given} {
		if got := o.get(m.ID); got.DeliveredAt != nil {
			t.Errorf("%s was marked delivered by another stream's or a push acknowledgement", m.ID)
		}
	}
	o.claim(base, 10, push)

	// Acknowledging again changes nothing: the first acknowledgement stands.
	n, err = s.Outbox.Acknowledge(ctx, s1, []string{p1.ID}, base.Add(time.Hour), "late")
	must(t, "Acknowledge again", err)
	if n != 0 {
		t.Errorf("second Acknowledge marked %d, want 0", n)
	}
	sameMessage(t, o.get(p1.ID), want)

	// A receiver's error is kept with the acknowledgement.
	n, err = s.Outbox.Acknowledge(ctx, s1, []string{p3.ID}, base.Add(2*time.Second), "invalid_key: unknown key")
	must(t, "Acknowledge with error", err)
	if n != 1 {
		t.Errorf("Acknowledge with error marked %d, want 1", n)
	}
	want = p3
	want.DeliveredAt, want.LastError = ptr(base.Add(2*time.Second)), "invalid_key: unknown key"
	sameMessage(t, o.get(p3.ID), want)
	if n, err := s.Outbox.Acknowledge(ctx, s1, nil, base, ""); err != nil || n != 0 {
		t.Errorf("Acknowledge(none) = %d, %v; want 0, nil", n, err)
	}
}

func testWake(t *testing.T, s Stores) {
	ctx := t.Context()
	o := newOutbox(t, s)
	s1, s2 := random(t, "stream-"), random(t, "stream-")
	held, later := o.push(s1, base.Add(time.Hour)), o.push(s1, base.Add(2*time.Hour))
	o.pull(s1, base.Add(time.Hour))
	o.push(s2, base.Add(time.Hour))
	delivered := o.push(s1, base.Add(time.Hour))
	must(t, "MarkDelivered", s.Outbox.MarkDelivered(ctx, delivered.ID, base))
	given := o.push(s1, base.Add(time.Hour))
	must(t, "MarkGivenUp", s.Outbox.MarkGivenUp(ctx, given.ID, 1, base, "400"))
	o.claim(base.Add(time.Minute), 10)

	must(t, "Wake", s.Outbox.Wake(ctx, s1, base.Add(time.Minute).In(elsewhere)))
	o.claim(base.Add(time.Minute), 10, held, later)
}

func testGiveUpStream(t *testing.T, s Stores) {
	ctx := t.Context()
	o := newOutbox(t, s)
	s1, s2 := random(t, "stream-"), random(t, "stream-")
	push, pull := o.push(s1, base), o.pull(s1, base)
	acked := o.pull(s1, base)
	if n, err := s.Outbox.Acknowledge(ctx, s1, []string{acked.ID}, base.Add(time.Second), ""); err != nil || n != 1 {
		t.Fatalf("Acknowledge = %d, %v; want 1", n, err)
	}
	delivered := o.push(s1, base)
	must(t, "MarkDelivered", s.Outbox.MarkDelivered(ctx, delivered.ID, base.Add(time.Second)))
	otherPush, otherPull := o.push(s2, base), o.pull(s2, base)

	must(t, "GiveUpStream", s.Outbox.GiveUpStream(ctx, s1, base.Add(time.Minute).In(elsewhere), "stream deleted"))
	for _, m := range []outbox.Message{push, pull} {
		want := m
		want.FailedAt, want.LastError = ptr(base.Add(time.Minute)), "stream deleted"
		sameMessage(t, o.get(m.ID), want)
	}
	// What was delivered stays delivered, and other streams are untouched.
	for _, m := range []outbox.Message{acked, delivered, otherPush, otherPull} {
		if got := o.get(m.ID); got.FailedAt != nil {
			t.Errorf("%s given up with stream %s: %+v", m.ID, s1, got)
		}
	}
	o.claim(base.Add(365*24*time.Hour), 10, otherPush)
	o.pending(s1, 10)
	o.pending(s2, 10, otherPull)
	if n, err := s.Outbox.Acknowledge(ctx, s1, []string{pull.ID}, base.Add(time.Hour), ""); err != nil || n != 0 {
		t.Errorf("Acknowledge(given up) = %d, %v; want 0", n, err)
	}
}

// testUndelivered: a stream's messages neither delivered nor given up, push and pull,
// counted up to the limit; other streams' are not.
func testUndelivered(t *testing.T, s Stores) {
	ctx := t.Context()
	o := newOutbox(t, s)
	s1, s2 := random(t, "stream-"), random(t, "stream-")
	o.push(s1, base)
	o.pull(s1, base)
	o.pull(s1, base.Add(time.Second))
	acked := o.pull(s1, base)
	if n, err := s.Outbox.Acknowledge(ctx, s1, []string{acked.ID}, base, ""); err != nil || n != 1 {
		t.Fatalf("Acknowledge = %d, %v", n, err)
	}
	delivered, given := o.push(s1, base), o.push(s1, base)
	must(t, "MarkDelivered", s.Outbox.MarkDelivered(ctx, delivered.ID, base))
	must(t, "MarkGivenUp", s.Outbox.MarkGivenUp(ctx, given.ID, 1, base, "400"))
	o.pull(s2, base)
	for _, tc := range []struct {
		stream      string
		limit, want int
	}{{s1, 10, 3}, {s1, 3, 3}, {s1, 2, 2}, {s2, 10, 1}, {random(t, "stream-"), 10, 0}} {
		if n, err := s.Outbox.Undelivered(ctx, tc.stream, tc.limit); err != nil || n != tc.want {
			t.Errorf("Undelivered(limit %d) = %d, %v; want %d", tc.limit, n, err, tc.want)
		}
	}
}

func testRetarget(t *testing.T, s Stores) {
	ctx := t.Context()
	o := newOutbox(t, s)
	s1, s2 := random(t, "stream-"), random(t, "stream-")
	waiting, other := o.push(s1, base), o.push(s2, base)
	delivered := o.push(s1, base)
	must(t, "MarkDelivered", s.Outbox.MarkDelivered(ctx, delivered.ID, base))

	const target = "https://new.example/events"
	must(t, "Retarget", s.Outbox.Retarget(ctx, s1, target))
	if got := o.get(waiting.ID).Target; got != target {
		t.Errorf("undelivered target = %q, want %q", got, target)
	}
	// The receipt keeps where delivered messages went.
	if got := o.get(delivered.ID).Target; got != delivered.Target {
		t.Errorf("delivered target = %q, want %q", got, delivered.Target)
	}
	if got := o.get(other.ID).Target; got != other.Target {
		t.Errorf("other stream's target = %q, want %q", got, other.Target)
	}
	for _, m := range o.claim(base, 10, waiting, other) {
		if m.ID == waiting.ID && m.Target != target {
			t.Errorf("claimed target = %q, want %q", m.Target, target)
		}
	}
}

// --- concurrency ---------------------------------------------------------------------

// testConcurrentClaim races workers claiming small batches until each finds nothing;
// no message may be claimed twice, and none lost.
func testConcurrentClaim(t *testing.T, s Stores) {
	ctx := t.Context()
	const rounds, msgs, workers = 4, 40, 4
	o := newOutbox(t, s)
	count := map[string]int{}
	for r := range rounds {
		// Each round's messages are due after the previous round's claims and the
		// long lease keeps those from coming back.
		now := base.Add(time.Duration(r) * time.Second)
		for i := range msgs {
			o.pushTo(fmt.Sprintf("bcl:rp-%d", i%5), now.Add(-time.Duration(i)*time.Microsecond))
		}
		claimed := make([][]outbox.Message, workers)
		errs := make([]error, workers)
		race(workers, func(w int) {
			for {
				// Half the workers spread their claims over targets, as the worker does.
				opts := outbox.ClaimOptions{}
				if w%2 == 0 {
					opts.PerTarget = 2
				}
				ms, err := s.Outbox.Claim(ctx, now, time.Hour, 3, opts)
				if err != nil || len(ms) == 0 {
					errs[w] = err
					return
				}
				claimed[w] = append(claimed[w], ms...)
			}
		})
		for w, err := range errs {
			must(t, fmt.Sprintf("concurrent Claim by worker %d", w), err)
		}
		// A worker stops when its batch was taken by others; sweep what is left.
		rest, err := s.Outbox.Claim(ctx, now, time.Hour, msgs, outbox.ClaimOptions{})
		must(t, "Claim the rest", err)
		for _, ms := range append(claimed, rest) {
			for _, m := range ms {
				count[m.ID]++
			}
		}
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("message %s claimed %d times", id, n)
		}
	}
	if len(count) != rounds*msgs {
		t.Errorf("claimed %d distinct messages, want %d", len(count), rounds*msgs)
	}
}
