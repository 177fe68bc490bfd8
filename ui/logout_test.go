package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access/websession"
)

// The logout pages are rendered here, not in access/oauth: with the pages' security
// headers, escaped values and the CSRF token.
func TestLogoutPages(t *testing.T) {
	p := &Pages{Cookies: websession.Cookies{}}
	e := echo.New()
	for _, tc := range []struct {
		name   string
		render func(c echo.Context) error
		want   []string
		refuse []string
	}{
		{"signed out", p.SignedOut, []string{"<title>Signed out · Weft</title>", "You are signed out"}, []string{"<form"}},
		{"confirm", func(c echo.Context) error {
			return p.ConfirmLogout(c, url.Values{"state": {`"><script>alert(1)</script>`}, "client_id": {"web"}})
		}, []string{`name="csrf_token"`, `name="client_id" value="web"`, "&#34;&gt;&lt;script&gt;"}, []string{"<script>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rr := httptest.NewRecorder()
			if err := tc.render(e.NewContext(httptest.NewRequest(http.MethodGet, "/oauth2/logout", nil), rr)); err != nil {
				t.Fatal(err)
			}
			body := rr.Body.String()
			if rr.Code != 200 || rr.Header().Get("Content-Security-Policy") != csp || rr.Header().Get("X-Frame-Options") != "DENY" ||
				rr.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %v", rr.Code, rr.Header())
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q:\n%s", w, body)
				}
			}
			for _, r := range tc.refuse {
				if strings.Contains(body, r) {
					t.Errorf("page has %q:\n%s", r, body)
				}
			}
		})
	}
}
