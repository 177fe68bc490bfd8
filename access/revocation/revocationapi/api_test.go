package revocationapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/access/backchannel"
	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

func sel(typ, value string) map[string]string { return map[string]string{"type": typ, "value": value} }

func ptr[T any](v T) *T { return &v }

// TestRevocations_Authentication: both endpoints need an access token with
// weft:revoke; every refusal is a problem with the RFC 6750 challenge, reveals no
// receipt and changes nothing.
func TestRevocations_Authentication(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		alice := en.user("alice")
		ls := en.session(alice, device(1), "web")
		en.token("sig-alice", "web", alice.ID, ls.ID)
		bob := en.user("bob")
		prior := en.revoke("", map[string]any{"selector": sel("subject", bob.ID), "reason": "prior-reason-marker"})
		body := map[string]any{"selector": sel("subject", alice.ID), "reason": "x", "suspend": true}
		before := en.snapshot()

		for _, tc := range []struct {
			name      string
			auth      string // the Authorization header; empty: none
			want      int
			challenge string // the WWW-Authenticate header
		}{
			{"no token", "", 401, `Bearer realm="weft"`},
			{"another scheme", "Basic c29hcjpzZWNyZXQ=", 401, `Bearer realm="weft"`},
			{"malformed bearer", "Bearer a b", 401, `Bearer realm="weft", error="invalid_token"`},
			{"unknown token", "Bearer " + tokUnknown, 401, `Bearer realm="weft", error="invalid_token"`},
			{"refresh token", "Bearer " + tokRefresh, 401, `Bearer realm="weft", error="invalid_token"`},
			{"no weft:revoke", "Bearer " + tokNoScope, 403, `Bearer realm="weft", error="insufficient_scope", scope="weft:revoke"`},
		} {
			for _, call := range []struct {
				method, path string
				body         any
			}{
				{http.MethodPost, "/api/v1/revocations", body},
				{http.MethodGet, "/api/v1/revocations/" + prior.ID, nil},
			} {
				t.Run(tc.name+" "+call.method, func(t *testing.T) {
					r := en.send(request{method: call.method, path: call.path, auth: tc.auth, body: call.body, key: "k-" + tc.name})
					problemOf(t, r, tc.want)
					if got := r.header.Get("WWW-Authenticate"); got != tc.challenge {
						t.Fatalf("WWW-Authenticate %q, want %q", got, tc.challenge)
					}
					if strings.Contains(string(r.body), prior.ID) || strings.Contains(string(r.body), "prior-reason-marker") {
						t.Fatalf("a refused call showed the receipt: %s", r.body)
					}
				})
			}
		}
		en.unchanged("refused calls", before)
		if !en.tokenActive("sig-alice") || !en.sessionActive(ls.ID) || en.status(alice.ID) != identity.StatusActive {
			t.Fatal("a refused call revoked or suspended alice")
		}
		// The same request from soar goes through, with 201: the refusals were about the
		// caller, and a refused call's Idempotency-Key reserved nothing.
		en.revoke("k-no token", body)
		if en.tokenActive("sig-alice") || en.status(alice.ID) != identity.StatusSuspended {
			t.Fatal("the accepted call did not revoke and suspend alice")
		}
	})
}

