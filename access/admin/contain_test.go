package admin

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
)

const m2mSecret = "m2m-secret-long-enough-123"

// m2m creates a client_credentials client (acting for machine when not "") and
// stores an access token of it with signature sig.
func (en *env) m2m(id, machine, sig string) {
	en.t.Helper()
	ctx := context.Background()
	if _, _, err := en.clients.Apply(ctx, access.ClientSpec{ID: id, Name: id, Type: access.Confidential, Secret: m2mSecret,
		GrantTypes: []string{access.GrantClientCredentials}, MachineIdentityID: machine}); err != nil {
		en.t.Fatal(err)
	}
	c, err := en.grants.GetClient(ctx, id)
	if err != nil {
		en.t.Fatal(err)
	}
	subject := id
	if machine != "" {
		subject = machine
	}
	r := fosite.NewRequest()
	r.ID, r.Client, r.RequestedAt = "req-"+sig, c, time.Now().UTC()
	s := access.NewSession(subject, "", "")
	s.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
	r.Session = s
	if err := en.grants.CreateAccessTokenSession(ctx, sig, r); err != nil {
		en.t.Fatal(err)
	}
}

// rowActive reads an access token's active flag (the token store refuses to load a
// disabled client's tokens at all).
func (en *env) rowActive(sig string) bool {
	en.t.Helper()
	var active bool
	if err := en.db.SQL().QueryRow(`SELECT active FROM oauth_access_tokens WHERE signature = $1`, sig).Scan(&active); err != nil {
		en.t.Fatal(err)
	}
	return active
}

func TestClients_DisableEnable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		en.m2m("billing", "", "sig-billing")
		en.m2m("other", "", "sig-other")

		var got clientStatusView
		en.ok(http.StatusOK, en.do(http.MethodPost, "/api/v1/clients/billing/disable", tokAdmin, map[string]string{"reason": "secret leaked"}), &got)
		if got.Status != "disabled" || got.RevocationID == "" {
			t.Fatalf("disable answered %+v", got)
		}
		if en.rowActive("sig-billing") || !en.rowActive("sig-other") {
			t.Fatal("disabling billing did not revoke exactly its token")
		}
		rec, err := en.revs.Record(ctx, got.RevocationID)
		if err != nil || !rec.Disable || rec.Actor != "script" || rec.Reason != "secret leaked" || rec.Selector.Value != "billing" || rec.Tokens != 1 {
			t.Fatalf("revocation = %+v, %v", rec, err)
		}
		var read clientView
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/clients/billing", tokRead, nil), &read)
		if read.Status != "disabled" {
			t.Fatalf("GET shows status %q", read.Status)
		}
		// Again: nothing changes, no new revocation. Without a body, too.
		got = clientStatusView{}
		en.ok(http.StatusOK, en.do(http.MethodPost, "/api/v1/clients/billing/disable", tokAdmin, nil), &got)
		if got.Status != "disabled" || got.RevocationID != "" {
			t.Fatalf("disabling again answered %+v", got)
		}
		got = clientStatusView{}
		en.ok(http.StatusOK, en.do(http.MethodPost, "/api/v1/clients/billing/enable", tokAdmin, nil), &got)
		if got.Status != "active" || got.RevocationID != "" {
			t.Fatalf("enable answered %+v", got)
		}
		if en.rowActive("sig-billing") {
			t.Fatal("enabling brought a revoked token back")
		}

		// Refusals change nothing.
		for _, tc := range []struct {
			name, path, token string
			body              any
			status            int
		}{
			{"unknown client", "/api/v1/clients/nobody/disable", tokAdmin, nil, http.StatusNotFound},
			{"unknown client (enable)", "/api/v1/clients/nobody/enable", tokAdmin, nil, http.StatusNotFound},
			{"read scope", "/api/v1/clients/billing/disable", tokRead, nil, http.StatusForbidden},
			{"no token", "/api/v1/clients/billing/disable", "", nil, http.StatusUnauthorized},
			{"unknown field", "/api/v1/clients/billing/disable", tokAdmin, map[string]string{"status": "active"}, http.StatusBadRequest},
			{"not JSON", "/api/v1/clients/billing/disable", tokAdmin, "{", http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := snapshot(t, en.db.SQL())
				problemOf(t, en.do(http.MethodPost, tc.path, tc.token, tc.body), tc.status)
				if !equalSnap(before, snapshot(t, en.db.SQL())) {
					t.Fatal("a refused request changed the database")
				}
			})
		}
		if c, _ := en.clients.Client(ctx, "billing"); c.Disabled() {
			t.Fatal("billing ended disabled")
		}
	})
}

