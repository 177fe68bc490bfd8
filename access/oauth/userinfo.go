package oauth

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/identity"
)

// userinfo is the OIDC UserInfo endpoint (GET and POST, bearer token). It answers from
// the directory as it is now, so a renamed or suspended user is reflected at once.
func (h *Handler) userinfo(c echo.Context) error {
	ctx := c.Request().Context()
	caller, err := h.Gate.Bearer(c, "userinfo", "openid")
	if err != nil {
		return err
	}
	// The gate checked the subject is active; a client's own token (client_credentials)
	// has no user to describe.
	u, err := h.Directory.UserByID(ctx, caller.Subject)
	if err != nil || u.Status != identity.StatusActive {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="weft", error="invalid_token"`)
		return &httpserver.Problem{Status: http.StatusUnauthorized, Title: "Unauthorized", Detail: "This access token does not stand for a user."}
	}
	claims, err := h.userClaims(ctx, u, caller.Scopes)
	if err != nil {
		return err
	}
	claims["sub"] = u.ID
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, claims)
}
