package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/labstack/echo/v4"
)

// LogoutConfirm renders the "sign out?" page shown when a logout request carries no
// valid id_token_hint, so a cross-site link cannot sign a user out silently (ui).
type LogoutConfirm func(c echo.Context, params url.Values) error

// SignedOutPage renders the page a logout ends on when there is nowhere to redirect to
// (ui renders it; this package writes no markup).
type SignedOutPage func(c echo.Context) error

// logout is OIDC RP-Initiated Logout 1.0. With a valid id_token_hint the session ends at
// once; without one the user confirms first (a POST carrying the CSRF token). The
// browser goes to post_logout_redirect_uri only if it is registered, by exact string,
// for the client the hint (or client_id) names.
func (h *Handler) logout(c echo.Context) error {
	r := c.Request()
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		return &echo.HTTPError{Code: http.StatusBadRequest, Message: "The logout request could not be read."}
	}
	form := r.Form
	clientID := form.Get("client_id")
	hinted, hintSID := false, ""
	if hint := form.Get("id_token_hint"); hint != "" {
		claims, sid, err := h.verifyIDTokenHint(ctx, hint)
		if err != nil {
			return &echo.HTTPError{Code: http.StatusBadRequest, Message: "The id_token_hint is not an ID token issued by this server."}
		}
		if clientID != "" && !slices.Contains(claims.Audience, clientID) {
			return &echo.HTTPError{Code: http.StatusBadRequest, Message: "client_id does not match the id_token_hint."}
		}
		clientID = claims.Audience[0]
		hinted, hintSID = true, sid
	}
	redirect := form.Get("post_logout_redirect_uri")
	if redirect != "" {
		cl, err := h.Clients.Client(ctx, clientID)
		if clientID == "" || err != nil || !slices.Contains(cl.PostLogoutRedirectURIs, redirect) {
			return &echo.HTTPError{Code: http.StatusBadRequest, Message: "The post_logout_redirect_uri is not registered for this client."}
		}
	}
	confirmed := r.Method == http.MethodPost && form.Get("confirm") == "yes" && h.Cookies.CheckCSRF(r)
	// A hint logs out at once only the browser's own session: one signed for another
	// session (any ID token an attacker holds, sent cross-site) must not end this
	// browser's, so in any doubt the user confirms.
	if hinted && !confirmed {
		if cookie := h.Cookies.Session(r); cookie != "" {
			if ls, err := h.Sessions.Resume(ctx, cookie); err == nil && (hintSID == "" || hintSID != ls.ID) {
				hinted = false
			}
		}
	}
	if !hinted && !confirmed {
		return h.ConfirmLogout(c, form)
	}
	if cookie := h.Cookies.Session(r); cookie != "" {
		if ls, err := h.Sessions.Resume(ctx, cookie); err == nil {
			// Like any ended session: tokens revoked on every node, back-channel logout
			// to the session's clients, CAEP session-revoked to SSF receivers.
			reason := "signed out"
			if clientID != "" {
				reason += " at " + clientID
			}
			if err := h.Logout.EndSession(ctx, ls.UserID, ls.ID, reason); err != nil {
				return err
			}
			h.Logger.InfoContext(ctx, "logout", "sid", ls.ID, "user_id", ls.UserID)
		}
	}
	h.Cookies.ClearSession(c.Response())
	if redirect == "" {
		return h.SignedOut(c)
	}
	u, _ := url.Parse(redirect)
	if st := form.Get("state"); st != "" {
		q := u.Query()
		q.Set("state", st)
		u.RawQuery = q.Encode()
	}
	return c.Redirect(http.StatusFound, u.String())
}

// verifyIDTokenHint checks that hint is an ID token we signed (ES256 or RS256 only: no
// "none", no HMAC keyed with our public key) and issued: not another kind of JWT we sign
// (a JWT access token, a logout token, a security event token), with an audience that is
// one of our clients. An expired hint is accepted, as OIDC allows: the user is logging
// out. It returns the claims and the session id (sid) the token names.
func (h *Handler) verifyIDTokenHint(ctx context.Context, hint string) (jwt.Claims, string, error) {
	var claims jwt.Claims
	payload, err := h.Keys.Verify(ctx, hint)
	if err != nil {
		return claims, "", err
	}
	if typ := jwsType(hint); typ != "" && !strings.EqualFold(typ, "JWT") {
		return claims, "", errors.New("id_token_hint: a " + typ + ", not an ID token")
	}
	var extra struct {
		SID      string          `json:"sid"`
		ClientID string          `json:"client_id"` // JWT access tokens (RFC 9068) carry it; ID tokens do not
		Events   json.RawMessage `json:"events"`    // logout tokens and security event tokens
		Nonce    string          `json:"nonce"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return claims, "", err
	}
	if err := json.Unmarshal(payload, &extra); err != nil {
		return claims, "", err
	}
	switch {
	case claims.Issuer != h.Provider.Issuer():
		return claims, "", errors.New("id_token_hint: issued by someone else")
	case extra.ClientID != "" || len(extra.Events) > 0:
		return claims, "", errors.New("id_token_hint: not an ID token")
	case len(claims.Audience) == 0:
		return claims, "", errors.New("id_token_hint: no audience")
	}
	if _, err := h.Clients.Client(ctx, claims.Audience[0]); err != nil {
		return claims, "", errors.New("id_token_hint: its audience is not a client")
	}
	return claims, extra.SID, nil
}

// jwsType returns the typ header of a compact JWS ("" if absent or unreadable; the
// signature was verified before this is asked).
func jwsType(compact string) string {
	head, _, _ := strings.Cut(compact, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Typ string `json:"typ"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Typ
}
