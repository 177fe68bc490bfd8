package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

func TestAuth(t *testing.T) {
	en := newEnv(t, sqltest.SQLite)
	createUser := func(token string) response {
		return en.do(http.MethodPost, "/api/v1/users", token, `{"username":"eve"}`)
	}
	listUsers := func(token string) response { return en.do(http.MethodGet, "/api/v1/users", token, nil) }
	withHeader := func(v string) func(string) response {
		return func(string) response {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/users", nil)
			req.Header.Set("Authorization", v)
			return en.send(req)
		}
	}
	cases := []struct {
		name      string
		call      func(token string) response
		token     string
		status    int
		challenge string // the WWW-Authenticate header, when one is expected
	}{
		{"no token", listUsers, "", 401, `Bearer realm="weft"`},
		{"basic credentials", withHeader("Basic cm9vdDpyb290"), "", 401, `Bearer realm="weft"`},
		{"unknown token", listUsers, "tok-forged", 401, `Bearer realm="weft", error="invalid_token"`},
		{"malformed bearer", withHeader("Bearer two parts"), "", 401, `Bearer realm="weft", error="invalid_token"`},
		{"refresh token as bearer", listUsers, tokRefresh, 401, `Bearer realm="weft", error="invalid_token"`},
		{"no token on a write", createUser, "", 401, `Bearer realm="weft"`},
		{"read scope on a write", createUser, tokRead, 403, `Bearer realm="weft", error="insufficient_scope", scope="weft:admin"`},
		{"no admin scope, read", listUsers, tokNoScope, 403, `Bearer realm="weft", error="insufficient_scope", scope="weft:admin:read weft:admin"`},
		{"no admin scope, write", createUser, tokNoScope, 403, `Bearer realm="weft", error="insufficient_scope", scope="weft:admin"`},
		{"user outside weft-admins, read", listUsers, tokUserPlain, 403, ""},
		{"user outside weft-admins, write", createUser, tokUserPlain, 403, ""},
		{"read scope reads", listUsers, tokRead, 200, ""},
		{"admin scope reads", listUsers, tokAdmin, 200, ""},
		{"lower-case scheme", withHeader("bearer " + tokRead), "", 200, ""},
		{"admin user reads", listUsers, tokUserAdmin, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, en.db.SQL())
			r := tc.call(tc.token)
			if tc.status >= 400 {
				p := problemOf(t, r, tc.status)
				if strings.Contains(p.Detail, "tok-") {
					t.Fatalf("the problem echoes the token: %+v", p)
				}
				if after := snapshot(t, en.db.SQL()); !equalSnap(before, after) {
					t.Fatalf("a refused request wrote: %v", after)
				}
			} else if r.code != tc.status {
				t.Fatalf("status %d, want %d: %s", r.code, tc.status, r.body)
			}
			if got := r.header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Fatalf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
		})
	}

	t.Run("admin user writes", func(t *testing.T) {
		en.ok(http.StatusCreated, en.do(http.MethodPost, "/api/v1/users", tokUserAdmin, `{"username":"frank"}`), nil)
	})
	t.Run("membership is checked on every call", func(t *testing.T) {
		ctx := context.Background()
		admins, err := en.dir.GroupByName(ctx, identity.AdminGroup)
		if err != nil {
			t.Fatal(err)
		}
		if err := en.dir.AddMember(ctx, admins.ID, en.plain.ID); err != nil {
			t.Fatal(err)
		}
		en.ok(http.StatusOK, listUsers(tokUserPlain), nil)
		if err := en.dir.RemoveMember(ctx, admins.ID, en.plain.ID); err != nil {
			t.Fatal(err)
		}
		problemOf(t, listUsers(tokUserPlain), 403)
	})
	t.Run("a suspended administrator's token stops working", func(t *testing.T) {
		// Another active administrator, or root would be the last one and unsuspendable.
		ctx := context.Background()
		second, err := en.dir.CreateUser(ctx, identity.NewUser{Username: "second-admin"})
		if err != nil {
			t.Fatal(err)
		}
		admins, _ := en.dir.GroupByName(ctx, identity.AdminGroup)
		if err := en.dir.AddMember(ctx, admins.ID, second.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := en.dir.SetStatus(context.Background(), en.root.ID, identity.StatusSuspended); err != nil {
			t.Fatal(err)
		}
		r := listUsers(tokUserAdmin)
		problemOf(t, r, 401)
		if _, _, err := en.dir.SetStatus(context.Background(), en.root.ID, identity.StatusActive); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the OpenAPI document needs no token", func(t *testing.T) {
		r := en.do(http.MethodGet, "/api/v1/openapi.json", "", nil)
		if r.code != 200 || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("openapi.json: %d %v", r.code, r.header)
		}
	})
	t.Run("unknown routes are problems", func(t *testing.T) {
		problemOf(t, en.do(http.MethodGet, "/api/v1/nothing-here", tokAdmin, nil), 404)
		problemOf(t, en.do(http.MethodDelete, "/api/v1/users", tokAdmin, nil), 405)
	})
}

func TestNew_RefusesMissingDependencies(t *testing.T) {
	_, err := New(Handler{})
	if err == nil {
		t.Fatal("New with nothing succeeded")
	}
	for _, name := range []string{"Directory", "Clients", "Gate", "Audit", "Sessions", "SessionTokens", "Revocations", "Applications", "Routes"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name the missing %s: %v", name, err)
		}
	}
}
