package admin

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/identity"
)

type groupView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func viewGroup(g identity.Group) groupView {
	return groupView{ID: g.ID, Name: g.Name, Description: g.Description, CreatedAt: g.CreatedAt.UTC(), UpdatedAt: g.UpdatedAt.UTC()}
}

type createGroupRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// patchGroupRequest: a group's name is its identity in fabric files and policies, so
// only the description changes.
type patchGroupRequest struct {
	Description *string `json:"description"`
}

// listGroups: GET /groups?limit=&after=&name=.
func (h *Handler) listGroups(c echo.Context) error {
	ctx := c.Request().Context()
	page, err := pageFrom(c)
	if err != nil {
		return err
	}
	if name := c.QueryParam("name"); name != "" {
		g, err := h.Directory.GroupByName(ctx, name)
		if err != nil && !notFoundOrInvalid(err) {
			return err
		}
		return c.JSON(http.StatusOK, listOf(oneOrNone(g, err == nil), viewGroup, ""))
	}
	groups, next, err := h.Directory.ListGroups(ctx, page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOf(groups, viewGroup, next))
}

// createGroup: POST /groups.
func (h *Handler) createGroup(c echo.Context) error {
	var in createGroupRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	g, err := h.Directory.CreateGroup(c.Request().Context(), identity.NewGroup{Name: in.Name, Description: in.Description})
	if err != nil {
		return err
	}
	return created(c, "/groups", g.ID, viewGroup(g))
}

// getGroup: GET /groups/{id}.
func (h *Handler) getGroup(c echo.Context) error {
	g, err := h.Directory.GroupByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return missing(err, "group")
	}
	return c.JSON(http.StatusOK, viewGroup(g))
}

// patchGroup: PATCH /groups/{id}.
func (h *Handler) patchGroup(c echo.Context) error {
	var in patchGroupRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var (
		g   identity.Group
		err error
	)
	if in.Description == nil {
		g, err = h.Directory.GroupByID(ctx, c.Param("id"))
	} else {
		g, _, err = h.Directory.UpdateGroupDescription(ctx, c.Param("id"), *in.Description)
	}
	if err != nil {
		return missing(err, "group")
	}
	return c.JSON(http.StatusOK, viewGroup(g))
}

// deleteGroup: DELETE /groups/{id}. Memberships go with it.
func (h *Handler) deleteGroup(c echo.Context) error {
	if err := h.Directory.DeleteGroup(c.Request().Context(), c.Param("id")); err != nil {
		return missing(err, "group")
	}
	return c.NoContent(http.StatusNoContent)
}

// listMembers: GET /groups/{id}/members?limit=&after=.
func (h *Handler) listMembers(c echo.Context) error {
	page, err := pageFrom(c)
	if err != nil {
		return err
	}
	users, err := h.Directory.Members(c.Request().Context(), c.Param("id"))
	if err != nil {
		return missing(err, "group")
	}
	users, next := pageSlice(users, func(u identity.User) string { return nameKey(u.Username) }, page)
	return c.JSON(http.StatusOK, listOf(users, viewUser, next))
}

// addMember: PUT /groups/{id}/members/{user_id}. Idempotent.
func (h *Handler) addMember(c echo.Context) error {
	if err := h.Directory.AddMember(c.Request().Context(), c.Param("id"), c.Param("user_id")); err != nil {
		return missing(err, "group or user")
	}
	return c.NoContent(http.StatusNoContent)
}

// removeMember: DELETE /groups/{id}/members/{user_id}. Idempotent: removing a user who
// is not a member (or does not exist) succeeds; an unknown group is 404.
func (h *Handler) removeMember(c echo.Context) error {
	if err := h.Directory.RemoveMember(c.Request().Context(), c.Param("id"), c.Param("user_id")); err != nil {
		return missing(err, "group")
	}
	return c.NoContent(http.StatusNoContent)
}
