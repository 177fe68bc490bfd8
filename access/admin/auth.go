package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/identity"
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
				if h.Audit != nil {
					detail := map[string]any{"method": r.Method, "route": c.Path(), "path": r.URL.Path,
						"status": c.Response().Status, "client_id": p.clientID}
					if aerr := h.Audit.Record(r.Context(), "admin.change", p.subject, c.Param("id"), detail); aerr != nil {
						h.logger().ErrorContext(r.Context(), "writing the audit log failed", "error", aerr.Error())
					}
				}
			}
			return err
		}
	}
}

func (h *Handler) authorize(c echo.Context, write bool) (principal, error) {
	ctx := c.Request().Context()
	token, present := bearerToken(c.Request())
	if !present {
		// RFC 6750 section 3.1: a request without credentials gets the challenge
		// without an error code.
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="weft"`)
		return principal{}, &httpserver.Problem{Status: http.StatusUnauthorized, Title: "Unauthorized",
			Detail: "a bearer access token is required (Authorization: Bearer <token>)"}
	}
	if token == "" {
		return principal{}, invalidToken(c, "the Authorization header is not a well-formed bearer token")
	}
	use, ar, err := h.Tokens.IntrospectToken(ctx, token, fosite.AccessToken, access.NewSession("", "", ""))
	if err != nil {
		h.logRefused(ctx, err)
		return principal{}, invalidToken(c, "the access token is invalid, expired or revoked")
	}
	// fosite falls back to refresh tokens when no access token matches: a refresh
	// token is a credential for the token endpoint only, never a bearer token.
	sess, ok := ar.GetSession().(*access.Session)
	if use != fosite.AccessToken || !ok || ar.GetClient() == nil {
		return principal{}, invalidToken(c, "the access token is invalid, expired or revoked")
	}
	p := principal{subject: sess.GetSubject(), clientID: ar.GetClient().GetID()}
	// A client_credentials token has the client as subject and no login session.
	// Anything else stands for a person and is checked as one.
	p.user = sess.SID != "" || p.subject != p.clientID

	scopes := ar.GetGrantedScopes()
	if !scopes.Has(ScopeAdmin) && (write || !scopes.Has(ScopeAdminRead)) {
		need := ScopeAdmin
		if !write {
			need = ScopeAdminRead + " " + ScopeAdmin
		}
		return p, forbidden(c, `Bearer realm="weft", error="insufficient_scope", scope="`+need+`"`,
			"the access token lacks the scope "+strings.ReplaceAll(need, " ", " or "))
	}
	if p.user {
		u, err := h.Directory.UserByID(ctx, p.subject)
		if errors.Is(err, identity.ErrNotFound) || err == nil && u.Status != identity.StatusActive {
			return p, invalidToken(c, "the user of this access token is no longer active")
		}
		if err != nil {
			return p, err
		}
		admin, err := h.isAdmin(ctx, u.ID)
		if err != nil {
			return p, err
		}
		if !admin {
			// Not a scope problem, so no insufficient_scope challenge.
			return p, forbidden(c, "", "the user of this access token is not a member of "+identity.AdminGroup)
		}
	}
	return p, nil
}

// adminKey is identity.AdminGroup normalised, as group names are compared.
var adminKey, _ = identity.NormalizeName("name", identity.AdminGroup)

func (h *Handler) isAdmin(ctx context.Context, userID string) (bool, error) {
	groups, err := h.Directory.GroupsOf(ctx, userID)
	if err != nil {
		return false, err
	}
	for _, g := range groups {
		if k, err := identity.NormalizeName("name", g.Name); err == nil && k == adminKey {
			return true, nil
		}
	}
	return false, nil
}

// bearerToken reads "Authorization: Bearer <token>" (RFC 6750 section 2.1; the scheme
// is case-insensitive). present is false when there is no Bearer header at all; token
// is empty when there is one but it is malformed. Tokens in the query or a form are
// not accepted: they end up in logs and browser history.
func bearerToken(r *http.Request) (token string, present bool) {
	v := r.Header.Get(echo.HeaderAuthorization)
	scheme, rest, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	if rest == "" || strings.ContainsAny(rest, " \t") {
		return "", true
	}
	return rest, true
}

func invalidToken(c echo.Context, detail string) error {
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="weft", error="invalid_token"`)
	return &httpserver.Problem{Status: http.StatusUnauthorized, Title: "Unauthorized", Detail: detail}
}

func forbidden(c echo.Context, challenge, detail string) error {
	if challenge != "" {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge)
	}
	return &httpserver.Problem{Status: http.StatusForbidden, Title: "Forbidden", Detail: detail}
}

// logRefused records why a token was refused: fosite's error name and hint, and the
// cause (a storage failure shows here), never the token.
func (h *Handler) logRefused(ctx context.Context, err error) {
	attrs := []slog.Attr{}
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) {
		attrs = append(attrs, slog.String("error", rfc.ErrorField), slog.String("hint", rfc.HintField))
		if cause := rfc.Cause(); cause != nil {
			attrs = append(attrs, slog.String("cause", cause.Error()))
		}
	} else {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	h.logger().LogAttrs(ctx, slog.LevelInfo, "admin API: bearer token refused", attrs...)
}
