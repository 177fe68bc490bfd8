// Package keysql stores the signing keys of access/keys in the shared gorm database
// (table signing_keys, migration 00002). It keeps the rows verbatim: the private key
// arrives sealed and leaves sealed; encryption, rotation rules and caching belong to
// package keys. The partial unique indexes of the table back the ring's invariants
// (one current and one next key per algorithm) whatever the callers do.
package keysql

import (
	"context"
	"fmt"
	"time"

	"github.com/weft-fabric/weft/access/keys"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
)

// Store implements keys.Store.
type Store struct {
	db *sqlstore.DB
}

var _ keys.Store = (*Store)(nil)

// New returns the store over db.
func New(db *sqlstore.DB) *Store { return &Store{db: db} }

type keyRow struct {
	KID         string `gorm:"column:kid;primaryKey"`
	Alg         string
	State       string
	PublicKey   []byte
	PrivateKey  []byte
	Nonce       []byte
	CreatedAt   time.Time
	ActivatedAt *time.Time
	RetireAfter *time.Time
}

func (keyRow) TableName() string { return "signing_keys" }

func toRow(r keys.Record) keyRow {
	return keyRow{
		KID: r.KID, Alg: string(r.Alg), State: string(r.State),
		PublicKey: r.PublicKey, PrivateKey: r.PrivateKey, Nonce: r.Nonce,
		CreatedAt: r.CreatedAt.UTC(), ActivatedAt: timePtr(r.ActivatedAt), RetireAfter: timePtr(r.RetireAfter),
	}
}

func (row keyRow) record() keys.Record {
	return keys.Record{
		KID: row.KID, Alg: keys.Alg(row.Alg), State: keys.State(row.State),
		PublicKey: row.PublicKey, PrivateKey: row.PrivateKey, Nonce: row.Nonce,
		CreatedAt: row.CreatedAt.UTC(), ActivatedAt: timeVal(row.ActivatedAt), RetireAfter: timeVal(row.RetireAfter),
	}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func timeVal(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// Create implements keys.Store.
func (s *Store) Create(ctx context.Context, r keys.Record) error {
	row := toRow(r)
	if err := s.db.Conn(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("create signing key %s: %w", r.KID, sqlstore.TranslateError(err))
	}
	return nil
}

// List implements keys.Store.
func (s *Store) List(ctx context.Context) ([]keys.Record, error) {
	var rows []keyRow
	if err := s.db.Conn(ctx).Order("created_at, kid").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list signing keys: %w", sqlstore.TranslateError(err))
	}
	out := make([]keys.Record, len(rows))
	for i, row := range rows {
		out[i] = row.record()
	}
	return out, nil
}

// Activate implements keys.Store.
func (s *Store) Activate(ctx context.Context, kid string, at time.Time) error {
	return s.transition(ctx, kid, keys.StateNext, map[string]any{
		"state": string(keys.StateCurrent), "activated_at": at.UTC(),
	})
}

// Retire implements keys.Store.
func (s *Store) Retire(ctx context.Context, kid string, retireAfter time.Time) error {
	return s.transition(ctx, kid, keys.StateCurrent, map[string]any{
		"state": string(keys.StateRetired), "retire_after": retireAfter.UTC(),
	})
}

// transition updates key kid only if it is in state from: a conditional UPDATE that
// must hit exactly one row, so a concurrent change is detected rather than overwritten.
func (s *Store) transition(ctx context.Context, kid string, from keys.State, set map[string]any) error {
	res := s.db.Conn(ctx).Model(&keyRow{}).
		Where("kid = ? AND state = ?", kid, string(from)).
		Updates(set)
	if res.Error != nil {
		return fmt.Errorf("update signing key %s: %w", kid, sqlstore.TranslateError(res.Error))
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("signing key %s in state %s: %w", kid, from, identity.ErrNotFound)
	}
	return nil
}

// DeleteRetired implements keys.Store.
func (s *Store) DeleteRetired(ctx context.Context, now time.Time) (int, error) {
	res := s.db.Conn(ctx).
		Where("state = ? AND retire_after <= ?", string(keys.StateRetired), now.UTC()).
		Delete(&keyRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("delete retired signing keys: %w", sqlstore.TranslateError(res.Error))
	}
	return int(res.RowsAffected), nil
}
