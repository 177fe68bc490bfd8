package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// TestRevocationAPI: a SOAR tool revokes a user (and suspends them), a client and a
// token through POST /api/v1/revocations; bad selectors and unauthorised callers change
// nothing; an Idempotency-Key makes a retry safe.
func TestRevocationAPI(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			o := newOIDCEnv(t, b)
			ctx := context.Background()
			api := o.issuer + "/api/v1/revocations"
			token := func(id, secret, scope string) string {
				cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: o.provider.Endpoint().TokenURL}
				if scope != "" {
					cc.Scopes = []string{scope}
				}
				tok, err := cc.Token(ctx)
				if err != nil {
					t.Fatalf("%s token: %v", id, err)
				}
				return tok.AccessToken
			}
			soar := token("demo-soar", "demo-soar-secret", "weft:revoke")
			post := func(bearer, key, body string) (int, map[string]any, http.Header) {
				req, _ := http.NewRequest(http.MethodPost, api, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if bearer != "" {
					req.Header.Set("Authorization", "Bearer "+bearer)
				}
				if key != "" {
					req.Header.Set("Idempotency-Key", key)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var out map[string]any
				_ = json.Unmarshal([]byte(readAll(t, resp)), &out)
				return resp.StatusCode, out, resp.Header
			}

			// alice signs in; her tokens and the machine's are live.
			v := oauth2.GenerateVerifier()
			cb := o.login(o.browser(), o.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), "alice", "alice-demo-password-1")
			alice, err := o.web.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
			if err != nil {
				t.Fatal(err)
			}
			_, intro := o.introspect(alice.AccessToken, "demo-gateway", "demo-gateway-secret")
			aliceID, _ := intro["sub"].(string)
			m2m := token("demo-m2m", "demo-m2m-secret", "api.read")

			// Refused, and nothing changes.
			if code, _, hdr := post("", "", `{}`); code != 401 || hdr.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("no token: %d %s", code, hdr.Get("Content-Type"))
			}
			if code, _, _ := post(m2m, "", `{"selector":{"type":"subject","value":"`+aliceID+`"},"reason":"x"}`); code != 403 {
				t.Fatalf("token without weft:revoke: %d", code)
			}
			for _, body := range []string{
				`{"selector":{"type":"group","value":"g1"},"reason":"x"}`,
				`{"selector":{"type":"device","value":"d1"},"reason":"x"}`,
				`{"selector":{"type":"session","value":"no-such-session"},"reason":"x"}`,
				`{"selector":{"type":"subject","value":"no-such-user"},"reason":"x"}`,
				`{"selector":{"type":"client","value":"no-such-client"},"reason":"x"}`,
				`{"selector":{"type":"client","value":"demo-m2m"},"reason":"x","suspend":true}`,
				`{"selector":{"type":"subject","value":"` + aliceID + `"}}`,
				`{"selector":{"type":"subject","value":"` + aliceID + `"},"reason":"x","extra":1}`,
				// Trailing data once slipped past this endpoint's decoder: a second parser
				// could read another request out of the same body.
				`{"selector":{"type":"subject","value":"` + aliceID + `"},"reason":"x"}{"extra":1}`,
				`{"selector":{"type":"client","value":"demo-m2m"},"reason":"x"} trailing`,
				`not json`,
			} {
				if code, out, hdr := post(soar, "", body); code != 400 || hdr.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("%s: %d %v", body, code, out)
				}
			}
			for _, ctype := range []string{"", "text/plain", "application/x-www-form-urlencoded"} {
				req, _ := http.NewRequest(http.MethodPost, api, strings.NewReader(`{"selector":{"type":"subject","value":"`+aliceID+`"},"reason":"x"}`))
				if ctype != "" {
					req.Header.Set("Content-Type", ctype)
				}
				req.Header.Set("Authorization", "Bearer "+soar)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if readAll(t, resp); resp.StatusCode != http.StatusUnsupportedMediaType {
					t.Fatalf("Content-Type %q: %d", ctype, resp.StatusCode)
				}
			}
			if !o.active(alice.AccessToken) || !o.active(m2m) {
				t.Fatal("a refused revocation revoked something")
			}

			// Revoke alice everywhere and suspend her; a retry with the same key is a no-op.
			body := `{"selector":{"type":"subject","value":"` + aliceID + `"},"reason":"impossible travel","suspend":true}`
			code, rec, hdr := post(soar, "incident-42", body)
			m, _ := rec["matched"].(map[string]any)
			if code != 201 || rec["id"] == "" || m["sessions"].(float64) < 1 || m["tokens"].(float64) < 1 || rec["status"] != "applied" ||
				hdr.Get("Location") != "/api/v1/revocations/"+rec["id"].(string) {
				t.Fatalf("revoke alice: %d %v", code, rec)
			}
			if o.active(alice.AccessToken) {
				t.Fatal("alice's token is still active after the revocation was answered")
			}
			if out := o.cli.ok("", "user", "show", "alice", "-o", "json"); !strings.Contains(out, `"status": "suspended"`) {
				t.Fatalf("alice not suspended:\n%s", out)
			}
			code, again, _ := post(soar, "incident-42", body)
			if code != 200 || again["id"] != rec["id"] {
				t.Fatalf("retry with the same key: %d %v", code, again)
			}
			// The receipt.
			req, _ := http.NewRequest(http.MethodGet, api+"/"+rec["id"].(string), nil)
			req.Header.Set("Authorization", "Bearer "+soar)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var receipt map[string]any
			_ = json.Unmarshal([]byte(readAll(t, resp)), &receipt)
			if resp.StatusCode != 200 || receipt["id"] != rec["id"] || receipt["reason"] != "impossible travel" {
				t.Fatalf("receipt: %d %v", resp.StatusCode, receipt)
			}

			// A client, then a single token.
			if code, out, _ := post(soar, "", `{"selector":{"type":"client","value":"demo-m2m"},"reason":"leaked secret"}`); code != 201 {
				t.Fatalf("revoke client: %d %v", code, out)
			}
			if o.active(m2m) {
				t.Fatal("demo-m2m's token is still active after its client was revoked")
			}
			one := token("demo-m2m", "demo-m2m-secret", "api.read")
			if code, out, _ := post(soar, "", `{"selector":{"type":"token","value":"`+one+`"},"reason":"found in a log"}`); code != 201 ||
				strings.Contains(out["selector"].(map[string]any)["value"].(string), one) {
				t.Fatalf("revoke token: %d %v", code, out)
			}
			if o.active(one) {
				t.Fatal("the revoked token is still active")
			}
			// Every session from one device: bob signs in in a browser, which gets a device cookie.
			browser := o.browser()
			v = oauth2.GenerateVerifier()
			cb = o.login(browser, o.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), "bob", "bob-demo-password-1")
			bob, err := o.web.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
			if err != nil {
				t.Fatal(err)
			}
			issuerURL, _ := url.Parse(o.issuer)
			device := ""
			for _, ck := range browser.Jar.Cookies(issuerURL) {
				if ck.Name == "weft_device" {
					device = ck.Value
				}
			}
			if device == "" {
				t.Fatal("the browser got no device cookie")
			}
			code, out, _ := post(soar, "", `{"selector":{"type":"device","value":"`+device+`"},"reason":"stolen laptop"}`)
			if m, _ := out["matched"].(map[string]any); code != 201 || m["sessions"].(float64) != 1 {
				t.Fatalf("revoke device: %d %v", code, out)
			}
			if o.active(bob.AccessToken) {
				t.Fatal("a token from the revoked device is still active")
			}
			if out := o.cli.ok("", "audit", "list", "-o", "json"); strings.Count(out, `"Kind": "revocation"`) != 4 {
				t.Fatalf("audit log should hold 4 revocations:\n%s", out)
			}
		})
	}
}
