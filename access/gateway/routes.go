package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/identity"
)

// ReloadRoutes is the name of the route table in revocation.Event.Reload.
const ReloadRoutes = "gateway-routes"

// RouteSource lists every route (*access.Routes).
type RouteSource interface {
	All(ctx context.Context) ([]access.Route, error)
}

// AppSource lists every application (*identity.Applications).
type AppSource interface {
	All(ctx context.Context) ([]identity.Application, error)
}

// Match is the route a request matched and the application it leads to.
type Match struct {
	Route       access.Route
	Application identity.Application
}

// Resource names the application as the policy sees it: "application:<id>".
func (m Match) Resource() string { return "application:" + m.Application.ID }

// RouteTable is this node's copy of the gateway routes, so that matching a request
// touches no SQL: the host exactly (case-insensitive, port ignored), then the longest
// path prefix of whole segments. It is reloaded from the database when routes or
// applications change: at once on the node that changed them (RouteChanges), within
// moments on the others (a Reload event on the fan-out bus, which the table watches),
// after a resync of the bus (every cache is dropped then), and every refresh interval
// whatever happened (Run), which also covers a change made by another process on a
// single node's SQLite file. A failed reload keeps the last good table and says so in
// the log.
type RouteTable struct {
	routes RouteSource
	apps   AppSource
	log    *slog.Logger

	cur    atomic.Pointer[routeIndex]
	kick   chan struct{}
	loaded atomic.Int64 // unix nanoseconds of the last successful load
}

// routeIndex is one immutable generation of the table: host -> routes, longest
// prefix first, and the applications by id.
type routeIndex struct {
	hosts map[string][]Match
	apps  map[string]identity.Application
}

var _ revocation.Watcher = (*RouteTable)(nil)

// NewRouteTable builds an empty table; Reload fills it.
func NewRouteTable(routes RouteSource, apps AppSource, log *slog.Logger) *RouteTable {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &RouteTable{routes: routes, apps: apps, log: log, kick: make(chan struct{}, 1)}
	t.cur.Store(&routeIndex{hosts: map[string][]Match{}, apps: map[string]identity.Application{}})
	return t
}

// Reload reads every route and application and swaps the table in one step. On error
// the table is left as it was.
func (t *RouteTable) Reload(ctx context.Context) error {
	apps, err := t.apps.All(ctx)
	if err != nil {
		return fmt.Errorf("load applications: %w", err)
	}
	routes, err := t.routes.All(ctx)
	if err != nil {
		return fmt.Errorf("load gateway routes: %w", err)
	}
	t.cur.Store(buildIndex(routes, apps))
	t.loaded.Store(time.Now().UnixNano())
	return nil
}

func buildIndex(routes []access.Route, apps []identity.Application) *routeIndex {
	byID := make(map[string]identity.Application, len(apps))
	for _, a := range apps {
		byID[a.ID] = a
	}
	idx := &routeIndex{hosts: map[string][]Match{}, apps: byID}
	for _, r := range routes {
		app, ok := byID[r.ApplicationID]
		if !ok {
			// Deleted between the two reads: its routes went with it.
			continue
		}
		idx.hosts[r.Host] = append(idx.hosts[r.Host], Match{Route: r, Application: app})
	}
	for _, ms := range idx.hosts {
		slices.SortFunc(ms, func(a, b Match) int { return len(b.Route.PathPrefix) - len(a.Route.PathPrefix) })
	}
	return idx
}

// Match finds the route for a host (normalised: lower-case, no port, see hostKey) and a
// cleaned, decoded path. No route means no application: the caller refuses.
func (t *RouteTable) Match(host, path string) (Match, bool) {
	for _, m := range t.cur.Load().hosts[host] {
		if access.PathHasPrefix(path, m.Route.PathPrefix) {
			return m, true
		}
	}
	return Match{}, false
}

// Application returns the application with id as this node knows it, for a policy
// that needs its attributes (sensitive) beside the resource name "application:<id>".
func (t *RouteTable) Application(id string) (identity.Application, bool) {
	a, ok := t.cur.Load().apps[id]
	return a, ok
}

// Len is the number of routes in the table.
func (t *RouteTable) Len() int {
	n := 0
	for _, ms := range t.cur.Load().hosts {
		n += len(ms)
	}
	return n
}

// Watch implements revocation.Watcher: a Reload naming the table, or an event that
// drops everything (a resync), asks Run for a reload. It never blocks.
func (t *RouteTable) Watch(ev revocation.Event) {
	if ev.All || slices.Contains(ev.Reload, ReloadRoutes) {
		select {
		case t.kick <- struct{}{}:
		default: // a reload is already pending
		}
	}
}

// Run reloads the table when Watch asks and every refresh interval, until ctx ends.
func (t *RouteTable) Run(ctx context.Context, refresh time.Duration) {
	tick := time.NewTicker(refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
		case <-tick.C:
		}
		if err := t.Reload(ctx); err != nil && ctx.Err() == nil {
			t.log.WarnContext(ctx, "reloading the gateway route table failed; keeping the last good one",
				"error", err.Error(), "loaded_at", time.Unix(0, t.loaded.Load()).UTC())
		}
	}
}

// RouteChanges is the identity.ApplicationObserver that carries a change of
// applications or routes to every node's route table: once the change commits, this
// node reloads its table before the change is answered (Table, nil in admin commands,
// which keep none), and the other nodes are told through the fan-out bus (Publish:
// revocation.Fanout.Publish; nil on a process without one).
type RouteChanges struct {
	Tx      identity.Transactor
	Table   *RouteTable
	Publish func(ctx context.Context, ev revocation.Event) (revocation.Acks, error)
	Logger  *slog.Logger
}

var _ identity.ApplicationObserver = (*RouteChanges)(nil)

// ApplicationsChanged implements identity.ApplicationObserver. Failing to reload or to
// publish does not undo the committed change: the tables catch up at their next refresh,
// and the log says so.
func (c *RouteChanges) ApplicationsChanged(ctx context.Context) error {
	c.Tx.AfterCommit(ctx, func(ctx context.Context) {
		log := c.Logger
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		if c.Table != nil {
			if err := c.Table.Reload(ctx); err != nil {
				log.WarnContext(ctx, "reloading the gateway route table after a change failed", "error", err.Error())
			}
		}
		if c.Publish != nil {
			if _, err := c.Publish(ctx, revocation.Event{Reload: []string{ReloadRoutes}}); err != nil {
				log.WarnContext(ctx, "telling the other nodes of a route change failed; they reload at their next refresh",
					"error", err.Error())
			}
		}
	})
	return nil
}
