package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// TestAdminAPI_EndToEnd drives /api/v1 on the real server with real tokens: the demo
// admin script's client_credentials token, a token without the admin scopes, and none.
func TestAdminAPI_EndToEnd(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			o := newOIDCEnv(t, b)
			ctx := context.Background()
			tokenURL := o.provider.Endpoint().TokenURL
			api := o.issuer + "/api/v1"
			admin := (&clientcredentials.Config{ClientID: "demo-admin", ClientSecret: "demo-admin-secret",
				TokenURL: tokenURL, Scopes: []string{"weft:admin"}}).Client(ctx)

			// Create a user, then find it in the paged list.
			resp := call(t, admin, http.MethodPost, api+"/users",
				`{"username":"Zoe","email":"zoe@example.com","display_name":"Zoe Z","password":"zoe-password-1234"}`)
			var zoe struct{ ID, Username, Status string }
			decodeBody(t, resp, http.StatusCreated, &zoe)
			if zoe.ID == "" || zoe.Username != "Zoe" || zoe.Status != "active" || resp.Header.Get("Location") != "/api/v1/users/"+zoe.ID {
				t.Fatalf("created %+v (Location %q)", zoe, resp.Header.Get("Location"))
			}
			// The change is in the audit log, under the admin client that made it.
			if out := o.cli.ok("", "audit", "list", "-o", "json"); !strings.Contains(out, `"Kind": "admin.change"`) ||
				!strings.Contains(out, `"Actor": "demo-admin"`) || !strings.Contains(out, `"route": "/api/v1/users"`) {
				t.Fatalf("the admin change is not in the audit log:\n%s", out)
			}
			if out := o.cli.ok("", "audit", "verify"); !strings.HasPrefix(out, "audit log intact") {
				t.Fatalf("verify: %s", out)
			}
			var names []string
			for after := ""; ; {
				var page struct {
					Items []struct{ Username string }
					Next  string
				}
				decodeBody(t, call(t, admin, http.MethodGet, api+"/users?limit=2&after="+url.QueryEscape(after), ""), http.StatusOK, &page)
				for _, u := range page.Items {
					names = append(names, u.Username)
				}
				if after = page.Next; after == "" {
					break
				}
			}
			if want := []string{"alice", "bob", "carol", "Zoe"}; !slices.Equal(names, want) {
				t.Fatalf("users = %v, want %v", names, want)
			}

			// Create a client; its one-time secret works at the token endpoint at once.
			var created struct {
				ID           string `json:"id"`
				ClientSecret string `json:"client_secret"`
			}
			decodeBody(t, call(t, admin, http.MethodPost, api+"/clients",
				`{"id":"reports","name":"Reports job","type":"confidential","grant_types":["client_credentials"],"scopes":["reports.read"]}`),
				http.StatusCreated, &created)
			if created.ID != "reports" || created.ClientSecret == "" {
				t.Fatalf("created client %+v", created)
			}
			tok, err := (&clientcredentials.Config{ClientID: "reports", ClientSecret: created.ClientSecret, TokenURL: tokenURL,
				Scopes: []string{"reports.read"}}).Token(ctx)
			if err != nil {
				t.Fatalf("token for the new client: %v", err)
			}
			if code, body := o.introspect(tok.AccessToken, "demo-gateway", "demo-gateway-secret"); code != 200 || body["active"] != true || body["client_id"] != "reports" {
				t.Fatalf("introspect the new client's token = %d %v", code, body)
			}
			if body := readAll(t, call(t, admin, http.MethodGet, api+"/clients/reports", "")); strings.Contains(body, created.ClientSecret) ||
				strings.Contains(body, "argon2") || strings.Contains(body, "secret") {
				t.Fatalf("GET shows secret material: %s", body)
			}
			decodeBody(t, call(t, admin, http.MethodPost, api+"/clients",
				`{"id":"reports","name":"Again","type":"confidential","grant_types":["client_credentials"]}`), http.StatusConflict, nil)

			// Read-only scope reads but cannot write.
			reader := (&clientcredentials.Config{ClientID: "demo-admin", ClientSecret: "demo-admin-secret",
				TokenURL: tokenURL, Scopes: []string{"weft:admin:read"}}).Client(ctx)
			decodeBody(t, call(t, reader, http.MethodGet, api+"/groups", ""), http.StatusOK, nil)
			decodeBody(t, call(t, reader, http.MethodPost, api+"/groups", `{"name":"readers-cannot"}`), http.StatusForbidden, nil)

			// demo-m2m has no admin scope.
			m2m := (&clientcredentials.Config{ClientID: "demo-m2m", ClientSecret: "demo-m2m-secret", TokenURL: tokenURL,
				Scopes: []string{"api.read"}}).Client(ctx)
			resp = call(t, m2m, http.MethodGet, api+"/users", "")
			if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
				t.Fatalf("403 challenge = %q", resp.Header.Get("WWW-Authenticate"))
			}
			decodeBody(t, resp, http.StatusForbidden, nil)

			// No token at all.
			resp = call(t, http.DefaultClient, http.MethodGet, api+"/users", "")
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without a WWW-Authenticate challenge")
			}
			decodeBody(t, resp, http.StatusUnauthorized, nil)
			// A revoked token stops working at once.
			revoked, err := (&clientcredentials.Config{ClientID: "demo-admin", ClientSecret: "demo-admin-secret",
				TokenURL: tokenURL, Scopes: []string{"weft:admin"}}).Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			form := url.Values{"token": {revoked.AccessToken}}
			req, _ := http.NewRequest(http.MethodPost, o.issuer+"/oauth2/revoke", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("demo-admin", "demo-admin-secret")
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
				t.Fatalf("revoke: %v %v", resp, err)
			}
			req, _ = http.NewRequest(http.MethodGet, api+"/users", nil)
			req.Header.Set("Authorization", "Bearer "+revoked.AccessToken)
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			decodeBody(t, resp, http.StatusUnauthorized, nil)

			// The served OpenAPI document is the checked-in one, and needs no token.
			want, err := os.ReadFile("../../docs/openapi.json")
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, call(t, http.DefaultClient, http.MethodGet, api+"/openapi.json", "")); got != string(want) {
				t.Fatal("/api/v1/openapi.json differs from docs/openapi.json")
			}
		})
	}
}

// call sends a request with an optional JSON body through c.
func call(t *testing.T, c *http.Client, method, u, body string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return resp
}

// decodeBody checks the status and decodes the JSON body into v (if not nil); error
// statuses must come as application/problem+json with a matching status member.
func decodeBody(t *testing.T, resp *http.Response, want int, v any) {
	t.Helper()
	body := readAll(t, resp)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, body)
	}
	if want >= 400 {
		var p struct{ Status int }
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal([]byte(body), &p) != nil || p.Status != want {
			t.Fatalf("error answer is not problem+json: %s %s", ct, body)
		}
		return
	}
	if v != nil {
		if err := json.NewDecoder(bytes.NewReader([]byte(body))).Decode(v); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
	}
}