// TestRevocations_BadRequest: bodies that are not one strict JSON object, selectors that
// name nothing and suspensions of what is not a user are 4xx problems, and nothing is
// recorded, revoked or suspended.
func TestRevocations_BadRequest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		alice := en.user("alice")
		ls := en.session(alice, device(2), "web")
		en.token("sig-alice", "web", alice.ID, ls.ID)
		machine, err := en.dir.CreateMachine(ctx, identity.NewMachine{Name: "build-bot", OwnerID: alice.ID})
		if err != nil {
			t.Fatal(err)
		}
		en.token("sig-machine", "m2m", machine.ID, "")
		valid := `{"selector":{"type":"subject","value":"` + alice.ID + `"},"reason":"x"}`
		before := en.snapshot()

		for _, tc := range []struct {
			name  string
			body  string
			ctype *string // nil: application/json
			key   string
			want  int
			field string // the problem's field, when it names one
		}{
			// Not one strict JSON object.
			{name: "not JSON", body: `not json`, want: 400},
			{name: "empty body", body: ``, want: 400},
			{name: "null", body: `null`, want: 400},
			{name: "array", body: `[` + valid + `]`, want: 400},
			{name: "cut short", body: valid[:len(valid)-1], want: 400},
			{name: "trailing object", body: valid + `{"extra":1}`, want: 400},
			{name: "trailing text", body: valid + ` trailing`, want: 400},
			{name: "trailing bracket", body: valid + `]`, want: 400},
			// Which value counts depends on the parser: a WAF or SIEM may read the first (I7).
			{name: "duplicate member", body: `{"selector":{"type":"subject","value":"` + alice.ID + `"},"reason":"x","reason":"y"}`, want: 400, field: "reason"},
			{name: "duplicate selector value", body: `{"selector":{"type":"subject","value":"nobody","value":"` + alice.ID + `"},"reason":"x"}`, want: 400, field: "selector.value"},
			{name: "duplicate in another case", body: `{"selector":{"type":"subject","value":"` + alice.ID + `"},"reason":"x","Suspend":true,"suspend":false}`, want: 400, field: "suspend"},
			{name: "unknown field", body: `{"selector":{"type":"subject","value":"` + alice.ID + `"},"reason":"x","scope":"all"}`, want: 400, field: "scope"},
			{name: "unknown selector field", body: `{"selector":{"type":"subject","value":"` + alice.ID + `","tenant":"t"},"reason":"x"}`, want: 400, field: "tenant"},
			{name: "selector not an object", body: `{"selector":"subject:` + alice.ID + `","reason":"x"}`, want: 400, field: "selector"},
			{name: "value not a string", body: `{"selector":{"type":"subject","value":42},"reason":"x"}`, want: 400, field: "selector.value"},
			{name: "suspend not a boolean", body: `{"selector":{"type":"subject","value":"` + alice.ID + `"},"reason":"x","suspend":"yes"}`, want: 400, field: "suspend"},
			{name: "missing selector", body: `{"reason":"x","suspend":true}`, want: 400},
			{name: "null selector", body: `{"selector":null,"reason":"x"}`, want: 400},
			// Decoded, but refused by the service.
			{name: "no reason", body: `{"selector":{"type":"subject","value":"` + alice.ID + `"}}`, want: 400},
			{name: "blank reason", body: `{"selector":{"type":"subject","value":"` + alice.ID + `"},"reason":"  "}`, want: 400},
			{name: "reason too long", body: `{"selector":{"type":"subject","value":"` + alice.ID + `"},"reason":"` + strings.Repeat("r", 1025) + `"}`, want: 400},
			{name: "no value", body: `{"selector":{"type":"subject"},"reason":"x"}`, want: 400},
			{name: "unknown selector type", body: `{"selector":{"type":"group","value":"weft-admins"},"reason":"x"}`, want: 400},
			{name: "unknown session", body: `{"selector":{"type":"session","value":"no-such-session"},"reason":"x"}`, want: 400},
			{name: "unknown subject", body: `{"selector":{"type":"subject","value":"no-such-user"},"reason":"x"}`, want: 400},
			{name: "unknown client", body: `{"selector":{"type":"client","value":"no-such-client"},"reason":"x"}`, want: 400},
			{name: "malformed device", body: `{"selector":{"type":"device","value":"not-a-device"},"reason":"x"}`, want: 400},
			{name: "key too long", body: valid, key: strings.Repeat("k", 257), want: 400},
			{name: "suspend a client", body: `{"selector":{"type":"client","value":"web"},"reason":"x","suspend":true}`, want: 400},
			// Read as a subject, the value would name alice: the selector type decides.
			{name: "suspend a client named like a user", body: `{"selector":{"type":"client","value":"` + alice.ID + `"},"reason":"x","suspend":true}`, want: 400},
			{name: "suspend a session", body: `{"selector":{"type":"session","value":"` + ls.ID + `"},"reason":"x","suspend":true}`, want: 400},
			{name: "suspend a token", body: `{"selector":{"type":"token","value":"sig-alice"},"reason":"x","suspend":true}`, want: 400},
			{name: "suspend a machine identity", body: `{"selector":{"type":"subject","value":"` + machine.ID + `"},"reason":"x","suspend":true}`, want: 400},
			{name: "suspend an unknown subject", body: `{"selector":{"type":"subject","value":"no-such-user"},"reason":"x","suspend":true}`, want: 400},
			// Not JSON at all, or far too much of it.
			{name: "no content type", body: valid, ctype: ptr(""), want: 415},
			{name: "text/plain", body: valid, ctype: ptr("text/plain"), want: 415},
			{name: "form", body: valid, ctype: ptr("application/x-www-form-urlencoded"), want: 415},
			{name: "too large", body: `{"selector":{"type":"subject","value":"` + alice.ID + `"},"reason":"` + strings.Repeat("r", 65<<10) + `"}`, want: 413},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := en.send(request{method: http.MethodPost, path: "/api/v1/revocations", token: tokSOAR, body: tc.body,
					contentType: tc.ctype, key: tc.key})
				p := problemOf(t, r, tc.want)
				if tc.field != "" && p.Field != tc.field {
					t.Fatalf("field %q, want %q (%+v)", p.Field, tc.field, p)
				}
				if r.header.Get("Location") != "" {
					t.Fatalf("a refused revocation has a Location: %q", r.header.Get("Location"))
				}
			})
		}
		en.unchanged("refused revocations", before)
		if !en.tokenActive("sig-alice") || !en.tokenActive("sig-machine") || !en.sessionActive(ls.ID) ||
			en.status(alice.ID) != identity.StatusActive {
			t.Fatal("a refused revocation revoked or suspended something")
		}
		// The valid body itself goes through: the refusals were about what was changed.
		en.revoke("", valid)
		if en.tokenActive("sig-alice") || en.sessionActive(ls.ID) {
			t.Fatal("the valid revocation left alice's token or session live")
		}
	})
}

