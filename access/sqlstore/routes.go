package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/weft-fabric/weft/access"
	idsql "github.com/weft-fabric/weft/identity/sqlstore"
)

// Routes implements access.RouteStore.
type Routes struct {
	db *idsql.DB
}

var _ access.RouteStore = (*Routes)(nil)

// NewRoutes returns the gateway route store over db.
func NewRoutes(db *idsql.DB) *Routes { return &Routes{db: db} }

type routeRow struct {
	Host          string `gorm:"primaryKey"`
	PathPrefix    string `gorm:"primaryKey"`
	ApplicationID string
	CreatedAt     time.Time
}

func (routeRow) TableName() string { return "gateway_routes" }

func (r routeRow) route() access.Route {
	return access.Route{Host: r.Host, PathPrefix: r.PathPrefix, ApplicationID: r.ApplicationID, CreatedAt: r.CreatedAt.UTC()}
}

func routes(rows []routeRow) []access.Route {
	out := make([]access.Route, len(rows))
	for i, r := range rows {
		out[i] = r.route()
	}
	return out
}

// Routes implements access.RouteStore.
func (s *Routes) Routes(ctx context.Context) ([]access.Route, error) {
	var rows []routeRow
	if err := s.db.Conn(ctx).Order("host, path_prefix").Find(&rows).Error; err != nil {
		return nil, idsql.TranslateError(err)
	}
	return routes(rows), nil
}

// RoutesOf implements access.RouteStore.
func (s *Routes) RoutesOf(ctx context.Context, appID string) ([]access.Route, error) {
	var rows []routeRow
	if err := s.db.Conn(ctx).Where("application_id = ?", appID).Order("host, path_prefix").Find(&rows).Error; err != nil {
		return nil, idsql.TranslateError(err)
	}
	return routes(rows), nil
}

// ReplaceRoutes implements access.RouteStore.
func (s *Routes) ReplaceRoutes(ctx context.Context, appID string, rs []access.Route) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		if err := conn.Where("application_id = ?", appID).Delete(&routeRow{}).Error; err != nil {
			return idsql.TranslateError(err)
		}
		if len(rs) == 0 {
			return nil
		}
		rows := make([]routeRow, len(rs))
		for i, r := range rs {
			if r.ApplicationID != appID {
				return fmt.Errorf("route %s%s belongs to %q, not %q", r.Host, r.PathPrefix, r.ApplicationID, appID)
			}
			rows[i] = routeRow{Host: r.Host, PathPrefix: r.PathPrefix, ApplicationID: appID, CreatedAt: r.CreatedAt.UTC()}
		}
		// A missing application is a foreign-key failure (ErrNotFound), a route of
		// another application a primary-key one (ErrConflict).
		return idsql.TranslateError(conn.Create(&rows).Error)
	})
}
