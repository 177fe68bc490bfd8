// Package sqlstore implements policy.Store over the shared gorm database of
// identity/sqlstore (table policy_versions, migration 00022). Rows stay inside this
// package; the conformance suite in policy/storetest runs here on SQLite and
// PostgreSQL.
package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/weft-fabric/weft/identity"
	idsql "github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/policy"
)

// Store implements policy.Store.
type Store struct{ db *idsql.DB }

var _ policy.Store = (*Store)(nil)

// New returns the policy version store over db.
func New(db *idsql.DB) *Store { return &Store{db: db} }

// maxHistory caps one History page.
const maxHistory = 200

type versionRow struct {
	Version    int64 `gorm:"primaryKey;autoIncrement:false"`
	Policies   string
	SchemaText string
	Tests      string
	Author     string
	Comment    string
	CreatedAt  time.Time
}

func (versionRow) TableName() string { return "policy_versions" }

func (r versionRow) version() (policy.Version, error) {
	v := policy.Version{Number: r.Version, Policies: r.Policies, Schema: r.SchemaText, Author: r.Author, Comment: r.Comment, CreatedAt: r.CreatedAt.UTC()}
	if err := json.Unmarshal([]byte(r.Tests), &v.Tests); err != nil {
		return policy.Version{}, fmt.Errorf("policy version %d: stored test cases: %w", r.Version, err)
	}
	return v, nil
}

// translate maps the identity sentinels idsql produces onto policy's.
func translate(err error) error {
	err = idsql.TranslateError(err)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, identity.ErrNotFound):
		return fmt.Errorf("%w: %w", policy.ErrNotFound, err)
	case errors.Is(err, identity.ErrConflict):
		return fmt.Errorf("%w: %w", policy.ErrConflict, err)
	}
	return err
}

// SaveVersion implements policy.Store.
func (s *Store) SaveVersion(ctx context.Context, v policy.Version) error {
	if v.Number <= 0 {
		return fmt.Errorf("%w: policy version number %d (versions start at 1)", policy.ErrInvalid, v.Number)
	}
	tests := v.Tests
	if tests == nil {
		tests = []policy.TestCase{}
	}
	tj, err := json.Marshal(tests)
	if err != nil {
		return fmt.Errorf("%w: test cases: %w", policy.ErrInvalid, err)
	}
	created := v.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	r := versionRow{Version: v.Number, Policies: v.Policies, SchemaText: v.Schema, Tests: string(tj), Author: v.Author, Comment: v.Comment, CreatedAt: created.UTC()}
	return translate(s.db.Conn(ctx).Create(&r).Error)
}

// CurrentVersion implements policy.Store.
func (s *Store) CurrentVersion(ctx context.Context) (policy.Version, error) {
	var r versionRow
	if err := s.db.Conn(ctx).Order("version DESC").Take(&r).Error; err != nil {
		return policy.Version{}, translate(err)
	}
	return r.version()
}

// Version implements policy.Store.
func (s *Store) Version(ctx context.Context, n int64) (policy.Version, error) {
	var r versionRow
	if err := s.db.Conn(ctx).Where("version = ?", n).Take(&r).Error; err != nil {
		return policy.Version{}, translate(err)
	}
	return r.version()
}

// History implements policy.Store.
func (s *Store) History(ctx context.Context, before int64, limit int) ([]policy.Version, error) {
	if limit <= 0 || limit > maxHistory {
		limit = maxHistory
	}
	q := s.db.Conn(ctx).Order("version DESC").Limit(limit)
	if before > 0 {
		q = q.Where("version < ?", before)
	}
	var rows []versionRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]policy.Version, 0, len(rows))
	for _, r := range rows {
		v, err := r.version()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