// TestRevocations_Selectors: each selector type revokes what it names and nothing else,
// and answers 201 with a receipt: the matched counts, applied on this node, the
// back-channel logout messages it queued, and a Location the receipt can be read at.
func TestRevocations_Selectors(t *testing.T) {
	// fixture is what one row revokes and spares.
	type fixture struct {
		selector       map[string]string
		receiptValue   string // the selector value the receipt shows
		sessions       int64
		tokens         int64
		deliveries     int // back-channel logout messages queued (web's sessions)
		ended, spared  []string
		revoked, alive []string // token signatures
	}
	rows := []struct {
		name string
		make func(en *env) fixture
	}{
		{"token", func(en *env) fixture {
			u := en.user("tina")
			ls := en.session(u, device(10), "web")
			en.token("sig-tina-1", "web", u.ID, ls.ID)
			en.token("sig-tina-2", "web", u.ID, ls.ID)
			sum := sha256.Sum256([]byte("sig-tina-1"))
			return fixture{selector: sel("token", "sig-tina-1"), receiptValue: hex.EncodeToString(sum[:]), tokens: 1,
				spared: []string{ls.ID}, revoked: []string{"sig-tina-1"}, alive: []string{"sig-tina-2"}}
		}},
		{"unknown token", func(en *env) fixture {
			u := en.user("uma")
			ls := en.session(u, device(11), "web")
			en.token("sig-uma", "web", u.ID, ls.ID)
			sum := sha256.Sum256([]byte("no-such-token"))
			// RFC 7009: an unknown token is not an error; it matches nothing.
			return fixture{selector: sel("token", "no-such-token"), receiptValue: hex.EncodeToString(sum[:]),
				spared: []string{ls.ID}, alive: []string{"sig-uma"}}
		}},
		{"session", func(en *env) fixture {
			u := en.user("sam")
			a1 := en.session(u, device(12), "web", "spa")
			a2 := en.session(u, device(12), "web")
			en.token("sig-sam-1", "web", u.ID, a1.ID)
			en.token("sig-sam-2", "web", u.ID, a2.ID)
			return fixture{selector: sel("session", a1.ID), receiptValue: a1.ID, sessions: 1, tokens: 1, deliveries: 1,
				ended: []string{a1.ID}, spared: []string{a2.ID}, revoked: []string{"sig-sam-1"}, alive: []string{"sig-sam-2"}}
		}},
		{"user subject", func(en *env) fixture {
			u := en.user("bob")
			other := en.user("carol")
			b1 := en.session(u, device(13), "web")
			b2 := en.session(u, device(14), "spa")
			c1 := en.session(other, device(13), "web")
			en.token("sig-bob-1", "web", u.ID, b1.ID)
			en.token("sig-bob-2", "spa", u.ID, b2.ID)
			en.token("sig-carol", "web", other.ID, c1.ID)
			return fixture{selector: sel("subject", u.ID), receiptValue: u.ID, sessions: 2, tokens: 2, deliveries: 1,
				ended: []string{b1.ID, b2.ID}, spared: []string{c1.ID}, revoked: []string{"sig-bob-1", "sig-bob-2"}, alive: []string{"sig-carol"}}
		}},
		{"machine subject", func(en *env) fixture {
			m, err := en.dir.CreateMachine(context.Background(), identity.NewMachine{Name: "etl-bot", OwnerID: en.user("owen").ID})
			if err != nil {
				en.t.Fatal(err)
			}
			en.token("sig-etl", "m2m", m.ID, "")
			en.token("sig-m2m-self", "m2m", "m2m", "")
			return fixture{selector: sel("subject", m.ID), receiptValue: m.ID, tokens: 1,
				revoked: []string{"sig-etl"}, alive: []string{"sig-m2m-self"}}
		}},
		{"client", func(en *env) fixture {
			u := en.user("cleo")
			ls := en.session(u, device(15), "web")
			en.token("sig-batch-1", "batch", "batch", "")
			en.token("sig-batch-2", "batch", "batch", "")
			en.token("sig-m2m", "m2m", "m2m", "")
			en.token("sig-cleo", "web", u.ID, ls.ID)
			return fixture{selector: sel("client", "batch"), receiptValue: "batch", tokens: 2,
				spared: []string{ls.ID}, revoked: []string{"sig-batch-1", "sig-batch-2"}, alive: []string{"sig-m2m", "sig-cleo"}}
		}},
		{"device", func(en *env) fixture {
			dave, erin := en.user("dave"), en.user("erin")
			d1 := en.session(dave, device(16), "web")
			e1 := en.session(erin, device(16), "spa")
			d2 := en.session(dave, device(17), "web")
			en.token("sig-dave-1", "web", dave.ID, d1.ID)
			en.token("sig-erin", "spa", erin.ID, e1.ID)
			en.token("sig-dave-2", "web", dave.ID, d2.ID)
			return fixture{selector: sel("device", device(16)), receiptValue: device(16), sessions: 2, tokens: 2, deliveries: 1,
				ended: []string{d1.ID, e1.ID}, spared: []string{d2.ID}, revoked: []string{"sig-dave-1", "sig-erin"}, alive: []string{"sig-dave-2"}}
		}},
	}
	// One database per backend: each row makes users, sessions and tokens of its own.
	forEachBackend(t, func(t *testing.T, en *env) {
		for _, tc := range rows {
			t.Run(tc.name, func(t *testing.T) {
				parent := en.t
				en.t = t // the helpers fail the row, not the backend
				defer func() { en.t = parent }()
				recorded := en.revocations()
				f := tc.make(en)
				reason := "soar playbook " + tc.name
				r := en.post(tokSOAR, "", map[string]any{"selector": f.selector, "reason": reason})
				if r.code != http.StatusCreated {
					t.Fatalf("status %d: %s", r.code, r.body)
				}
				var rc receipt
				r.decode(t, &rc)
				if loc := r.header.Get("Location"); rc.ID == "" || loc != "/api/v1/revocations/"+rc.ID {
					t.Fatalf("Location %q for receipt %q", loc, rc.ID)
				}
				if cc := r.header.Get("Cache-Control"); cc != "no-store" {
					t.Fatalf("Cache-Control %q", cc)
				}
				if rc.Selector.Type != f.selector["type"] || rc.Selector.Value != f.receiptValue || rc.Reason != reason ||
					rc.Actor != "soar" || rc.Suspend || rc.IdempotencyKey != "" || rc.CreatedAt.IsZero() {
					t.Fatalf("receipt = %+v", rc)
				}
				if f.selector["type"] == "token" && strings.Contains(string(r.body), f.selector["value"]) {
					t.Fatalf("the receipt shows the token itself: %s", r.body)
				}
				if s, tk := rc.matched(t); s != f.sessions || tk != f.tokens {
					t.Fatalf("matched sessions %d tokens %d, want %d and %d", s, tk, f.sessions, f.tokens)
				}
				rc.landed(t)
				if len(rc.Deliveries) != f.deliveries {
					t.Fatalf("deliveries = %+v, want %d", rc.Deliveries, f.deliveries)
				}
				for _, d := range rc.Deliveries {
					if d.Kind != backchannel.Kind || d.Target != bclURI || d.Attempts != 0 || d.DeliveredAt != nil ||
						d.NextAttemptAt == nil || d.FailedAt != nil || d.LastError != "" {
						t.Fatalf("delivery = %+v", d)
					}
				}
				for _, id := range f.ended {
					if en.sessionActive(id) {
						t.Errorf("session %s is still active", id)
					}
				}
				for _, id := range f.spared {
					if !en.sessionActive(id) {
						t.Errorf("session %s ended, but the selector does not name it", id)
					}
				}
				for _, sig := range f.revoked {
					if en.tokenActive(sig) {
						t.Errorf("token %s is still active", sig)
					}
				}
				for _, sig := range f.alive {
					if !en.tokenActive(sig) {
						t.Errorf("token %s was revoked, but the selector does not name it", sig)
					}
				}
				if n := en.revocations(); n != recorded+1 {
					t.Fatalf("%d revocations recorded, want %d", n, recorded+1)
				}
				// The Location is the receipt.
				var again receipt
				g := en.get(tokSOAR, rc.ID)
				if g.code != 200 {
					t.Fatalf("GET %s: %d %s", rc.ID, g.code, g.body)
				}
				g.decode(t, &again)
				if s, tk := again.matched(t); again.ID != rc.ID || again.Selector != rc.Selector || s != f.sessions || tk != f.tokens ||
					len(again.Deliveries) != f.deliveries || !again.CreatedAt.Equal(rc.CreatedAt) {
					t.Fatalf("GET receipt = %+v, POST answered %+v", again, rc)
				}
			})
		}
	})
}

