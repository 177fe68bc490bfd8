package sqlstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
	"github.com/weft-fabric/weft/migrations"
)

func addClient(t *testing.T, db *sqlstore.DB, id string) {
	t.Helper()
	if _, err := db.SQL().Exec(`INSERT INTO oauth_clients (id, name, client_type, created_at, updated_at) VALUES ($1, $1, 'public', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`, id); err != nil {
		t.Fatal(err)
	}
}

func ids(ss []identity.LoginSession) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, s.ID)
	}
	slices.Sort(out)
	return out
}

func sorted(xs ...string) []string {
	out := append([]string{}, xs...)
	slices.Sort(out)
	return out
}

// TestSessions_ListByFilter: every filter of the admin search, alone and combined,
// over sessions of two users, two devices, two IPs and two clients, one of them ended.
func TestSessions_ListByFilter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		dir := sqlstore.NewDirectory(db)
		alice, bob := newUser("alice", ""), newUser("bob", "")
		for _, u := range []identity.User{alice, bob} {
			if err := dir.CreateUser(ctx, u, u.Username); err != nil {
				t.Fatal(err)
			}
		}
		addClient(t, db, "web")
		addClient(t, db, "spa")
		svc := identity.NewSessions(sqlstore.NewSessions(db), time.Hour)
		start := func(u identity.User, ip, device string, clients ...string) identity.LoginSession {
			ls, _, err := svc.Start(ctx, u, []string{"pwd"}, "", ip, "agent", device)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range clients {
				if err := svc.Used(ctx, ls, c); err != nil {
					t.Fatal(err)
				}
				if err := svc.Used(ctx, ls, c); err != nil { // idempotent
					t.Fatalf("second Used: %v", err)
				}
			}
			return ls
		}
		a1 := start(alice, "10.0.0.1", "dev-a", "web", "spa")
		a2 := start(alice, "10.0.0.2", "dev-a", "spa")
		b1 := start(bob, "10.0.0.1", "dev-b", "web")
		b2 := start(bob, "10.0.0.2", "dev-b") // never used with a client
		if err := svc.End(ctx, a2.ID); err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct {
			name string
			f    identity.SessionFilter
			want []string
		}{
			{"active by default", identity.SessionFilter{}, sorted(a1.ID, b1.ID, b2.ID)},
			{"all", identity.SessionFilter{State: identity.SessionsAll}, sorted(a1.ID, a2.ID, b1.ID, b2.ID)},
			{"ended", identity.SessionFilter{State: identity.SessionsEnded}, sorted(a2.ID)},
			{"user", identity.SessionFilter{UserID: alice.ID, State: identity.SessionsAll}, sorted(a1.ID, a2.ID)},
			{"client web", identity.SessionFilter{ClientID: "web"}, sorted(a1.ID, b1.ID)},
			{"client spa, all", identity.SessionFilter{ClientID: "spa", State: identity.SessionsAll}, sorted(a1.ID, a2.ID)},
			{"client spa, active", identity.SessionFilter{ClientID: "spa"}, sorted(a1.ID)},
			{"device", identity.SessionFilter{DeviceID: "dev-b"}, sorted(b1.ID, b2.ID)},
			{"ip", identity.SessionFilter{IP: "10.0.0.1"}, sorted(a1.ID, b1.ID)},
			{"ip and user", identity.SessionFilter{IP: "10.0.0.2", UserID: bob.ID}, sorted(b2.ID)},
			{"unknown client", identity.SessionFilter{ClientID: "nope"}, []string{}},
			{"unknown user", identity.SessionFilter{UserID: "nope"}, []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, next, err := svc.List(ctx, tc.f, identity.Page{Limit: 10})
				if err != nil || next != "" {
					t.Fatalf("List = %v, next %q", err, next)
				}
				if g := ids(got); !slices.Equal(g, tc.want) {
					t.Fatalf("got %v, want %v", g, tc.want)
				}
			})
		}
		// Clients come with every listed session, in id order.
		got, _, _ := svc.List(ctx, identity.SessionFilter{UserID: alice.ID}, identity.Page{Limit: 10})
		if len(got) != 1 || !slices.Equal(got[0].Clients, []string{"spa", "web"}) {
			t.Fatalf("clients of a1 = %+v", got)
		}
		if s, err := svc.Get(ctx, b2.ID); err != nil || len(s.Clients) != 0 || s.Clients == nil {
			t.Fatalf("Get(b2) = %+v, %v", s, err)
		}
		if _, err := svc.Get(ctx, "nope"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("Get(missing) = %v", err)
		}
		if _, _, err := svc.List(ctx, identity.SessionFilter{State: "maybe"}, identity.Page{}); !errors.Is(err, identity.ErrInvalid) {
			t.Fatalf("bad state = %v", err)
		}
		if err := svc.Used(ctx, a1, "no-such-client"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("Used with an unknown client = %v", err)
		}

		// Keyset pages of one walk every session once, in id order.
		var walked []string
		p := identity.Page{Limit: 1}
		for i := 0; i < 10; i++ {
			page, next, err := svc.List(ctx, identity.SessionFilter{State: identity.SessionsAll}, p)
			if err != nil || len(page) != 1 {
				t.Fatalf("page %d: %d sessions, %v", i, len(page), err)
			}
			walked = append(walked, page[0].ID)
			if next == "" {
				break
			}
			p.After = next
		}
		if !slices.Equal(walked, sorted(a1.ID, a2.ID, b1.ID, b2.ID)) {
			t.Fatalf("pages walked %v", walked)
		}
	})
}

