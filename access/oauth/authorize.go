package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weft-fabric/weft/access"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/identity"
)

// authorize is the authorization endpoint: validate with fosite, check the redirect URI
// by exact string, make sure a live login session and consent exist (sending the
// browser to the login or consent page otherwise), then issue the code bound to the
// session's sid.
func (h *Handler) authorize(c echo.Context) error {
	ctx := c.Request().Context()
	r, w := c.Request(), c.Response()
	if err := r.ParseForm(); err != nil {
		return &echo.HTTPError{Code: http.StatusBadRequest, Message: "The authorization request could not be read."}
	}
	// RFC 9700 4.1.3: simple string comparison, before fosite sees the request: fosite
	// compares parsed loopback URIs, which lets a percent-encoded variant through, and
	// would redirect its own errors there. We never redirect to an unregistered URI.
	// RFC 6749 section 3.1: parameters must not repeat. A repeated redirect_uri is the
	// one that matters: which one would the error go to? Neither.
	for _, p := range []string{"redirect_uri", "client_id", "response_type", "state", "code_challenge"} {
		if len(r.Form[p]) > 1 {
			return &echo.HTTPError{Code: http.StatusBadRequest, Message: "The authorization request repeats the parameter " + p + "."}
		}
	}
	if raw := r.Form.Get("redirect_uri"); raw != "" {
		cl, err := h.Clients.Client(ctx, r.Form.Get("client_id"))
		if err == nil && !slices.Contains(cl.RedirectURIs, raw) {
			return &echo.HTTPError{Code: http.StatusBadRequest, Message: "The redirect_uri is not registered for this client."}
		}
	}
	ar, err := h.Provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		h.logFailure(ctx, "authorization request refused", err)
		h.writeAuthorizeError(ctx, w, ar, err)
		return nil
	}
	client, err := h.Clients.Client(ctx, ar.GetClient().GetID())
	if err != nil {
		return err
	}
	// PKCE with S256 is required of every client unless an administrator turned it off
	// for a confidential one. Checking here, rather than when fosite issues the code,
	// spares the user a login that could only end in an error.
	if r.Form.Get("code_challenge") == "" && (client.PKCERequired || client.Type == access.Public) {
		h.writeAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("PKCE is required: send code_challenge with code_challenge_method=S256."))
		return nil
	}
	// RFC 7636 section 4.2: an S256 challenge is 43 to 128 characters; anything else
	// could never be matched by a verifier, so say so now rather than at the token call.
	if cc := r.Form.Get("code_challenge"); cc != "" && (len(cc) < 43 || len(cc) > 128) {
		h.writeAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("The code_challenge must be 43 to 128 characters (RFC 7636)."))
		return nil
	}
	if r.Form.Get("code_challenge") != "" && r.Form.Get("code_challenge_method") != "S256" {
		h.writeAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("Only the S256 code_challenge_method is supported."))
		return nil
	}
	if r.Form.Get(access.DenyParam) != "" {
		h.writeAuthorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithHint("The user declined the request."))
		return nil
	}
	prompt := strings.Fields(r.Form.Get("prompt"))
	has := func(p string) bool { return slices.Contains(prompt, p) }
	if has("none") && len(prompt) > 1 {
		h.writeAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other values."))
		return nil
	}

	ls, user, ok := h.Browser.Live(ctx, r)
	if ok && mustReauthenticate(r.Form, ls, has("login")) {
		ok = false
	}
	if !ok {
		if has("none") {
			h.writeAuthorizeError(ctx, w, ar, fosite.ErrLoginRequired)
			return nil
		}
		return c.Redirect(http.StatusFound, access.PathLogin+"?next="+url.QueryEscape(access.ContinueURL(r.Form, "login")))
	}

	requested := []string(ar.GetRequestedScopes())
	if !client.FirstParty {
		consent, err := h.Consents.Consent(ctx, user.ID, client.ID)
		if err != nil && !errors.Is(err, identity.ErrNotFound) {
			return err
		}
		if err != nil || !consent.Covers(requested) || has("consent") {
			if has("none") {
				h.writeAuthorizeError(ctx, w, ar, fosite.ErrConsentRequired)
				return nil
			}
			return c.Redirect(http.StatusFound, access.PathConsent+"?next="+url.QueryEscape(access.ContinueURL(r.Form, "consent")))
		}
	}
	for _, s := range requested {
		ar.GrantScope(s) // fosite has checked them against the client's allowed scopes
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	session, err := h.userSession(ctx, user, ls, requested)
	if err != nil {
		return err
	}
	session.ClientID = client.ID
	// Record the client before the code exists, so no token of this session is ever
	// missing from "sessions of client X" (nor from back-channel logout fan-out).
	if err := h.Sessions.Used(ctx, ls, client.ID); err != nil {
		return err
	}
	resp, err := h.Provider.NewAuthorizeResponse(ctx, ar, session)
	if err != nil {
		h.logFailure(ctx, "authorization response failed", err)
		h.writeAuthorizeError(ctx, w, ar, err)
		return nil
	}
	resp.AddParameter("iss", h.Provider.Issuer()) // RFC 9207
	h.Provider.WriteAuthorizeResponse(ctx, w, ar, resp)
	return nil
}

// mustReauthenticate applies prompt=login and max_age (OIDC Core 3.1.2.1).
func mustReauthenticate(form url.Values, ls identity.LoginSession, promptLogin bool) bool {
	if promptLogin {
		return true
	}
	if v := form.Get("max_age"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && time.Since(ls.AuthTime) > time.Duration(n)*time.Second {
			return true
		}
	}
	return false
}

// userSession builds the token session: subject, sid, auth_time, acr/amr and the claims
// the granted scopes release into the ID token.
func (h *Handler) userSession(ctx context.Context, u identity.User, ls identity.LoginSession, scopes []string) (*access.Session, error) {
	s := access.NewSession(u.ID, u.Username, ls.ID)
	s.Claims.AuthTime = ls.AuthTime
	s.Claims.RequestedAt = time.Now().UTC()
	s.Claims.AuthenticationContextClassReference = ls.ACR
	s.Claims.AuthenticationMethodsReferences = ls.AMR
	s.Claims.Extra["sid"] = ls.ID
	claims, err := h.userClaims(ctx, u, scopes)
	if err != nil {
		return nil, err
	}
	for k, v := range claims {
		s.Claims.Extra[k] = v
	}
	return s, nil
}

// userClaims releases profile claims by scope (OIDC Core 5.4).
func (h *Handler) userClaims(ctx context.Context, u identity.User, scopes []string) (map[string]interface{}, error) {
	out := map[string]interface{}{}
	if slices.Contains(scopes, "profile") {
		out["preferred_username"] = u.Username
		if u.DisplayName != "" {
			out["name"] = u.DisplayName
		}
	}
	if slices.Contains(scopes, "email") && u.Email != "" {
		out["email"] = u.Email
		out["email_verified"] = false // Weft does not verify addresses yet
	}
	if slices.Contains(scopes, "groups") {
		gs, err := h.Directory.GroupsOf(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(gs))
		for _, g := range gs {
			names = append(names, g.Name)
		}
		out["groups"] = names
	}
	return out, nil
}