// TestRevocations_Suspend: "suspend": true on a user suspends the account in the
// directory and revokes everything it holds, recorded once; on anything but a user it
// is refused (TestRevocations_BadRequest), and a suspension the directory refuses (the
// last administrator) revokes nothing.
func TestRevocations_Suspend(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		// root is the only administrator (bootstrap needs an empty directory).
		boot, err := en.dir.EnsureBootstrapAdmin(ctx, "root", "root-password-123")
		if err != nil || !boot.Created {
			t.Fatalf("bootstrap: %+v %v", boot, err)
		}
		alice, bob := en.user("alice"), en.user("bob")
		a1 := en.session(alice, device(20), "web")
		a2 := en.session(alice, device(21), "spa")
		b1 := en.session(bob, device(20), "web")
		en.token("sig-alice-1", "web", alice.ID, a1.ID)
		en.token("sig-alice-2", "spa", alice.ID, a2.ID)
		en.token("sig-bob", "web", bob.ID, b1.ID)

		rc := en.revoke("incident-7", map[string]any{"selector": sel("subject", alice.ID), "reason": "impossible travel", "suspend": true})
		if !rc.Suspend || rc.Selector.Type != "subject" || rc.Selector.Value != alice.ID || rc.Reason != "impossible travel" ||
			rc.Actor != "soar" || rc.IdempotencyKey != "incident-7" {
			t.Fatalf("receipt = %+v", rc)
		}
		if s, tk := rc.matched(t); s != 2 || tk != 2 {
			t.Fatalf("matched sessions %d tokens %d, want 2 and 2", s, tk)
		}
		rc.landed(t)
		if len(rc.Deliveries) != 1 || rc.Deliveries[0].Target != bclURI {
			t.Fatalf("deliveries = %+v", rc.Deliveries)
		}
		if st := en.status(alice.ID); st != identity.StatusSuspended {
			t.Fatalf("alice is %s, want suspended", st)
		}
		if en.sessionActive(a1.ID) || en.sessionActive(a2.ID) || en.tokenActive("sig-alice-1") || en.tokenActive("sig-alice-2") {
			t.Fatal("alice kept a session or token")
		}
		if en.status(bob.ID) != identity.StatusActive || !en.sessionActive(b1.ID) || !en.tokenActive("sig-bob") {
			t.Fatal("suspending alice reached bob")
		}
		// One revocation, made by the suspension: not one for the status change and
		// another for the request.
		var n int
		if err := en.db.SQL().QueryRow(`SELECT COUNT(*) FROM revocations WHERE selector_value = $1`, alice.ID).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d revocations of alice (%v), want 1", n, err)
		}
		if rec, err := en.revs.Record(ctx, rc.ID); err != nil || !rec.Suspend || rec.Actor != "soar" {
			t.Fatalf("record %s = %+v, %v", rc.ID, rec, err)
		}

		// A retry answers the same receipt and changes nothing.
		before := en.snapshot()
		r := en.post(tokSOAR, "incident-7", map[string]any{"selector": sel("subject", alice.ID), "reason": "impossible travel", "suspend": true})
		var again receipt
		if r.code != http.StatusOK {
			t.Fatalf("retry: %d %s", r.code, r.body)
		}
		r.decode(t, &again)
		if again.ID != rc.ID || !again.Suspend {
			t.Fatalf("retry answered %+v, want %s", again, rc.ID)
		}
		en.unchanged("the retried suspension", before)

		// The only administrator cannot be suspended, and then nothing is revoked.
		r1 := en.session(boot.User, device(22), "web")
		en.token("sig-root", "web", boot.User.ID, r1.ID)
		before = en.snapshot()
		r = en.post(tokSOAR, "", map[string]any{"selector": sel("subject", boot.User.ID), "reason": "compromised", "suspend": true})
		problemOf(t, r, http.StatusConflict)
		en.unchanged("the refused suspension", before)
		if en.status(boot.User.ID) != identity.StatusActive || !en.sessionActive(r1.ID) || !en.tokenActive("sig-root") {
			t.Fatal("a refused suspension revoked or suspended the administrator")
		}
	})
}

