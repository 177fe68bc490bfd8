package fositestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/weft-fabric/weft/access"
)

// RevokeAccessToken implements oauth2.TokenRevocationStorage: it deactivates every access
// token of the grant requestID. Reads then return the request and
// fosite.ErrInactiveToken, which introspection reports as inactive. An unknown request
// ID is not an error.
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	_, err := s.revokeWhere(ctx, "request_id", requestID, kAccess)
	return err
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage: it deactivates every
// refresh token of the grant requestID. An unknown request ID is not an error.
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	_, err := s.revokeWhere(ctx, "request_id", requestID, kRefresh)
	return err
}

// RevokeBySessionID deactivates every authorization code, access token and refresh token
// issued in the login session sid, and returns how many it deactivated. A code
// redeemed afterwards counts as reused, so fosite also revokes what it would have
// issued.
func (s *Store) RevokeBySessionID(ctx context.Context, sid string) (int64, error) {
	if sid == "" {
		return 0, errors.New("revoke by session: empty session id")
	}
	return s.revokeWhere(ctx, "sid", sid, kCode, kAccess, kRefresh)
}

// RevokeByClient deactivates every code and token issued to clientID and returns how
// many it deactivated.
func (s *Store) RevokeByClient(ctx context.Context, clientID string) (int64, error) {
	if clientID == "" {
		return 0, errors.New("revoke by client: empty client id")
	}
	return s.revokeWhere(ctx, "client_id", clientID, kCode, kAccess, kRefresh)
}

// RevokeBySubject deactivates every code and token issued for subject (a user id, or a
// client id for client_credentials tokens) and returns how many it deactivated.
func (s *Store) RevokeBySubject(ctx context.Context, subject string) (int64, error) {
	if subject == "" {
		return 0, errors.New("revoke by subject: empty subject")
	}
	return s.revokeWhere(ctx, "subject", subject, kCode, kAccess, kRefresh)
}

// revokeWhere deactivates the active rows of kinds whose column equals value, in one
// transaction (joining the caller's), and counts them. column is one of ours, never input.
// ClientsOfSession lists the clients that were issued a code or token in login session
// sid: the relying parties to notify when it ends.
func (s *Store) ClientsOfSession(ctx context.Context, sid string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, k := range []kind{kCode, kAccess, kRefresh} {
		var ids []string
		if err := s.conn(ctx).Table(k.table).Where("sid = ?", sid).Distinct().Pluck("client_id", &ids).Error; err != nil {
			return nil, translate(k, err)
		}
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out, nil
}

func (s *Store) revokeWhere(ctx context.Context, column, value string, kinds ...kind) (int64, error) {
	var n int64
	err := s.db.InTx(ctx, func(ctx context.Context) error {
		for _, k := range kinds {
			res := s.conn(ctx).Table(k.table).Where(column+" = ? AND active = ?", value, true).Update("active", false)
			if res.Error != nil {
				return translate(k, res.Error)
			}
			n += res.RowsAffected
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// maxSessionTokens bounds the tokens listed per kind for one session: a month of
// refresh rotations is a few thousand rows, more than a person reads.
const maxSessionTokens = 1000

// TokensOfSession implements access.SessionTokens. Only columns that describe a token
// are read: never the signature, the form or the session data.
func (s *Store) TokensOfSession(ctx context.Context, sid string) ([]access.SessionToken, error) {
	now := s.now().UTC()
	out := []access.SessionToken{}
	for _, k := range []struct {
		kind
		name string
	}{{kCode, access.TokenKindCode}, {kAccess, access.TokenKindAccess}, {kRefresh, access.TokenKindRefresh}} {
		var rows []requestRow
		err := s.conn(ctx).Table(k.table).Select("client_id", "requested_at", "expires_at", "active", "granted_scopes").
			Where("sid = ?", sid).Order("requested_at DESC").Limit(maxSessionTokens).Find(&rows).Error
		if err != nil {
			return nil, translate(k.kind, err)
		}
		for _, r := range rows {
			t := access.SessionToken{Kind: k.name, ClientID: r.ClientID, IssuedAt: r.RequestedAt.UTC(), Scopes: []string{},
				Active: r.Active && (r.ExpiresAt == nil || r.ExpiresAt.After(now))}
			if r.ExpiresAt != nil {
				e := r.ExpiresAt.UTC()
				t.ExpiresAt = &e
			}
			if err := json.Unmarshal([]byte(r.GrantedScopes), &t.Scopes); err != nil {
				return nil, fmt.Errorf("%s: corrupt scope column: %w", k.what, err)
			}
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b access.SessionToken) int { return a.IssuedAt.Compare(b.IssuedAt) })
	return out, nil
}

var _ access.SessionTokens = (*Store)(nil)
