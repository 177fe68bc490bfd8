package fositestore

import (
	"context"
	"fmt"
	"time"

	"github.com/ory/fosite"
)

// ClientAssertionJWTValid implements fosite.ClientManager: fosite.ErrJTIKnown if jti was
// seen and has not expired yet, nil otherwise.
func (s *Store) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	var n int64
	err := s.conn(ctx).Table(kJTI.table).Where("jti = ? AND expires_at > ?", jti, utc(s.now())).Count(&n).Error
	if err != nil {
		return translate(kJTI, err)
	}
	if n > 0 {
		return fmt.Errorf("%s: %w", kJTI.what, fosite.ErrJTIKnown.WithHint("The client assertion's jti was already used."))
	}
	return nil
}

// SetClientAssertionJWT implements fosite.ClientManager: it records jti until exp, in one
// statement, so that of two nodes seeing the same assertion only one succeeds; the other
// gets fosite.ErrJTIKnown. An expired record of the same jti is replaced.
func (s *Store) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	res := s.conn(ctx).Exec(`INSERT INTO `+kJTI.table+` (jti, expires_at) VALUES (?, ?)
		ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at
		WHERE `+kJTI.table+`.expires_at <= ?`, jti, utc(exp), utc(s.now()))
	if res.Error != nil {
		return translate(kJTI, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s: %w", kJTI.what, fosite.ErrJTIKnown.WithHint("The client assertion's jti was already used."))
	}
	return nil
}
