package revocation

import (
	"context"
)

// Signals learns, inside a revocation's transaction, what the revocation ends, so that
// what it queues (security event tokens for SSF receivers, access/ssf) commits or rolls
// back with the revocation itself.
type Signals interface {
	// SessionRevoked is called once for every login session rev ends; sub is the
	// session's user. An error aborts the revocation.
	SessionRevoked(ctx context.Context, rev Record, sid, sub string) error
}

type revocationKey struct{}

// ContextWith marks ctx as the transaction of revocation rev, so that
// changes made on its behalf elsewhere (a suspension through identity.Directory) can
// name it: SSF events then carry its id as txn and its reason.
func ContextWith(ctx context.Context, rev Record) context.Context {
	return context.WithValue(ctx, revocationKey{}, rev)
}

// FromContext returns the revocation whose transaction ctx is, if any.
func FromContext(ctx context.Context) (Record, bool) {
	rev, ok := ctx.Value(revocationKey{}).(Record)
	return rev, ok
}
