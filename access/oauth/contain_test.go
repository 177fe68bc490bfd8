package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

// These envs have no revocation service (helpers_test.go): disabling here revokes
// nothing, so what the tests see is the endpoints' own refusal of a disabled client or
// machine identity: the check itself, not the revocation that normally comes with it.

// ccToken asks for a client_credentials token of demo-m2m with secret.
func (en *env) ccToken(secret string) response {
	return en.form(access.PathToken, url.Values{"grant_type": {access.GrantClientCredentials}, "scope": {"api.read"}}, m2mID, secret)
}

func TestContain_DisabledClientIsRefusedEverywhere(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		// A token issued before, and the secret's verdict cached just before the disable.
		before := en.machineToken()
		if r := en.ccToken(m2mSecret); r.code != http.StatusOK {
			t.Fatalf("token before disable: %s", r)
		}
		if _, _, err := en.clients.SetStatus(ctx, m2mID, access.ClientDisabled); err != nil {
			t.Fatal(err)
		}
		snap := en.snapshot()
		wantOAuthError(t, en.ccToken(m2mSecret), http.StatusUnauthorized, "invalid_client")
		en.unchanged(t, snap)
		if en.active(before) {
			t.Fatal("a token of the disabled client is still active")
		}

		// The gateway, disabled, can neither introspect nor revoke.
		if _, _, err := en.clients.SetStatus(ctx, gatewayID, access.ClientDisabled); err != nil {
			t.Fatal(err)
		}
		// As for an unknown caller (TestIntrospect_CallerAuthentication).
		wantOAuthError(t, en.introspect(before, gatewayID, gatewaySecret), http.StatusUnauthorized, "request_unauthorized")
		wantOAuthError(t, en.form(access.PathRevoke, url.Values{"token": {before}}, gatewayID, gatewaySecret), http.StatusUnauthorized, "invalid_client")
		// Nor does a disabled relying party start a login.
		if _, _, err := en.clients.SetStatus(ctx, webID, access.ClientDisabled); err != nil {
			t.Fatal(err)
		}
		if r := en.get(access.PathAuthorize, authQuery("verifier-that-is-long-enough-for-pkce-0123456789")); r.code < 400 {
			t.Fatalf("authorization request of a disabled client = %s; want an error page", r)
		}

		// Enabled again, the same secret works.
		for _, id := range []string{m2mID, gatewayID, webID} {
			if _, _, err := en.clients.SetStatus(ctx, id, access.ClientActive); err != nil {
				t.Fatal(err)
			}
		}
		after := en.ccToken(m2mSecret)
		if after.code != http.StatusOK {
			t.Fatalf("token after enable: %s", after)
		}
		if !en.active(after.json()["access_token"].(string)) {
			t.Fatal("a token issued after enabling is not active")
		}
	})
}

func TestContain_DisabledMachineIdentity(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		before := en.machineToken()
		if _, _, err := en.dir.SetMachineStatus(ctx, en.machine.ID, identity.StatusDisabled); err != nil {
			t.Fatal(err)
		}
		snap := en.snapshot()
		r := en.ccToken(m2mSecret)
		wantOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
		en.unchanged(t, snap)
		// The gate refuses the machine identity's token (its subject is disabled).
		if en.active(before) {
			t.Fatal("a token of the disabled machine identity introspects active")
		}
		if _, _, err := en.dir.SetMachineStatus(ctx, en.machine.ID, identity.StatusActive); err != nil {
			t.Fatal(err)
		}
		if r := en.ccToken(m2mSecret); r.code != http.StatusOK {
			t.Fatalf("token after enable: %s", r)
		}
	})
}

func TestContain_SecretRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		// The old secret's verdict is cached just before the rotation.
		if r := en.ccToken(m2mSecret); r.code != http.StatusOK {
			t.Fatal(r)
		}
		// Without overlap the old secret is refused at once.
		rot, err := en.clients.RotateSecret(ctx, m2mID, 0)
		if err != nil {
			t.Fatal(err)
		}
		wantOAuthError(t, en.ccToken(m2mSecret), http.StatusUnauthorized, "invalid_client")
		if r := en.ccToken(rot.Secret); r.code != http.StatusOK {
			t.Fatalf("the new secret: %s", r)
		}

		// With an overlap both work until it ends, then only the new one.
		second := rot.Secret
		rot, err = en.clients.RotateSecret(ctx, m2mID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for name, secret := range map[string]string{"old, within the overlap": second, "new": rot.Secret} {
			if r := en.ccToken(secret); r.code != http.StatusOK {
				t.Fatalf("%s secret: %s", name, r)
			}
		}
		en.clock.Advance(time.Hour + time.Second)
		wantOAuthError(t, en.ccToken(second), http.StatusUnauthorized, "invalid_client")
		if r := en.ccToken(rot.Secret); r.code != http.StatusOK {
			t.Fatalf("the new secret after the overlap: %s", r)
		}
		wantOAuthError(t, en.ccToken(m2mSecret), http.StatusUnauthorized, "invalid_client")
	})
}
