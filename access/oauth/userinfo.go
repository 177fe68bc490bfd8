package oauth

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

// userinfo is the OIDC UserInfo endpoint (GET and POST, bearer token). It answers from
// the directory as it is now, so a renamed or suspended user is reflected at once.
func (h *Handler) userinfo(c echo.Context) error {
	ctx := c.Request().Context()
	w := c.Response()
	unauthorized := func(desc string) error {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+desc+`"`)
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": desc})
	}
	token := fosite.AccessTokenFromRequest(c.Request())
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer`)
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "A bearer access token is required."})
	}
	use, ar, err := h.Provider.IntrospectToken(ctx, token, fosite.AccessToken, access.NewSession("", "", ""))
	if err == nil && use != fosite.AccessToken {
		err = fosite.ErrInvalidTokenFormat // fosite falls back to refresh tokens; those are not bearer tokens
	}
	if err != nil {
		return unauthorized("The access token is invalid, expired or revoked.")
	}
	scopes := []string(ar.GetGrantedScopes())
	if !ar.GetGrantedScopes().Has("openid") {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="openid"`)
		return c.JSON(http.StatusForbidden, map[string]string{"error": "insufficient_scope"})
	}
	u, err := h.Directory.UserByID(ctx, ar.GetSession().GetSubject())
	if err != nil || u.Status != identity.StatusActive {
		return unauthorized("The user behind this token is no longer active.")
	}
	claims, err := h.userClaims(ctx, u, scopes)
	if err != nil {
		return err
	}
	claims["sub"] = u.ID
	w.Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, claims)
}
