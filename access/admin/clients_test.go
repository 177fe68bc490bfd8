package admin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/weft-fabric/weft/identity/password"
)

func TestClients_SecretShownOnceStoredHashed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		var cl createdClientView
		r := en.do(http.MethodPost, "/api/v1/clients", tokAdmin, map[string]any{
			"id": "billing", "name": "Billing export", "type": "confidential",
			"grant_types": []string{"client_credentials"}, "scopes": []string{"api.read"}, "owner_id": en.plain.ID,
			"introspection": true,
		})
		en.ok(http.StatusCreated, r, &cl)
		if r.header.Get("Location") != "/api/v1/clients/billing" || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("headers %v", r.header)
		}
		if cl.ID != "billing" || cl.Type != "confidential" || !cl.Introspection || cl.OwnerID != en.plain.ID ||
			!slices.Equal(cl.GrantTypes, []string{"client_credentials"}) || cl.RedirectURIs == nil || cl.AccessTokenFormat != "opaque" {
			t.Fatalf("created %+v", cl)
		}
		if len(cl.ClientSecret) != 43 { // 32 bytes, base64url without padding
			t.Fatalf("client_secret %q", cl.ClientSecret)
		}
		stored, err := en.clients.Client(ctx, "billing")
		if err != nil {
			t.Fatal(err)
		}
		if stored.SecretHash == cl.ClientSecret || password.Verify(cl.ClientSecret, stored.SecretHash) != nil {
			t.Fatalf("stored %q does not verify the returned secret", stored.SecretHash)
		}

		// No read shows secret material again.
		for _, path := range []string{"/api/v1/clients/billing", "/api/v1/clients"} {
			r := en.do(http.MethodGet, path, tokRead, nil)
			en.ok(http.StatusOK, r, nil)
			for _, leak := range [][]byte{[]byte(cl.ClientSecret), []byte("secret"), []byte("argon2"), []byte(stored.SecretHash)} {
				if bytes.Contains(r.body, leak) {
					t.Fatalf("%s shows %q: %s", path, leak, r.body)
				}
			}
		}
		var got clientView
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/clients/billing", tokRead, nil), &got)
		if got.ID != "billing" || got.Name != "Billing export" || !got.CreatedAt.Equal(cl.CreatedAt) {
			t.Fatalf("GET = %+v", got)
		}

		// A public client gets no secret.
		var pub createdClientView
		r = en.do(http.MethodPost, "/api/v1/clients", tokAdmin, map[string]any{
			"id": "spa", "name": "SPA", "type": "public", "grant_types": []string{"authorization_code"},
			"redirect_uris": []string{"https://app.example.com/cb"}, "scopes": []string{"openid"}, "access_token_format": "jwt",
		})
		en.ok(http.StatusCreated, r, &pub)
		if pub.ClientSecret != "" || bytes.Contains(r.body, []byte("client_secret")) || pub.AccessTokenFormat != "jwt" {
			t.Fatalf("public client got a secret: %s", r.body)
		}

		var all list[clientView]
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/clients?limit=1", tokRead, nil), &all)
		if len(all.Items) != 1 || all.Items[0].ID != "billing" || all.Next == "" {
			t.Fatalf("first page = %+v", all)
		}
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/clients?limit=1&after="+url.QueryEscape(all.Next), tokRead, nil), &all)
		if len(all.Items) != 1 || all.Items[0].ID != "spa" || all.Next != "" {
			t.Fatalf("second page = %+v", all)
		}
	})
}

// jwks returns a JWK Set holding one ES256 key: the public half, or the private one.
func jwks(t *testing.T, private bool) json.RawMessage {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var key any = &k.PublicKey
	if private {
		key = k
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A private_key_jwt client registers public keys and gets no secret.
func TestClients_PrivateKeyJWT(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		set := jwks(t, false)
		body := map[string]any{"id": "signer", "name": "Signer", "type": "confidential", "grant_types": []string{"client_credentials"},
			"token_endpoint_auth_method": "private_key_jwt", "jwks": set}
		r := en.do(http.MethodPost, "/api/v1/clients", tokAdmin, body)
		var cl createdClientView
		en.ok(http.StatusCreated, r, &cl)
		if cl.ClientSecret != "" || cl.TokenEndpointAuthMethod != "private_key_jwt" || !bytes.Contains(cl.JWKS, []byte(`"kid":"k1"`)) {
			t.Fatalf("created %s", r.body)
		}
		if stored, _ := en.clients.Client(context.Background(), "signer"); stored.SecretHash != "" {
			t.Fatalf("a private_key_jwt client got a secret hash")
		}
		var got clientView
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/clients/signer", tokRead, nil), &got)
		if got.TokenEndpointAuthMethod != "private_key_jwt" || !bytes.Contains(got.JWKS, []byte(`"kid":"k1"`)) {
			t.Fatalf("GET = %+v", got)
		}
		// A client with a secret shows no keys.
		r = en.do(http.MethodPost, "/api/v1/clients", tokAdmin, `{"id":"plain","name":"P","type":"confidential","grant_types":["client_credentials"]}`)
		en.ok(http.StatusCreated, r, nil)
		if !bytes.Contains(r.body, []byte(`"jwks":null`)) || !bytes.Contains(r.body, []byte(`"token_endpoint_auth_method":""`)) {
			t.Fatalf("secret client: %s", r.body)
		}

		before := snapshot(t, en.db.SQL())
		body["id"], body["jwks"] = "leaky", jwks(t, true)
		if p := problemOf(t, en.do(http.MethodPost, "/api/v1/clients", tokAdmin, body), 400); p.Field != "jwks" {
			t.Fatalf("private key in jwks: %+v", p)
		}
		body["jwks"] = "not a set"
		if p := problemOf(t, en.do(http.MethodPost, "/api/v1/clients", tokAdmin, body), 400); p.Field != "jwks" {
			t.Fatalf("string jwks: %+v", p)
		}
		delete(body, "jwks")
		if p := problemOf(t, en.do(http.MethodPost, "/api/v1/clients", tokAdmin, body), 400); p.Field != "jwks" {
			t.Fatalf("no jwks: %+v", p)
		}
		body["jwks"], body["type"], body["grant_types"], body["redirect_uris"] = set, "public", []string{"authorization_code"}, []string{"https://a.example/cb"}
		if p := problemOf(t, en.do(http.MethodPost, "/api/v1/clients", tokAdmin, body), 400); p.Field != "token_endpoint_auth_method" {
			t.Fatalf("public private_key_jwt: %+v", p)
		}
		if after := snapshot(t, en.db.SQL()); !equalSnap(before, after) {
			t.Fatalf("refused requests wrote: %v", after)
		}
	})
}

