package identity

import (
	"context"
	"errors"
	"fmt"
)

// ErrLastAdmin refuses a change that would leave AdminGroup without an active member:
// with none left, no person could sign in to administer Weft or undo the change. It
// unwraps to ErrConflict.
var ErrLastAdmin = fmt.Errorf("%s must keep at least one active member: make another user an active administrator first: %w", AdminGroup, ErrConflict)

// adminGroupKey is AdminGroup normalised, as group names are compared.
var adminGroupKey, _ = NormalizeName("name", AdminGroup)

// IsAdminGroup reports whether name is AdminGroup (after normalisation).
func IsAdminGroup(name string) bool {
	k, err := NormalizeName("name", name)
	return err == nil && k == adminGroupKey
}

// keepAnAdmin returns ErrLastAdmin when user losing is an active member of AdminGroup
// and no other active member remains. It must run inside the transaction that makes
// the change; the lock serialises concurrent changes on PostgreSQL, so two
// administrators suspending each other cannot both pass the check.
func (d *Directory) keepAnAdmin(ctx context.Context, losing string) error {
	if err := d.tx.Lock(ctx, "weft.admins"); err != nil {
		return err
	}
	g, err := d.store.GroupByName(ctx, adminGroupKey)
	if errors.Is(err, ErrNotFound) {
		return nil // no admin group, nothing to keep
	}
	if err != nil {
		return err
	}
	members, err := d.store.Members(ctx, g.ID)
	if err != nil {
		return err
	}
	last := false
	for _, m := range members {
		if m.Status != StatusActive {
			continue
		}
		if m.ID != losing {
			return nil // someone else remains
		}
		last = true
	}
	if last {
		return ErrLastAdmin
	}
	return nil
}
