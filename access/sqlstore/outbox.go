package sqlstore

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/weft-fabric/weft/access/outbox"
	idsql "github.com/weft-fabric/weft/identity/sqlstore"
)

// Outbox implements outbox.Store.
type Outbox struct{ db *idsql.DB }

var _ outbox.Store = (*Outbox)(nil)

// NewOutbox returns the outbox store over db.
func NewOutbox(db *idsql.DB) *Outbox { return &Outbox{db: db} }

type outboxRow struct {
	ID            string `gorm:"primaryKey"`
	Kind          string
	Target        string
	TargetKey     string
	Payload       string
	RevocationID  *string
	Attempts      int
	NextAttemptAt time.Time
	DeliveredAt   *time.Time
	LastError     string
	CreatedAt     time.Time
	StreamID      *string
	Pull          bool
	FailedAt      *time.Time
}

func (outboxRow) TableName() string { return "outbox" }

func (r outboxRow) message() outbox.Message {
	m := outbox.Message{ID: r.ID, Kind: r.Kind, Target: r.Target, TargetKey: r.TargetKey, Payload: []byte(r.Payload), Attempts: r.Attempts,
		NextAttemptAt: r.NextAttemptAt.UTC(), LastError: r.LastError, CreatedAt: r.CreatedAt.UTC()}
	if r.RevocationID != nil {
		m.RevocationID = *r.RevocationID
	}
	if r.DeliveredAt != nil {
		t := r.DeliveredAt.UTC()
		m.DeliveredAt = &t
	}
	if r.StreamID != nil {
		m.StreamID = *r.StreamID
	}
	m.Pull = r.Pull
	if r.FailedAt != nil {
		t := r.FailedAt.UTC()
		m.FailedAt = &t
	}
	return m
}

// Enqueue implements outbox.Store.
func (s *Outbox) Enqueue(ctx context.Context, m outbox.Message) error {
	r := outboxRow{ID: m.ID, Kind: m.Kind, Target: m.Target, TargetKey: m.Key(), Payload: string(m.Payload), NextAttemptAt: m.NextAttemptAt.UTC(),
		CreatedAt: m.CreatedAt.UTC(), Pull: m.Pull}
	if m.RevocationID != "" {
		id := m.RevocationID
		r.RevocationID = &id
	}
	if m.StreamID != "" {
		id := m.StreamID
		r.StreamID = &id
	}
	return idsql.TranslateError(s.db.Conn(ctx).Create(&r).Error)
}

// outboxColumns are outboxRow's columns, for the raw claim query.
const outboxColumns = "id, kind, target, target_key, payload, revocation_id, attempts, next_attempt_at, delivered_at, " +
	"last_error, created_at, stream_id, pull, failed_at"

// Claim implements outbox.Store: each row is leased with a conditional UPDATE, so
// of several nodes only one takes it. PerTarget is a window over target keys
// (PostgreSQL and SQLite 3.25+ both have ROW_NUMBER), so one target with a backlog
// cannot fill the batch.
func (s *Outbox) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int, opts outbox.ClaimOptions) ([]outbox.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	where := "delivered_at IS NULL AND failed_at IS NULL AND NOT pull AND next_attempt_at <= ?"
	args := []any{now.UTC()}
	if len(opts.Skip) > 0 {
		where += " AND target_key NOT IN ?"
		args = append(args, opts.Skip)
	}
	var q string
	if opts.PerTarget > 0 {
		q = "SELECT " + outboxColumns + " FROM (SELECT " + outboxColumns +
			", ROW_NUMBER() OVER (PARTITION BY target_key ORDER BY next_attempt_at, id) AS target_rank FROM outbox WHERE " + where +
			") due WHERE target_rank <= ? ORDER BY next_attempt_at, id LIMIT ?"
		args = append(args, opts.PerTarget, limit)
	} else {
		q = "SELECT " + outboxColumns + " FROM outbox WHERE " + where + " ORDER BY next_attempt_at, id LIMIT ?"
		args = append(args, limit)
	}
	var rows []outboxRow
	if err := s.db.Conn(ctx).Raw(q, args...).Scan(&rows).Error; err != nil {
		return nil, idsql.TranslateError(err)
	}
	out := make([]outbox.Message, 0, len(rows))
	for _, r := range rows {
		res := s.db.Conn(ctx).Model(&outboxRow{}).
			Where("id = ? AND delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at = ?", r.ID, r.NextAttemptAt).
			Update("next_attempt_at", now.Add(lease).UTC())
		if res.Error != nil {
			return nil, idsql.TranslateError(res.Error)
		}
		if res.RowsAffected == 1 {
			out = append(out, r.message())
		}
	}
	return out, nil
}

// DeferTarget implements outbox.Store. It only ever moves next_attempt_at later, so a
// leased message's lease is never shortened.
func (s *Outbox) DeferTarget(ctx context.Context, key string, until time.Time) error {
	return idsql.TranslateError(s.db.Conn(ctx).Model(&outboxRow{}).
		Where("target_key = ? AND delivered_at IS NULL AND failed_at IS NULL AND NOT pull AND next_attempt_at < ?", key, until.UTC()).
		Update("next_attempt_at", until.UTC()).Error)
}

// NextDue implements outbox.Store.
func (s *Outbox) NextDue(ctx context.Context, skip []string) (time.Time, error) {
	q := s.db.Conn(ctx).Model(&outboxRow{}).Where("delivered_at IS NULL AND failed_at IS NULL AND NOT pull")
	if len(skip) > 0 {
		q = q.Where("target_key NOT IN ?", skip)
	}
	var row outboxRow
	err := q.Select("next_attempt_at").Order("next_attempt_at").Limit(1).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, idsql.TranslateError(err)
	}
	return row.NextAttemptAt.UTC(), nil
}

// MarkDelivered implements outbox.Store.
func (s *Outbox) MarkDelivered(ctx context.Context, id string, at time.Time) error {
	return idsql.TranslateError(s.db.Conn(ctx).Model(&outboxRow{}).Where("id = ?", id).
		Updates(map[string]any{"delivered_at": at.UTC(), "last_error": ""}).Error)
}

// MarkFailed implements outbox.Store.
func (s *Outbox) MarkFailed(ctx context.Context, id string, attempts int, next time.Time, lastError string) error {
	return idsql.TranslateError(s.db.Conn(ctx).Model(&outboxRow{}).Where("id = ?", id).
		Updates(map[string]any{"attempts": attempts, "next_attempt_at": next.UTC(), "last_error": lastError}).Error)
}

// MarkGivenUp implements outbox.Store.
func (s *Outbox) MarkGivenUp(ctx context.Context, id string, attempts int, at time.Time, lastError string) error {
	return idsql.TranslateError(s.db.Conn(ctx).Model(&outboxRow{}).Where("id = ?", id).
		Updates(map[string]any{"attempts": attempts, "failed_at": at.UTC(), "last_error": lastError}).Error)
}

// ByRevocation implements outbox.Store.
func (s *Outbox) ByRevocation(ctx context.Context, revocationID string) ([]outbox.Message, error) {
	var rows []outboxRow
	if err := s.db.Conn(ctx).Where("revocation_id = ?", revocationID).Order("created_at, target").Find(&rows).Error; err != nil {
		return nil, idsql.TranslateError(err)
	}
	out := make([]outbox.Message, len(rows))
	for i, r := range rows {
		out[i] = r.message()
	}
	return out, nil
}
