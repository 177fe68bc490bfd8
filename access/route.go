package access

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/weft-fabric/weft/identity"
)

// Route leads requests for a host and path prefix to an application: how forward-auth
// (access/gateway) knows which application a gateway asks about. Host is lower-case
// without a port (ports are ignored when matching); PathPrefix is a path of whole
// segments without a trailing slash ("/" for the whole host): "/app" covers "/app",
// "/app/" and "/app/x", not "/apple".
type Route struct {
	Host          string
	PathPrefix    string
	ApplicationID string
	CreatedAt     time.Time
}

// RouteSpec is a route as declared (fabric file, admin API), before normalisation.
type RouteSpec struct {
	Host       string `json:"host"`
	PathPrefix string `json:"path_prefix"`
}

// RouteStore persists routes.
type RouteStore interface {
	// Routes lists every route, ordered by host and path prefix.
	Routes(ctx context.Context) ([]Route, error)
	// RoutesOf lists the routes of application appID, in the same order.
	RoutesOf(ctx context.Context, appID string) ([]Route, error)
	// ReplaceRoutes makes rs (all with ApplicationID appID) exactly the routes of
	// application appID. ErrConflict if one of them is another application's route;
	// ErrNotFound if the application does not exist.
	ReplaceRoutes(ctx context.Context, appID string, rs []Route) error
}

// Limits of a route declaration.
const (
	maxHostLen       = 253 // RFC 1035 name length, in presentation form
	maxPathPrefixLen = 1024
)

// NormalizeHost validates a route's host and returns it in the form routes are matched
// on: a DNS name (ASCII; write internationalised names in their xn-- form) lower-cased
// without a trailing dot, or an IP address in canonical form (IPv6 without brackets).
// A port, a scheme, a path or a wildcard is refused: ports are ignored when matching,
// and each host is declared on its own.
func NormalizeHost(s string) (string, error) {
	bad := func(reason string) (string, error) {
		return "", &identity.ValidationError{Field: "host", Reason: reason}
	}
	switch {
	case s == "":
		return bad("must not be empty")
	case strings.Contains(s, "://"):
		return bad("must be a host name such as app.example.com, without a scheme")
	case strings.ContainsAny(s, "/?#"):
		return bad("must be a host name such as app.example.com, without a path")
	case strings.Contains(s, "*"):
		return bad("wildcards are not supported: declare each host")
	case strings.Contains(s, "@"):
		return bad("must not contain user information ('@')")
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() && a.Zone() == "" {
			return a.String(), nil
		}
		return bad("is not a valid IPv6 address")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return bad("must not carry an IPv6 zone")
		}
		return a.Unmap().String(), nil
	}
	if strings.Contains(s, ":") {
		return bad("must not include a port: ports are ignored when matching")
	}
	h := strings.TrimSuffix(strings.ToLower(s), ".")
	if h == "" || len(h) > maxHostLen {
		return bad(fmt.Sprintf("must be a DNS name of 1 to %d characters", maxHostLen))
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return bad("each dot-separated label must have 1 to 63 characters")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if c >= 0x80 {
				return bad("must be ASCII: write an internationalised name in its xn-- form")
			}
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return bad("may contain only letters, digits, '-' and dots")
			}
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("a label must not start or end with '-'")
		}
	}
	return h, nil
}

// NormalizePathPrefix validates a route's path prefix and returns it without a trailing
// slash ("/" stays "/"). It must start with '/', be written decoded (no '%': requests
// are matched on their decoded, cleaned path), and hold no query, fragment, backslash,
// control character, empty segment or dot segment.
func NormalizePathPrefix(p string) (string, error) {
	bad := func(reason string) (string, error) {
		return "", &identity.ValidationError{Field: "path_prefix", Reason: reason}
	}
	switch {
	case !strings.HasPrefix(p, "/"):
		return bad("must start with '/'")
	case len(p) > maxPathPrefixLen:
		return bad(fmt.Sprintf("must be at most %d bytes", maxPathPrefixLen))
	case strings.ContainsAny(p, "?#"):
		return bad("must be a path without a query or fragment")
	case strings.Contains(p, "%"):
		return bad("must be written decoded, without percent-encoding")
	case strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }):
		return bad("must not contain spaces, control characters or backslashes")
	}
	trimmed := p
	if len(trimmed) > 1 {
		trimmed = strings.TrimSuffix(trimmed, "/")
	}
	if strings.Contains(p, "//") || path.Clean(trimmed) != trimmed {
		return bad("must not contain empty ('//'), '.' or '..' segments")
	}
	return trimmed, nil
}

// PathHasPrefix reports whether the cleaned request path p lies under the normalised
// route prefix: whole segments only, so "/app" covers "/app" and "/app/x", not "/apple".
func PathHasPrefix(p, prefix string) bool {
	if prefix == "/" {
		return true
	}
	return strings.HasPrefix(p, prefix) && (len(p) == len(prefix) || p[len(prefix)] == '/')
}

// Routes is the service over gateway routes: their rules, and through the application
// service the observers told of every change. Routes belong to applications, so a
// change of an application's routes replaces them all, as declared.
type Routes struct {
	store RouteStore
	apps  *identity.Applications
	now   func() time.Time
}

