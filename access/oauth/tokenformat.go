package oauth

import (
	"context"
	"strings"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/weft-fabric/weft/access"
)

// tokenFormats issues opaque HMAC access tokens by default and JWT access tokens
// (RFC 9068) to clients registered with access_token_format: jwt. Refresh tokens and
// codes are always opaque. Both kinds of access token are stored by signature, so
// introspection, revocation and reuse detection treat them alike; a JWT is told apart
// by its shape (three dot-separated parts; HMAC tokens have two).
type tokenFormats struct {
	opaque  oauth2.CoreStrategy
	jwt     *oauth2.DefaultJWTStrategy
	clients access.ClientLookup
}

var _ oauth2.CoreStrategy = (*tokenFormats)(nil)

func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

func (t *tokenFormats) AccessTokenSignature(ctx context.Context, token string) string {
	if isJWT(token) {
		return t.jwt.AccessTokenSignature(ctx, token)
	}
	return t.opaque.AccessTokenSignature(ctx, token)
}

func (t *tokenFormats) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	if cl, err := t.clients.Client(ctx, r.GetClient().GetID()); err == nil && cl.AccessTokenFormat == access.TokenFormatJWT {
		return t.jwt.GenerateAccessToken(ctx, r)
	}
	return t.opaque.GenerateAccessToken(ctx, r)
}

func (t *tokenFormats) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if isJWT(token) {
		return t.jwt.ValidateAccessToken(ctx, r, token)
	}
	return t.opaque.ValidateAccessToken(ctx, r, token)
}

func (t *tokenFormats) RefreshTokenSignature(ctx context.Context, token string) string {
	return t.opaque.RefreshTokenSignature(ctx, token)
}

func (t *tokenFormats) GenerateRefreshToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	return t.opaque.GenerateRefreshToken(ctx, r)
}

func (t *tokenFormats) ValidateRefreshToken(ctx context.Context, r fosite.Requester, token string) error {
	return t.opaque.ValidateRefreshToken(ctx, r, token)
}

func (t *tokenFormats) AuthorizeCodeSignature(ctx context.Context, token string) string {
	return t.opaque.AuthorizeCodeSignature(ctx, token)
}

func (t *tokenFormats) GenerateAuthorizeCode(ctx context.Context, r fosite.Requester) (string, string, error) {
	return t.opaque.GenerateAuthorizeCode(ctx, r)
}

func (t *tokenFormats) ValidateAuthorizeCode(ctx context.Context, r fosite.Requester, token string) error {
	return t.opaque.ValidateAuthorizeCode(ctx, r, token)
}
