package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

type routeView struct {
	Host       string `json:"host"`
	PathPrefix string `json:"path_prefix"`
}

type applicationView struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Sensitive   bool        `json:"sensitive"`
	Routes      []routeView `json:"routes"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
}

func viewRoutes(rs []access.Route) []routeView {
	out := make([]routeView, len(rs))
	for i, r := range rs {
		out[i] = routeView{Host: r.Host, PathPrefix: r.PathPrefix}
	}
	return out
}

func viewApplication(a identity.Application, rs []access.Route) applicationView {
	return applicationView{ID: a.ID, Name: a.Name, Description: a.Description, Sensitive: a.Sensitive,
		Routes: viewRoutes(rs), CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC()}
}

// createApplicationRequest: routes, if given, are the application's routes from the start.
type createApplicationRequest struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Sensitive   bool               `json:"sensitive"`
	Routes      []access.RouteSpec `json:"routes"`
}

// patchApplicationRequest: absent fields are left alone; routes, when present, replace
// the application's routes. The id never changes: policies and fabric files name it.
type patchApplicationRequest struct {
	Name        *string             `json:"name"`
	Description *string             `json:"description"`
	Sensitive   *bool               `json:"sensitive"`
	Routes      *[]access.RouteSpec `json:"routes"`
}

type putRoutesRequest struct {
	Routes []access.RouteSpec `json:"routes"`
}

// listApplications: GET /applications?limit=&after=, each with its routes.
func (h *Handler) listApplications(c echo.Context) error {
	ctx := c.Request().Context()
	page, err := pageFrom(c)
	if err != nil {
		return err
	}
	apps, next, err := h.Applications.List(ctx, page)
	if err != nil {
		return err
	}
	all, err := h.Routes.All(ctx) // one query for the page, not one per application
	if err != nil {
		return err
	}
	byApp := map[string][]access.Route{}
	for _, r := range all {
		byApp[r.ApplicationID] = append(byApp[r.ApplicationID], r)
	}
	return c.JSON(http.StatusOK, listOf(apps, func(a identity.Application) applicationView {
		return viewApplication(a, byApp[a.ID])
	}, next))
}

// createApplication: POST /applications. The application and its routes are created
// together or not at all.
func (h *Handler) createApplication(c echo.Context) error {
	var in createApplicationRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	var (
		app    identity.Application
		routes []access.Route
	)
	err := h.Applications.InTx(c.Request().Context(), func(ctx context.Context) error {
		var err error
		if app, err = h.Applications.Create(ctx, identity.NewApplication{ID: in.ID, Name: in.Name,
			Description: in.Description, Sensitive: in.Sensitive}); err != nil {
			return err
		}
		routes, _, err = h.Routes.Set(ctx, app.ID, in.Routes)
		return err
	})
	if err != nil {
		return err
	}
	return created(c, "/applications", app.ID, viewApplication(app, routes))
}

// getApplication: GET /applications/{id}.
func (h *Handler) getApplication(c echo.Context) error {
	ctx := c.Request().Context()
	app, err := h.Applications.ByID(ctx, c.Param("id"))
	if err != nil {
		return missing(err, "application")
	}
	routes, err := h.Routes.Of(ctx, app.ID)
	if err != nil {
		return missing(err, "application")
	}
	return c.JSON(http.StatusOK, viewApplication(app, routes))
}

// patchApplication: PATCH /applications/{id}.
func (h *Handler) patchApplication(c echo.Context) error {
	var in patchApplicationRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	id := c.Param("id")
	var (
		app    identity.Application
		routes []access.Route
	)
	err := h.Applications.InTx(c.Request().Context(), func(ctx context.Context) error {
		var err error
		if app, _, err = h.Applications.Update(ctx, id, identity.ApplicationPatch{Name: in.Name,
			Description: in.Description, Sensitive: in.Sensitive}); err != nil {
			return err
		}
		if in.Routes != nil {
			routes, _, err = h.Routes.Set(ctx, id, *in.Routes)
			return err
		}
		routes, err = h.Routes.Of(ctx, id)
		return err
	})
	if err != nil {
		return missing(err, "application")
	}
	return c.JSON(http.StatusOK, viewApplication(app, routes))
}

// deleteApplication: DELETE /applications/{id}. Its routes go with it: requests that
// matched them match no route any more, and forward-auth refuses them.
func (h *Handler) deleteApplication(c echo.Context) error {
	if err := h.Applications.Delete(c.Request().Context(), c.Param("id")); err != nil {
		return missing(err, "application")
	}
	return c.NoContent(http.StatusNoContent)
}

// listRoutes: GET /applications/{id}/routes.
func (h *Handler) listRoutes(c echo.Context) error {
	routes, err := h.Routes.Of(c.Request().Context(), c.Param("id"))
	if err != nil {
		return missing(err, "application")
	}
	return c.JSON(http.StatusOK, putRoutesResponse{Routes: viewRoutes(routes)})
}

type putRoutesResponse struct {
	Routes []routeView `json:"routes"`
}

// putRoutes: PUT /applications/{id}/routes. The list replaces the application's
// routes, as a fabric file does; an empty list removes them all.
func (h *Handler) putRoutes(c echo.Context) error {
	var in putRoutesRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Routes == nil {
		return invalid("routes", "is required (an empty list removes every route)")
	}
	routes, _, err := h.Routes.Set(c.Request().Context(), c.Param("id"), in.Routes)
	if err != nil {
		return missing(err, "application")
	}
	return c.JSON(http.StatusOK, putRoutesResponse{Routes: viewRoutes(routes)})
}
