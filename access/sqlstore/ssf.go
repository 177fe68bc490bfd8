package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/weft-fabric/weft/access/outbox"
	"github.com/weft-fabric/weft/access/ssf"
	"github.com/weft-fabric/weft/identity"
	idsql "github.com/weft-fabric/weft/identity/sqlstore"
)

// Streams implements ssf.Store.
type Streams struct{ db *idsql.DB }

var (
	_ ssf.Store = (*Streams)(nil)
	_ ssf.Queue = (*Outbox)(nil)
)

// NewStreams returns the SSF stream store over db.
func NewStreams(db *idsql.DB) *Streams { return &Streams{db: db} }

type streamRow struct {
	ID                  string `gorm:"primaryKey"`
	ClientID            string
	DeliveryMethod      string
	EndpointURL         string
	AuthorizationHeader string // clear, only in rows written before migration 00018
	AuthorizationSealed []byte
	DefaultSubjects     string
	EventsRequested     string // JSON array
	Description         string
	Status              string
	StatusReason        string
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

func (streamRow) TableName() string { return "ssf_streams" }

func toStreamRow(s ssf.Stream) (streamRow, error) {
	ev, err := json.Marshal(s.EventsRequested)
	if err != nil {
		return streamRow{}, err
	}
	return streamRow{ID: s.ID, ClientID: s.ClientID, DeliveryMethod: s.Method, EndpointURL: s.EndpointURL,
		AuthorizationHeader: s.LegacyAuthorization, AuthorizationSealed: s.AuthorizationSealed, DefaultSubjects: s.DefaultSubjects,
		EventsRequested: string(ev), Description: s.Description,
		Status: s.Status, StatusReason: s.StatusReason, CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC()}, nil
}

func (r streamRow) stream() ssf.Stream {
	s := ssf.Stream{ID: r.ID, ClientID: r.ClientID, Method: r.DeliveryMethod, EndpointURL: r.EndpointURL,
		LegacyAuthorization: r.AuthorizationHeader, AuthorizationSealed: r.AuthorizationSealed, DefaultSubjects: r.DefaultSubjects,
		Description: r.Description, Status: r.Status, StatusReason: r.StatusReason,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if json.Unmarshal([]byte(r.EventsRequested), &s.EventsRequested) != nil || s.EventsRequested == nil {
		s.EventsRequested = []string{}
	}
	return s
}

// CreateStream implements ssf.Store.
func (s *Streams) CreateStream(ctx context.Context, v ssf.Stream) error {
	r, err := toStreamRow(v)
	if err != nil {
		return err
	}
	return idsql.TranslateError(s.db.Conn(ctx).Create(&r).Error)
}

func (s *Streams) take(q *gorm.DB) (ssf.Stream, error) {
	var r streamRow
	if err := q.Take(&r).Error; err != nil {
		return ssf.Stream{}, idsql.TranslateError(err)
	}
	return r.stream(), nil
}

// Stream implements ssf.Store.
func (s *Streams) Stream(ctx context.Context, clientID, id string) (ssf.Stream, error) {
	return s.take(s.db.Conn(ctx).Where("id = ? AND client_id = ?", id, clientID))
}

// StreamByID implements ssf.Store.
func (s *Streams) StreamByID(ctx context.Context, id string) (ssf.Stream, error) {
	return s.take(s.db.Conn(ctx).Where("id = ?", id))
}

func (s *Streams) list(q *gorm.DB) ([]ssf.Stream, error) {
	var rows []streamRow
	if err := q.Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, idsql.TranslateError(err)
	}
	out := make([]ssf.Stream, len(rows))
	for i, r := range rows {
		out[i] = r.stream()
	}
	return out, nil
}

// Streams implements ssf.Store.
func (s *Streams) Streams(ctx context.Context, clientID string) ([]ssf.Stream, error) {
	return s.list(s.db.Conn(ctx).Where("client_id = ?", clientID))
}

// Receiving implements ssf.Store.
func (s *Streams) Receiving(ctx context.Context) ([]ssf.Stream, error) {
	return s.list(s.db.Conn(ctx).Where("status <> ?", ssf.StatusDisabled))
}

// UpdateStream implements ssf.Store.
func (s *Streams) UpdateStream(ctx context.Context, v ssf.Stream) error {
	r, err := toStreamRow(v)
	if err != nil {
		return err
	}
	res := s.db.Conn(ctx).Model(&streamRow{}).Where("id = ? AND client_id = ?", r.ID, r.ClientID).Updates(map[string]any{
		"endpoint_url": r.EndpointURL, "authorization_header": r.AuthorizationHeader, "authorization_sealed": r.AuthorizationSealed,
		"default_subjects": r.DefaultSubjects, "events_requested": r.EventsRequested,
		"description": r.Description, "status": r.Status, "status_reason": r.StatusReason, "updated_at": r.UpdatedAt})
	if res.Error != nil {
		return idsql.TranslateError(res.Error)
	}
	if res.RowsAffected == 0 {
		return identity.ErrNotFound
	}
	return nil
}

// DeleteStream implements ssf.Store.
func (s *Streams) DeleteStream(ctx context.Context, clientID, id string) error {
	res := s.db.Conn(ctx).Where("id = ? AND client_id = ?", id, clientID).Delete(&streamRow{})
	if res.Error != nil {
		return idsql.TranslateError(res.Error)
	}
	if res.RowsAffected == 0 {
		return identity.ErrNotFound
	}
	return nil
}

// LegacyAuthorizations implements ssf.Store.
func (s *Streams) LegacyAuthorizations(ctx context.Context) ([]ssf.Stream, error) {
	return s.list(s.db.Conn(ctx).Where("authorization_header <> ''"))
}

type streamSubjectRow struct {
	StreamID  string `gorm:"primaryKey"`
	Subject   string `gorm:"primaryKey"`
	CreatedAt time.Time
}

func (streamSubjectRow) TableName() string { return "ssf_stream_subjects" }

// AddSubject implements ssf.Store.
func (s *Streams) AddSubject(ctx context.Context, streamID, sub string, at time.Time) error {
	r := streamSubjectRow{StreamID: streamID, Subject: sub, CreatedAt: at.UTC()}
	return idsql.TranslateError(s.db.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&r).Error)
}

