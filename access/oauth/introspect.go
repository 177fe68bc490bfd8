package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/policy"
)

// introspect answers RFC 7662 for clients allowed to introspect. Callers authenticate
// with client_secret_basic only: fosite would also accept any bearer access token as
// the caller, which would let every token holder probe other tokens. The secret check
// is the cached one (no argon2id per request).
func (h *Handler) introspect(c echo.Context) error {
	ctx := c.Request().Context()
	r := c.Request()
	raw, rawSecret, ok := r.BasicAuth()
	if !ok || strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		h.Provider.WriteIntrospectionError(ctx, c.Response(),
			fosite.ErrRequestUnauthorized.WithHint("Authenticate with HTTP Basic client credentials (client_secret_basic)."))
		return nil
	}
	id, _ := url.QueryUnescape(raw)
	if h.introspectLean(c, id, rawSecret) {
		return nil
	}
	allowed := false
	if cl, err := h.Clients.Client(ctx, id); err == nil {
		allowed = cl.Introspection
	}
	actx, att := withAttempt(c)
	ir, err := h.Provider.NewIntrospectionRequest(actx, r, access.NewSession("", "", ""))
	err = att.explain(err)
	if busy(c, err) || h.throttled(c, att, err) {
		return nil
	}
	switch {
	case errors.Is(err, fosite.ErrRequestUnauthorized), errors.Is(err, fosite.ErrInvalidRequest):
		h.logFailure(ctx, "introspection refused", err)
		h.Provider.WriteIntrospectionError(ctx, c.Response(), err)
	case !allowed:
		// Checked after authentication, so only a client that proved its secret learns
		// that it lacks the capability; it learns nothing about the token. (fosite would
		// turn this error into {"active":false}, so it is written here.)
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(http.StatusForbidden, map[string]string{"error": "access_denied",
			"error_description": "This client is not allowed to introspect tokens."})
	case err != nil:
		h.Provider.WriteIntrospectionError(ctx, c.Response(), err) // inactive: {"active":false}
	default:
		h.introspected(c, ir, id)
	}
	return nil
}

// introspected answers for a token fosite found active: the gate decides (subject in
// good standing, risk, policy), and anything but allow is {"active":false}, with the
// reasons in the log, never in the answer. A decision that cannot be made fails closed.
//
// A refresh token is a credential for the token endpoint, never a bearer token: to a
// gateway (any caller but the client it was issued to) it is {"active":false}; to its
// own client it is reported as what it is, token_type "refresh_token" with its own exp.
func (h *Handler) introspected(c echo.Context, ir fosite.IntrospectionResponder, caller string) {
	ctx := c.Request().Context()
	if !h.gateAllows(c, ir.GetTokenUse(), ir.GetAccessRequester()) {
		h.Provider.WriteIntrospectionError(ctx, c.Response(), fosite.ErrInactiveToken)
		return
	}
	if ir.GetTokenUse() == fosite.RefreshToken {
		ar := ir.GetAccessRequester()
		if ar.GetClient() == nil || ar.GetClient().GetID() != caller {
			h.Provider.WriteIntrospectionError(ctx, c.Response(), fosite.ErrInactiveToken)
			return
		}
		h.writeRefreshIntrospection(c, ir)
		return
	}
	h.Provider.WriteIntrospectionResponse(ctx, c.Response(), ir)
}

// gateAllows asks the gate about an introspected token. Anything but allow is false,
// with the reasons in the log; a decision that cannot be made is false too.
func (h *Handler) gateAllows(c echo.Context, use fosite.TokenUse, ar fosite.AccessRequester) bool {
	ctx := c.Request().Context()
	info := httpserver.ClientInfo(c, "")
	res, err := h.Gate.Decide(ctx, gate.Request{Action: policy.ActionIntrospect, IP: info.IP, UserAgent: info.UserAgent}, use, ar)
	switch {
	case err != nil:
		h.Logger.ErrorContext(ctx, "introspection: no decision could be made; answering inactive", "error", err.Error())
		return false
	case !res.Allow:
		h.Logger.DebugContext(ctx, "introspection: token not active for this request", "reasons", policy.Codes(res.Reasons))
		return false
	}
	return true
}

// writeRefreshIntrospection writes fosite's answer for a refresh token with what fosite
// gets wrong corrected: the token type, and the expiry of the refresh token itself
// (fosite reports the access token's).
func (h *Handler) writeRefreshIntrospection(c echo.Context, ir fosite.IntrospectionResponder) {
	ctx := c.Request().Context()
	rec := &captured{header: http.Header{}, code: http.StatusOK}
	h.Provider.WriteIntrospectionResponse(ctx, rec, ir)
	var body map[string]any
	if rec.code != http.StatusOK || json.Unmarshal(rec.body.Bytes(), &body) != nil || body["active"] != true {
		h.Provider.WriteIntrospectionError(ctx, c.Response(), fosite.ErrInactiveToken)
		return
	}
	body["token_type"] = "refresh_token"
	delete(body, "exp")
	if exp := ir.GetAccessRequester().GetSession().GetExpiresAt(fosite.RefreshToken); !exp.IsZero() {
		body["exp"] = exp.Unix()
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Pragma", "no-cache")
	_ = c.JSON(http.StatusOK, body)
}

// captured keeps what fosite writes, to be corrected before it is sent.
type captured struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (c *captured) Header() http.Header         { return c.header }
func (c *captured) Write(b []byte) (int, error) { return c.body.Write(b) }
func (c *captured) WriteHeader(code int)        { c.code = code }