// NewRoutes builds the service; apps must share store's database (one transaction).
func NewRoutes(store RouteStore, apps *identity.Applications) *Routes {
	return &Routes{store: store, apps: apps, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// All lists every route (the gateway's route table loads them).
func (r *Routes) All(ctx context.Context) ([]Route, error) { return r.store.Routes(ctx) }

// Of lists the routes of an application; ErrNotFound if the application does not exist.
func (r *Routes) Of(ctx context.Context, appID string) ([]Route, error) {
	if _, err := r.apps.ByID(ctx, appID); err != nil {
		return nil, unknownApplication(appID, err)
	}
	return r.store.RoutesOf(ctx, appID)
}

// CheckRouteSpecs validates and normalises specs, naming a bad one as
// routes[i].host or routes[i].path_prefix, and refuses the same route twice.
func CheckRouteSpecs(specs []RouteSpec) ([]Route, error) {
	out := make([]Route, 0, len(specs))
	seen := map[[2]string]int{}
	for i, s := range specs {
		h, err := NormalizeHost(s.Host)
		if err != nil {
			return nil, renameRouteField(err, i)
		}
		p, err := NormalizePathPrefix(s.PathPrefix)
		if err != nil {
			return nil, renameRouteField(err, i)
		}
		key := [2]string{h, p}
		if j, dup := seen[key]; dup {
			return nil, &identity.ValidationError{Field: fmt.Sprintf("routes[%d]", i),
				Reason: fmt.Sprintf("is the same route as routes[%d] (%s%s)", j, h, p)}
		}
		seen[key] = i
		out = append(out, Route{Host: h, PathPrefix: p})
	}
	slices.SortFunc(out, compareRoutes)
	return out, nil
}

func renameRouteField(err error, i int) error {
	var ve *identity.ValidationError
	if errors.As(err, &ve) {
		return &identity.ValidationError{Field: fmt.Sprintf("routes[%d].%s", i, ve.Field), Reason: ve.Reason}
	}
	return err
}

func compareRoutes(a, b Route) int {
	if c := strings.Compare(a.Host, b.Host); c != 0 {
		return c
	}
	return strings.Compare(a.PathPrefix, b.PathPrefix)
}

// Set makes specs exactly the routes of application appID and reports whether anything
// changed (nothing is written when nothing does). Returns ErrInvalid (a
// *ValidationError naming routes[i]), ErrNotFound for an unknown application, or
// ErrConflict naming the application a route already leads to.
func (r *Routes) Set(ctx context.Context, appID string, specs []RouteSpec) ([]Route, bool, error) {
	want, err := CheckRouteSpecs(specs)
	if err != nil {
		return nil, false, err
	}
	var (
		out     []Route
		changed bool
	)
	err = r.apps.InTx(ctx, func(ctx context.Context) error {
		if _, err := r.apps.ByID(ctx, appID); err != nil {
			return unknownApplication(appID, err)
		}
		all, err := r.store.Routes(ctx)
		if err != nil {
			return err
		}
		kept := map[[2]string]Route{}
		for _, cur := range all {
			key := [2]string{cur.Host, cur.PathPrefix}
			if cur.ApplicationID == appID {
				kept[key] = cur
				continue
			}
			for _, w := range want {
				if w.Host == cur.Host && w.PathPrefix == cur.PathPrefix {
					return fmt.Errorf("route %s%s (routes[%d]) already leads to application %q: %w",
						w.Host, w.PathPrefix, specIndex(specs, w), cur.ApplicationID, identity.ErrConflict)
				}
			}
		}
		now := r.now()
		for i := range want {
			want[i].ApplicationID = appID
			want[i].CreatedAt = now
			if cur, ok := kept[[2]string{want[i].Host, want[i].PathPrefix}]; ok {
				want[i].CreatedAt = cur.CreatedAt
			}
		}
		out = want
		if len(kept) == len(want) && !slices.ContainsFunc(want, func(w Route) bool {
			_, ok := kept[[2]string{w.Host, w.PathPrefix}]
			return !ok
		}) {
			return nil
		}
		if err := r.store.ReplaceRoutes(ctx, appID, want); err != nil {
			if errors.Is(err, identity.ErrConflict) {
				return fmt.Errorf("a route of application %q was just given to another application: %w", appID, identity.ErrConflict)
			}
			return err
		}
		changed = true
		return r.apps.Changed(ctx)
	})
	if err != nil {
		return nil, false, err
	}
	return out, changed, nil
}

// specIndex finds which declared spec normalised to w, for the error message.
func specIndex(specs []RouteSpec, w Route) int {
	for i, s := range specs {
		h, herr := NormalizeHost(s.Host)
		p, perr := NormalizePathPrefix(s.PathPrefix)
		if herr == nil && perr == nil && h == w.Host && p == w.PathPrefix {
			return i
		}
	}
	return 0
}

func unknownApplication(id string, err error) error {
	if errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("unknown application %q: %w", id, identity.ErrNotFound)
	}
	return err
}
