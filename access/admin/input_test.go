package admin

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// Bad input is a problem+json naming the field, and writes nothing.
func TestBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		user := "/api/v1/users/" + en.plain.ID
		cases := []struct {
			name, method, path, ctype, body string
			status                          int
			field                           string // expected "field" member; "" for none
		}{
			{"unknown field", "POST", "/api/v1/users", "application/json", `{"username":"eve","admin":true}`, 400, "admin"},
			{"bad email", "POST", "/api/v1/users", "application/json", `{"username":"eve","email":"eve@localhost"}`, 400, "email"},
			{"email with a display name", "POST", "/api/v1/users", "application/json", `{"username":"eve","email":"Eve <eve@example.com>"}`, 400, "email"},
			{"short password", "POST", "/api/v1/users", "application/json", `{"username":"eve","password":"short"}`, 400, "password"},
			{"password is the username", "POST", "/api/v1/users", "application/json", `{"username":"eve-the-great","password":"EVE-THE-GREAT"}`, 400, "password"},
			{"bad status", "POST", "/api/v1/users", "application/json", `{"username":"eve","status":"gone"}`, 400, "status"},
			{"empty username", "POST", "/api/v1/users", "application/json", `{"email":"eve@example.com"}`, 400, "username"},
			{"username with a space", "POST", "/api/v1/users", "application/json", `{"username":"eve smith"}`, 400, "username"},
			{"wrong JSON type", "POST", "/api/v1/users", "application/json", `{"username":42}`, 400, "username"},
			{"malformed JSON", "POST", "/api/v1/users", "application/json", `{"username":"eve",}`, 400, ""},
			{"truncated JSON", "POST", "/api/v1/users", "application/json", `{"username":"eve"`, 400, ""},
			// Which "status" counts depends on the parser: a WAF may keep the first (I7).
			{"duplicate member", "POST", "/api/v1/users", "application/json", `{"username":"eve","status":"suspended","status":"active"}`, 400, "status"},
			{"duplicate member in another case", "POST", "/api/v1/users", "application/json", `{"username":"eve","Username":"mallory"}`, 400, "Username"},
			{"two objects", "POST", "/api/v1/users", "application/json", `{"username":"eve"}{"username":"mallory"}`, 400, ""},
			{"array body", "POST", "/api/v1/users", "application/json", `[{"username":"eve"}]`, 400, ""},
			{"null body", "PATCH", user, "application/json", `null`, 400, ""},
			{"empty body", "POST", "/api/v1/users", "application/json", ``, 400, ""},
			{"form body", "POST", "/api/v1/users", "application/x-www-form-urlencoded", `username=eve`, 415, ""},
			{"no content type", "POST", "/api/v1/users", "", `{"username":"eve"}`, 415, ""},
			{"too large", "POST", "/api/v1/users", "application/json", `{"username":"eve","display_name":"` + strings.Repeat("x", 1<<20) + `"}`, 413, ""},
			{"password in a PATCH", "PATCH", user, "application/json", `{"password":"a-long-new-password"}`, 400, "password"},
			{"bad email in a PATCH", "PATCH", user, "application/json", `{"display_name":"P","email":"not an email"}`, 400, "email"},
			{"empty password", "PUT", user + "/password", "application/json", `{"password":""}`, 400, "password"},
			{"short password PUT", "PUT", user + "/password", "application/json", `{"password":"0123456789a"}`, 400, "password"},
			{"group name in a PATCH", "PATCH", "/api/v1/groups/x", "application/json", `{"name":"renamed"}`, 400, "name"},
			{"bad group name", "POST", "/api/v1/groups", "application/json", `{"name":""}`, 400, "name"},
			{"limit zero", "GET", "/api/v1/users?limit=0", "", "", 400, "limit"},
			{"limit too big", "GET", "/api/v1/users?limit=501", "", "", 400, "limit"},
			{"limit not a number", "GET", "/api/v1/groups?limit=ten", "", "", 400, "limit"},
			{"forged cursor", "GET", "/api/v1/clients?after=%25%25", "", "", 400, "after"},
			{"bad status filter", "GET", "/api/v1/users?status=gone", "", "", 400, "status"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := snapshot(t, en.db.SQL())
				req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
				if tc.ctype != "" {
					req.Header.Set("Content-Type", tc.ctype)
				}
				req.Header.Set("Authorization", "Bearer "+tokAdmin)
				p := problemOf(t, en.send(req), tc.status)
				if p.Field != tc.field || tc.field != "" && !strings.HasPrefix(p.Detail, tc.field+": ") {
					t.Fatalf("problem = %+v, want field %q", p, tc.field)
				}
				if strings.Contains(p.Detail, "a-long-new-password") || strings.Contains(p.Detail, "EVE-THE-GREAT") {
					t.Fatalf("the problem echoes a password: %+v", p)
				}
				if after := snapshot(t, en.db.SQL()); !equalSnap(before, after) {
					t.Fatalf("refused request wrote: %v", after)
				}
			})
		}
	})
}
