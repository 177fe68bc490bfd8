package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/weft-fabric/weft/access/revocation"
	idsql "github.com/weft-fabric/weft/identity/sqlstore"
)

// Revocations implements revocation.Store.
type Revocations struct{ db *idsql.DB }

var (
	_ revocation.Store = (*Revocations)(nil)
	_ revocation.Log   = (*Revocations)(nil)
)

// NewRevocations returns the revocation store over db.
func NewRevocations(db *idsql.DB) *Revocations { return &Revocations{db: db} }

type revocationRow struct {
	ID             string `gorm:"primaryKey"`
	SelectorType   string
	SelectorValue  string
	Reason         string
	Suspend        bool
	Disable        bool
	Actor          string
	IdempotencyKey *string
	RequestHash    string
	Sessions       int64
	Tokens         int64
	Event          string
	Fanout         string
	CreatedAt      time.Time
}

func (revocationRow) TableName() string { return "revocations" }

func (r revocationRow) revocation() revocation.Record {
	v := revocation.Record{ID: r.ID, Selector: revocation.Selector{Type: r.SelectorType, Value: r.SelectorValue}, Reason: r.Reason,
		Suspend: r.Suspend, Disable: r.Disable, Actor: r.Actor, RequestHash: r.RequestHash, Sessions: r.Sessions, Tokens: r.Tokens, CreatedAt: r.CreatedAt.UTC()}
	if r.IdempotencyKey != nil {
		v.IdempotencyKey = *r.IdempotencyKey
	}
	_ = json.Unmarshal([]byte(r.Event), &v.Event) // written by us; an old row reads as empty
	if r.Fanout != "" {
		var a revocation.Acks
		if json.Unmarshal([]byte(r.Fanout), &a) == nil {
			v.Fanout = &a
		}
	}
	return v
}

// CreateRevocation implements revocation.Store.
func (s *Revocations) CreateRevocation(ctx context.Context, v revocation.Record) error {
	r := revocationRow{ID: v.ID, SelectorType: v.Selector.Type, SelectorValue: v.Selector.Value, Reason: v.Reason,
		Suspend: v.Suspend, Disable: v.Disable, Actor: v.Actor, RequestHash: v.RequestHash, Sessions: v.Sessions, Tokens: v.Tokens, CreatedAt: v.CreatedAt.UTC()}
	ev, err := json.Marshal(v.Event)
	if err != nil {
		return err
	}
	r.Event = string(ev)
	if v.IdempotencyKey != "" {
		k := v.IdempotencyKey
		r.IdempotencyKey = &k
	}
	return idsql.TranslateError(s.db.Conn(ctx).Create(&r).Error)
}

// RevocationByID implements revocation.Store.
func (s *Revocations) RevocationByID(ctx context.Context, id string) (revocation.Record, error) {
	var r revocationRow
	if err := s.db.Conn(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return revocation.Record{}, idsql.TranslateError(err)
	}
	return r.revocation(), nil
}

// RevocationByKey implements revocation.Store.
func (s *Revocations) RevocationByKey(ctx context.Context, actor, key string) (revocation.Record, error) {
	var r revocationRow
	if err := s.db.Conn(ctx).Where("actor = ? AND idempotency_key = ?", actor, key).Take(&r).Error; err != nil {
		return revocation.Record{}, idsql.TranslateError(err)
	}
	return r.revocation(), nil
}

type nodeRow struct {
	RevocationID string
	Node         string
	Via          string
	AppliedAt    time.Time
}

func (nodeRow) TableName() string { return "revocation_nodes" }

// EventsSince implements revocation.Log.
func (s *Revocations) EventsSince(ctx context.Context, t time.Time) ([]revocation.LoggedEvent, error) {
	var rows []revocationRow
	err := s.db.Conn(ctx).Select("id", "event", "created_at").Where("created_at >= ?", t.UTC()).
		Order("created_at, id").Limit(10000).Find(&rows).Error
	if err != nil {
		return nil, idsql.TranslateError(err)
	}
	out := make([]revocation.LoggedEvent, 0, len(rows))
	for _, r := range rows {
		var ev revocation.Event
		if err := json.Unmarshal([]byte(r.Event), &ev); err != nil {
			return nil, fmt.Errorf("revocation %s: stored event: %w", r.ID, err)
		}
		ev.ID, ev.Durable = r.ID, true
		out = append(out, revocation.LoggedEvent{Event: ev, CreatedAt: r.CreatedAt.UTC()})
	}
	return out, nil
}

// RecordApplied implements revocation.Log; the first application of a node wins.
func (s *Revocations) RecordApplied(ctx context.Context, id, node, via string, at time.Time) error {
	row := nodeRow{RevocationID: id, Node: node, Via: via, AppliedAt: at.UTC()}
	return idsql.TranslateError(s.db.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error)
}

// RecordFanout implements revocation.Log.
func (s *Revocations) RecordFanout(ctx context.Context, id string, acks revocation.Acks) error {
	b, err := json.Marshal(acks)
	if err != nil {
		return err
	}
	return idsql.TranslateError(s.db.Conn(ctx).Model(&revocationRow{}).Where("id = ?", id).Update("fanout", string(b)).Error)
}

// Applications implements revocation.Log.
func (s *Revocations) Applications(ctx context.Context, id string) ([]revocation.NodeApplication, error) {
	var rows []nodeRow
	if err := s.db.Conn(ctx).Where("revocation_id = ?", id).Order("applied_at, node").Find(&rows).Error; err != nil {
		return nil, idsql.TranslateError(err)
	}
	out := make([]revocation.NodeApplication, 0, len(rows))
	for _, r := range rows {
		out = append(out, revocation.NodeApplication{Node: r.Node, AppliedAt: r.AppliedAt.UTC(), Via: r.Via})
	}
	return out, nil
}
