// Package revocation is Revoke(selector, reason) across every relying control: a token,
// a login session, a subject (user or machine identity), a client or a device. A
// revocation is written durably first, everything it matches is deactivated in the
// same transaction (one target type per selector, targets.go), and only once that
// commits (identity.Transactor.AfterCommit) is it applied to this node's memory and
// published to the other nodes (Fanout over a Bus: Redis pub/sub, or in process on the
// embedded default), before the caller is answered. Nodes that do not acknowledge in
// time lose their freshness lease and catch up from the durable log.
//
// The Service also observes the directory: whatever path suspends or deprovisions a
// user (admin API, CLI, weft apply, SCIM later) revokes through StatusChanged, inside
// the status change's transaction, so no path can suspend without revoking.
//
// TokenCache keeps this node's token lookups in memory under rules that never trade a
// revocation for speed (see its doc). revocationapi/ is the HTTP API for SOAR tools.
package revocation
