package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm/clause"

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
	return r.session()
}

func (r sessionRow) session() (identity.LoginSession, error) {
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

// TouchSession implements identity.SessionStore. The condition on last_seen_at makes
// the throttle hold across nodes: of many concurrent touches within the interval, one
// writes and the rest match no row.
func (s *Sessions) TouchSession(ctx context.Context, id string, at time.Time, every time.Duration) error {
	at = at.UTC()
	return TranslateError(s.db.Conn(ctx).Model(&sessionRow{}).
		Where("id = ? AND revoked_at IS NULL AND last_seen_at <= ?", id, at.Add(-every)).
		Update("last_seen_at", at).Error)
}

type sessionClientRow struct {
	SessionID string `gorm:"primaryKey"`
	ClientID  string `gorm:"primaryKey"`
	CreatedAt time.Time
}

func (sessionClientRow) TableName() string { return "login_session_clients" }

// AddSessionClient implements identity.SessionStore.
func (s *Sessions) AddSessionClient(ctx context.Context, sid, clientID string, at time.Time) error {
	// ON CONFLICT rather than catching the unique violation: on PostgreSQL a failed
	// statement aborts the surrounding transaction.
	err := s.db.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&sessionClientRow{SessionID: sid, ClientID: clientID, CreatedAt: at.UTC()}).Error
	return TranslateError(err)
}

// SessionClients implements identity.SessionStore.
func (s *Sessions) SessionClients(ctx context.Context, sid string) ([]string, error) {
	ids := []string{}
	err := s.db.Conn(ctx).Model(&sessionClientRow{}).Where("session_id = ?", sid).Order("client_id").Pluck("client_id", &ids).Error
	return ids, TranslateError(err)
}

// ListSessions implements identity.SessionStore. Every filter is served by an index:
// user_id, device_id and ip on login_sessions, and (client_id, session_id) on
// login_session_clients for the client filter.
func (s *Sessions) ListSessions(ctx context.Context, f identity.SessionFilter, now time.Time, p identity.Page) ([]identity.LoginSession, string, error) {
	q := s.db.Conn(ctx).Model(&sessionRow{})
	if f.UserID != "" {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.DeviceID != "" {
		q = q.Where("device_id = ?", f.DeviceID)
	}
	if f.IP != "" {
		q = q.Where("ip = ?", f.IP)
	}
	if f.ClientID != "" {
		q = q.Where("id IN (?)", s.db.Conn(ctx).Model(&sessionClientRow{}).Select("session_id").Where("client_id = ?", f.ClientID))
	}
	switch f.State {
	case identity.SessionsAll:
	case identity.SessionsEnded:
		q = q.Where("(revoked_at IS NOT NULL OR expires_at <= ?)", now.UTC())
	default:
		q = q.Where("revoked_at IS NULL AND expires_at > ?", now.UTC())
	}
	rows, next, err := Paginate(q, "id", p, func(r sessionRow) string { return r.ID })
	if err != nil {
		return nil, "", err
	}
	out := make([]identity.LoginSession, 0, len(rows))
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ls, err := r.session()
		if err != nil {
			return nil, "", err
		}
		ls.Clients = []string{}
		out = append(out, ls)
		ids = append(ids, r.ID)
	}
	if len(ids) == 0 {
		return out, next, nil
	}
	// One query for the clients of the whole page, not one per session.
	var links []sessionClientRow
	if err := s.db.Conn(ctx).Where("session_id IN ?", ids).Order("session_id, client_id").Find(&links).Error; err != nil {
		return nil, "", TranslateError(err)
	}
	at := make(map[string]int, len(ids))
	for i, id := range ids {
		at[id] = i
	}
	for _, l := range links {
		i := at[l.SessionID]
		out[i].Clients = append(out[i].Clients, l.ClientID)
	}
	return out, next, nil
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
