package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
)

// token is the token endpoint. For client_credentials the subject is the client itself
// (a machine token has no login session); for code and refresh grants fosite restores
// the session stored with the code or refresh token.
func (h *Handler) token(c echo.Context) error {
	ctx := c.Request().Context()
	if mixed := mixedClientAuthentication(c.Request()); mixed != nil {
		h.logFailure(ctx, "token request refused", mixed)
		basicChallenge(c, mixed)
		h.Provider.WriteAccessError(ctx, c.Response(), fosite.NewAccessRequest(access.NewSession("", "", "")), mixed)
		return nil
	}
	session := access.NewSession("", "", "")
	actx, att := withAttempt(c)
	ar, err := h.Provider.NewAccessRequest(actx, c.Request(), session)
	err = att.explain(err)
	var rfc *fosite.RFC6749Error
	if err != nil && !errors.As(err, &rfc) && c.Request().PostForm.Get("client_assertion") != "" {
		// fosite passes some assertion validation failures (an expired one) through
		// unwrapped, which would answer 500; they are failed client authentication.
		err = fosite.ErrInvalidClient.WithHint("The client assertion could not be verified: it is expired, not yet valid or malformed.").WithWrap(err)
	}
	if busy(c, err) || h.throttled(c, att, err) {
		return nil
	}
	if err != nil {
		h.securityEvent(ctx, c, err)
		h.logFailure(ctx, "token request refused", err)
		basicChallenge(c, err)
		h.Provider.WriteAccessError(ctx, c.Response(), ar, err)
		return nil
	}
	if !ar.GetGrantTypes().ExactOne(access.GrantClientCredentials) {
		// Defence in depth: a suspension revokes the user's codes and refresh tokens,
		// but should one have been missed, the grant still mints nothing for a subject
		// that is not in good standing, and is revoked now.
		if err := h.subjectInGoodStanding(ctx, ar); err != nil {
			h.logFailure(ctx, "token request refused", err)
			h.Provider.WriteAccessError(ctx, c.Response(), ar, err)
			return nil
		}
	}
	if ar.GetGrantTypes().ExactOne(access.GrantClientCredentials) {
		client := ar.GetClient()
		session.ClientID = client.GetID()
		// A machine token's subject is the machine identity the client acts for, or
		// else the client itself.
		subject, err := h.machineSubject(ctx, client.GetID())
		if err != nil {
			h.logFailure(ctx, "token request refused", err)
			basicChallenge(c, err)
			h.Provider.WriteAccessError(ctx, c.Response(), ar, err)
			return nil
		}
		session.Subject = subject
		session.Claims.Subject = subject
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s) // fosite has checked them against the client's scopes
		}
		for _, a := range ar.GetRequestedAudience() {
			ar.GrantAudience(a)
		}
	}
	resp, err := h.Provider.NewAccessResponse(ctx, ar)
	if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		h.securityEvent(ctx, c, err)
		// Two requests redeemed one code at once and this one lost: that is a replay.
		// fosite reports it as server_error and keeps the grant; revoke the grant's tokens
		// and answer invalid_grant, as RFC 6749 4.1.2 asks for a code used twice.
		if rerr := h.revokeGrant(ctx, ar.GetID()); rerr != nil {
			h.logFailure(ctx, "revoking a replayed grant failed", rerr)
		}
		err = fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
	}
	if err != nil {
		h.logFailure(ctx, "token response failed", err)
		h.Provider.WriteAccessError(ctx, c.Response(), ar, err)
		return nil
	}
	if ar.GetGrantTypes().ExactOne("refresh_token") {
		// A refresh is the session in use; the store writes at most once a minute. A
		// failure costs only a stale last-seen, so the client still gets its tokens.
		if s, ok := ar.GetSession().(*access.Session); ok {
			if err := h.Sessions.Seen(ctx, s.SID); err != nil {
				h.Logger.WarnContext(ctx, "recording session activity failed", "error", err.Error())
			}
		}
	}
	h.Provider.WriteAccessResponse(ctx, c.Response(), ar, resp)
	return nil
}

// securityEvent logs what is an attack or a leak rather than a mistake: a rotated
// refresh token used again (fosite has revoked the whole family) or an authorization
// code redeemed twice (its tokens are revoked). The audit log takes these over later.
func (h *Handler) securityEvent(ctx context.Context, c echo.Context, err error) {
	form := c.Request().PostForm
	client := form.Get("client_id")
	if id, _, ok := c.Request().BasicAuth(); ok {
		client, _ = url.QueryUnescape(id)
	}
	event := ""
	switch {
	case form.Get("grant_type") == access.GrantRefreshToken && errors.Is(err, fosite.ErrInactiveToken):
		event = "refresh_token_reuse"
		h.Logger.WarnContext(ctx, "security event: refresh token reuse; the token family was revoked",
			"security_event", event, "client_id", client)
	case form.Get("grant_type") == access.GrantAuthorizationCode && codeReplay(err):
		event = "authorization_code_replay"
		h.Logger.WarnContext(ctx, "security event: authorization code replay; its tokens were revoked",
			"security_event", event, "client_id", client)
	}
	if event != "" {
		// Clients call the token endpoint from servers, not browsers: no device cookie.
		if aerr := h.Audit.Record(ctx, "security."+event, client, client, map[string]any{"ip": httpserver.ClientInfo(c, "").IP}); aerr != nil {
			h.Logger.ErrorContext(ctx, "writing the audit log failed", "error", aerr.Error())
		}
	}
}

