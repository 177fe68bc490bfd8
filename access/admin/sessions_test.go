package admin

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

// sessionFixture: two users' sessions over two clients, devices and IPs, each with an
// access token in the token store.
type sessionFixture struct {
	alice        identity.User
	a1, a2, p1   identity.LoginSession
	tokenOfA1Sig string
}

func (en *env) sessionFixture(t *testing.T) sessionFixture {
	t.Helper()
	ctx := context.Background()
	for _, id := range []string{"web", "spa"} {
		if _, _, err := en.clients.Apply(ctx, access.ClientSpec{ID: id, Name: id, Type: access.Public,
			RedirectURIs: []string{"http://127.0.0.1:9/cb"}, GrantTypes: []string{"authorization_code"}}); err != nil {
			t.Fatal(err)
		}
	}
	alice, err := en.dir.CreateUser(ctx, identity.NewUser{Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	start := func(u identity.User, ip, device string, clients ...string) identity.LoginSession {
		ls, _, err := en.sessions.Start(ctx, u, []string{"pwd"}, "", ip, "agent", device)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range clients {
			if err := en.sessions.Used(ctx, ls, c); err != nil {
				t.Fatal(err)
			}
		}
		return ls
	}
	f := sessionFixture{alice: alice,
		a1: start(alice, "10.0.0.1", "dev-a", "web", "spa"),
		a2: start(alice, "2001:db8::1", "dev-a", "spa"),
		p1: start(en.plain, "10.0.0.2", "dev-p", "web")}
	// One access token in a1, issued to web.
	c, err := en.grants.GetClient(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	r := fosite.NewRequest()
	r.ID, r.Client, r.RequestedAt = "req-a1", c, time.Now().UTC()
	r.GrantScope("openid")
	sess := access.NewSession(alice.ID, "", f.a1.ID)
	sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
	r.Session = sess
	f.tokenOfA1Sig = "sig-a1-secret-part"
	if err := en.grants.CreateAccessTokenSession(ctx, f.tokenOfA1Sig, r); err != nil {
		t.Fatal(err)
	}
	return f
}

type sessionList struct {
	Items []sessionView `json:"items"`
	Next  string        `json:"next"`
}

func sessionIDs(l sessionList) []string {
	out := []string{}
	for _, s := range l.Items {
		out = append(out, s.ID)
	}
	slices.Sort(out)
	return out
}

func TestSessions_Search(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		f := en.sessionFixture(t)
		ctx := context.Background()
		if err := en.sessions.End(ctx, f.a2.ID); err != nil {
			t.Fatal(err)
		}
		sorted := func(xs ...string) []string { slices.Sort(xs); return xs }
		for _, tc := range []struct {
			name, query string
			want        []string
		}{
			{"all active", "", sorted(f.a1.ID, f.p1.ID)},
			{"user by username", "user=Alice&active=all", sorted(f.a1.ID, f.a2.ID)},
			{"user by id", "user=" + f.alice.ID, sorted(f.a1.ID)},
			{"unknown user", "user=nobody", []string{}},
			{"client", "client=web", sorted(f.a1.ID, f.p1.ID)},
			{"client, ended only", "client=spa&active=false", sorted(f.a2.ID)},
			{"device", "device=dev-a&active=all", sorted(f.a1.ID, f.a2.ID)},
			{"ipv4", "ip=10.0.0.2", sorted(f.p1.ID)},
			{"ipv6 in another spelling", "ip=2001:0db8:0:0:0:0:0:1&active=all", sorted(f.a2.ID)},
			{"combined", "user=alice&client=web&device=dev-a&ip=10.0.0.1", sorted(f.a1.ID)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var l sessionList
				en.ok(200, en.do(http.MethodGet, "/api/v1/sessions?"+tc.query, tokRead, nil), &l)
				if got := sessionIDs(l); !slices.Equal(got, tc.want) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			})
		}
		// The view: clients listed, no secret material.
		r := en.do(http.MethodGet, "/api/v1/sessions?user=alice", tokRead, nil)
		var l sessionList
		en.ok(200, r, &l)
		if len(l.Items) != 1 || !slices.Equal(l.Items[0].Clients, []string{"spa", "web"}) || !l.Items[0].Active ||
			l.Items[0].IP != "10.0.0.1" || l.Items[0].DeviceID != "dev-a" || l.Items[0].UserID != f.alice.ID {
			t.Fatalf("view = %+v", l.Items)
		}
		if strings.Contains(strings.ToLower(string(r.body)), "secret") {
			t.Fatalf("a secret field in %s", r.body)
		}
		// Keyset pages.
		var p1, p2 sessionList
		en.ok(200, en.do(http.MethodGet, "/api/v1/sessions?active=all&limit=2", tokRead, nil), &p1)
		en.ok(200, en.do(http.MethodGet, "/api/v1/sessions?active=all&limit=2&after="+url.QueryEscape(p1.Next), tokRead, nil), &p2)
		if len(p1.Items) != 2 || p1.Next == "" || len(p2.Items) != 1 || p2.Next != "" || p2.Items[0].ID <= p1.Items[1].ID {
			t.Fatalf("pages: %+v / %+v", p1, p2)
		}
	})
}