// TestRevocations_IdempotencyKey: a retry with the same Idempotency-Key from the same
// client answers 200 with the first receipt and revokes nothing more, whatever its body;
// the same key from another client is that client's own request.
func TestRevocations_IdempotencyKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		bob := en.user("bob")
		b1 := en.session(bob, device(30), "web")
		en.token("sig-bob-1", "web", bob.ID, b1.ID)
		en.token("sig-m2m", "m2m", "m2m", "")
		body := map[string]any{"selector": sel("subject", bob.ID), "reason": "phishing"}
		first := en.revoke("incident-42", body)
		if first.IdempotencyKey != "incident-42" {
			t.Fatalf("receipt = %+v", first)
		}
		if s, tk := first.matched(t); s != 1 || tk != 1 {
			t.Fatalf("matched sessions %d tokens %d", s, tk)
		}
		// bob signs in again after the revocation.
		b2 := en.session(bob, device(31), "web")
		en.token("sig-bob-2", "web", bob.ID, b2.ID)

		before := en.snapshot()
		// The key reused for another request (issue 9, M5): 422, and nothing revoked, rather
		// than the first receipt, which would say the new target was revoked.
		for _, other := range []any{
			map[string]any{"selector": sel("client", "m2m"), "reason": "leaked"},
			map[string]any{"selector": sel("subject", bob.ID), "reason": "another reason"},
			map[string]any{"selector": sel("subject", bob.ID), "reason": "phishing", "suspend": true},
		} {
			r := en.post(tokSOAR, "incident-42", other)
			if r.code != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "Idempotency-Key") {
				t.Fatalf("key reused for %v: %d %s, want 422", other, r.code, r.body)
			}
		}
		for _, retry := range []struct {
			name string
			body any
		}{
			{"same body", body},
			{"same body again", body},
		} {
			r := en.post(tokSOAR, "incident-42", retry.body)
			if r.code != http.StatusOK {
				t.Fatalf("%s: %d %s", retry.name, r.code, r.body)
			}
			var rc receipt
			r.decode(t, &rc)
			if s, tk := rc.matched(t); rc.ID != first.ID || rc.Selector.Type != "subject" || rc.Reason != "phishing" || s != 1 || tk != 1 {
				t.Fatalf("%s: receipt %+v, want the first (%s)", retry.name, rc, first.ID)
			}
			rc.landed(t)
			if loc := r.header.Get("Location"); loc != "/api/v1/revocations/"+first.ID {
				t.Fatalf("%s: Location %q", retry.name, loc)
			}
		}
		en.unchanged("retries", before)
		if !en.sessionActive(b2.ID) || !en.tokenActive("sig-bob-2") || !en.tokenActive("sig-m2m") {
			t.Fatal("a retry revoked something")
		}

		// The same key from another client is a new request.
		r := en.post(tokSOAR2, "incident-42", body)
		if r.code != http.StatusCreated {
			t.Fatalf("another client's key: %d %s", r.code, r.body)
		}
		var theirs receipt
		r.decode(t, &theirs)
		if s, tk := theirs.matched(t); theirs.ID == first.ID || theirs.Actor != "soar-2" || theirs.IdempotencyKey != "incident-42" || s != 1 || tk != 1 {
			t.Fatalf("another client's receipt = %+v", theirs)
		}
		if en.sessionActive(b2.ID) || en.tokenActive("sig-bob-2") {
			t.Fatal("another client's request with the same key revoked nothing")
		}
		// Without a key every request is its own.
		a, b := en.revoke("", body), en.revoke("", body)
		if a.ID == b.ID || a.ID == first.ID || b.ID == theirs.ID {
			t.Fatalf("requests without a key shared a receipt: %s %s", a.ID, b.ID)
		}
		if n := en.revocations(); n != 4 {
			t.Fatalf("%d revocations recorded, want 4", n)
		}
	})
}

