package main

import (
	"github.com/redis/go-redis/v9"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/fositestore"
	"github.com/weft-fabric/weft/access/redisstore"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
)

// cliActor is the actor of revocations made by admin commands.
const cliActor = "weft-cli"

// cliRevocations wires the revocation service for an admin command: the same stores as
// the server, and the same fan-out. With Redis the command publishes on the bus and
// waits for the running nodes' acknowledgements like a server would; on the embedded
// default a running server replays the durable log within 100 ms (Fanout.Follow).
// close releases the Redis connection.
func cliRevocations(a *app) (revs *access.Revocations, close func()) {
	tokens := fositestore.New(a.db, accsql.NewClients(a.db), fositestore.Options{})
	log := accsql.NewRevocations(a.db)
	fanout := &access.Fanout{Node: "cli:" + a.cfg.nodeName(), Log: log, Logger: a.log}
	close = func() {}
	if a.cfg.RedisURL != "" {
		if opts, err := redis.ParseURL(a.cfg.RedisURL); err == nil { // validated with the config
			rdb := redis.NewClient(opts)
			fanout.Bus = redisstore.NewBus(rdb, a.cfg.RedisPrefix, fanout.Node, fanout, a.log, redisstore.BusOptions{})
			close = func() { _ = rdb.Close() }
		}
	}
	return &access.Revocations{Store: log, Grants: tokens,
		Sessions: identity.NewSessions(sqlstore.NewSessions(a.db), a.cfg.LoginSessionTTL), Directory: a.directory,
		Clients: a.clients, Tx: a.db, Fanout: fanout, Audit: a.audit, Outbox: accsql.NewOutbox(a.db), Participants: tokens}, close
}
