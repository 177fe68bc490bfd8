package revocation_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access/revocation"
)

type forgetting struct{ got []string }

func (f *forgetting) Forget(subject string, all bool) {
	if all {
		subject = "*"
	}
	f.got = append(f.got, subject)
}

// Every way an event reaches a node (its own publication, the bus, a resync) reaches the
// node's listeners too; events that name no subject leave them alone.
func TestFanout_Listeners(t *testing.T) {
	w := newWorld()
	l := &forgetting{}
	f := &revocation.Fanout{Node: "n1", Bus: fakeBus{w}, Log: fakeLog{w}, Listeners: []revocation.Listener{l}}
	ctx := context.Background()
	if _, err := f.Publish(ctx, revocation.Event{Subject: "alice"}); err != nil {
		t.Fatal(err)
	}
	f.Receive(ctx, revocation.Event{ID: "e2", Subject: "bob"})
	f.Receive(ctx, revocation.Event{ID: "e3", SIDs: []string{"sid-1"}}) // no subject: nothing to forget
	// A client's revocation (a disable, a secret rotation) reaches the client cache.
	f.Receive(ctx, revocation.Event{ID: "e4", ClientID: "demo-m2m"})
	f.Receive(ctx, revocation.Event{ID: "e5", Subject: "ci-runner", ClientID: "ci"})
	if err := f.Resync(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"alice", "bob", "demo-m2m", "ci-runner", "ci", "*"}; !slices.Equal(l.got, want) {
		t.Fatalf("listeners heard %v, want %v", l.got, want)
	}
}

// A revocation applied on a node, its own once committed or another's from the bus or
// the log, wakes the node's outbox worker (Notify): it may have queued deliveries.
// Internal invalidations (not durable) queue none and wake nothing.
func TestFanout_Notify(t *testing.T) {
	w := newWorld()
	var n int
	f := &revocation.Fanout{Node: "n1", Bus: fakeBus{w}, Log: fakeLog{w}, Notify: func() { n++ }}
	ctx := context.Background()
	if _, err := f.Publish(ctx, revocation.Event{ID: "r1", Durable: true}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("own revocation: notified %d times, want 1", n)
	}
	f.Receive(ctx, revocation.Event{ID: "r2", Durable: true, SIDs: []string{"s"}})
	if n != 2 {
		t.Fatalf("revocation from the bus: notified %d times, want 2", n)
	}
	if _, err := f.Publish(ctx, revocation.Event{Signatures: []string{"sig"}}); err != nil {
		t.Fatal(err)
	}
	f.Receive(ctx, revocation.Event{ID: "i2", RequestIDs: []string{"req"}})
	if n != 2 {
		t.Fatalf("internal invalidations notified (%d), want still 2", n)
	}
}

type watching struct{ got []revocation.Event }

func (w *watching) Watch(ev revocation.Event) { w.got = append(w.got, ev) }

// Watchers see every event whole, however it arrives; a reload request reaches them
// and nothing else (no listener forgets, nothing is notified).
func TestFanout_Watchers(t *testing.T) {
	w := newWorld()
	wa, l := &watching{}, &forgetting{}
	var notified int
	f := &revocation.Fanout{Node: "n1", Bus: fakeBus{w}, Log: fakeLog{w}, Listeners: []revocation.Listener{l},
		Watchers: []revocation.Watcher{wa}, Notify: func() { notified++ }}
	ctx := context.Background()
	if _, err := f.Publish(ctx, revocation.Event{Reload: []string{"routes"}}); err != nil {
		t.Fatal(err)
	}
	f.Receive(ctx, revocation.Event{ID: "e2", SIDs: []string{"sid-1"}, Subject: "alice"})
	f.Receive(ctx, revocation.Event{ID: "e3", Reload: []string{"routes"}})
	if err := f.Resync(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(wa.got) != 4 || !slices.Equal(wa.got[0].Reload, []string{"routes"}) || wa.got[0].ID == "" ||
		!slices.Equal(wa.got[1].SIDs, []string{"sid-1"}) || wa.got[2].ID != "e3" || !wa.got[3].All {
		t.Fatalf("watchers saw %+v", wa.got)
	}
	if want := []string{"alice", "*"}; !slices.Equal(l.got, want) || notified != 0 {
		t.Fatalf("listeners heard %v (want %v), notified %d times", l.got, want, notified)
	}
}