// codeReplay recognises a second redemption of a code. fosite reports it as a plain
// invalid_grant that does not wrap ErrInvalidatedAuthorizeCode, so its fixed hint is
// what tells it apart (and our own lost-race path wraps the sentinel).
func codeReplay(err error) bool {
	if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		return true
	}
	var rfc *fosite.RFC6749Error
	return errors.As(err, &rfc) && strings.HasPrefix(rfc.HintField, "The authorization code has already been used.")
}

// mixedClientAuthentication refuses a client assertion (private_key_jwt, RFC 7523)
// sent together with another client authentication (HTTP Basic or a client_secret):
// RFC 6749 section 2.3 allows one method per request, and the private_key_jwt draft
// asks servers to refuse the mix rather than pick one, which a confused or malicious
// client could otherwise steer.
func mixedClientAuthentication(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return nil // fosite answers the unreadable request itself
	}
	if r.PostForm.Get("client_assertion") == "" && r.PostForm.Get("client_assertion_type") == "" {
		return nil
	}
	if _, _, basic := r.BasicAuth(); basic || r.PostForm.Has("client_secret") {
		return fosite.ErrInvalidClient.WithHint("Use one client authentication method: a client assertion, or a client secret, not both.")
	}
	return nil
}

// busy answers 503 with Retry-After when client authentication could not be checked
// because password hashing is saturated (password.ErrBusy): a flood of wrong secrets must
// not turn into invalid_client for honest callers, nor into unbounded memory.
func busy(c echo.Context, err error) bool {
	if !errors.Is(err, password.ErrBusy) {
		return false
	}
	c.Response().Header().Set("Retry-After", "1")
	c.Response().Header().Set("Cache-Control", "no-store")
	_ = c.JSON(http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable",
		"error_description": "The server is busy checking client credentials. Retry shortly."})
	return true
}

// basicChallenge adds the WWW-Authenticate header RFC 6749 section 5.2 asks for when a
// client that authenticated with HTTP Basic is refused with 401 invalid_client; fosite
// leaves it out, and some client libraries only retry or report properly with it.
func basicChallenge(c echo.Context, err error) {
	var rfc *fosite.RFC6749Error
	if _, _, basic := c.Request().BasicAuth(); basic && errors.As(err, &rfc) && rfc.CodeField == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Basic realm="weft"`)
	}
}

// subjectInGoodStanding refuses, with invalid_grant, a code or refresh grant whose
// subject is no longer active, and revokes the grant.
func (h *Handler) subjectInGoodStanding(ctx context.Context, ar fosite.AccessRequester) error {
	// The directory itself, not the gate's cache: minting is rarer than introspection,
	// and this check is for the case where the events that keep caches honest were lost.
	u, err := h.Directory.UserByID(ctx, ar.GetSession().GetSubject())
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return nil // a machine identity or a client acting for itself
	case err != nil:
		return fosite.ErrServerError.WithWrap(err)
	case u.Status == identity.StatusActive:
		return nil
	}
	if err := h.revokeGrant(ctx, ar.GetID()); err != nil {
		h.logFailure(ctx, "revoking the grant of an inactive user failed", err)
	}
	return fosite.ErrInvalidGrant.WithHint("The user of this grant is no longer active.")
}

// machineSubject is the subject of a client_credentials token of client id: the
// machine identity the client acts for, or else the client itself. A disabled machine
// identity gets no token (invalid_client: the credential is refused); read from the
// directory, not a cache, since minting is rarer than introspection and a disable must
// hold at once.
func (h *Handler) machineSubject(ctx context.Context, id string) (string, error) {
	cl, err := h.Clients.Client(ctx, id)
	if err != nil {
		return "", fosite.ErrServerError.WithWrap(err)
	}
	if cl.MachineIdentityID == "" {
		return id, nil
	}
	m, err := h.Directory.MachineByID(ctx, cl.MachineIdentityID)
	switch {
	case err != nil:
		return "", fosite.ErrServerError.WithWrap(err)
	case m.Status == identity.StatusDisabled:
		return "", fosite.ErrInvalidClient.WithHint("The machine identity this client acts for is disabled.")
	}
	return m.ID, nil
}

// revokeGrant deactivates every token issued for one grant (fosite request id).
func (h *Handler) revokeGrant(ctx context.Context, requestID string) error {
	return errors.Join(h.Provider.store.RevokeAccessToken(ctx, requestID), h.Provider.store.RevokeRefreshToken(ctx, requestID))
}

// logFailure records why fosite refused a request: the error name and hint only, never
// the form (which can carry secrets and codes).
func (h *Handler) logFailure(ctx context.Context, msg string, err error) {
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) {
		level := slog.LevelInfo
		if rfc.CodeField >= http.StatusInternalServerError {
			level = slog.LevelError
		}
		// With the context: the request id joins the line.
		h.Logger.Log(ctx, level, msg, "error", rfc.ErrorField, "hint", strings.TrimSpace(rfc.HintField), "cause", causeText(rfc))
		return
	}
	h.Logger.ErrorContext(ctx, msg, "error", err.Error())
}

func causeText(e *fosite.RFC6749Error) string {
	if c := e.Cause(); c != nil {
		return c.Error()
	}
	return ""
}
