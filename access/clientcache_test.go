package access_test

import (
	"context"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access"
)

// A change written to the store behind the cache (by another node) is served from
// the cache until the TTL, unless the fan-out tells the cache to forget the client:
// that is how a disable on one node reaches the others at once.
func TestClientCache_Forget(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		cache := access.NewClientCache(e.store, time.Hour)
		if _, _, err := e.clients.Apply(ctx, webSpec()); err != nil {
			t.Fatal(err)
		}
		if c, err := cache.ClientByID(ctx, "demo-web"); err != nil || c.Disabled() {
			t.Fatalf("first read = %+v, %v", c.Status, err)
		}
		// Another node disables the client (through its own registry).
		if _, _, err := e.clients.SetStatus(ctx, "demo-web", access.ClientDisabled); err != nil {
			t.Fatal(err)
		}
		if c, _ := cache.ClientByID(ctx, "demo-web"); c.Disabled() {
			t.Fatal("the cache read through before being told: this test shows nothing")
		}
		cache.Forget("alice", false) // a user's id: no client of that name
		if c, _ := cache.ClientByID(ctx, "demo-web"); c.Disabled() {
			t.Fatal("forgetting another name dropped the client")
		}
		cache.Forget("demo-web", false)
		if c, _ := cache.ClientByID(ctx, "demo-web"); !c.Disabled() {
			t.Fatal("after Forget the cache still serves the client as active")
		}
		if _, _, err := e.clients.SetStatus(ctx, "demo-web", access.ClientActive); err != nil {
			t.Fatal(err)
		}
		cache.Forget("", true)
		if c, _ := cache.ClientByID(ctx, "demo-web"); c.Disabled() {
			t.Fatal("after Forget(all) the cache still serves the client as disabled")
		}
	})
}