// TestRevocations_Get: a receipt is read by id; an unknown id is a 404 problem.
func TestRevocations_Get(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		u := en.user("gus")
		ls := en.session(u, device(40), "web", "spa")
		en.token("sig-gus", "web", u.ID, ls.ID)
		rc := en.revoke("inc-9", map[string]any{"selector": sel("session", ls.ID), "reason": "stolen cookie"})

		r := en.get(tokSOAR, rc.ID)
		if r.code != http.StatusOK {
			t.Fatalf("GET: %d %s", r.code, r.body)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("Cache-Control %q", cc)
		}
		var got receipt
		r.decode(t, &got)
		if s, tk := got.matched(t); got.ID != rc.ID || got.Selector.Type != "session" || got.Selector.Value != ls.ID ||
			got.Reason != "stolen cookie" || got.Actor != "soar" || got.IdempotencyKey != "inc-9" || got.Suspend ||
			s != 1 || tk != 1 || !got.CreatedAt.Equal(rc.CreatedAt) {
			t.Fatalf("receipt = %+v", got)
		}
		got.landed(t)
		if len(got.Deliveries) != 1 || got.Deliveries[0].Kind != backchannel.Kind || got.Deliveries[0].Target != bclURI {
			t.Fatalf("deliveries = %+v", got.Deliveries)
		}
		if !slices.EqualFunc(got.Nodes.Applied, rc.Nodes.Applied, func(a, b applied) bool {
			return a.Node == b.Node && a.Via == b.Via && a.AppliedAt.Equal(b.AppliedAt)
		}) {
			t.Fatalf("applied %+v, POST answered %+v", got.Nodes.Applied, rc.Nodes.Applied)
		}

		for _, id := range []string{"00000000-0000-4000-8000-000000000000", "no-such-revocation", strings.Repeat("x", 300)} {
			p := problemOf(t, en.get(tokSOAR, id), http.StatusNotFound)
			if p.Title != "Not found" {
				t.Fatalf("unknown id %q: %+v", id, p)
			}
		}
	})
}