func TestClients_RotateSecret(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		en.m2m("billing", "", "sig-billing")
		started := time.Now()
		var got rotatedSecretView
		en.ok(http.StatusOK, en.do(http.MethodPost, "/api/v1/clients/billing/secret", tokAdmin, map[string]string{"overlap": "1h"}), &got)
		stored, err := en.clients.Client(ctx, "billing")
		if err != nil {
			t.Fatal(err)
		}
		if len(got.ClientSecret) != 43 || password.Verify(got.ClientSecret, stored.SecretHash) != nil {
			t.Fatalf("the new secret (%d chars) does not verify", len(got.ClientSecret))
		}
		if password.Verify(m2mSecret, stored.PreviousSecretHash) != nil || got.PreviousSecretExpiresAt == nil ||
			got.PreviousSecretExpiresAt.Before(started.Add(time.Hour-time.Minute)) || got.PreviousSecretExpiresAt.After(time.Now().Add(time.Hour)) {
			t.Fatalf("overlap until %v; want an hour from now, with the old secret kept", got.PreviousSecretExpiresAt)
		}
		if !en.rowActive("sig-billing") {
			t.Fatal("a rotation revoked the client's tokens")
		}
		// Without overlap: nothing of the old secret stays.
		got = rotatedSecretView{}
		en.ok(http.StatusOK, en.do(http.MethodPost, "/api/v1/clients/billing/secret", tokAdmin, nil), &got)
		if stored, _ = en.clients.Client(ctx, "billing"); stored.PreviousSecretHash != "" || got.PreviousSecretExpiresAt != nil {
			t.Fatal("a rotation without overlap kept the old secret")
		}
		// The secret is never shown again.
		r := en.do(http.MethodGet, "/api/v1/clients/billing", tokRead, nil)
		if string(r.body) == "" || bytes.Contains(r.body, []byte(got.ClientSecret)) {
			t.Fatalf("GET shows the secret: %s", r.body)
		}

		// Bad input: a problem, nothing changes.
		if _, _, err := en.clients.Apply(ctx, access.ClientSpec{ID: "spa", Name: "spa", Type: access.Public,
			RedirectURIs: []string{"https://app.example.com/cb"}, GrantTypes: []string{access.GrantAuthorizationCode}}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, path string
			body       any
			status     int
			field      string
		}{
			{"not a duration", "/api/v1/clients/billing/secret", map[string]string{"overlap": "an hour"}, http.StatusBadRequest, "overlap"},
			{"negative", "/api/v1/clients/billing/secret", map[string]string{"overlap": "-1h"}, http.StatusBadRequest, "overlap"},
			{"above the cap", "/api/v1/clients/billing/secret", map[string]string{"overlap": "169h"}, http.StatusBadRequest, "overlap"},
			{"overlap not a string", "/api/v1/clients/billing/secret", map[string]any{"overlap": 3600}, http.StatusBadRequest, "overlap"},
			{"a public client", "/api/v1/clients/spa/secret", nil, http.StatusBadRequest, "secret"},
			{"unknown client", "/api/v1/clients/nobody/secret", nil, http.StatusNotFound, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := snapshot(t, en.db.SQL())
				p := problemOf(t, en.do(http.MethodPost, tc.path, tokAdmin, tc.body), tc.status)
				if p.Field != tc.field {
					t.Fatalf("problem names field %q, want %q", p.Field, tc.field)
				}
				if !equalSnap(before, snapshot(t, en.db.SQL())) {
					t.Fatal("a refused rotation changed the database")
				}
			})
		}
		var kinds int
		if err := en.db.SQL().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE kind = 'client.secret_rotated'`).Scan(&kinds); err != nil || kinds != 2 {
			t.Fatalf("%d rotations audited (%v), want 2", kinds, err)
		}
	})
}

func TestMachines_DisableEnable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		m, err := en.dir.CreateMachine(ctx, identity.NewMachine{Name: "ci-runner", OwnerID: en.plain.ID})
		if err != nil {
			t.Fatal(err)
		}
		en.m2m("ci", m.ID, "sig-ci")
		var got machineStatusView
		en.ok(http.StatusOK, en.do(http.MethodPost, "/api/v1/machine-identities/"+m.ID+"/disable", tokAdmin, map[string]string{"reason": "runner compromised"}), &got)
		if got.Status != "disabled" || got.RevocationID == "" {
			t.Fatalf("disable answered %+v", got)
		}
		if en.rowActive("sig-ci") {
			t.Fatal("the machine identity's token is still active")
		}
		var read machineView
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/machine-identities/"+m.ID, tokRead, nil), &read)
		if read.Status != "disabled" {
			t.Fatalf("GET shows %q", read.Status)
		}
		got = machineStatusView{}
		en.ok(http.StatusOK, en.do(http.MethodPost, "/api/v1/machine-identities/"+m.ID+"/enable", tokAdmin, nil), &got)
		if got.Status != "active" || got.RevocationID != "" {
			t.Fatalf("enable answered %+v", got)
		}
		before := snapshot(t, en.db.SQL())
		problemOf(t, en.do(http.MethodPost, "/api/v1/machine-identities/no-such-id/disable", tokAdmin, nil), http.StatusNotFound)
		problemOf(t, en.do(http.MethodPost, "/api/v1/machine-identities/"+m.ID+"/disable", tokRead, nil), http.StatusForbidden)
		if !equalSnap(before, snapshot(t, en.db.SQL())) {
			t.Fatal("a refused request changed the database")
		}
	})
}
