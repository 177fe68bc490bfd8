package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/fositestore"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
)

// cliActor is the actor of revocations made by admin commands.
const cliActor = "weft-cli"

// cliRevocations wires the revocation service for an admin command: the same stores as
// the server, without a token cache to invalidate (a running server notices the new
// revocation through watchRevocations).
func cliRevocations(a *app) *access.Revocations {
	tokens := fositestore.New(a.db, accsql.NewClients(a.db), fositestore.Options{})
	return &access.Revocations{Store: accsql.NewRevocations(a.db), Grants: tokens,
		Sessions: identity.NewSessions(sqlstore.NewSessions(a.db), a.cfg.LoginSessionTTL), Directory: a.directory,
		Clients: a.clients, Tx: a.db, Audit: a.audit, Outbox: accsql.NewOutbox(a.db), Participants: tokens}
}

// watchRevocations polls for revocations that another process wrote (weft user
// suspend beside a running server on the same SQLite file, where no shared generation
// exists) and invalidates this node's token cache when one appears. It reads one index
// entry a second, off the request path; revocations made through this server have
// already invalidated the cache before they were answered.
func watchRevocations(ctx context.Context, store *accsql.Revocations, invalidate func(context.Context) error, log *slog.Logger) {
	last, err := store.LatestRevocation(ctx)
	if err != nil {
		log.Warn("reading the latest revocation failed", "error", err.Error())
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			id, err := store.LatestRevocation(ctx)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("reading the latest revocation failed", "error", err.Error())
				}
				continue
			}
			if id == last {
				continue
			}
			if err := invalidate(ctx); err != nil {
				log.Warn("invalidating the token cache after a revocation failed", "error", err.Error())
				continue // try again on the next tick
			}
			last = id
		}
	}
}