// A person's token with weft:revoke is not enough: the person must be in weft-admins,
// as on the admin API; the receipt and the audit log then name the person and the
// client (issue 9, L2).
func TestRevocations_PeopleMustBeAdmins(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		target := en.user("target")
		plain, admin := en.user("analyst"), en.user("responder")
		g, err := en.dir.CreateGroup(ctx, identity.NewGroup{Name: identity.AdminGroup})
		if err != nil {
			g, err = en.dir.GroupByName(ctx, identity.AdminGroup)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := en.dir.AddMember(ctx, g.ID, admin.ID); err != nil {
			t.Fatal(err)
		}
		for tok, subject := range map[string]string{"tok-plain": plain.ID, "tok-admin": admin.ID} {
			en.bearer.Mint(tok, "soar", subject, "sid-"+subject, ScopeRevoke)
		}
		body := map[string]any{"selector": sel("subject", target.ID), "reason": "analyst action"}

		before := en.snapshot()
		if r := en.post("tok-plain", "", body); r.code != http.StatusForbidden || !strings.Contains(string(r.body), identity.AdminGroup) {
			t.Fatalf("a person outside weft-admins: %d %s", r.code, r.body)
		}
		en.unchanged("refused person", before)

		r := en.post("tok-admin", "", body)
		if r.code != http.StatusCreated {
			t.Fatalf("an administrator: %d %s", r.code, r.body)
		}
		var rc receipt
		r.decode(t, &rc)
		if rc.Actor != admin.ID+" via soar" {
			t.Fatalf("actor %q, want the person and the client", rc.Actor)
		}
	})
}

