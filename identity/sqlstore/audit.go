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

func (r auditRow) entry() (identity.AuditEntry, error) {
	e := identity.AuditEntry{Seq: r.Seq, At: r.At.UTC(), Kind: r.Kind, Actor: r.Actor, Subject: r.Subject, PrevHash: r.PrevHash, Hash: r.Hash}
	if err := json.Unmarshal([]byte(r.Detail), &e.Detail); err != nil {
		// Unreadable detail is reported by Verify as a hash mismatch, not hidden here.
		e.Detail = map[string]any{"unreadable": r.Detail}
	}
	return e, nil
}

// LastAudit implements identity.AuditStore.
func (s *Audit) LastAudit(ctx context.Context) (identity.AuditEntry, error) {
	var r auditRow
	if err := s.db.Conn(ctx).Order("seq DESC").Limit(1).Take(&r).Error; err != nil {
		return identity.AuditEntry{}, TranslateError(err)
	}
	return r.entry()
}

// AppendAudit implements identity.AuditStore.
func (s *Audit) AppendAudit(ctx context.Context, e identity.AuditEntry) error {
	d, err := json.Marshal(e.Detail)
	if err != nil {
		return err
	}
	r := auditRow{Seq: e.Seq, At: e.At.UTC(), Kind: e.Kind, Actor: e.Actor, Subject: e.Subject, Detail: string(d), PrevHash: e.PrevHash, Hash: e.Hash}
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
		e, _ := r.entry()
		out = append(out, e)
	}
	return out, nil
}
