package revocation

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/weft-fabric/weft/identity"
)

// The revocation service observes the directory: a status change that takes an account
// out of service revokes everything the user holds, in the change's own transaction, so
// that no path (admin API, CLI, weft apply, SCIM) can suspend without revoking, and a
// refused change (the last administrator) revokes nothing.
var _ identity.AccountObserver = (*Service)(nil)

// SystemActor names status changes made without an identity.Change in their context.
const SystemActor = "system"

// keyKey carries the idempotency key and request hash of a "suspend" request to the
// observer that records its revocation.
type keyKey struct{}

type keyed struct{ key, hash string }

// attribution is who made the account change in ctx and why (its identity.Change), with
// SystemActor and defaultReason standing in for what the change does not say. The
// returned Change is the one the change's observers share (a fresh one without).
func attribution(ctx context.Context, defaultReason string) (ch *identity.Change, actor, reason string) {
	ch, ok := identity.ChangeFrom(ctx)
	if !ok {
		ch = &identity.Change{}
	}
	actor, reason = ch.Actor, ch.Reason
	if actor == "" {
		actor = SystemActor
	}
	if reason == "" {
		reason = defaultReason
	}
	return ch, actor, reason
}

// StatusChanged implements identity.AccountObserver. Suspending or deprovisioning ends
// every login session, deactivates every code and token, queues back-channel logout and
// session-revoked events, and records a revocation (actor and reason from the
// context's identity.Change), published to every node once the change commits.
// Reactivating restores nothing: ended sessions and revoked tokens stay so.
func (s *Service) StatusChanged(ctx context.Context, u identity.User, from identity.Status) error {
	if u.Status == identity.StatusActive {
		return nil
	}
	if rev, ok := FromContext(ctx); ok && rev.Selector.Type == SelectSubject && rev.Selector.Value == u.ID {
		return nil // already inside this subject's revocation
	}
	ch, actor, reason := attribution(ctx, fmt.Sprintf("user %s (was %s)", u.Status, from))
	k, _ := ctx.Value(keyKey{}).(keyed)
	rec := s.newRecord(actor, k.key, Selector{Type: SelectSubject, Value: u.ID}, reason, false)
	rec.Suspend, rec.RequestHash = true, k.hash
	if _, err := s.record(ctx, &subjectTarget{s: s, subject: u.ID}, &rec); err != nil {
		return err
	}
	ch.Txn = rec.ID
	return nil
}

// PasswordChanged implements identity.AccountObserver. A password set or reset (admin
// API, CLI, weft apply) is containment: whoever held the old credential loses what it
// got them, so every login session of the user ends and every code and token is
// revoked, in the change's transaction, with session-revoked events and back-channel
// logout like any revocation (the SSF transmitter adds credential-change). A user with
// nothing live gets no revocation record (a new account's first password).
func (s *Service) PasswordChanged(ctx context.Context, u identity.User) error {
	if u.Status != identity.StatusActive {
		return nil // suspension or deprovisioning ended everything already
	}
	ch, actor, reason := attribution(ctx, "password changed")
	rec := s.newRecord(actor, "", Selector{Type: SelectSubject, Value: u.ID}, reason, false)
	published, err := s.recordIf(ctx, &subjectTarget{s: s, subject: u.ID}, &rec, true)
	if err != nil || published == nil {
		return err
	}
	ch.Txn = rec.ID
	return nil
}

// StatusChanger changes a user's status (identity.Directory); the change itself
// revokes, through the observer above.
type StatusChanger interface {
	SetStatus(ctx context.Context, id string, st identity.Status) (identity.User, bool, error)
}

// ChangeStatus sets a user's status as actor, for reason, with also (the admin API's
// profile edits; may be nil) in the same transaction. It returns the user and, when the
// change revoked something, the revocation with its receipt.
func (s *Service) ChangeStatus(ctx context.Context, users StatusChanger, ch identity.Change, userID string, st identity.Status,
	also func(ctx context.Context) error) (identity.User, *Record, error) {
	if _, err := identity.ParseStatus(string(st)); err != nil {
		return identity.User{}, nil, err
	}
	var u identity.User
	err := s.d.Tx.InTx(identity.WithChange(ctx, &ch), func(ctx context.Context) error {
		if also != nil {
			if err := also(ctx); err != nil {
				return err
			}
		}
		var err error
		u, _, err = users.SetStatus(ctx, userID, st)
		return err
	})
	if err != nil || ch.Txn == "" {
		return u, nil, err
	}
	rec, err := s.d.Store.RevocationByID(ctx, ch.Txn)
	if err != nil {
		return u, nil, fmt.Errorf("user %s is %s; reading the revocation's receipt: %w", userID, st, err)
	}
	return u, &rec, nil
}

// Suspend suspends user userID and revokes everything the user holds (the revocation
// API's "suspend": true), with the idempotency rules of Revoke. A user who is already
// suspended is revoked again (cheap, and it catches anything left live); a user who is
// deprovisioned stays so and is revoked again.
func (s *Service) Suspend(ctx context.Context, users StatusChanger, actor, key, userID, reason string) (Record, bool, error) {
	sel := Selector{Type: SelectSubject, Value: strings.TrimSpace(userID)}
	reason = strings.TrimSpace(reason)
	if err := checkRequest(sel, reason, key); err != nil {
		return Record{}, false, err
	}
	hash := requestHash(sel, reason, true, false)
	if prev, ok, err := s.replay(ctx, actor, key, hash); ok || err != nil {
		return prev, ok, err
	}
	u, err := s.d.Subjects.UserByID(ctx, userID)
	if err != nil {
		return Record{}, false, invalid("suspend", "only a user account can be suspended")
	}
	if u.Status != identity.StatusActive {
		return s.revoke(ctx, actor, key, sel, reason, mode{suspend: true})
	}
	return s.revokeByStatusChange(ctx, actor, key, hash, sel, reason, mode{suspend: true}, func(ctx context.Context) (bool, error) {
		_, changed, err := users.SetStatus(ctx, userID, identity.StatusSuspended)
		return changed, err
	})
}

// revokeByStatusChange makes the status change set, as actor, in one transaction with
// the revocation the directory's observers record for it, and returns that record (the
// revocation API's "suspend" and "disable"). set reports whether the status changed.
func (s *Service) revokeByStatusChange(ctx context.Context, actor, key, hash string, sel Selector, reason string, m mode,
	set func(ctx context.Context) (bool, error)) (Record, bool, error) {
	ch := identity.Change{Actor: actor, Reason: reason, Initiator: identity.InitiatorPolicy}
	var changed bool
	err := s.d.Tx.InTx(context.WithValue(identity.WithChange(ctx, &ch), keyKey{}, keyed{key: key, hash: hash}), func(ctx context.Context) error {
		var err error
		changed, err = set(ctx)
		return err
	})
	switch {
	case errors.Is(err, identity.ErrConflict) && key != "":
		// A concurrent retry with the same key won (its revocation took the key); the
		// status change rolled back with ours. Answer with the winner's record.
		if prev, ok, perr := s.replay(ctx, actor, key, hash); ok || perr != nil {
			return prev, ok, perr
		}
		return Record{}, false, err
	case err != nil:
		return Record{}, false, err
	case !changed || ch.Txn == "":
		// Another request changed the status between our read and our change, so
		// nothing was revoked on our behalf: revoke again, as for a subject whose status
		// was changed already.
		return s.revoke(ctx, actor, key, sel, reason, m)
	}
	rec, err := s.d.Store.RevocationByID(ctx, ch.Txn)
	return rec, false, err
}