// downBus is a fan-out bus that cannot reach Redis.
type downBus struct{}

func (downBus) Publish(context.Context, revocation.Event) (revocation.Acks, error) {
	return revocation.Acks{}, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
}
func (downBus) Fresh() bool { return false }

// With the bus down, a revocation is still recorded and in force: the SOAR tool gets its
// id and a receipt that says the fan-out is degraded, not a 500 that makes it retry or
// alert (issue 9, item 18).
func TestRevocations_BusDownIsAnsweredHonestly(t *testing.T) {
	en := newEnvWithBus(t, sqltest.SQLite, downBus{})
	u := en.user("victim")
	ls := en.session(u, device(77), "web")
	en.token("sig-victim", "web", u.ID, ls.ID)
	r := en.post(tokSOAR, "bus-down-1", map[string]any{"selector": sel("subject", u.ID), "reason": "bus down"})
	if r.code != http.StatusCreated {
		t.Fatalf("with the bus down: %d %s", r.code, r.body)
	}
	var rc receipt
	r.decode(t, &rc)
	var raw map[string]any
	r.decode(t, &raw)
	if rc.ID == "" || raw["status"] != "degraded" || !strings.Contains(fmt.Sprint(raw["fanout"]), "durable log") {
		t.Fatalf("receipt %s", r.body)
	}
	if en.sessionActive(ls.ID) || en.tokenActive("sig-victim") {
		t.Fatal("the revocation did not take effect")
	}
	// The receipt is there to read back, and a retry with the key replays it.
	if g := en.get(tokSOAR, rc.ID); g.code != http.StatusOK {
		t.Fatalf("GET receipt: %d %s", g.code, g.body)
	}
	if again := en.post(tokSOAR, "bus-down-1", map[string]any{"selector": sel("subject", u.ID), "reason": "bus down"}); again.code != http.StatusOK {
		t.Fatalf("retry: %d %s", again.code, again.body)
	}
}
