package admin

import (
	"log/slog"

	"github.com/labstack/echo/v4"
)

// Scopes of the admin API.
const (
	// ScopeAdmin allows every call, reads and writes.
	ScopeAdmin = "weft:admin"
	// ScopeAdminRead allows reads (GET) only.
	ScopeAdminRead = "weft:admin:read"
)

// principal is who made an authorised call, for the audit line of a write.
type principal struct {
	subject  string
	clientID string
	user     bool // a person's token (it has a login session), not a client's own
}

// principalKey is where authenticate leaves the caller in the echo context.
const principalKey = "weft.admin.principal"

// caller returns the authenticated principal of the request.
func caller(c echo.Context) principal {
	p, _ := c.Get(principalKey).(principal)
	return p
}

// authenticate guards one route: a valid Weft access token with the scope the method
// needs, and for a person's token, membership of identity.AdminGroup. Tokens are never
// logged: not on failure, not on success.
func (h *Handler) authenticate(write bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, err := h.authorize(c, write)
			if err != nil {
				return err
			}
			c.Set(principalKey, p) // handlers that record an actor (revocations) read it
			// Directory data, and a client secret once: no cache may keep a response.
			c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
			err = next(c)
			if write && err == nil {
				// The audit trail of changes; the access log has the request id to match.
				r := c.Request()
				h.logger().LogAttrs(r.Context(), slog.LevelInfo, "admin API change",
					slog.String("method", r.Method), slog.String("route", c.Path()),
					slog.Int("status", c.Response().Status),
					slog.String("subject", p.subject), slog.String("client_id", p.clientID), slog.Bool("user", p.user))
				detail := map[string]any{"method": r.Method, "route": c.Path(), "path": r.URL.Path,
					"status": c.Response().Status, "client_id": p.clientID}
				if aerr := h.Audit.Record(r.Context(), "admin.change", p.subject, c.Param("id"), detail); aerr != nil {
					h.logger().ErrorContext(r.Context(), "writing the audit log failed", "error", aerr.Error())
				}
			}
			return err
		}
	}
}

func (h *Handler) authorize(c echo.Context, write bool) (principal, error) {
	scopes := []string{ScopeAdmin}
	if !write {
		scopes = []string{ScopeAdminRead, ScopeAdmin}
	}
	// A person's token also needs membership of the administrators' group.
	cl, err := h.Gate.Operator(c, h.Directory, "admin "+c.Path(), scopes...)
	return principal{subject: cl.Subject, clientID: cl.ClientID, user: cl.Person()}, err
}
