package revocationapi

import (
	"context"
	"net/http"
	"testing"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

// rowActive reads an access token's active flag from its row: the token store itself
// refuses to load a disabled client's tokens at all.
func (en *env) rowActive(sig string) bool {
	en.t.Helper()
	var active bool
	if err := en.db.SQL().QueryRow(`SELECT active FROM oauth_access_tokens WHERE signature = $1`, sig).Scan(&active); err != nil {
		en.t.Fatal(err)
	}
	return active
}

func (en *env) clientStatus(id string) access.ClientStatus {
	en.t.Helper()
	c, err := en.clients.Client(context.Background(), id)
	if err != nil {
		en.t.Fatal(err)
	}
	return c.Status
}

// TestRevocations_Disable: "disable": true on a client or machine identity selector
// disables it and revokes its tokens in one transaction with one receipt (review M7:
// revoking alone left the secret minting new tokens).
func TestRevocations_Disable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		en.token("sig-m2m", "m2m", "m2m", "")
		en.token("sig-batch", "batch", "batch", "")

		rc := en.revoke("incident-9", map[string]any{"selector": sel("client", "m2m"), "reason": "compromised", "disable": true})
		if !rc.Disable || rc.Suspend || rc.Selector.Type != "client" || rc.Selector.Value != "m2m" || rc.Actor != "soar" || rc.Reason != "compromised" {
			t.Fatalf("receipt = %+v", rc)
		}
		if _, tk := rc.matched(t); tk != 1 {
			t.Fatalf("matched %d tokens, want 1", tk)
		}
		rc.landed(t)
		if en.clientStatus("m2m") != access.ClientDisabled || en.rowActive("sig-m2m") {
			t.Fatal("m2m is not disabled, or its token is still active")
		}
		if _, err := en.grants.GetClient(ctx, "m2m"); err == nil {
			t.Fatal("the token store still hands the disabled client to fosite")
		}
		if en.clientStatus("batch") != access.ClientActive || !en.tokenActive("sig-batch") {
			t.Fatal("disabling m2m reached batch")
		}
		var n int
		if err := en.db.SQL().QueryRow(`SELECT COUNT(*) FROM revocations WHERE selector_value = 'm2m'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d revocations of m2m (%v), want 1: the disable and the request are one", n, err)
		}
		if rec, err := en.revs.Record(ctx, rc.ID); err != nil || !rec.Disable {
			t.Fatalf("record = %+v, %v", rec, err)
		}

		// A retry answers the same receipt; a new request revokes again.
		before := en.snapshot()
		r := en.post(tokSOAR, "incident-9", map[string]any{"selector": sel("client", "m2m"), "reason": "compromised", "disable": true})
		var again receipt
		r.decode(t, &again)
		if r.code != http.StatusOK || again.ID != rc.ID || !again.Disable {
			t.Fatalf("retry: %d %+v", r.code, again)
		}
		en.unchanged("the retried disable", before)
		// The key with "disable" dropped is another request.
		r = en.post(tokSOAR, "incident-9", map[string]any{"selector": sel("client", "m2m"), "reason": "compromised"})
		problemOf(t, r, http.StatusUnprocessableEntity)
		if rc2 := en.revoke("", map[string]any{"selector": sel("client", "m2m"), "reason": "again", "disable": true}); rc2.ID == rc.ID || !rc2.Disable {
			t.Fatalf("disabling a disabled client again = %+v", rc2)
		}

		// A machine identity: every client acting for it loses its tokens.
		owner := en.user("owner")
		m, err := en.dir.CreateMachine(ctx, identity.NewMachine{Name: "ci-runner", OwnerID: owner.ID})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := en.clients.Apply(ctx, access.ClientSpec{ID: "ci", Name: "ci", Type: access.Confidential,
			Secret: "ci-secret-long-enough-123", GrantTypes: []string{"client_credentials"}, MachineIdentityID: m.ID}); err != nil {
			t.Fatal(err)
		}
		en.token("sig-ci", "ci", m.ID, "")
		rc = en.revoke("", map[string]any{"selector": sel("subject", m.ID), "reason": "runner compromised", "disable": true})
		if !rc.Disable {
			t.Fatalf("receipt = %+v", rc)
		}
		if got, err := en.dir.MachineByID(ctx, m.ID); err != nil || got.Status != identity.StatusDisabled {
			t.Fatalf("machine status = %q, %v", got.Status, err)
		}
		if en.tokenActive("sig-ci") {
			t.Fatal("the machine identity's token is still active")
		}
	})
}

// Bad disable requests are refused with a problem and change nothing.
func TestRevocations_DisableBadRequest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		alice := en.user("alice")
		en.token("sig-m2m", "m2m", "m2m", "")
		for _, tc := range []struct {
			name string
			body map[string]any
		}{
			{"unknown client", map[string]any{"selector": sel("client", "nobody"), "reason": "x", "disable": true}},
			{"unknown subject", map[string]any{"selector": sel("subject", "nobody"), "reason": "x", "disable": true}},
			{"a user", map[string]any{"selector": sel("subject", alice.ID), "reason": "x", "disable": true}},
			{"a token selector", map[string]any{"selector": sel("token", "tok"), "reason": "x", "disable": true}},
			{"a session selector", map[string]any{"selector": sel("session", "sid"), "reason": "x", "disable": true}},
			{"suspend and disable", map[string]any{"selector": sel("client", "m2m"), "reason": "x", "disable": true, "suspend": true}},
			{"no reason", map[string]any{"selector": sel("client", "m2m"), "disable": true}},
			{"disable not a boolean", map[string]any{"selector": sel("client", "m2m"), "reason": "x", "disable": "yes"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := en.snapshot()
				problemOf(t, en.post(tokSOAR, "", tc.body), http.StatusBadRequest)
				en.unchanged(tc.name, before)
			})
		}
		if en.clientStatus("m2m") != access.ClientActive || !en.tokenActive("sig-m2m") || en.status(alice.ID) != identity.StatusActive {
			t.Fatal("a refused request disabled or revoked something")
		}
	})
}
