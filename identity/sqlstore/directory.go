package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/weft-fabric/weft/identity"
)

// Store implements identity.DirectoryStore.
type Store struct {
	db *DB
}

var _ identity.DirectoryStore = (*Store)(nil)

// NewDirectory returns the directory store over db.
func NewDirectory(db *DB) *Store { return &Store{db: db} }

type userRow struct {
	ID          string `gorm:"primaryKey"`
	Username    string
	UsernameKey string
	Email       *string
	EmailKey    *string
	DisplayName string
	Status      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (userRow) TableName() string { return "users" }

func toUserRow(u identity.User, key string) userRow {
	r := userRow{ID: u.ID, Username: u.Username, UsernameKey: key, DisplayName: u.DisplayName,
		Status: string(u.Status), CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
	if u.Email != "" {
		e, k := u.Email, identity.EmailKey(u.Email)
		r.Email, r.EmailKey = &e, &k
	}
	return r
}

func (r userRow) user() identity.User {
	u := identity.User{ID: r.ID, Username: r.Username, DisplayName: r.DisplayName,
		Status: identity.Status(r.Status), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if r.Email != nil {
		u.Email = *r.Email
	}
	return u
}

type passwordRow struct {
	UserID    string `gorm:"primaryKey"`
	Hash      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (passwordRow) TableName() string { return "password_credentials" }

type groupRow struct {
	ID          string `gorm:"primaryKey"`
	Name        string
	NameKey     string
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (groupRow) TableName() string { return "groups" }

func (r groupRow) group() identity.Group {
	return identity.Group{ID: r.ID, Name: r.Name, Description: r.Description,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

type memberRow struct {
	GroupID   string `gorm:"primaryKey"`
	UserID    string `gorm:"primaryKey"`
	CreatedAt time.Time
}

func (memberRow) TableName() string { return "group_members" }

type machineRow struct {
	ID          string `gorm:"primaryKey"`
	Name        string
	NameKey     string
	Description string
	OwnerID     string
	Status      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (machineRow) TableName() string { return "machine_identities" }

func (r machineRow) machine() identity.MachineIdentity {
	return identity.MachineIdentity{ID: r.ID, Name: r.Name, Description: r.Description, OwnerID: r.OwnerID,
		Status: identity.Status(r.Status), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// affectOne turns "no row updated" into ErrNotFound.
func affectOne(res *gorm.DB) error {
	if res.Error != nil {
		return TranslateError(res.Error)
	}
	if res.RowsAffected == 0 {
		return identity.ErrNotFound
	}
	return nil
}

// mapRows converts store rows to domain values.
func mapRows[R, T any](rows []R, f func(R) T) []T {
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = f(r)
	}
	return out
}

// CreateUser implements identity.UserStore.
func (s *Store) CreateUser(ctx context.Context, u identity.User, key string) error {
	r := toUserRow(u, key)
	return TranslateError(s.db.Conn(ctx).Create(&r).Error)
}

// UpdateUser implements identity.UserStore.
func (s *Store) UpdateUser(ctx context.Context, u identity.User, key string) error {
	r := toUserRow(u, key)
	res := s.db.Conn(ctx).Model(&userRow{}).Where("id = ?", u.ID).Updates(map[string]any{
		"username": r.Username, "username_key": r.UsernameKey, "email": r.Email, "email_key": r.EmailKey,
		"display_name": r.DisplayName, "status": r.Status, "updated_at": r.UpdatedAt,
	})
	return affectOne(res)
}

// UserByID implements identity.UserStore.
func (s *Store) UserByID(ctx context.Context, id string) (identity.User, error) {
	var r userRow
	if err := s.db.Conn(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return identity.User{}, TranslateError(err)
	}
	return r.user(), nil
}

// UserByUsername implements identity.UserStore.
func (s *Store) UserByUsername(ctx context.Context, key string) (identity.User, error) {
	var r userRow
	if err := s.db.Conn(ctx).Where("username_key = ?", key).Take(&r).Error; err != nil {
		return identity.User{}, TranslateError(err)
	}
	return r.user(), nil
}

// ListUsers implements identity.UserStore. The cursor is the last normalised username
// of the page (keyset pagination: stable under inserts, no OFFSET scans).
func (s *Store) ListUsers(ctx context.Context, f identity.UserFilter, p identity.Page) ([]identity.User, string, error) {
	q := s.db.Conn(ctx)
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	rows, next, err := Paginate(q, "username_key", p, func(r userRow) string { return r.UsernameKey })
	return mapRows(rows, userRow.user), next, err
}

// CountUsers implements identity.UserStore.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.Conn(ctx).Model(&userRow{}).Count(&n).Error
	return n, TranslateError(err)
}

// SetPasswordHash implements identity.PasswordStore.
func (s *Store) SetPasswordHash(ctx context.Context, userID, hash string) error {
	now := time.Now().UTC()
	conn := s.db.Conn(ctx)
	res := conn.Model(&passwordRow{}).Where("user_id = ?", userID).Updates(map[string]any{"hash": hash, "updated_at": now})
	if res.Error != nil {
		return TranslateError(res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	// No password yet: insert. A missing user surfaces as a foreign-key failure.
	return TranslateError(conn.Create(&passwordRow{UserID: userID, Hash: hash, CreatedAt: now, UpdatedAt: now}).Error)
}

// PasswordHash implements identity.PasswordStore.
func (s *Store) PasswordHash(ctx context.Context, userID string) (string, error) {
	var r passwordRow
	if err := s.db.Conn(ctx).Where("user_id = ?", userID).Take(&r).Error; err != nil {
		return "", TranslateError(err)
	}
	return r.Hash, nil
}

// CreateGroup implements identity.GroupStore.
func (s *Store) CreateGroup(ctx context.Context, g identity.Group, key string) error {
	r := groupRow{ID: g.ID, Name: g.Name, NameKey: key, Description: g.Description,
		CreatedAt: g.CreatedAt.UTC(), UpdatedAt: g.UpdatedAt.UTC()}
	return TranslateError(s.db.Conn(ctx).Create(&r).Error)
}

// UpdateGroup implements identity.GroupStore.
func (s *Store) UpdateGroup(ctx context.Context, g identity.Group, key string) error {
	res := s.db.Conn(ctx).Model(&groupRow{}).Where("id = ?", g.ID).Updates(map[string]any{
		"name": g.Name, "name_key": key, "description": g.Description, "updated_at": g.UpdatedAt.UTC(),
	})
	return affectOne(res)
}

// DeleteGroup implements identity.GroupStore.
func (s *Store) DeleteGroup(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(ctx context.Context) error {
		// Explicit, so the outcome does not depend on the SQLite foreign_keys pragma.
		if err := s.db.Conn(ctx).Where("group_id = ?", id).Delete(&memberRow{}).Error; err != nil {
			return TranslateError(err)
		}
		return affectOne(s.db.Conn(ctx).Where("id = ?", id).Delete(&groupRow{}))
	})
}

// GroupByID implements identity.GroupStore.
func (s *Store) GroupByID(ctx context.Context, id string) (identity.Group, error) {
	var r groupRow
	if err := s.db.Conn(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return identity.Group{}, TranslateError(err)
	}
	return r.group(), nil
}

// GroupByName implements identity.GroupStore.
func (s *Store) GroupByName(ctx context.Context, key string) (identity.Group, error) {
	var r groupRow
	if err := s.db.Conn(ctx).Where("name_key = ?", key).Take(&r).Error; err != nil {
		return identity.Group{}, TranslateError(err)
	}
	return r.group(), nil
}

// ListGroups implements identity.GroupStore.
func (s *Store) ListGroups(ctx context.Context, p identity.Page) ([]identity.Group, string, error) {
	rows, next, err := Paginate(s.db.Conn(ctx), "name_key", p, func(r groupRow) string { return r.NameKey })
	return mapRows(rows, groupRow.group), next, err
}

// AddMember implements identity.GroupStore.
func (s *Store) AddMember(ctx context.Context, groupID, userID string) error {
	// ON CONFLICT rather than catching the unique violation: on PostgreSQL a failed
	// statement aborts the surrounding transaction.
	err := s.db.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&memberRow{GroupID: groupID, UserID: userID, CreatedAt: time.Now().UTC()}).Error
	return TranslateError(err)
}

// RemoveMember implements identity.GroupStore.
func (s *Store) RemoveMember(ctx context.Context, groupID, userID string) error {
	if _, err := s.GroupByID(ctx, groupID); err != nil {
		return err
	}
	return TranslateError(s.db.Conn(ctx).Where("group_id = ? AND user_id = ?", groupID, userID).Delete(&memberRow{}).Error)
}

// Members implements identity.GroupStore.
func (s *Store) Members(ctx context.Context, groupID string) ([]identity.User, error) {
	var rows []userRow
	err := s.db.Conn(ctx).Table("users").Select("users.*").
		Joins("JOIN group_members gm ON gm.user_id = users.id").
		Where("gm.group_id = ?", groupID).Order("users.username_key").Find(&rows).Error
	if err != nil {
		return nil, TranslateError(err)
	}
	return mapRows(rows, userRow.user), nil
}

// GroupsOf implements identity.GroupStore.
func (s *Store) GroupsOf(ctx context.Context, userID string) ([]identity.Group, error) {
	var rows []groupRow
	err := s.db.Conn(ctx).Table("groups").Select("groups.*").
		Joins("JOIN group_members gm ON gm.group_id = groups.id").
		Where("gm.user_id = ?", userID).Order("groups.name_key").Find(&rows).Error
	if err != nil {
		return nil, TranslateError(err)
	}
	return mapRows(rows, groupRow.group), nil
}

// CreateMachine implements identity.MachineStore.
func (s *Store) CreateMachine(ctx context.Context, m identity.MachineIdentity, key string) error {
	r := machineRow{ID: m.ID, Name: m.Name, NameKey: key, Description: m.Description, OwnerID: m.OwnerID,
		Status: machineStatus(m.Status), CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC()}
	if err := s.db.Conn(ctx).Create(&r).Error; err != nil {
		err = TranslateError(err)
		if errors.Is(err, identity.ErrNotFound) {
			return fmt.Errorf("owner %q: %w", m.OwnerID, identity.ErrNotFound)
		}
		return err
	}
	return nil
}

// UpdateMachine implements identity.MachineStore.
func (s *Store) UpdateMachine(ctx context.Context, m identity.MachineIdentity, key string) error {
	res := s.db.Conn(ctx).Model(&machineRow{}).Where("id = ?", m.ID).Updates(map[string]any{
		"name": m.Name, "name_key": key, "description": m.Description, "owner_id": m.OwnerID,
		"status": machineStatus(m.Status), "updated_at": m.UpdatedAt.UTC(),
	})
	return affectOne(res)
}

// machineStatus stores an unset status as active, the column's default.
func machineStatus(s identity.Status) string {
	if s == "" {
		return string(identity.StatusActive)
	}
	return string(s)
}

// MachineByID implements identity.MachineStore.
func (s *Store) MachineByID(ctx context.Context, id string) (identity.MachineIdentity, error) {
	var r machineRow
	if err := s.db.Conn(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return identity.MachineIdentity{}, TranslateError(err)
	}
	return r.machine(), nil
}

// MachineByName implements identity.MachineStore.
func (s *Store) MachineByName(ctx context.Context, key string) (identity.MachineIdentity, error) {
	var r machineRow
	if err := s.db.Conn(ctx).Where("name_key = ?", key).Take(&r).Error; err != nil {
		return identity.MachineIdentity{}, TranslateError(err)
	}
	return r.machine(), nil
}

// ListMachines implements identity.MachineStore.
func (s *Store) ListMachines(ctx context.Context, p identity.Page) ([]identity.MachineIdentity, string, error) {
	rows, next, err := Paginate(s.db.Conn(ctx), "name_key", p, func(r machineRow) string { return r.NameKey })
	return mapRows(rows, machineRow.machine), next, err
}
