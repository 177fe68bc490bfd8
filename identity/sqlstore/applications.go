package sqlstore

import (
	"context"
	"time"

	"github.com/weft-fabric/weft/identity"
)

// Applications implements identity.ApplicationStore.
type Applications struct {
	db *DB
}

var _ identity.ApplicationStore = (*Applications)(nil)

// NewApplications returns the application store over db.
func NewApplications(db *DB) *Applications { return &Applications{db: db} }

type applicationRow struct {
	ID          string `gorm:"primaryKey"`
	Name        string
	Description string
	Sensitive   bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (applicationRow) TableName() string { return "applications" }

func (r applicationRow) application() identity.Application {
	return identity.Application{ID: r.ID, Name: r.Name, Description: r.Description, Sensitive: r.Sensitive,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// CreateApplication implements identity.ApplicationStore.
func (s *Applications) CreateApplication(ctx context.Context, a identity.Application) error {
	r := applicationRow{ID: a.ID, Name: a.Name, Description: a.Description, Sensitive: a.Sensitive,
		CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC()}
	return TranslateError(s.db.Conn(ctx).Create(&r).Error)
}

// UpdateApplication implements identity.ApplicationStore.
func (s *Applications) UpdateApplication(ctx context.Context, a identity.Application) error {
	res := s.db.Conn(ctx).Model(&applicationRow{}).Where("id = ?", a.ID).Updates(map[string]any{
		"name": a.Name, "description": a.Description, "sensitive": a.Sensitive, "updated_at": a.UpdatedAt.UTC(),
	})
	return affectOne(res)
}

// DeleteApplication implements identity.ApplicationStore.
func (s *Applications) DeleteApplication(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		// Explicit, so the outcome does not depend on the SQLite foreign_keys pragma.
		if err := s.db.Conn(ctx).Exec("DELETE FROM gateway_routes WHERE application_id = ?", id).Error; err != nil {
			return TranslateError(err)
		}
		return affectOne(s.db.Conn(ctx).Where("id = ?", id).Delete(&applicationRow{}))
	})
}

// ApplicationByID implements identity.ApplicationStore.
func (s *Applications) ApplicationByID(ctx context.Context, id string) (identity.Application, error) {
	var r applicationRow
	if err := s.db.Conn(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return identity.Application{}, TranslateError(err)
	}
	return r.application(), nil
}

// ListApplications implements identity.ApplicationStore.
func (s *Applications) ListApplications(ctx context.Context, p identity.Page) ([]identity.Application, string, error) {
	rows, next, err := Paginate(s.db.Conn(ctx), "id", p, func(r applicationRow) string { return r.ID })
	return mapRows(rows, applicationRow.application), next, err
}
