package ui

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

type field struct{ Name, Value string }

type logoutView struct {
	Title  string
	CSRF   string
	Fields []field
}

// ConfirmLogout renders the confirmation page for a logout request without a valid
// id_token_hint; it posts the same parameters back with the CSRF token (oauth.LogoutConfirm).
func (p *Pages) ConfirmLogout(c echo.Context, params url.Values) error {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	v := logoutView{Title: "Sign out", CSRF: p.Cookies.CSRF(c.Response(), c.Request())}
	for _, k := range []string{"client_id", "post_logout_redirect_uri", "state"} {
		if val := params.Get(k); val != "" {
			v.Fields = append(v.Fields, field{k, val})
		}
	}
	return render(c, http.StatusOK, "logout.html", v)
}

// SignedOut renders the page a logout ends on when the relying party gave no
// post_logout_redirect_uri (oauth.SignedOut).
func (p *Pages) SignedOut(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	return render(c, http.StatusOK, "signedout.html", logoutView{Title: "Signed out"})
}
