package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// redirectError returns the error a redirect to the client carries, in the query or,
// for response types whose default mode is the fragment, in the fragment.
func redirectError(loc *url.URL) (errCode, state, iss string) {
	q := loc.Query()
	if q.Get("error") == "" && loc.Fragment != "" {
		q, _ = url.ParseQuery(loc.Fragment)
	}
	return q.Get("error"), q.Get("state"), q.Get("iss")
}

// TestAuthorize_Refused: requests the authorization endpoint refuses, each with a live
// login session unless the case is about not having one. An unregistered redirect_uri
// or an unknown client gets an error page and never a redirect; anything else is
// refused by a redirect to the registered URI carrying the RFC 6749 4.1.2.1 error
// code and the state. No code is issued and nothing is written.
func TestAuthorize_Refused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		_, alice := en.login(en.alice)
		_, bob := en.login(en.bob) // has not consented to demo-web
		carol := en.user(identity.NewUser{Username: "carol", Email: "carol@example.com"})
		_, suspended := en.login(carol)
		if _, _, err := en.dir.SetStatus(context.Background(), carol.ID, identity.StatusSuspended); err != nil {
			t.Fatal(err)
		}
		v := oauth2.GenerateVerifier()
		with := func(kv ...string) url.Values {
			q := authQuery(v)
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == "" {
					q.Del(kv[i])
				} else {
					q.Set(kv[i], kv[i+1])
				}
			}
			return q
		}
		const noRedirect = ""
		for _, tc := range []struct {
			name    string
			q       url.Values
			session *http.Cookie
			status  int
			// redirect is the registered URI the refusal goes to; noRedirect for an
			// error answered in place.
			redirect string
			err      string
		}{
			// RFC 9700 4.1.3: exact string comparison, and no redirect to an unregistered URI.
			{"unregistered redirect_uri", with("redirect_uri", "http://evil.example.com/callback"), alice, 400, noRedirect, ""},
			{"redirect_uri with a dot segment", with("redirect_uri", "http://127.0.0.1:9555/callback/../x"), alice, 400, noRedirect, ""},
			{"percent-encoded redirect_uri", with("redirect_uri", "http://127.0.0.1:9555/%63allback"), alice, 400, noRedirect, ""},
			{"redirect_uri with a trailing slash", with("redirect_uri", webCallback+"/"), alice, 400, noRedirect, ""},
			{"redirect_uri of another client", with("redirect_uri", spaCallback), alice, 400, noRedirect, ""},
			{"unknown client", with("client_id", "nobody"), alice, 401, noRedirect, "invalid_client"},
			// RFC 6749 3.1: a repeated parameter, above all the redirect URI, is refused in place.
			{"repeated redirect_uri", func() url.Values {
				q := with()
				q.Add("redirect_uri", "http://evil.example.com/callback")
				return q
			}(), alice, 400, noRedirect, ""},
			{"repeated state", func() url.Values { q := with(); q.Add("state", "other-state-123"); return q }(), alice, 400, noRedirect, ""},

			// PKCE (RFC 7636) with S256 only, for every client that has not been exempted.
			{"missing PKCE, confidential client", with("code_challenge", "", "code_challenge_method", ""), alice, 303, webCallback, "invalid_request"},
			{"missing PKCE, public client", with("client_id", spaID, "redirect_uri", spaCallback, "scope", "openid",
				"code_challenge", "", "code_challenge_method", ""), alice, 303, spaCallback, "invalid_request"},
			{"plain PKCE method", with("code_challenge", strings.Repeat("a", 43), "code_challenge_method", "plain"), alice, 303, webCallback, "invalid_request"},
			{"PKCE without a method", with("code_challenge_method", ""), alice, 303, webCallback, "invalid_request"},
			{"PKCE challenge too short", with("code_challenge", "short"), alice, 303, webCallback, "invalid_request"},
			{"PKCE challenge too long", with("code_challenge", strings.Repeat("a", 129)), alice, 303, webCallback, "invalid_request"},

			// Only the code flow: no implicit or hybrid response types (RFC 9700 2.1.2).
			{"response_type token", with("response_type", "token"), alice, 303, webCallback, "unsupported_response_type"},
			{"response_type id_token", with("response_type", "id_token"), alice, 303, webCallback, "unsupported_response_type"},
			{"response_type code id_token", with("response_type", "code id_token"), alice, 303, webCallback, "unsupported_response_type"},
			{"response_type code token", with("response_type", "code token"), alice, 303, webCallback, "unsupported_response_type"},
			{"response_type none", with("response_type", "none"), alice, 303, webCallback, "unsupported_response_type"},

			{"scope not registered for the client", with("scope", "openid admin"), alice, 303, webCallback, "invalid_scope"},
			{"state too short", with("state", "abc"), alice, 303, webCallback, "invalid_state"},
			{"user declined on the consent page", with(access.DenyParam, "1"), alice, 303, webCallback, "access_denied"},

			// prompt=none (OIDC Core 3.1.2.6) never shows a page.
			{"prompt=none without a session", with("prompt", "none"), nil, 303, webCallback, "login_required"},
			{"prompt=none with a suspended user's session", with("prompt", "none"), suspended, 303, webCallback, "login_required"},
			{"prompt=none without consent", with("prompt", "none"), bob, 303, webCallback, "consent_required"},
			{"prompt=none combined with login", with("prompt", "none login"), alice, 303, webCallback, "invalid_request"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				en := en.at(t)
				before := en.snapshot()
				var r response
				if tc.session != nil {
					r = en.get(access.PathAuthorize, tc.q, tc.session)
				} else {
					r = en.get(access.PathAuthorize, tc.q)
				}
				if r.code != tc.status {
					t.Fatalf("got %s, want status %d", r, tc.status)
				}
				loc := r.location()
				if tc.redirect == noRedirect {
					if loc != nil {
						t.Fatalf("redirected to %s", loc)
					}
					if got := r.json()["error"]; tc.err != "" && got != tc.err {
						t.Fatalf("error = %v, want %s (%s)", got, tc.err, r)
					}
				} else {
					if loc == nil {
						t.Fatalf("no redirect: %s", r)
					}
					errCode, state, iss := redirectError(loc)
					target := *loc
					target.RawQuery, target.Fragment = "", ""
					if target.String() != tc.redirect || errCode != tc.err || state != tc.q.Get("state") {
						t.Fatalf("redirect %s: error %q, state %q; want %s with error %s and the request's state", loc, errCode, state, tc.redirect, tc.err)
					}
					// RFC 9207: error responses name the issuer too.
					if iss != issuer {
						t.Fatalf("redirect %s: iss %q, want %q", loc, iss, issuer)
					}
					if strings.Contains(loc.String(), "code=") {
						t.Fatalf("refusal carries a code: %s", loc)
					}
				}
				en.unchanged(t, before)
			})
		}
	})
}

