package access

import (
	"context"
	"time"
)

// SessionToken is one authorization code, access token or refresh token of a login
// session as an administrator sees it. It deliberately has no value, signature or
// request id: the admin API shows what exists, never anything that could be replayed.
type SessionToken struct {
	Kind      string // TokenKindCode, TokenKindAccess or TokenKindRefresh
	ClientID  string
	Scopes    []string // granted scopes
	IssuedAt  time.Time
	ExpiresAt *time.Time // nil: never expires
	// Active is false once the token is revoked, rotated, redeemed (a code) or expired.
	Active bool
}

// Kinds of SessionToken.
const (
	TokenKindCode    = "code"
	TokenKindAccess  = "access"
	TokenKindRefresh = "refresh"
)

// SessionTokens lists what a login session issued (access/fositestore implements it).
type SessionTokens interface {
	// TokensOfSession returns the codes and tokens issued in session sid, oldest first;
	// an unknown sid has none.
	TokensOfSession(ctx context.Context, sid string) ([]SessionToken, error)
}
