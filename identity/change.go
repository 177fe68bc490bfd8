package identity

import "context"

// Initiators of an account change, as CAEP's initiating_entity names them.
const (
	InitiatorAdmin  = "admin"  // an administrator: the admin API, the CLI, a fabric file
	InitiatorPolicy = "policy" // automated security tooling: the revocation (SOAR) API
	InitiatorUser   = "user"   // the user themselves
)

// Change says who makes an account change and why. The directory hands the same Change
// to every observer of one change, so that what one observer does on its behalf (the
// revocation a suspension causes) can be cited by the next (the security event that
// announces the suspension names the revocation as its txn).
type Change struct {
	Actor     string // who: a client id, "weft-cli", a user id
	Reason    string // why, for the audit log and security events; may be empty
	Initiator string // InitiatorAdmin when empty
	// Txn is the id of the revocation (or other transaction) the change caused, set by
	// the observer that caused it.
	Txn string
}

type changeKey struct{}

// WithChange attaches ch to ctx for the account changes made with it.
func WithChange(ctx context.Context, ch *Change) context.Context {
	return context.WithValue(ctx, changeKey{}, ch)
}

// ChangeFrom returns the Change attached to ctx, if any.
func ChangeFrom(ctx context.Context) (*Change, bool) {
	ch, ok := ctx.Value(changeKey{}).(*Change)
	return ch, ok && ch != nil
}

// changeOf returns ctx's Change, attaching an anonymous one when there is none, so that
// the observers of one change share it.
func changeOf(ctx context.Context) (context.Context, *Change) {
	if ch, ok := ChangeFrom(ctx); ok {
		return ctx, ch
	}
	ch := &Change{}
	return WithChange(ctx, ch), ch
}

// freshChange returns ctx with a Change its observers share, its Txn cleared: this
// change's own, not an earlier one's made with the same context (one weft apply).
func freshChange(ctx context.Context) context.Context {
	ctx, ch := changeOf(ctx)
	ch.Txn = ""
	return ctx
}
