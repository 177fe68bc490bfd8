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