// RemoveSubject implements ssf.Store.
func (s *Streams) RemoveSubject(ctx context.Context, streamID, sub string) error {
	return idsql.TranslateError(s.db.Conn(ctx).Where("stream_id = ? AND subject = ?", streamID, sub).Delete(&streamSubjectRow{}).Error)
}

// CountSubjects implements ssf.Store.
func (s *Streams) CountSubjects(ctx context.Context, streamID string) (int64, error) {
	var n int64
	err := s.db.Conn(ctx).Model(&streamSubjectRow{}).Where("stream_id = ?", streamID).Count(&n).Error
	return n, idsql.TranslateError(err)
}

// StreamsOfSubject implements ssf.Store.
func (s *Streams) StreamsOfSubject(ctx context.Context, sub string) ([]string, error) {
	var ids []string
	err := s.db.Conn(ctx).Model(&streamSubjectRow{}).Where("subject = ?", sub).Pluck("stream_id", &ids).Error
	return ids, idsql.TranslateError(err)
}

// undelivered selects a stream's messages that are neither delivered nor given up.
func (s *Outbox) undelivered(ctx context.Context, streamID string) *gorm.DB {
	return s.db.Conn(ctx).Model(&outboxRow{}).Where("stream_id = ? AND delivered_at IS NULL AND failed_at IS NULL", streamID)
}

// Pending implements ssf.Queue.
func (s *Outbox) Pending(ctx context.Context, streamID string, limit int) ([]outbox.Message, error) {
	var rows []outboxRow
	if err := s.undelivered(ctx, streamID).Where("pull").Order("created_at, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, idsql.TranslateError(err)
	}
	out := make([]outbox.Message, len(rows))
	for i, r := range rows {
		out[i] = r.message()
	}
	return out, nil
}

// Served implements ssf.Queue.
func (s *Outbox) Served(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return idsql.TranslateError(s.db.Conn(ctx).Model(&outboxRow{}).Where("id IN ?", ids).
		Update("attempts", gorm.Expr("attempts + 1")).Error)
}

// Acknowledge implements ssf.Queue.
func (s *Outbox) Acknowledge(ctx context.Context, streamID string, ids []string, at time.Time, lastError string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	res := s.undelivered(ctx, streamID).Where("pull AND id IN ?", ids).
		Updates(map[string]any{"delivered_at": at.UTC(), "last_error": lastError})
	return res.RowsAffected, idsql.TranslateError(res.Error)
}

// Wake implements ssf.Queue.
func (s *Outbox) Wake(ctx context.Context, streamID string, now time.Time) error {
	return idsql.TranslateError(s.undelivered(ctx, streamID).Where("NOT pull").
		Updates(map[string]any{"next_attempt_at": now.UTC(), "last_error": ""}).Error)
}

// GiveUpStream implements ssf.Queue.
func (s *Outbox) GiveUpStream(ctx context.Context, streamID string, at time.Time, reason string) error {
	return idsql.TranslateError(s.undelivered(ctx, streamID).
		Updates(map[string]any{"failed_at": at.UTC(), "last_error": reason}).Error)
}

// Undelivered implements ssf.Queue. It reads at most limit rows of the stream index,
// so the count costs the same however large a backlog grows.
func (s *Outbox) Undelivered(ctx context.Context, streamID string, limit int) (int, error) {
	var n int64
	sub := s.undelivered(ctx, streamID).Select("id").Limit(limit)
	err := s.db.Conn(ctx).Table("(?) AS pending", sub).Count(&n).Error
	return int(n), idsql.TranslateError(err)
}

// Retarget implements ssf.Queue.
func (s *Outbox) Retarget(ctx context.Context, streamID, target string) error {
	return idsql.TranslateError(s.undelivered(ctx, streamID).Update("target", target).Error)
}
