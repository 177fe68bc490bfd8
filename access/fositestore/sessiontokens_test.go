package fositestore_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/fositestore"
	"github.com/weft-fabric/weft/access/fositestore/storetest"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// TestStore_TokensOfSession: what a session issued, with kind, client, scopes and state,
// and nothing that could be replayed.
func TestStore_TokensOfSession(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		db, clients := openDB(t, b)
		s := fositestore.New(db, clients, fositestore.Options{})
		c, err := s.GetClient(ctx, storetest.WebID)
		if err != nil {
			t.Fatal(err)
		}
		base := time.Now().UTC().Truncate(time.Second)
		req := func(id, sid string, at time.Time) *fosite.Request {
			r := fosite.NewRequest()
			r.ID, r.Client, r.RequestedAt = id, c, at
			r.GrantScope("openid")
			r.GrantScope("profile")
			sess := access.NewSession("user-1", "", sid)
			sess.SetExpiresAt(fosite.AuthorizeCode, at.Add(time.Minute))
			sess.SetExpiresAt(fosite.AccessToken, at.Add(time.Hour))
			sess.SetExpiresAt(fosite.RefreshToken, at.Add(24*time.Hour))
			r.Session = sess
			return r
		}
		ok(t, s.CreateAuthorizeCodeSession(ctx, "code-sig", req("r1", "sid-1", base)))
		ok(t, s.CreateAccessTokenSession(ctx, "access-sig", req("r1", "sid-1", base.Add(time.Second))))
		ok(t, s.CreateRefreshTokenSession(ctx, "refresh-sig", "access-sig", req("r1", "sid-1", base.Add(2*time.Second))))
		ok(t, s.CreateAccessTokenSession(ctx, "other-sig", req("r2", "sid-2", base)))
		ok(t, s.InvalidateAuthorizeCodeSession(ctx, "code-sig"))

		got, err := s.TokensOfSession(ctx, "sid-1")
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			kind   string
			active bool
			exp    time.Duration
		}{{access.TokenKindCode, false, time.Minute}, {access.TokenKindAccess, true, time.Hour + time.Second}, {access.TokenKindRefresh, true, 24*time.Hour + 2*time.Second}}
		if len(got) != len(want) {
			t.Fatalf("got %d tokens, want %d: %+v", len(got), len(want), got)
		}
		for i, w := range want {
			g := got[i]
			if g.Kind != w.kind || g.Active != w.active || g.ClientID != storetest.WebID || strings.Join(g.Scopes, " ") != "openid profile" ||
				g.ExpiresAt == nil || !g.ExpiresAt.Equal(base.Add(w.exp)) {
				t.Fatalf("token %d = %+v, want %+v", i, g, w)
			}
		}
		raw, _ := json.Marshal(got)
		if strings.Contains(string(raw), "-sig") {
			t.Fatalf("a signature leaked: %s", raw)
		}
		if none, err := s.TokensOfSession(ctx, "no-such-sid"); err != nil || len(none) != 0 {
			t.Fatalf("unknown sid: %v, %v", none, err)
		}
	})
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
