// Package identity is the spine of Weft: the directory of users, groups and machine
// identities, and the rules that keep it consistent (normalised usernames, validated
// emails, account status transitions, password credentials).
//
// The package holds domain types, the storage interfaces it consumes (DirectoryStore),
// and the Directory service that applies the rules. Storage adapters live in
// subpackages (sqlstore); no gorm or Redis type appears here.
package identity
