package oauth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access"
)

// hs256WithPublicKey re-signs an ID token's claims with HS256, keyed with the bytes of
// the issuer's published public key: the classic algorithm-confusion forgery.
func (en *env) hs256WithPublicKey(idToken string) string {
	en.t.Helper()
	var set struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(en.get(access.PathJWKS, nil).body, &set); err != nil || len(set.Keys) == 0 {
		en.t.Fatalf("jwks: %v", err)
	}
	parts := strings.Split(idToken, ".")
	var hdr struct{ Kid string }
	b, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(b, &hdr)
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT","kid":"` + hdr.Kid + `"}`))
	mac := hmac.New(sha256.New, set.Keys[0])
	mac.Write([]byte(h + "." + parts[1]))
	return h + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// postLogout posts form to the logout endpoint with cookies.
func (en *env) postLogout(form url.Values, cookies ...*http.Cookie) response {
	req := httptest.NewRequest(http.MethodPost, issuer+access.PathLogout, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return en.serve(req)
}

// csrf returns a CSRF token with the cookie that carries it, as the confirmation page
// hands them to the browser.
func (en *env) csrf() (string, *http.Cookie) {
	rec := httptest.NewRecorder()
	tok := en.cookies.CSRF(rec, httptest.NewRequest(http.MethodGet, issuer+access.PathLogout, nil))
	return tok, rec.Result().Cookies()[0]
}

// clearsSession reports whether the answer deletes the session cookie.
func clearsSession(r response) bool {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "weft_session" && c.MaxAge < 0 {
			return true
		}
	}
	return false
}

// TestLogout_Refused: RP-initiated logout (OIDC RP-Initiated Logout 1.0) never ends a
// session on a hint it did not issue, never redirects to an unregistered URI, and asks
// the user first when there is no valid hint. In every case the session, its tokens
// and every table are left as they were.
func TestLogout_Refused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		ls, cookie, tk := en.signIn()
		hint := tk.IDToken
		parts := strings.Split(hint, ".")
		otherIssuer, err := en.keys.SignJWT(ctx, map[string]any{"iss": "http://127.0.0.1:5555", "aud": []string{webID},
			"sub": en.alice.ID, "sid": ls.ID, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}, "JWT")
		if err != nil {
			t.Fatal(err)
		}
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+issuer+`","aud":["`+webID+`"],"sub":"someone-else"}`)) + "." + parts[2]
		// Other JWTs Weft signs with the same keys, naming the browser's own session: none
		// of them is an ID token (issue 9, L1).
		signed := func(typ string, extra map[string]any) string {
			claims := map[string]any{"iss": issuer, "aud": []string{webID}, "sub": en.alice.ID, "sid": ls.ID,
				"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
			for k, v := range extra {
				claims[k] = v
			}
			tok, err := en.keys.SignJWT(ctx, claims, typ)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		accessJWT := signed("at+jwt", map[string]any{"client_id": webID, "jti": "j1"})
		accessJWTPlain := signed("JWT", map[string]any{"client_id": webID, "jti": "j2"})
		logoutToken := signed("logout+jwt", map[string]any{"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}})
		notAClient := signed("JWT", map[string]any{"aud": []string{"no-such-client"}})
		// A real ID token of another session of the same user (signed in elsewhere): it
		// must not end this browser's session without the user confirming.
		_, _, elsewhere := en.signIn()
		csrfToken, csrfCookie := en.csrf()
		const confirmPage = 0 // status 200 with the confirmation page instead of a refusal
		for _, tc := range []struct {
			name string
			// post sends the form in a POST body, with the CSRF cookie; otherwise a GET.
			post   bool
			form   url.Values
			status int
		}{
			{"hint signed with alg none", false, url.Values{"id_token_hint": {"eyJhbGciOiJub25lIn0." + parts[1] + "."}}, 400},
			{"hint signed with HS256 keyed with the public key", false, url.Values{"id_token_hint": {en.hs256WithPublicKey(hint)}}, 400},
			{"hint with a tampered payload", false, url.Values{"id_token_hint": {tampered}}, 400},
			{"hint issued by another issuer", false, url.Values{"id_token_hint": {otherIssuer}}, 400},
			{"hint that is not a JWT", false, url.Values{"id_token_hint": {"not-a-token"}}, 400},
			{"hint that is a JWT access token", false, url.Values{"id_token_hint": {accessJWT}}, 400},
			{"hint that is a JWT access token typed JWT", false, url.Values{"id_token_hint": {accessJWTPlain}}, 400},
			{"hint that is a logout token", false, url.Values{"id_token_hint": {logoutToken}}, 400},
			{"hint whose audience is not a client", false, url.Values{"id_token_hint": {notAClient}}, 400},
			{"hint of another session", false, url.Values{"id_token_hint": {elsewhere.IDToken}}, confirmPage},
			{"hint of another session, with a registered post_logout_redirect_uri", false, url.Values{"id_token_hint": {elsewhere.IDToken},
				"post_logout_redirect_uri": {webPostLogout}}, confirmPage},
			{"unregistered post_logout_redirect_uri", false, url.Values{"id_token_hint": {hint},
				"post_logout_redirect_uri": {"http://127.0.0.1:9555/elsewhere"}}, 400},
			{"post_logout_redirect_uri of another client", false, url.Values{"id_token_hint": {hint},
				"post_logout_redirect_uri": {spaCallback}}, 400},
			{"client_id that the hint does not name", false, url.Values{"id_token_hint": {hint}, "client_id": {firstID}}, 400},
			{"post_logout_redirect_uri without a hint or client_id", false, url.Values{"post_logout_redirect_uri": {webPostLogout}}, 400},
			{"no hint", false, url.Values{}, confirmPage},
			{"no hint, registered post_logout_redirect_uri", false, url.Values{"client_id": {webID}, "post_logout_redirect_uri": {webPostLogout}}, confirmPage},
			{"confirmation without the CSRF token", true, url.Values{"confirm": {"yes"}}, confirmPage},
			{"confirmation with a wrong CSRF token", true, url.Values{"confirm": {"yes"}, "csrf_token": {strings.Repeat("x", len(csrfToken))}}, confirmPage},
			{"CSRF token without confirming", true, url.Values{"csrf_token": {csrfToken}}, confirmPage},
		} {
			t.Run(tc.name, func(t *testing.T) {
				en := en.at(t)
				before, shown := en.snapshot(), en.confirmations.get()
				var r response
				if tc.post {
					r = en.postLogout(tc.form, cookie, csrfCookie)
				} else {
					r = en.get(access.PathLogout, tc.form, cookie)
				}
				switch {
				case tc.status == confirmPage:
					if r.code != http.StatusOK || en.confirmations.get() != shown+1 {
						t.Fatalf("got %s, want the confirmation page", r)
					}
				case r.code != tc.status || en.confirmations.get() != shown:
					t.Fatalf("got %s, want status %d and no confirmation page", r, tc.status)
				}
				if r.location() != nil || clearsSession(r) {
					t.Fatalf("redirected to %v or cleared the session cookie: %v", r.location(), r.header)
				}
				if _, err := en.sessions.Resume(ctx, cookie.Value); err != nil {
					t.Fatalf("the session ended: %v", err)
				}
				en.unchanged(t, before)
			})
		}
		if !en.active(tk.AccessToken) || !en.active(tk.RefreshToken) {
			t.Fatal("a refused logout revoked the session's tokens")
		}
	})
}

// TestLogout: with a valid hint the session ends at once, its tokens are revoked, the
// other clients of the session are told through the outbox, the cookie is cleared and
// the browser goes to the registered URI with the state. Without a hint the user's
// confirmation (with the CSRF token) does the same.
func TestLogout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		ended := func(t *testing.T, r response, cookie *http.Cookie, tk tokens) {
			t.Helper()
			en := en.at(t)
			if !clearsSession(r) {
				t.Errorf("the session cookie is not cleared: %v", r.header["Set-Cookie"])
			}
			if _, err := en.sessions.Resume(ctx, cookie.Value); err == nil {
				t.Error("the session is still live")
			}
			for name, tok := range map[string]string{"access": tk.AccessToken, "refresh": tk.RefreshToken} {
				if en.active(tok) {
					t.Errorf("the session's %s token is still active", name)
				}
			}
			if r := en.get(access.PathAuthorize, authQuery("v"), cookie); r.code != http.StatusFound || r.location() == nil || r.location().Path != access.PathLogin {
				t.Errorf("after logout the authorization request got %s, want the login page", r)
			}
		}

		t.Run("with id_token_hint", func(t *testing.T) {
			en := en.at(t)
			outbox := len(en.snapshot()["outbox"])
			ls, cookie, tk := en.signIn()
			r := en.get(access.PathLogout, url.Values{"id_token_hint": {tk.IDToken}, "post_logout_redirect_uri": {webPostLogout},
				"state": {"xyz"}}, cookie)
			if r.code != http.StatusFound || r.header.Get("Location") != webPostLogout+"?state=xyz" {
				t.Fatalf("got %s", r)
			}
			ended(t, r, cookie, tk)
			// demo-web took part in the session and has a back-channel logout URI.
			rows, mine := en.snapshot()["outbox"], 0
			for _, row := range rows {
				if strings.Contains(row, webBackchannel) && strings.Contains(row, ls.ID) {
					mine++
				}
			}
			if len(rows) != outbox+1 || mine != 1 {
				t.Errorf("outbox = %q, want one back-channel logout message for %s", rows, ls.ID)
			}
			// Like any ended session, SSF receivers hear of it: session-revoked, by the user.
			if got := en.signals.of(ls.ID); len(got) != 1 || got[0] != ls.ID+"/user" {
				t.Errorf("session-revoked signals for %s = %v, want one initiated by the user", ls.ID, got)
			}
		})
		t.Run("confirmed by the user", func(t *testing.T) {
			en := en.at(t)
			ls, cookie, tk := en.signIn()
			defer func() {
				if got := en.signals.of(ls.ID); len(got) != 1 {
					t.Errorf("session-revoked signals for %s = %v, want one", ls.ID, got)
				}
			}()
			csrfToken, csrfCookie := en.csrf()
			r := en.postLogout(url.Values{"confirm": {"yes"}, "csrf_token": {csrfToken}}, cookie, csrfCookie)
			if r.code != http.StatusOK || !strings.Contains(string(r.body), "You are signed out") {
				t.Fatalf("got %s", r)
			}
			ended(t, r, cookie, tk)
		})
	})
}
