package sqlstore_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
)

func TestSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		dir := sqlstore.NewDirectory(db)
		u := newUser("alice", "")
		if err := dir.CreateUser(ctx, u, "alice"); err != nil {
			t.Fatal(err)
		}
		svc := identity.NewSessions(sqlstore.NewSessions(db), time.Hour)
		ls, cookie, err := svc.Start(ctx, u, []string{"pwd"}, "urn:weft:acr:pwd", "127.0.0.1", "test-agent", "device-1")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(cookie, string(ls.SecretHash)) || !strings.HasPrefix(cookie, ls.ID+".") {
			t.Fatalf("cookie %q does not pair the sid with a secret", cookie)
		}
		got, err := svc.Resume(ctx, cookie)
		if err != nil || got.ID != ls.ID || got.UserID != u.ID || !reflect.DeepEqual(got.AMR, []string{"pwd"}) || !got.AuthTime.Equal(ls.AuthTime) {
			t.Fatalf("Resume = %+v, %v", got, err)
		}
		forged := []string{"", ls.ID, ls.ID + ".", ls.ID + ".wrong-secret", "nope." + strings.SplitN(cookie, ".", 2)[1], strings.Repeat("a", 300)}
		for _, c := range forged {
			if _, err := svc.Resume(ctx, c); !errors.Is(err, identity.ErrNoSession) {
				t.Fatalf("Resume(%q) = %v, want ErrNoSession", c, err)
			}
		}
		if got.DeviceID != "device-1" {
			t.Fatalf("device id = %q", got.DeviceID)
		}
		// A second session from the same device and one from another; revoking the
		// device ends exactly the two from it.
		other, _, err := svc.Start(ctx, u, nil, "", "", "", "device-2")
		if err != nil {
			t.Fatal(err)
		}
		same, _, err := svc.Start(ctx, u, nil, "", "", "", "device-1")
		if err != nil {
			t.Fatal(err)
		}
		ended, err := svc.EndAllFrom(ctx, "device-1")
		if err != nil || len(ended) != 2 {
			t.Fatalf("EndAllFrom = %d sessions, %v; want 2", len(ended), err)
		}
		if o, _ := svc.ByID(ctx, other.ID); !o.Active(time.Now()) {
			t.Fatal("a session from another device was ended")
		}
		if s2, _ := svc.ByID(ctx, same.ID); s2.Active(time.Now()) {
			t.Fatal("a session from the device is still active")
		}
		if none, err := svc.EndAllFrom(ctx, ""); err != nil || len(none) != 0 {
			t.Fatalf("the empty device id matched %d sessions (%v)", len(none), err)
		}
		if err := svc.End(ctx, ls.ID); err != nil {
			t.Fatal(err)
		}
		if err := svc.End(ctx, ls.ID); err != nil {
			t.Fatalf("second End = %v", err)
		}
		if _, err := svc.Resume(ctx, cookie); !errors.Is(err, identity.ErrNoSession) {
			t.Fatalf("Resume after End = %v", err)
		}
		expired := identity.NewSessions(sqlstore.NewSessions(db), -time.Second)
		_, c2, err := expired.Start(ctx, u, nil, "", "", "", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := expired.Resume(ctx, c2); !errors.Is(err, identity.ErrNoSession) {
			t.Fatalf("expired session resumed: %v", err)
		}
		if _, _, err := svc.Start(ctx, identity.User{ID: "ghost"}, nil, "", "", "", ""); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("session for unknown user = %v", err)
		}
	})
}
