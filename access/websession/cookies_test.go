package websession_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access/websession"
)

func TestCookies_Attributes(t *testing.T) {
	for _, secure := range []bool{false, true} {
		c := websession.Cookies{Secure: secure}
		rec := httptest.NewRecorder()
		c.SetSession(rec, "sid.secret", time.Now().Add(time.Hour))
		ck := rec.Result().Cookies()[0]
		wantName := "weft_session"
		if secure {
			wantName = "__Host-weft_session"
		}
		if ck.Name != wantName || !ck.HttpOnly || ck.Secure != secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
			t.Fatalf("secure=%v: session cookie %+v", secure, ck)
		}
	}
}

func TestCookies_CSRF(t *testing.T) {
	c := websession.Cookies{}
	rec := httptest.NewRecorder()
	tok := c.CSRF(rec, httptest.NewRequest(http.MethodGet, "/login", nil))
	ck := rec.Result().Cookies()[0]
	if ck.SameSite != http.SameSiteStrictMode || !ck.HttpOnly || len(tok) < 32 {
		t.Fatalf("csrf cookie %+v, token %q", ck, tok)
	}
	post := func(cookie, field string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"csrf_token": {field}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: "weft_csrf", Value: cookie})
		}
		return r
	}
	cases := []struct {
		name          string
		cookie, field string
		ok            bool
	}{
		{"matching", tok, tok, true},
		{"missing field", tok, "", false},
		{"missing cookie", "", tok, false},
		{"different", tok, strings.Repeat("x", len(tok)), false},
		{"short cookie", "abc", "abc", false},
	}
	for _, tc := range cases {
		if got := c.CheckCSRF(post(tc.cookie, tc.field)); got != tc.ok {
			t.Errorf("%s: CheckCSRF = %v, want %v", tc.name, got, tc.ok)
		}
	}
}
