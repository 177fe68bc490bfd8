package identity

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Application is something people and machines get access to: a web application or an
// API behind a gateway. Its ID is chosen by an administrator and stable: fabric files
// and policies name the application by it (a policy sees it as "application:<id>").
// Sensitive marks an application whose access deserves more care (the default policy
// asks for step-up on it when risk is medium).
type Application struct {
	ID          string
	Name        string
	Description string
	Sensitive   bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// maxApplicationIDLen bounds an application id; it appears in headers, logs and policies.
const maxApplicationIDLen = 64

// CheckApplicationID validates an application id: 1 to 64 characters of lower-case
// ASCII letters, digits, '.', '_' and '-', starting and ending with a letter or digit.
// Ids are not case-folded: refusing "CRM" rather than storing "crm" keeps the id a
// policy names exactly the one the administrator wrote.
func CheckApplicationID(id string) error {
	if id == "" {
		return invalid("id", "must not be empty")
	}
	if len(id) > maxApplicationIDLen {
		return invalid("id", fmt.Sprintf("must be at most %d characters", maxApplicationIDLen))
	}
	alnum := func(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !alnum(c) && c != '.' && c != '_' && c != '-' {
			return invalid("id", "may contain only lower-case letters, digits, '.', '_' and '-'")
		}
	}
	if !alnum(id[0]) || !alnum(id[len(id)-1]) {
		return invalid("id", "must start and end with a lower-case letter or a digit")
	}
	return nil
}

// ApplicationStore persists applications.
type ApplicationStore interface {
	// CreateApplication inserts a; ErrConflict if the id is taken.
	CreateApplication(ctx context.Context, a Application) error
	// UpdateApplication replaces the mutable fields of the application with a.ID;
	// ErrNotFound if it does not exist.
	UpdateApplication(ctx context.Context, a Application) error
	// DeleteApplication removes the application and the gateway routes that lead to
	// it; ErrNotFound if it does not exist.
	DeleteApplication(ctx context.Context, id string) error
	// ApplicationByID returns ErrNotFound if absent.
	ApplicationByID(ctx context.Context, id string) (Application, error)
	// ListApplications returns applications ordered by id, and the cursor of the next
	// page ("" on the last).
	ListApplications(ctx context.Context, p Page) ([]Application, string, error)
}

// ApplicationObserver learns, inside the change's transaction, that applications or
// the gateway routes that lead to them changed: the gateway's route table, which every
// node keeps in memory, is reloaded once the change commits. An error undoes the change.
type ApplicationObserver interface {
	ApplicationsChanged(ctx context.Context) error
}

// Applications is the service over applications: their rules, and the observers told
// of every change. The admin API and `weft apply` both go through it.
type Applications struct {
	store     ApplicationStore
	tx        Transactor
	now       func() time.Time
	observers []ApplicationObserver
}

// NewApplications builds the service; observers learn of every change.
func NewApplications(store ApplicationStore, tx Transactor, observers ...ApplicationObserver) *Applications {
	return &Applications{store: store, tx: tx, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		observers: observers}
}

// InTx runs fn in one transaction (see Transactor).
func (a *Applications) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return a.tx.InTx(ctx, fn)
}

// NewApplication is the input of Create.
type NewApplication struct {
	ID          string
	Name        string
	Description string
	Sensitive   bool
}

// ApplicationPatch changes some fields; nil fields are left alone. The id never changes:
// policies and fabric files refer to it.
type ApplicationPatch struct {
	Name        *string
	Description *string
	Sensitive   *bool
}

// CheckApplicationText validates an application's name (required, at most 128
// characters) and description (at most 1024), without control characters.
func CheckApplicationText(name, description string) error {
	if name == "" {
		return invalid("name", "must not be empty")
	}
	if err := checkText("name", name, maxNameLen); err != nil {
		return err
	}
	return checkText("description", description, maxDescriptionLen)
}

// Create validates and stores a new application. Returns ErrInvalid (a
// *ValidationError) or ErrConflict if the id is taken.
func (a *Applications) Create(ctx context.Context, in NewApplication) (Application, error) {
	if err := CheckApplicationID(in.ID); err != nil {
		return Application{}, err
	}
	if err := CheckApplicationText(in.Name, in.Description); err != nil {
		return Application{}, err
	}
	now := a.now()
	app := Application{ID: in.ID, Name: in.Name, Description: in.Description, Sensitive: in.Sensitive, CreatedAt: now, UpdatedAt: now}
	err := a.tx.InTx(ctx, func(ctx context.Context) error {
		if err := a.store.CreateApplication(ctx, app); err != nil {
			if errors.Is(err, ErrConflict) {
				return fmt.Errorf("an application with id %q already exists: %w", in.ID, ErrConflict)
			}
			return err
		}
		return a.changed(ctx)
	})
	if err != nil {
		return Application{}, err
	}
	return app, nil
}

// Update applies p and reports whether anything changed (nothing is written when
// nothing does, so declarative apply stays idempotent). ErrNotFound if absent.
func (a *Applications) Update(ctx context.Context, id string, p ApplicationPatch) (Application, bool, error) {
	var (
		out     Application
		changed bool
	)
	err := a.tx.InTx(ctx, func(ctx context.Context) error {
		cur, err := a.store.ApplicationByID(ctx, id)
		if err != nil {
			return err
		}
		out = cur
		next := cur
		if p.Name != nil {
			next.Name = *p.Name
		}
		if p.Description != nil {
			next.Description = *p.Description
		}
		if p.Sensitive != nil {
			next.Sensitive = *p.Sensitive
		}
		if err := CheckApplicationText(next.Name, next.Description); err != nil {
			return err
		}
		if next.Name == cur.Name && next.Description == cur.Description && next.Sensitive == cur.Sensitive {
			return nil
		}
		next.UpdatedAt = a.now()
		if err := a.store.UpdateApplication(ctx, next); err != nil {
			return err
		}
		out, changed = next, true
		return a.changed(ctx)
	})
	return out, changed, err
}

// Delete removes an application and its gateway routes; ErrNotFound if absent.
func (a *Applications) Delete(ctx context.Context, id string) error {
	return a.tx.InTx(ctx, func(ctx context.Context) error {
		if err := a.store.DeleteApplication(ctx, id); err != nil {
			return err
		}
		return a.changed(ctx)
	})
}

// ByID returns ErrNotFound if absent.
func (a *Applications) ByID(ctx context.Context, id string) (Application, error) {
	return a.store.ApplicationByID(ctx, id)
}

// List returns one page of applications, ordered by id, and the cursor of the next.
func (a *Applications) List(ctx context.Context, p Page) ([]Application, string, error) {
	return a.store.ListApplications(ctx, p)
}

// All returns every application (the gateway loads them into its route table).
func (a *Applications) All(ctx context.Context) ([]Application, error) {
	var (
		out  []Application
		page = Page{Limit: MaxPageSize}
	)
	for {
		apps, next, err := a.store.ListApplications(ctx, page)
		if err != nil {
			return nil, err
		}
		out = append(out, apps...)
		if next == "" {
			return out, nil
		}
		page.After = next
	}
}

// Changed tells every observer that applications or their routes changed, inside
// ctx's transaction: the route service calls it after writing routes.
func (a *Applications) Changed(ctx context.Context) error { return a.changed(ctx) }

func (a *Applications) changed(ctx context.Context) error {
	for _, o := range a.observers {
		if err := o.ApplicationsChanged(ctx); err != nil {
			return err
		}
	}
	return nil
}
