package fositestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/ory/fosite"
)

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.create(ctx, kCode, signature, r, "")
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage: fosite.ErrNotFound if
// unknown; the request together with fosite.ErrInvalidatedAuthorizeCode once used.
func (s *Store) GetAuthorizeCodeSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, kCode, signature, session)
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. It succeeds for
// exactly one caller per code: the others, and any later call, get
// fosite.ErrInvalidatedAuthorizeCode. fosite calls it inside the token endpoint's
// transaction, so a failure later in the exchange rolls the invalidation back.
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error {
	return s.deactivate(ctx, kCode, signature, "")
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *Store) CreateAccessTokenSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.create(ctx, kAccess, signature, r, "")
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage: fosite.ErrNotFound if
// unknown; the request together with fosite.ErrInactiveToken once revoked.
func (s *Store) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, kAccess, signature, session)
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage; deleting an unknown
// token is not an error.
func (s *Store) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.remove(ctx, kAccess, signature)
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage. accessSignature is the
// access token issued with it, deactivated with it on rotation.
func (s *Store) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, r fosite.Requester) error {
	return s.create(ctx, kRefresh, signature, r, accessSignature)
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage: fosite.ErrNotFound if
// unknown; the request together with fosite.ErrInactiveToken once rotated or revoked
// (fosite then revokes the whole grant: refresh token reuse).
func (s *Store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, kRefresh, signature, session)
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage; deleting an unknown
// token is not an error.
func (s *Store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return s.remove(ctx, kRefresh, signature)
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: it deactivates the refresh
// token (which must be active and belong to requestID) and every active access token of
// the grant, its pair included. Of concurrent rotations of one token exactly one
// succeeds; the others get fosite.ErrInactiveToken, and fosite rolls their transaction
// back.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		if err := s.deactivate(ctx, kRefresh, signature, requestID); err != nil {
			return err
		}
		err := s.conn(ctx).Exec(`UPDATE `+kAccess.table+` SET active = ?
			WHERE active = ? AND (request_id = ? OR signature IN (
				SELECT access_signature FROM `+kRefresh.table+` WHERE signature = ?))`,
			false, true, requestID, signature).Error
		return translate(kAccess, err)
	})
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage; signature is the
// authorization code's.
func (s *Store) CreatePKCERequestSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.create(ctx, kPKCE, signature, r, "")
}

// GetPKCERequestSession implements pkce.PKCERequestStorage: fosite.ErrNotFound if unknown.
func (s *Store) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, kPKCE, signature, session)
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage by keeping the row until
// it expires with its code (DeleteExpired). fosite calls it before, and outside, the
// token endpoint's transaction: deleting here let a concurrent redemption of the same
// code fail with "no PKCE data" before it reached the transactional invalidation, so
// no loser saw the replay and the winner's tokens survived. Keeping the row is safe
// because the code itself is single-use (InvalidateAuthorizeCodeSession).
func (s *Store) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return nil
}

// oidcKey is the key of an OpenID Connect session. fosite v0.49 passes the raw
// authorization code here, not its signature; only a SHA-256 of it is stored.
func oidcKey(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// CreateOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *Store) CreateOpenIDConnectSession(ctx context.Context, authorizeCode string, r fosite.Requester) error {
	return s.create(ctx, kOIDC, oidcKey(authorizeCode), r, "")
}

// GetOpenIDConnectSession implements openid.OpenIDConnectRequestStorage:
// fosite.ErrNotFound (openid.ErrNoSessionFound) if unknown. The stored session is decoded
// into a clone of r's session, so r itself is left untouched.
func (s *Store) GetOpenIDConnectSession(ctx context.Context, authorizeCode string, r fosite.Requester) (fosite.Requester, error) {
	var session fosite.Session
	if r != nil && r.GetSession() != nil {
		session = r.GetSession().Clone()
	}
	return s.get(ctx, kOIDC, oidcKey(authorizeCode), session)
}

// DeleteOpenIDConnectSession implements openid.OpenIDConnectRequestStorage; idempotent.
func (s *Store) DeleteOpenIDConnectSession(ctx context.Context, authorizeCode string) error {
	return s.remove(ctx, kOIDC, oidcKey(authorizeCode))
}
