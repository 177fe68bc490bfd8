// Package identity is the spine of Weft: the directory of users, groups and machine
// identities, and the rules that keep it consistent (normalised usernames, validated
// emails, account status transitions, password credentials); login sessions and device
// ids; the keyed, hash-chained audit log and its checkpoints.
//
// The package holds domain types, the storage interfaces it consumes (DirectoryStore,
// SessionStore, AuditStore), and the services that apply the rules (Directory,
// Sessions, AuditLog). Account changes are told to AccountObservers inside their
// transaction, with the identity.Change (who, why) the caller put in the context: that
// is how a suspension revokes (access/revocation) and becomes a security event
// (access/ssf) whichever path makes it. Storage adapters live in subpackages
// (sqlstore); no gorm or Redis type appears here.
//
// It is also the shared kernel of the other domains: its sentinel errors (ErrNotFound,
// ErrConflict, ErrInvalid, ...) and ValidationError are what every store and service
// returns, so one table maps them to HTTP statuses; its Transactor (with AfterCommit)
// is the transaction every store joins.
package identity