func TestSessions_BadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		f := en.sessionFixture(t)
		for _, tc := range []struct{ query, field string }{
			{"ip=10.0.0", "ip"},
			{"ip=not-an-ip", "ip"},
			{"active=yes", "active"},
			{"limit=0", "limit"},
			{"after=!!!", "after"},
			{"device=" + strings.Repeat("d", 300), "device"},
		} {
			p := problemOf(t, en.do(http.MethodGet, "/api/v1/sessions?"+tc.query, tokRead, nil), 400)
			if p.Field != tc.field {
				t.Errorf("%s: field %q, want %q", tc.query, p.Field, tc.field)
			}
		}
		problemOf(t, en.do(http.MethodGet, "/api/v1/sessions/no-such-session", tokRead, nil), 404)
		problemOf(t, en.do(http.MethodDelete, "/api/v1/sessions/no-such-session?reason=x", tokAdmin, nil), 404)
		// A revocation without a reason, or with a bad body, changes nothing.
		for _, r := range []response{
			en.do(http.MethodDelete, "/api/v1/sessions/"+f.a1.ID, tokAdmin, nil),
			en.do(http.MethodDelete, "/api/v1/sessions/"+f.a1.ID+"?reason=+", tokAdmin, nil),
			en.do(http.MethodDelete, "/api/v1/sessions/"+f.a1.ID, tokAdmin, `{"reason":""}`),
			en.do(http.MethodDelete, "/api/v1/sessions/"+f.a1.ID, tokAdmin, `{"reason":"x","extra":1}`),
			en.do(http.MethodDelete, "/api/v1/sessions/"+f.a1.ID+"?reason=a", tokAdmin, `{"reason":"b"}`),
		} {
			problemOf(t, r, 400)
		}
		if s, _ := en.sessions.ByID(context.Background(), f.a1.ID); !s.Active(time.Now()) {
			t.Fatal("a refused revocation ended the session")
		}
		if _, err := en.grants.GetAccessTokenSession(context.Background(), f.tokenOfA1Sig, access.NewSession("", "", "")); err != nil {
			t.Fatalf("a refused revocation revoked the token: %v", err)
		}
	})
}

func TestSessions_Authorization(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		f := en.sessionFixture(t)
		for _, tc := range []struct {
			name, method, path, token string
			want                      int
		}{
			{"list without a token", http.MethodGet, "/api/v1/sessions", "", 401},
			{"show with a bad token", http.MethodGet, "/api/v1/sessions/" + f.a1.ID, "bogus", 401},
			{"list without the scope", http.MethodGet, "/api/v1/sessions", tokNoScope, 403},
			{"list as a non-admin person", http.MethodGet, "/api/v1/sessions", tokUserPlain, 403},
			{"revoke with the read scope", http.MethodDelete, "/api/v1/sessions/" + f.a1.ID + "?reason=x", tokRead, 403},
			{"revoke with a refresh token", http.MethodDelete, "/api/v1/sessions/" + f.a1.ID + "?reason=x", tokRefresh, 401},
		} {
			t.Run(tc.name, func(t *testing.T) {
				problemOf(t, en.do(tc.method, tc.path, tc.token, nil), tc.want)
			})
		}
		if s, _ := en.sessions.ByID(context.Background(), f.a1.ID); !s.Active(time.Now()) {
			t.Fatal("an unauthorised call ended the session")
		}
	})
}

func TestSessions_ShowAndRevoke(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		f := en.sessionFixture(t)
		ctx := context.Background()
		var d sessionDetail
		r := en.do(http.MethodGet, "/api/v1/sessions/"+f.a1.ID, tokRead, nil)
		en.ok(200, r, &d)
		if d.ID != f.a1.ID || len(d.Tokens) != 1 || d.Tokens[0].Kind != "access" || d.Tokens[0].ClientID != "web" ||
			!d.Tokens[0].Active || !slices.Equal(d.Tokens[0].Scopes, []string{"openid"}) || d.Tokens[0].ExpiresAt == nil {
			t.Fatalf("detail = %+v", d)
		}
		if strings.Contains(string(r.body), f.tokenOfA1Sig) || strings.Contains(string(r.body), "req-a1") {
			t.Fatalf("token signature or request id in %s", r.body)
		}

		var rec revocationView
		en.ok(200, en.do(http.MethodDelete, "/api/v1/sessions/"+f.a1.ID, tokAdmin, `{"reason":"lost laptop"}`), &rec)
		if rec.ID == "" || rec.Selector.Type != "session" || rec.Selector.Value != f.a1.ID || rec.Reason != "lost laptop" ||
			rec.Actor != "script" || rec.Matched.Sessions != 1 || rec.Matched.Tokens != 1 {
			t.Fatalf("revocation = %+v", rec)
		}
		if _, err := en.grants.GetAccessTokenSession(ctx, f.tokenOfA1Sig, access.NewSession("", "", "")); err == nil {
			t.Fatal("the session's token is still active")
		}
		en.ok(200, en.do(http.MethodGet, "/api/v1/sessions/"+f.a1.ID, tokRead, nil), &d)
		if d.Active || d.RevokedAt == nil || d.Tokens[0].Active {
			t.Fatalf("after revocation: %+v", d)
		}
		// The other sessions live on.
		if s, _ := en.sessions.ByID(ctx, f.p1.ID); !s.Active(time.Now()) {
			t.Fatal("another session ended")
		}
		// The reason may come in the query too.
		en.ok(200, en.do(http.MethodDelete, "/api/v1/sessions/"+f.p1.ID+"?reason=offboarding", tokAdmin, nil), &rec)
		if rec.Reason != "offboarding" || rec.Matched.Sessions != 1 {
			t.Fatalf("revocation = %+v", rec)
		}
	})
}