// TestSessions_LastSeenThrottled: activity moves last_seen_at, but at most once per
// identity.LastSeenEvery, and never on an ended session.
func TestSessions_LastSeenThrottled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		dir := sqlstore.NewDirectory(db)
		u := newUser("alice", "")
		if err := dir.CreateUser(ctx, u, "alice"); err != nil {
			t.Fatal(err)
		}
		store := sqlstore.NewSessions(db)
		svc := identity.NewSessions(store, time.Hour)
		ls, _, err := svc.Start(ctx, u, nil, "", "", "", "")
		if err != nil {
			t.Fatal(err)
		}
		seen := func() time.Time {
			s, err := svc.ByID(ctx, ls.ID)
			if err != nil {
				t.Fatal(err)
			}
			return s.LastSeenAt
		}
		t0 := ls.LastSeenAt
		// Within the interval: no write.
		if err := store.TouchSession(ctx, ls.ID, t0.Add(30*time.Second), identity.LastSeenEvery); err != nil {
			t.Fatal(err)
		}
		if got := seen(); !got.Equal(t0) {
			t.Fatalf("touch within a minute wrote last_seen_at = %v (was %v)", got, t0)
		}
		// After it: written.
		t1 := t0.Add(2 * time.Minute)
		if err := store.TouchSession(ctx, ls.ID, t1, identity.LastSeenEvery); err != nil {
			t.Fatal(err)
		}
		if got := seen(); !got.Equal(t1) {
			t.Fatalf("last_seen_at = %v, want %v", got, t1)
		}
		// The service's Seen uses the real clock: a session last seen long ago moves.
		if err := store.TouchSession(ctx, ls.ID, t0.Add(-time.Hour), 0); err != nil {
			t.Fatal(err) // no-op: last_seen_at is newer
		}
		if err := svc.End(ctx, ls.ID); err != nil {
			t.Fatal(err)
		}
		if err := store.TouchSession(ctx, ls.ID, t1.Add(time.Hour), identity.LastSeenEvery); err != nil {
			t.Fatal(err)
		}
		if got := seen(); !got.Equal(t1) {
			t.Fatalf("an ended session's last_seen_at moved to %v", got)
		}
		if err := svc.Seen(ctx, "no-such-session"); err != nil {
			t.Fatalf("Seen(unknown) = %v", err)
		}
	})
}

// TestMigrations_SessionClientsBackfill: sessions that issued tokens before migration
// 00016 get their clients from the token tables.
func TestMigrations_SessionClientsBackfill(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			ctx := context.Background()
			db := sqltest.OpenEmpty(t, b)
			if err := migrations.UpTo(ctx, db.SQL(), db.Dialect(), 13); err != nil {
				t.Fatal(err)
			}
			u := newUser("alice", "")
			if err := sqlstore.NewDirectory(db).CreateUser(ctx, u, "alice"); err != nil {
				t.Fatal(err)
			}
			addClient(t, db, "web")
			addClient(t, db, "spa")
			now := time.Now().UTC()
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO login_sessions (id, user_id, secret_hash, auth_time, created_at, last_seen_at, expires_at) VALUES ('s1', $1, $2, $3, $3, $3, $4)`,
					[]any{u.ID, []byte{1}, now, now.Add(time.Hour)}},
				{`INSERT INTO oauth_access_tokens (signature, request_id, client_id, sid, requested_at, session_data) VALUES ('a1', 'r1', 'web', 's1', $1, '{}')`, []any{now}},
				{`INSERT INTO oauth_refresh_tokens (signature, request_id, client_id, sid, requested_at, session_data) VALUES ('f1', 'r1', 'web', 's1', $1, '{}')`, []any{now}},
				{`INSERT INTO oauth_authorization_codes (signature, request_id, client_id, sid, requested_at, session_data) VALUES ('c1', 'r2', 'spa', 's1', $1, '{}')`, []any{now}},
				// A machine token has no session and no row.
				{`INSERT INTO oauth_access_tokens (signature, request_id, client_id, requested_at, session_data) VALUES ('a2', 'r3', 'spa', $1, '{}')`, []any{now}},
			} {
				if _, err := db.SQL().ExecContext(ctx, q.sql, q.args...); err != nil {
					t.Fatalf("%s: %v", q.sql, err)
				}
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := sqlstore.NewSessions(db).SessionClients(ctx, "s1")
			if err != nil || !slices.Equal(got, []string{"spa", "web"}) {
				t.Fatalf("clients of s1 after migration = %v, %v", got, err)
			}
			var n int
			if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM login_session_clients`).Scan(&n); err != nil || n != 2 {
				t.Fatalf("%d rows (%v), want 2", n, err)
			}
		})
	}
}
