package main

import (
	"net/http"
	"time"

	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/access/ssf"
	"github.com/weft-fabric/weft/identity/sqlstore"
)

// newTransmitter builds the SSF transmitter's event side: it queues security event
// tokens in the outbox. newApp installs it as the directory's observer, so account
// changes from the CLI, the admin API and `weft apply` reach receivers too.
func newTransmitter(cfg Config, db *sqlstore.DB) *ssf.Transmitter {
	return &ssf.Transmitter{Issuer: cfg.Issuer, Streams: accsql.NewStreams(db), Queue: accsql.NewOutbox(db), Tx: db,
		LongPoll: 10 * time.Second}
}

// newSSF completes the wired provider with the SSF transmitter: revocations queue
// session-revoked events, the outbox pushes SETs (RFC 8935), and the returned handler
// serves discovery, stream management and polling (RFC 8936).
func newSSF(cfg Config, a *app, o *oauth) *ssf.Handler {
	t := newTransmitter(cfg, a.db)
	t.Sign = jwtSigner(o.keys)
	// Receivers get 10 s and no redirects, like back-channel logout endpoints: a
	// redirect would send the SET (and the receiver's authorization header) elsewhere.
	t.Client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	o.revoke.Revocations.Signals = t
	o.outbox.Deliver[ssf.KindPush] = t.DeliverPush
	return &ssf.Handler{Transmitter: t, Tokens: o.revoke.Tokens}
}