// TestUsers_SuspendRevokes: suspending or deprovisioning through PATCH ends every session
// and token of the user in the status change's transaction; reactivating restores
// nothing; the last administrator cannot be suspended and nothing changes then.
func TestUsers_SuspendRevokes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		f := en.sessionFixture(t)
		ctx := context.Background()
		tokenActive := func() bool {
			_, err := en.grants.GetAccessTokenSession(ctx, f.tokenOfA1Sig, access.NewSession("", "", ""))
			return err == nil
		}
		active := func(id string) bool { s, _ := en.sessions.ByID(ctx, id); return s.Active(time.Now()) }

		// A refused change (a bad email with the status) revokes nothing.
		problemOf(t, en.do(http.MethodPatch, "/api/v1/users/"+f.alice.ID, tokAdmin, `{"status":"suspended","email":"not-an-email"}`), 400)
		if !tokenActive() || !active(f.a1.ID) {
			t.Fatal("a refused suspension revoked something")
		}
		if u, _ := en.dir.UserByID(ctx, f.alice.ID); u.Status != identity.StatusActive {
			t.Fatal("a refused suspension changed the status")
		}

		var u userView
		en.ok(200, en.do(http.MethodPatch, "/api/v1/users/"+f.alice.ID, tokAdmin, `{"status":"suspended","display_name":"Alice S."}`), &u)
		if u.Status != "suspended" || u.DisplayName != "Alice S." {
			t.Fatalf("user = %+v", u)
		}
		if tokenActive() || active(f.a1.ID) {
			t.Fatal("suspension left a token or session live")
		}
		if !active(f.p1.ID) {
			t.Fatal("suspension reached another user's session")
		}
		var n int
		if err := en.db.SQL().QueryRow(`SELECT COUNT(*) FROM revocations WHERE selector_type = 'subject' AND selector_value = $1 AND actor = 'script' AND suspend`, f.alice.ID).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d revocation records (%v), want 1", n, err)
		}
		// Reactivation restores nothing.
		en.ok(200, en.do(http.MethodPatch, "/api/v1/users/"+f.alice.ID, tokAdmin, `{"status":"active"}`), &u)
		if u.Status != "active" || tokenActive() || active(f.a1.ID) {
			t.Fatal("reactivation resurrected a token or session")
		}
		// Deprovisioning plain revokes plain's session.
		en.ok(200, en.do(http.MethodPatch, "/api/v1/users/"+en.plain.ID, tokAdmin, `{"status":"deprovisioned"}`), &u)
		if u.Status != "deprovisioned" || active(f.p1.ID) {
			t.Fatalf("deprovisioned: %+v, session active %v", u, active(f.p1.ID))
		}
		problemOf(t, en.do(http.MethodPatch, "/api/v1/users/"+en.plain.ID, tokAdmin, `{"status":"active"}`), 400)

		// root is the only administrator.
		rootSession, _, err := en.sessions.Start(ctx, en.root, nil, "", "", "", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"suspended", "deprovisioned"} {
			p := problemOf(t, en.do(http.MethodPatch, "/api/v1/users/"+en.root.ID, tokAdmin, `{"status":"`+s+`"}`), 409)
			if !strings.Contains(p.Detail, identity.AdminGroup) {
				t.Fatalf("detail %q does not name %s", p.Detail, identity.AdminGroup)
			}
		}
		if !active(rootSession.ID) {
			t.Fatal("a refused suspension of the last admin ended their session")
		}
		admins, _ := en.dir.GroupByName(ctx, identity.AdminGroup)
		problemOf(t, en.do(http.MethodDelete, "/api/v1/groups/"+admins.ID+"/members/"+en.root.ID, tokAdmin, nil), 409)
		if ms, _ := en.dir.Members(ctx, admins.ID); len(ms) != 1 {
			t.Fatalf("members after a refused removal: %v", ms)
		}
	})
}
