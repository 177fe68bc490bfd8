package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/weft-fabric/weft/identity"
)

// Sessions implements identity.SessionStore.
type Sessions struct {
	db *DB
}

var _ identity.SessionStore = (*Sessions)(nil)

// NewSessions returns the login-session store over db.
func NewSessions(db *DB) *Sessions { return &Sessions{db: db} }

type sessionRow struct {
	ID         string `gorm:"primaryKey"`
	UserID     string
	SecretHash []byte
	AuthTime   time.Time
	AMR        string `gorm:"column:amr"`
	ACR        string `gorm:"column:acr"`
	IP         string `gorm:"column:ip"`
	UserAgent  string
	DeviceID   string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
}

func (sessionRow) TableName() string { return "login_sessions" }

// CreateSession implements identity.SessionStore.
func (s *Sessions) CreateSession(ctx context.Context, ls identity.LoginSession) error {
	amr, err := json.Marshal(nonNilStrings(ls.AMR))
	if err != nil {
		return err
	}
	r := sessionRow{ID: ls.ID, UserID: ls.UserID, SecretHash: ls.SecretHash, AuthTime: ls.AuthTime.UTC(), AMR: string(amr),
		ACR: ls.ACR, IP: ls.IP, UserAgent: ls.UserAgent, DeviceID: ls.DeviceID, CreatedAt: ls.CreatedAt.UTC(), LastSeenAt: ls.LastSeenAt.UTC(),
		ExpiresAt: ls.ExpiresAt.UTC()}
	return TranslateError(s.db.Conn(ctx).Create(&r).Error)
}

// SessionByID implements identity.SessionStore.
func (s *Sessions) SessionByID(ctx context.Context, id string) (identity.LoginSession, error) {
	var r sessionRow
	if err := s.db.Conn(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return identity.LoginSession{}, TranslateError(err)
	}
	ls := identity.LoginSession{ID: r.ID, UserID: r.UserID, SecretHash: r.SecretHash, AuthTime: r.AuthTime.UTC(), ACR: r.ACR,
		IP: r.IP, UserAgent: r.UserAgent, DeviceID: r.DeviceID, CreatedAt: r.CreatedAt.UTC(), LastSeenAt: r.LastSeenAt.UTC(), ExpiresAt: r.ExpiresAt.UTC()}
	if r.RevokedAt != nil {
		t := r.RevokedAt.UTC()
		ls.RevokedAt = &t
	}
	if err := json.Unmarshal([]byte(r.AMR), &ls.AMR); err != nil {
		return identity.LoginSession{}, err
	}
	return ls, nil
}

// TouchSession implements identity.SessionStore.
func (s *Sessions) TouchSession(ctx context.Context, id string, at time.Time) error {
	return affectOne(s.db.Conn(ctx).Model(&sessionRow{}).Where("id = ?", id).Update("last_seen_at", at.UTC()))
}

// RevokeSession implements identity.SessionStore.
func (s *Sessions) RevokeSession(ctx context.Context, id string, at time.Time) error {
	res := s.db.Conn(ctx).Model(&sessionRow{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", at.UTC())
	if res.Error != nil {
		return TranslateError(res.Error)
	}
	if res.RowsAffected == 0 {
		_, err := s.SessionByID(ctx, id) // already revoked is fine; absent is ErrNotFound
		return err
	}
	return nil
}

// RevokeUserSessions implements identity.SessionStore.
func (s *Sessions) RevokeUserSessions(ctx context.Context, userID string, at time.Time) ([]string, error) {
	var ids []string
	err := s.db.InTx(ctx, func(ctx context.Context) error {
		q := s.db.Conn(ctx).Model(&sessionRow{}).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, at.UTC())
		if err := q.Pluck("id", &ids).Error; err != nil {
			return TranslateError(err)
		}
		if len(ids) == 0 {
			return nil
		}
		return TranslateError(s.db.Conn(ctx).Model(&sessionRow{}).Where("id IN ?", ids).Update("revoked_at", at.UTC()).Error)
	})
	return ids, err
}

// RevokeDeviceSessions implements identity.SessionStore.
func (s *Sessions) RevokeDeviceSessions(ctx context.Context, deviceID string, at time.Time) ([]identity.LoginSession, error) {
	var out []identity.LoginSession
	err := s.db.InTx(ctx, func(ctx context.Context) error {
		var ids []string
		q := s.db.Conn(ctx).Model(&sessionRow{}).Where("device_id = ? AND device_id <> '' AND revoked_at IS NULL AND expires_at > ?", deviceID, at.UTC())
		if err := q.Pluck("id", &ids).Error; err != nil {
			return TranslateError(err)
		}
		for _, id := range ids {
			ls, err := s.SessionByID(ctx, id)
			if err != nil {
				return err
			}
			out = append(out, ls)
		}
		if len(ids) == 0 {
			return nil
		}
		return TranslateError(s.db.Conn(ctx).Model(&sessionRow{}).Where("id IN ?", ids).Update("revoked_at", at.UTC()).Error)
	})
	return out, err
}

func nonNilStrings(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}
