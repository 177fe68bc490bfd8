package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm/clause"

	"github.com/weft-fabric/weft/access"
	idsql "github.com/weft-fabric/weft/identity/sqlstore"
)

// Consents implements access.ConsentStore.
type Consents struct{ db *idsql.DB }

var _ access.ConsentStore = (*Consents)(nil)

// NewConsents returns the consent store over db.
func NewConsents(db *idsql.DB) *Consents { return &Consents{db: db} }

type consentRow struct {
	UserID    string `gorm:"primaryKey"`
	ClientID  string `gorm:"primaryKey"`
	Scopes    string
	GrantedAt time.Time
}

func (consentRow) TableName() string { return "oauth_consents" }

// Consent implements access.ConsentStore.
func (s *Consents) Consent(ctx context.Context, userID, clientID string) (access.Consent, error) {
	var r consentRow
	if err := s.db.Conn(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Take(&r).Error; err != nil {
		return access.Consent{}, idsql.TranslateError(err)
	}
	c := access.Consent{UserID: r.UserID, ClientID: r.ClientID, GrantedAt: r.GrantedAt.UTC()}
	return c, json.Unmarshal([]byte(r.Scopes), &c.Scopes)
}

// SaveConsent implements access.ConsentStore.
func (s *Consents) SaveConsent(ctx context.Context, c access.Consent) error {
	b, err := json.Marshal(nonNil(c.Scopes))
	if err != nil {
		return err
	}
	r := consentRow{UserID: c.UserID, ClientID: c.ClientID, Scopes: string(b), GrantedAt: c.GrantedAt.UTC()}
	err = s.db.Conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"scopes", "granted_at"}),
	}).Create(&r).Error
	return idsql.TranslateError(err)
}

// DeleteConsent implements access.ConsentStore.
func (s *Consents) DeleteConsent(ctx context.Context, userID, clientID string) error {
	return idsql.TranslateError(s.db.Conn(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Delete(&consentRow{}).Error)
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}