// TestAuthorize_Interaction: when a person must act, the browser goes to the login or
// consent page with the request to come back to, and nothing is issued yet; when they
// need not, the code comes at once.
func TestAuthorize_Interaction(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		_, alice := en.login(en.alice)
		_, bob := en.login(en.bob)
		v := oauth2.GenerateVerifier()
		with := func(kv ...string) url.Values {
			q := authQuery(v)
			for i := 0; i < len(kv); i += 2 {
				q.Set(kv[i], kv[i+1])
			}
			return q
		}
		for _, tc := range []struct {
			name    string
			q       url.Values
			session *http.Cookie
			page    string
			// dropped is the parameter the page satisfies, absent from the request
			// to come back to.
			dropped string
		}{
			{"no session", authQuery(v), nil, access.PathLogin, ""},
			{"prompt=login", with("prompt", "login"), alice, access.PathLogin, "prompt"},
			{"max_age exceeded", with("max_age", "0"), alice, access.PathLogin, "max_age"},
			{"no consent yet", authQuery(v), bob, access.PathConsent, ""},
			{"prompt=consent", with("prompt", "consent"), alice, access.PathConsent, "prompt"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				en := en.at(t)
				before := en.snapshot()
				var r response
				if tc.session != nil {
					r = en.get(access.PathAuthorize, tc.q, tc.session)
				} else {
					r = en.get(access.PathAuthorize, tc.q)
				}
				loc := r.location()
				if r.code != http.StatusFound || loc == nil || loc.Path != tc.page {
					t.Fatalf("got %s, want a redirect to %s", r, tc.page)
				}
				next := loc.Query().Get("next")
				if !access.IsContinueURL(next) {
					t.Fatalf("next = %q, not an authorization request", next)
				}
				back, _ := url.Parse(next)
				if back.Query().Get("client_id") != webID || back.Query().Get("code_challenge") != tc.q.Get("code_challenge") ||
					(tc.dropped != "" && back.Query().Has(tc.dropped)) {
					t.Fatalf("next = %s", next)
				}
				en.unchanged(t, before)
			})
		}
		t.Run("first-party client skips consent", func(t *testing.T) {
			en := en.at(t)
			q := with("client_id", firstID, "scope", "openid email")
			if code := en.code(q, bob); code == "" {
				t.Fatal("no code")
			}
		})
	})
}

// TestAuthorize_IssuerParameter: RFC 9207. Every authorization response, success or
// error, in the query or as a form_post, names the issuer, so a client that uses several
// authorization servers detects a mix-up.
func TestAuthorize_IssuerParameter(t *testing.T) {
	en := newEnv(t, sqltest.SQLite)
	_, alice := en.login(en.alice)
	v := oauth2.GenerateVerifier()

	r := en.get(access.PathAuthorize, authQuery(v), alice)
	if loc := r.location(); loc == nil || loc.Query().Get("code") == "" || loc.Query().Get("iss") != issuer {
		t.Fatalf("code response: %s, want code and iss=%s", r, issuer)
	}

	formPost := authQuery(v)
	formPost.Set("response_mode", "form_post")
	r = en.get(access.PathAuthorize, formPost, alice)
	issInput := `name="iss" value="` + issuer + `"`
	if r.code != http.StatusOK || !strings.Contains(string(r.body), `name="code"`) || !strings.Contains(string(r.body), issInput) {
		t.Fatalf("form_post code response: %s, want a form with code and iss", r)
	}

	formPost.Set("scope", "openid admin") // not registered for the client
	r = en.get(access.PathAuthorize, formPost, alice)
	body := string(r.body)
	if r.code != http.StatusOK || !strings.Contains(body, "invalid_scope") || !strings.Contains(body, issInput) ||
		!strings.Contains(body, `value="state-12345678"`) || !strings.Contains(body, `action="`+webCallback+`"`) {
		t.Fatalf("form_post error response: %s, want a form to the callback with the error, state and iss", r)
	}
	if strings.Contains(body, `name="code"`) {
		t.Fatalf("form_post error carries a code: %s", body)
	}
}
