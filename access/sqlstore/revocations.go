package sqlstore

import (
	"context"
	"time"

	"github.com/weft-fabric/weft/access"
	idsql "github.com/weft-fabric/weft/identity/sqlstore"
)

// Revocations implements access.RevocationStore.
type Revocations struct{ db *idsql.DB }

var _ access.RevocationStore = (*Revocations)(nil)

// NewRevocations returns the revocation store over db.
func NewRevocations(db *idsql.DB) *Revocations { return &Revocations{db: db} }

type revocationRow struct {
	ID             string `gorm:"primaryKey"`
	SelectorType   string
	SelectorValue  string
	Reason         string
	Suspend        bool
	Actor          string
	IdempotencyKey *string
	Sessions       int64
	Tokens         int64
	CreatedAt      time.Time
}

func (revocationRow) TableName() string { return "revocations" }

func (r revocationRow) revocation() access.Revocation {
	v := access.Revocation{ID: r.ID, Selector: access.Selector{Type: r.SelectorType, Value: r.SelectorValue}, Reason: r.Reason,
		Suspend: r.Suspend, Actor: r.Actor, Sessions: r.Sessions, Tokens: r.Tokens, CreatedAt: r.CreatedAt.UTC()}
	if r.IdempotencyKey != nil {
		v.IdempotencyKey = *r.IdempotencyKey
	}
	return v
}

// CreateRevocation implements access.RevocationStore.
func (s *Revocations) CreateRevocation(ctx context.Context, v access.Revocation) error {
	r := revocationRow{ID: v.ID, SelectorType: v.Selector.Type, SelectorValue: v.Selector.Value, Reason: v.Reason,
		Suspend: v.Suspend, Actor: v.Actor, Sessions: v.Sessions, Tokens: v.Tokens, CreatedAt: v.CreatedAt.UTC()}
	if v.IdempotencyKey != "" {
		k := v.IdempotencyKey
		r.IdempotencyKey = &k
	}
	return idsql.TranslateError(s.db.Conn(ctx).Create(&r).Error)
}

// RevocationByID implements access.RevocationStore.
func (s *Revocations) RevocationByID(ctx context.Context, id string) (access.Revocation, error) {
	var r revocationRow
	if err := s.db.Conn(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return access.Revocation{}, idsql.TranslateError(err)
	}
	return r.revocation(), nil
}

// RevocationByKey implements access.RevocationStore.
func (s *Revocations) RevocationByKey(ctx context.Context, actor, key string) (access.Revocation, error) {
	var r revocationRow
	if err := s.db.Conn(ctx).Where("actor = ? AND idempotency_key = ?", actor, key).Take(&r).Error; err != nil {
		return access.Revocation{}, idsql.TranslateError(err)
	}
	return r.revocation(), nil
}

// LatestRevocation returns the id of the most recently created revocation ("" when
// there is none): one read of the created_at index, cheap enough to poll.
func (s *Revocations) LatestRevocation(ctx context.Context) (string, error) {
	var ids []string
	err := s.db.Conn(ctx).Model(&revocationRow{}).Order("created_at DESC, id DESC").Limit(1).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return "", idsql.TranslateError(err)
	}
	return ids[0], nil
}
