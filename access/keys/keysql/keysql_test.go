package keysql_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access/keys"
	"github.com/weft-fabric/weft/access/keys/keysql"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

func forEachBackend(t *testing.T, fn func(t *testing.T, s *keysql.Store)) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, keysql.New(sqltest.Open(t, b)))
		})
	}
}

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// rec builds a record; the store keeps key material verbatim, so random bytes do.
func rec(t *testing.T, kid string, alg keys.Alg, st keys.State, created time.Time) keys.Record {
	r := keys.Record{KID: kid, Alg: alg, State: st, PublicKey: random(t, 91), PrivateKey: random(t, 154),
		Nonce: random(t, 12), CreatedAt: created}
	if st != keys.StateNext {
		r.ActivatedAt = created
	}
	if st == keys.StateRetired {
		r.RetireAfter = created.Add(time.Hour)
	}
	return r
}

var t0 = time.Date(2026, 11, 22, 10, 30, 0, 123456000, time.UTC)

func TestStore_RoundTripAndRingConstraints(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *keysql.Store) {
		ctx := context.Background()
		cur := rec(t, "es-cur", keys.ES256, keys.StateCurrent, t0)
		next := rec(t, "es-next", keys.ES256, keys.StateNext, t0.Add(time.Second))
		rsCur := rec(t, "rs-cur", keys.RS256, keys.StateCurrent, t0.Add(2*time.Second))
		for _, r := range []keys.Record{cur, next, rsCur} {
			if err := s.Create(ctx, r); err != nil {
				t.Fatalf("create %s: %v", r.KID, err)
			}
		}
		got, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []keys.Record{cur, next, rsCur}
		if len(got) != len(want) {
			t.Fatalf("list: %d records, want %d", len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.KID != w.KID || g.Alg != w.Alg || g.State != w.State ||
				!bytes.Equal(g.PublicKey, w.PublicKey) || !bytes.Equal(g.PrivateKey, w.PrivateKey) || !bytes.Equal(g.Nonce, w.Nonce) ||
				!g.CreatedAt.Equal(w.CreatedAt) || !g.ActivatedAt.Equal(w.ActivatedAt) || !g.RetireAfter.Equal(w.RetireAfter) {
				t.Errorf("record %d round trip:\n got %+v\nwant %+v", i, g, w)
			}
		}

		conflicts := []keys.Record{
			rec(t, "es-cur", keys.RS256, keys.StateNext, t0),      // duplicate kid
			rec(t, "es-cur-2", keys.ES256, keys.StateCurrent, t0), // second current of ES256
			rec(t, "es-next-2", keys.ES256, keys.StateNext, t0),   // second next of ES256
		}
		for _, r := range conflicts {
			if err := s.Create(ctx, r); !errors.Is(err, identity.ErrConflict) {
				t.Errorf("create %s (%s %s): %v, want ErrConflict", r.KID, r.Alg, r.State, err)
			}
		}
		// The table's CHECKs hold whatever the caller sends.
		bad := rec(t, "bad", keys.RS256, keys.StateRetired, t0)
		bad.RetireAfter = time.Time{}
		if err := s.Create(ctx, bad); err == nil {
			t.Error("retired key without retire_after was stored")
		}
		bad = rec(t, "bad2", keys.RS256, keys.StateNext, t0)
		bad.Nonce = bad.Nonce[:8]
		if err := s.Create(ctx, bad); err == nil {
			t.Error("key with an 8-byte nonce was stored")
		}

		// Transitions are conditional on the state they leave.
		if err := s.Activate(ctx, "es-next", t0); !errors.Is(err, identity.ErrConflict) {
			t.Errorf("activate next while a current exists: %v, want ErrConflict", err)
		}
		if err := s.Activate(ctx, "es-cur", t0); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("activate a current key: %v, want ErrNotFound", err)
		}
		if err := s.Retire(ctx, "es-next", t0); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("retire a next key: %v, want ErrNotFound", err)
		}
		if err := s.Retire(ctx, "nope", t0); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("retire a missing key: %v, want ErrNotFound", err)
		}
		retireAfter := t0.Add(90 * time.Minute)
		if err := s.Retire(ctx, "es-cur", retireAfter); err != nil {
			t.Fatal(err)
		}
		activated := t0.Add(time.Minute)
		if err := s.Activate(ctx, "es-next", activated); err != nil {
			t.Fatal(err)
		}
		got, _ = s.List(ctx)
		states := map[string]keys.Record{}
		for _, r := range got {
			states[r.KID] = r
		}
		if r := states["es-cur"]; r.State != keys.StateRetired || !r.RetireAfter.Equal(retireAfter) {
			t.Errorf("after retire: %s retire_after %v", r.State, r.RetireAfter)
		}
		if r := states["es-next"]; r.State != keys.StateCurrent || !r.ActivatedAt.Equal(activated) {
			t.Errorf("after activate: %s activated_at %v", r.State, r.ActivatedAt)
		}
	})
}

// DeleteRetired compares timestamps in SQL; on SQLite they are text, so the boundary
// is checked with fractional seconds of different lengths.
func TestStore_DeleteRetired(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *keysql.Store) {
		ctx := context.Background()
		at := []time.Time{
			time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC),
			time.Date(2026, 11, 22, 12, 0, 0, 450000000, time.UTC),
			time.Date(2026, 11, 22, 12, 0, 0, 500000000, time.UTC),
			time.Date(2026, 11, 22, 12, 0, 1, 1000, time.UTC),
		}
		for i, ra := range at {
			r := rec(t, "k"+string(rune('a'+i)), keys.ES256, keys.StateRetired, t0)
			r.RetireAfter = ra
			if err := s.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range []keys.Record{rec(t, "cur", keys.ES256, keys.StateCurrent, t0), rec(t, "next", keys.ES256, keys.StateNext, t0)} {
			if err := s.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		steps := []struct {
			now  time.Time
			want int
		}{
			{at[0].Add(-time.Microsecond), 0},
			{at[0], 1},                        // not after now: deleted
			{at[1].Add(-time.Microsecond), 0}, // .449999 < .45
			{at[2], 2},                        // .45 and .5
			{at[3].Add(-time.Microsecond), 0},
			{at[3].Add(time.Hour), 1},
			{at[3].Add(100 * 24 * time.Hour), 0}, // current and next are never pruned
		}
		for _, st := range steps {
			n, err := s.DeleteRetired(ctx, st.now)
			if err != nil {
				t.Fatal(err)
			}
			if n != st.want {
				t.Errorf("DeleteRetired(%s) = %d, want %d", st.now.Format(time.RFC3339Nano), n, st.want)
			}
		}
		left, _ := s.List(ctx)
		if len(left) != 2 {
			t.Errorf("%d keys left, want current and next", len(left))
		}
	})
}
