package sqlstore_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/access"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/identity"
	idsql "github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

type changes struct{ n int }

func (c *changes) ApplicationsChanged(context.Context) error { c.n++; return nil }

func routeKeys(rs []access.Route) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Host + r.PathPrefix + " -> " + r.ApplicationID
	}
	return out
}

// The route service over the SQL stores, on both backends: routes replace as declared,
// a route is one application's only, an unknown application is refused, and deleting
// an application takes its routes with it.
func TestRoutes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		db := sqltest.Open(t, b)
		seen := &changes{}
		apps := identity.NewApplications(idsql.NewApplications(db), db, seen)
		routes := access.NewRoutes(accsql.NewRoutes(db), apps)
		for _, id := range []string{"crm", "wiki"} {
			if _, err := apps.Create(ctx, identity.NewApplication{ID: id, Name: id}); err != nil {
				t.Fatal(err)
			}
		}
		got, changed, err := routes.Set(ctx, "crm", []access.RouteSpec{
			{Host: "CRM.Example.com", PathPrefix: "/"}, {Host: "apps.example.com", PathPrefix: "/crm/"},
		})
		if err != nil || !changed {
			t.Fatalf("Set = %v, %v", changed, err)
		}
		want := []string{"apps.example.com/crm -> crm", "crm.example.com/ -> crm"}
		if !reflect.DeepEqual(routeKeys(got), want) {
			t.Fatalf("Set returned %v, want %v", routeKeys(got), want)
		}
		stored, err := routes.Of(ctx, "crm")
		if err != nil || !reflect.DeepEqual(routeKeys(stored), want) {
			t.Fatalf("Of = %v, %v", routeKeys(stored), err)
		}
		// The same declaration again changes nothing, and tells nobody.
		before := seen.n
		if _, changed, err := routes.Set(ctx, "crm", []access.RouteSpec{
			{Host: "apps.example.com", PathPrefix: "/crm"}, {Host: "crm.example.com.", PathPrefix: "/"},
		}); err != nil || changed || seen.n != before {
			t.Fatalf("repeat Set: changed %v err %v observer %d -> %d", changed, err, before, seen.n)
		}
		again, _ := routes.Of(ctx, "crm")
		if !again[0].CreatedAt.Equal(stored[0].CreatedAt) {
			t.Fatal("an unchanged route lost its creation time")
		}

		// Another application cannot take a route; nothing is written.
		snap := sqltest.Snapshot(t, db.SQL(), "gateway_routes")
		_, _, err = routes.Set(ctx, "wiki", []access.RouteSpec{{Host: "wiki.example.com", PathPrefix: "/"}, {Host: "apps.example.com", PathPrefix: "/crm"}})
		if !errors.Is(err, identity.ErrConflict) || !strings.Contains(err.Error(), `"crm"`) || !strings.Contains(err.Error(), "routes[1]") {
			t.Fatalf("taking crm's route: %v", err)
		}
		if _, _, err := routes.Set(ctx, "ghost", []access.RouteSpec{{Host: "ghost.example.com", PathPrefix: "/"}}); !errors.Is(err, identity.ErrNotFound) ||
			!strings.Contains(err.Error(), `unknown application "ghost"`) {
			t.Fatalf("unknown application: %v", err)
		}
		if _, _, err := routes.Set(ctx, "wiki", []access.RouteSpec{{Host: "wiki.example.com:8080", PathPrefix: "/"}}); !errors.Is(err, identity.ErrInvalid) ||
			!strings.Contains(err.Error(), "routes[0].host") {
			t.Fatalf("a port: %v", err)
		}
		if after := sqltest.Snapshot(t, db.SQL(), "gateway_routes"); !reflect.DeepEqual(snap, after) {
			t.Fatalf("refused changes were written:\nbefore %v\nafter  %v", snap, after)
		}

		// A nested prefix on the same host may lead elsewhere (longest prefix wins).
		if _, _, err := routes.Set(ctx, "wiki", []access.RouteSpec{{Host: "apps.example.com", PathPrefix: "/crm/wiki"}}); err != nil {
			t.Fatal(err)
		}
		all, err := routes.All(ctx)
		if err != nil || len(all) != 3 {
			t.Fatalf("All = %v, %v", routeKeys(all), err)
		}
		// Replacing with fewer routes drops the others; an empty list drops all.
		if _, changed, err := routes.Set(ctx, "crm", []access.RouteSpec{{Host: "crm.example.com", PathPrefix: "/"}}); err != nil || !changed {
			t.Fatal(changed, err)
		}
		if rs, _ := routes.Of(ctx, "crm"); len(rs) != 1 {
			t.Fatalf("after shrinking: %v", routeKeys(rs))
		}
		if err := apps.Delete(ctx, "crm"); err != nil {
			t.Fatal(err)
		}
		all, _ = routes.All(ctx)
		if !reflect.DeepEqual(routeKeys(all), []string{"apps.example.com/crm/wiki -> wiki"}) {
			t.Fatalf("after deleting crm: %v", routeKeys(all))
		}
		if _, err := routes.Of(ctx, "crm"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("Of a deleted application: %v", err)
		}
		if _, changed, err := routes.Set(ctx, "wiki", nil); err != nil || !changed {
			t.Fatal(changed, err)
		}
		if all, _ := routes.All(ctx); len(all) != 0 {
			t.Fatalf("after clearing: %v", routeKeys(all))
		}
	})
}