func TestClients_Refusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		en.ok(http.StatusCreated, en.do(http.MethodPost, "/api/v1/clients", tokAdmin,
			`{"id":"svc","name":"Service","type":"confidential","grant_types":["client_credentials"]}`), nil)
		orig, _ := en.clients.Client(ctx, "svc")
		before := snapshot(t, en.db.SQL())

		// The same id again is a conflict, and does not rotate the secret or change the client.
		problemOf(t, en.do(http.MethodPost, "/api/v1/clients", tokAdmin,
			`{"id":"svc","name":"Another","type":"confidential","grant_types":["client_credentials"]}`), 409)
		cases := []struct {
			name, body, field string
		}{
			{"secret supplied", `{"id":"a","name":"A","type":"confidential","grant_types":["client_credentials"],"secret":"chosen-secret-123"}`, "secret"},
			{"secret hash supplied", `{"id":"a","name":"A","type":"confidential","grant_types":["client_credentials"],"secret_hash":"$argon2id$"}`, "secret_hash"},
			{"secret null", `{"id":"a","name":"A","type":"confidential","grant_types":["client_credentials"],"secret":null}`, "secret"},
			{"bad id", `{"id":"a b","name":"A","type":"public","grant_types":["authorization_code"],"redirect_uris":["https://x.example/cb"]}`, "id"},
			{"bad type", `{"id":"a","name":"A","type":"secretive","grant_types":["client_credentials"]}`, "type"},
			{"implicit", `{"id":"a","name":"A","type":"public","grant_types":["implicit"]}`, "grant_types"},
			{"http redirect", `{"id":"a","name":"A","type":"public","grant_types":["authorization_code"],"redirect_uris":["http://evil.example/cb"]}`, "redirect_uris"},
			{"unknown owner", `{"id":"a","name":"A","type":"confidential","grant_types":["client_credentials"],"owner_id":"nobody"}`, "owner_id"},
			{"unknown field", `{"id":"a","name":"A","type":"public","grant_types":["authorization_code"],"pkce":false}`, "pkce"},
			{"bad token format", `{"id":"a","name":"A","type":"confidential","grant_types":["client_credentials"],"access_token_format":"paseto"}`, "access_token_format"},
			{"wrong type", `{"id":"a","name":"A","type":"confidential","grant_types":"client_credentials"}`, "grant_types"},
			{"unknown machine identity", `{"id":"a","name":"A","type":"confidential","grant_types":["client_credentials"],"machine_identity_id":"nobody"}`, "machine_identity_id"},
			{"public client without PKCE", `{"id":"a","name":"A","type":"public","grant_types":["authorization_code"],"redirect_uris":["https://x.example/cb"],"pkce_required":false}`, "pkce_required"},
			{"bad ID token alg", `{"id":"a","name":"A","type":"confidential","grant_types":["client_credentials"],"id_token_signed_response_alg":"HS256"}`, "id_token_signed_response_alg"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if p := problemOf(t, en.do(http.MethodPost, "/api/v1/clients", tokAdmin, tc.body), 400); p.Field != tc.field {
					t.Fatalf("problem = %+v, want field %q", p, tc.field)
				}
			})
		}
		problemOf(t, en.do(http.MethodGet, "/api/v1/clients/nope", tokRead, nil), 404)
		// The per-client settings round-trip, with their defaults.
		var v struct {
			IDTokenAlg   string `json:"id_token_signed_response_alg"`
			PKCERequired bool   `json:"pkce_required"`
			Machine      string `json:"machine_identity_id"`
		}
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/clients/svc", tokRead, nil), &v)
		if v.IDTokenAlg != "ES256" || !v.PKCERequired || v.Machine != "" {
			t.Fatalf("defaults = %+v", v)
		}
		if after := snapshot(t, en.db.SQL()); !equalSnap(before, after) {
			t.Fatalf("refused requests wrote: %v", after)
		}
		if now, _ := en.clients.Client(ctx, "svc"); now.SecretHash != orig.SecretHash || now.Name != "Service" {
			t.Fatal("a conflicting POST changed the existing client")
		}
	})
}
