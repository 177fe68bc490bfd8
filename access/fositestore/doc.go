// Package fositestore is fosite's storage over Weft's SQL database (PostgreSQL or the
// embedded SQLite file): OAuth clients, authorization codes, access and refresh tokens,
// PKCE and OpenID Connect request state, and the replay guard for client assertions.
//
// Why it looks the way it does:
//
//   - Signatures only. fosite hands storage the HMAC signature of each code and token,
//     never the token, so a copy of the database cannot be replayed as credentials. The
//     one exception in fosite v0.49 is the OpenID Connect session, which it keys by the
//     raw authorization code; this package stores a SHA-256 of it instead.
//   - Atomic invalidation. fosite reads a code or refresh token, checks it, and only
//     then invalidates it. If invalidation were a read followed by a write, concurrent
//     redemptions of one code could all succeed. Here it is one conditional UPDATE
//     (... SET active = false WHERE signature = ? AND active) that must change exactly
//     one row; a caller that changes none lost the race and is told the code was already
//     used. PostgreSQL makes the second UPDATE wait for the first transaction and then
//     re-check the condition; SQLite serialises writers. Exactly one redemption wins.
//   - fosite's error contract, translated in one function (translate): a missing row is
//     fosite.ErrNotFound; an inactive code comes back with its request and
//     fosite.ErrInvalidatedAuthorizeCode, an inactive token with its request and
//     fosite.ErrInactiveToken (fosite needs the request to revoke the whole grant when a
//     code or refresh token is reused); PostgreSQL serialisation failures become
//     fosite.ErrSerializationFailure. Errors wrap with %w, so errors.Is works.
//   - Transactions travel in the context (identity/sqlstore.DB). fosite opens them itself
//     for code exchange and refresh through storage.Transactional; every method here
//     joins the transaction its context carries.
//   - Rows keep the login session id (sid) of the grant, taken from sessions that
//     implement SessionIDer, so that ending a login session can revoke its tokens.
//
// The form column holds only the request parameters fosite keeps after sanitising, but
// it is request data all the same: it is never logged.
package fositestore
