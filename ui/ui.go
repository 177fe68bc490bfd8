// Package ui serves Weft's pages: the login and consent pages of the authorization flow
// (and, later, the admin console). Pages are server-rendered from embedded templates
// with a typed view model each, a CSRF token on every form, no script and no external
// asset, under a strict Content-Security-Policy.
package ui

import (
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/websession"
	"github.com/weft-fabric/weft/identity"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var templates = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// csp forbids scripts, inline styles, framing and foreign origins. form-action is left
// out on purpose: browsers apply it to the redirects that follow a form post, and the
// login post must end at the relying party's redirect URI.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'"

// Pages serves the login and consent pages.
type Pages struct {
	Directory *identity.Directory
	Sessions  *identity.Sessions
	Browser   *websession.Browser // the browser's live session, shared with the authorization endpoint
	Clients   access.ClientLookup
	Consents  access.ConsentStore
	Cookies   websession.Cookies
	Limiter   *Limiter
	Logger    *slog.Logger
}

// Register mounts the pages and their static files.
func (p *Pages) Register(e *echo.Echo) {
	// Route-level middleware: an echo Group with middleware would add a catch-all route
	// and turn every unknown path into a match.
	e.GET(access.PathLogin, p.loginPage, p.headers)
	e.POST(access.PathLogin, p.login, p.headers)
	e.GET(access.PathConsent, p.consentPage, p.headers)
	e.POST(access.PathConsent, p.consent, p.headers)
	static, _ := fs.Sub(staticFS, "static")
	e.GET("/ui/static/*", echo.WrapHandler(http.StripPrefix("/ui/static/", http.FileServer(http.FS(static)))))
}

func (p *Pages) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		return next(c)
	}
}

// render writes a page with its view model.
func render(c echo.Context, status int, name string, view any) error {
	c.Response().Header().Set("Content-Type", "text/html; charset=utf-8")
	c.Response().WriteHeader(status)
	return templates.ExecuteTemplate(c.Response(), name, view)
}

type errorView struct {
	Title   string
	Message string
}

func renderError(c echo.Context, status int, msg string) error {
	return render(c, status, "error.html", errorView{Title: http.StatusText(status), Message: msg})
}
