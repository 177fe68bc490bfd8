package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/weft-fabric/weft/identity"
)

// Audit implements identity.AuditStore.
type Audit struct{ db *DB }

var _ identity.AuditStore = (*Audit)(nil)

// NewAudit returns the audit store over db.
func NewAudit(db *DB) *Audit { return &Audit{db: db} }

type auditRow struct {
	Seq      int64 `gorm:"primaryKey;autoIncrement:false"`
	At       time.Time
	Kind     string
	Actor    string
	Subject  string
	Detail   string
	PrevHash string
	Hash     string
}

func (auditRow) TableName() string { return "audit_log" }

// entry maps r; the detail is kept verbatim in RawDetail (the link covers those
// bytes) and parsed leniently into Detail for display: a detail that does not parse
// is Verify's to report, not hidden here.
func (r auditRow) entry() identity.AuditEntry {
	e := identity.AuditEntry{Seq: r.Seq, At: r.At.UTC(), Kind: r.Kind, Actor: r.Actor, Subject: r.Subject,
		RawDetail: r.Detail, PrevHash: r.PrevHash, Hash: r.Hash}
	if err := json.Unmarshal([]byte(r.Detail), &e.Detail); err != nil {
		e.Detail = map[string]any{"unreadable": r.Detail}
	}
	return e
}

// LastAudit implements identity.AuditStore.
func (s *Audit) LastAudit(ctx context.Context) (identity.AuditEntry, error) {
	var r auditRow
	if err := s.db.Conn(ctx).Order("seq DESC").Limit(1).Take(&r).Error; err != nil {
		return identity.AuditEntry{}, TranslateError(err)
	}
	return r.entry(), nil
}

// AppendAudit implements identity.AuditStore.
func (s *Audit) AppendAudit(ctx context.Context, e identity.AuditEntry) error {
	r := auditRow{Seq: e.Seq, At: e.At.UTC(), Kind: e.Kind, Actor: e.Actor, Subject: e.Subject, Detail: e.RawDetail, PrevHash: e.PrevHash, Hash: e.Hash}
	return TranslateError(s.db.Conn(ctx).Create(&r).Error)
}

// AuditAfter implements identity.AuditStore.
func (s *Audit) AuditAfter(ctx context.Context, after int64, limit int) ([]identity.AuditEntry, error) {
	var rows []auditRow
	if err := s.db.Conn(ctx).Where("seq > ?", after).Order("seq").Limit(limit).Find(&rows).Error; err != nil {
		return nil, TranslateError(err)
	}
	out := make([]identity.AuditEntry, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.entry())
	}
	return out, nil
}

type auditCheckpointRow struct {
	ID          int64 `gorm:"primaryKey"`
	Seq         int64
	Head        string
	LegacyUntil int64
	At          time.Time
	Node        string
	MAC         string `gorm:"column:mac"`
}

func (auditCheckpointRow) TableName() string { return "audit_checkpoints" }

// AppendAuditCheckpoint implements identity.AuditStore.
func (s *Audit) AppendAuditCheckpoint(ctx context.Context, c identity.AuditCheckpoint) error {
	r := auditCheckpointRow{Seq: c.Seq, Head: c.Head, LegacyUntil: c.LegacyUntil, At: c.At.UTC(), Node: c.Node, MAC: c.MAC}
	return TranslateError(s.db.Conn(ctx).Create(&r).Error)
}

// AuditCheckpoints implements identity.AuditStore.
func (s *Audit) AuditCheckpoints(ctx context.Context, after int64, limit int) ([]identity.AuditCheckpoint, error) {
	var rows []auditCheckpointRow
	if err := s.db.Conn(ctx).Where("id > ?", after).Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, TranslateError(err)
	}
	out := make([]identity.AuditCheckpoint, 0, len(rows))
	for _, r := range rows {
		out = append(out, identity.AuditCheckpoint{ID: r.ID, Seq: r.Seq, Head: r.Head, LegacyUntil: r.LegacyUntil, At: r.At.UTC(), Node: r.Node, MAC: r.MAC})
	}
	return out, nil
}
