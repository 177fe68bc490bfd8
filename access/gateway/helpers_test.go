package gateway_test

import (
	"context"

	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/identity"
)

type resumeFunc func(ctx context.Context, cookie string) (identity.LoginSession, error)

func (f resumeFunc) Resume(ctx context.Context, cookie string) (identity.LoginSession, error) {
	return f(ctx, cookie)
}

type profileFunc func(id string) (identity.User, []identity.Group, error)

func (f profileFunc) UserByID(_ context.Context, id string) (identity.User, error) {
	u, _, err := f(id)
	return u, err
}

func (f profileFunc) GroupsOf(_ context.Context, id string) ([]identity.Group, error) {
	_, gs, err := f(id)
	return gs, err
}

func revocationEvent(sid, subject string) revocation.Event {
	ev := revocation.Event{ID: "ev", Subject: subject}
	if sid != "" {
		ev.SIDs = []string{sid}
	}
	return ev
}
