package gateway_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/gateway"
	"github.com/weft-fabric/weft/access/revocation"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/identity"
	idsql "github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// source is a route and application source in memory that can be made to fail.
type source struct {
	mu     sync.Mutex
	routes []access.Route
	apps   []identity.Application
	fail   error
	loads  int
}

type routeSource struct{ *source }
type appSource struct{ *source }

func (s routeSource) All(context.Context) ([]access.Route, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.routes, s.fail
}

func (s appSource) All(context.Context) ([]identity.Application, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	return s.apps, s.fail
}

func (s *source) set(fail error, routes ...access.Route) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
	if routes != nil {
		s.routes = routes
	}
}

func (s *source) count() int { s.mu.Lock(); defer s.mu.Unlock(); return s.loads }

func route(host, prefix, app string) access.Route {
	return access.Route{Host: host, PathPrefix: prefix, ApplicationID: app}
}

func newSource() *source {
	return &source{
		apps: []identity.Application{{ID: "site", Name: "Site"}, {ID: "api", Name: "API"}, {ID: "admin", Name: "Admin", Sensitive: true}},
		routes: []access.Route{
			route("app.example.com", "/", "site"),
			route("app.example.com", "/api", "api"),
			route("app.example.com", "/api/admin", "admin"),
			route("127.0.0.1", "/wiki", "site"),
			route("other.example.com", "/x", "ghost"), // its application is gone
		},
	}
}

func TestRouteTable_Match(t *testing.T) {
	src := newSource()
	tab := gateway.NewRouteTable(routeSource{src}, appSource{src}, nil)
	if _, ok := tab.Match("app.example.com", "/"); ok {
		t.Fatal("an empty table matched")
	}
	if err := tab.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, path string
		app        string // "" = no match
	}{
		{"app.example.com", "/", "site"},
		{"app.example.com", "/index.html", "site"},
		{"app.example.com", "/api", "api"},
		{"app.example.com", "/api/users", "api"},
		{"app.example.com", "/apis", "site"}, // whole segments only
		{"app.example.com", "/api/admin", "admin"},
		{"app.example.com", "/api/admin/x", "admin"},
		{"app.example.com", "/api/administrator", "api"},
		{"127.0.0.1", "/wiki/page", "site"},
		{"127.0.0.1", "/", ""},
		{"127.0.0.1", "/wikis", ""},
		{"other.example.com", "/x", ""}, // the route of a deleted application leads nowhere
		{"unknown.example.com", "/", ""},
		{"example.com", "/", ""}, // exact hosts: no suffix matching
	} {
		m, ok := tab.Match(tc.host, tc.path)
		if got := m.Application.ID; ok != (tc.app != "") || got != tc.app {
			t.Errorf("Match(%q, %q) = %q, %v; want %q", tc.host, tc.path, got, ok, tc.app)
		}
	}
	if m, _ := tab.Match("app.example.com", "/api/admin"); !m.Application.Sensitive || m.Resource() != "application:admin" ||
		m.Route.PathPrefix != "/api/admin" {
		t.Fatalf("match = %+v", m)
	}
	if tab.Len() != 4 {
		t.Fatalf("Len = %d", tab.Len())
	}
	if a, ok := tab.Application("admin"); !ok || !a.Sensitive || a.Name != "Admin" {
		t.Fatalf("Application(admin) = %+v, %v", a, ok)
	}
	if _, ok := tab.Application("ghost"); ok {
		t.Fatal("an unknown application was found")
	}
}

// A Reload event (or a resync) makes Run reload; other events do not; a failed reload
// keeps the last good table.
func TestRouteTable_WatchAndRun(t *testing.T) {
	src := newSource()
	tab := gateway.NewRouteTable(routeSource{src}, appSource{src}, nil)
	if err := tab.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { tab.Run(ctx, time.Hour); close(done) }()

	src.set(nil, route("new.example.com", "/", "site"))
	tab.Watch(revocation.Event{Subject: "alice", SIDs: []string{"s"}}) // a revocation: not for the table
	time.Sleep(50 * time.Millisecond)
	if _, ok := tab.Match("new.example.com", "/"); ok || src.count() != 1 {
		t.Fatalf("a revocation reloaded the table (loads %d)", src.count())
	}
	tab.Watch(revocation.Event{Reload: []string{gateway.ReloadRoutes}})
	waitFor(t, "the reload", func() bool { _, ok := tab.Match("new.example.com", "/"); return ok })
	if _, ok := tab.Match("app.example.com", "/"); ok {
		t.Fatal("the old routes survived the reload")
	}

	// The database fails: the last good table stays.
	src.set(errors.New("database is down"))
	before := src.count()
	tab.Watch(revocation.Event{All: true})
	waitFor(t, "the failed reload", func() bool { return src.count() > before })
	if _, ok := tab.Match("new.example.com", "/"); !ok {
		t.Fatal("a failed reload emptied the table")
	}
	cancel()
	<-done
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Changes through the services reach the table once they commit, and are published to
// the other nodes; a change that rolls back reaches nobody.
func TestRouteChanges(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := sqltest.Open(t, b)
			var published []revocation.Event
			changes := &gateway.RouteChanges{Tx: db, Publish: func(_ context.Context, ev revocation.Event) (revocation.Acks, error) {
				published = append(published, ev)
				return revocation.Acks{}, nil
			}}
			apps := identity.NewApplications(idsql.NewApplications(db), db, changes)
			routes := access.NewRoutes(accsql.NewRoutes(db), apps)
			tab := gateway.NewRouteTable(routes, apps, nil)
			changes.Table = tab

			if _, err := apps.Create(ctx, identity.NewApplication{ID: "wiki", Name: "Wiki"}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := routes.Set(ctx, "wiki", []access.RouteSpec{{Host: "Wiki.Example.com", PathPrefix: "/"}}); err != nil {
				t.Fatal(err)
			}
			if m, ok := tab.Match("wiki.example.com", "/page"); !ok || m.Application.ID != "wiki" {
				t.Fatalf("after Set the table has %d routes", tab.Len())
			}
			if len(published) != 2 || published[1].Reload[0] != gateway.ReloadRoutes {
				t.Fatalf("published %+v", published)
			}
			// A change inside a transaction that rolls back reaches nobody.
			err := apps.InTx(ctx, func(ctx context.Context) error {
				if err := apps.Delete(ctx, "wiki"); err != nil {
					return err
				}
				return errors.New("changed my mind")
			})
			if err == nil || len(published) != 2 {
				t.Fatalf("rolled back: err %v, published %d", err, len(published))
			}
			if _, ok := tab.Match("wiki.example.com", "/"); !ok {
				t.Fatal("a rolled-back delete reached the table")
			}
			if err := apps.Delete(ctx, "wiki"); err != nil {
				t.Fatal(err)
			}
			if _, ok := tab.Match("wiki.example.com", "/"); ok || len(published) != 3 {
				t.Fatalf("after delete: table %d routes, published %d", tab.Len(), len(published))
			}
		})
	}
}
