package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/identity"
)

// userView is a user as the API shows it. There is no password field: the API can set
// a password but never reads one or its hash.
type userView struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func viewUser(u identity.User) userView {
	return userView{ID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName,
		Status: string(u.Status), CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

type createUserRequest struct {
	Username    string `json:"username"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
	Password    string `json:"password"` // optional: a user may sign in with other factors later
	Status      string `json:"status"`   // optional: active
}

// patchUserRequest: absent (or null) fields are left alone.
type patchUserRequest struct {
	Username    *string `json:"username"`
	Email       *string `json:"email"`
	DisplayName *string `json:"display_name"`
	Status      *string `json:"status"`
}

type passwordRequest struct {
	Password string `json:"password"`
}

// listUsers: GET /users?limit=&after=&status=&username=. username finds one user by
// its normalised name (a page of zero or one).
func (h *Handler) listUsers(c echo.Context) error {
	ctx := c.Request().Context()
	page, err := pageFrom(c)
	if err != nil {
		return err
	}
	f := identity.UserFilter{Status: identity.Status(c.QueryParam("status"))}
	if f.Status != "" {
		if _, err := identity.ParseStatus(string(f.Status)); err != nil {
			return err
		}
	}
	if name := c.QueryParam("username"); name != "" {
		u, err := h.Directory.UserByUsername(ctx, name)
		found := err == nil && (f.Status == "" || u.Status == f.Status)
		if err != nil && !notFoundOrInvalid(err) {
			return err
		}
		return c.JSON(http.StatusOK, listOf(oneOrNone(u, found), viewUser, ""))
	}
	users, next, err := h.Directory.ListUsers(ctx, f, page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOf(users, viewUser, next))
}

func oneOrNone[T any](x T, ok bool) []T {
	if ok {
		return []T{x}
	}
	return nil
}

// createUser: POST /users.
func (h *Handler) createUser(c echo.Context) error {
	var in createUserRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	u, err := h.Directory.CreateUser(c.Request().Context(), identity.NewUser{Username: in.Username, Email: in.Email,
		DisplayName: in.DisplayName, Password: in.Password, Status: identity.Status(in.Status)})
	if err != nil {
		return err
	}
	return created(c, "/users", u.ID, viewUser(u))
}

// getUser: GET /users/{id}.
func (h *Handler) getUser(c echo.Context) error {
	u, err := h.Directory.UserByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return missing(err, "user")
	}
	return c.JSON(http.StatusOK, viewUser(u))
}

// patchUser: PATCH /users/{id}. Profile and status change in one transaction, so a
// refused status leaves the profile as it was.
func (h *Handler) patchUser(c echo.Context) error {
	var in patchUserRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	id := c.Param("id")
	patch := identity.UserPatch{Username: in.Username, Email: in.Email, DisplayName: in.DisplayName}
	var out identity.User
	if in.Status != nil {
		status, err := identity.ParseStatus(*in.Status)
		if err != nil {
			return err
		}
		// Suspending or deprovisioning revokes everything the user holds (the
		// revocation service observes the directory), in the transaction that also
		// applies the profile edits: all or nothing.
		out, _, err = h.Revocations.ChangeStatus(c.Request().Context(), h.Directory,
			identity.Change{Actor: caller(c).clientID, Reason: "user " + string(status) + " through the admin API"}, id, status,
			func(ctx context.Context) error {
				_, _, err := h.Directory.UpdateUser(ctx, id, patch)
				return err
			})
		if err != nil {
			return missing(err, "user")
		}
		return c.JSON(http.StatusOK, viewUser(out))
	}
	out, _, err := h.Directory.UpdateUser(c.Request().Context(), id, patch)
	if err != nil {
		return missing(err, "user")
	}
	return c.JSON(http.StatusOK, viewUser(out))
}

// setPassword: PUT /users/{id}/password.
func (h *Handler) setPassword(c echo.Context) error {
	var in passwordRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	// Setting a password ends the user's sessions and revokes their tokens (the
	// revocation service observes the directory); the change names this client.
	ctx := identity.WithChange(c.Request().Context(), &identity.Change{Actor: caller(c).clientID,
		Reason: "password set through the admin API"})
	if err := h.Directory.SetPassword(ctx, c.Param("id"), in.Password); err != nil {
		return missing(err, "user")
	}
	return c.NoContent(http.StatusNoContent)
}

// groupsOfUser: GET /users/{id}/groups.
func (h *Handler) groupsOfUser(c echo.Context) error {
	ctx := c.Request().Context()
	page, err := pageFrom(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if _, err := h.Directory.UserByID(ctx, id); err != nil {
		return missing(err, "user")
	}
	groups, err := h.Directory.GroupsOf(ctx, id)
	if err != nil {
		return err
	}
	groups, next := pageSlice(groups, func(g identity.Group) string { return nameKey(g.Name) }, page)
	return c.JSON(http.StatusOK, listOf(groups, viewGroup, next))
}
