package access

import (
	"context"

	"github.com/weft-fabric/weft/identity"
)

// statusChange is the account side of a subject revocation: the status to set and,
// optionally, further directory changes to make in the same transaction.
type statusChange struct {
	status identity.Status
	also   func(ctx context.Context) error
	user   identity.User // the account after the change
}

func (sc *statusChange) apply(ctx context.Context, dir *identity.Directory, userID string) error {
	if sc.also != nil {
		if err := sc.also(ctx); err != nil {
			return err
		}
	}
	u, _, err := dir.SetStatus(ctx, userID, sc.status)
	sc.user = u
	return err
}

// ChangeUserStatus sets a user's status. Suspending or deprovisioning an active user
// revokes like Revoke(subject): every login session ended, every code and token
// deactivated, back-channel logout queued and a revocation recorded, in the same
// transaction as the status change, so a refused change (the last administrator, a
// deprovisioned account) revokes nothing and a revoked user is never left active.
// also, when set, runs first in that transaction (the admin API's profile edits).
// Reactivating restores nothing: ended sessions and revoked tokens stay so.
//
// It returns the user and, when something was revoked, the revocation.
func (r *Revocations) ChangeUserStatus(ctx context.Context, actor, userID string, status identity.Status, reason string, also func(ctx context.Context) error) (identity.User, *Revocation, error) {
	if _, err := identity.ParseStatus(string(status)); err != nil {
		return identity.User{}, nil, err
	}
	u, err := r.Directory.UserByID(ctx, userID)
	if err != nil {
		return identity.User{}, nil, err
	}
	if status == identity.StatusActive || u.Status == status || u.Status == identity.StatusDeprovisioned {
		// Nothing to revoke: reactivation, a repeat, or a deprovisioned account (which
		// SetStatus refuses to change). Suspended → deprovisioned does revoke again:
		// cheap, and it catches anything a suspension outside this path left live.
		var out identity.User
		err := r.Tx.InTx(ctx, func(ctx context.Context) error {
			sc := statusChange{status: status, also: also}
			err := sc.apply(ctx, r.Directory, userID)
			out = sc.user
			return err
		})
		return out, nil, err
	}
	sc := &statusChange{status: status, also: also}
	rec, _, err := r.revoke(ctx, actor, "", Selector{Type: SelectSubject, Value: userID}, reason, sc)
	if err != nil {
		return identity.User{}, nil, err
	}
	return sc.user, &rec, nil
}
