package identity

import (
	"context"
	"time"
)

// Status is the lifecycle state of an account.
type Status string

const (
	// StatusActive accounts may authenticate.
	StatusActive Status = "active"
	// StatusSuspended accounts keep their data but cannot authenticate; reversible.
	StatusSuspended Status = "suspended"
	// StatusDeprovisioned accounts are retired: they cannot authenticate and cannot be
	// reactivated, so their id is never reused for another person.
	StatusDeprovisioned Status = "deprovisioned"
	// StatusDisabled machine identities get no new tokens, and their tokens are
	// refused, until they are enabled again (machine identities only).
	StatusDisabled Status = "disabled"
)

// ParseStatus accepts the three status names.
func ParseStatus(s string) (Status, error) {
	switch Status(s) {
	case StatusActive, StatusSuspended, StatusDeprovisioned:
		return Status(s), nil
	}
	return "", invalid("status", "must be one of active, suspended, deprovisioned")
}

// ParseMachineStatus accepts the statuses of a machine identity: active or disabled.
func ParseMachineStatus(s string) (Status, error) {
	switch Status(s) {
	case StatusActive, StatusDisabled:
		return Status(s), nil
	}
	return "", invalid("status", "must be active or disabled")
}

// User is a person in the directory. ID is stable and opaque (it becomes the OIDC
// `sub`); Username is kept as entered for display, while comparisons use its
// normalised form.
type User struct {
	ID          string
	Username    string
	Email       string
	DisplayName string
	Status      Status
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Group is a named set of users.
type Group struct {
	ID          string
	Name        string
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// MachineIdentity is a non-human principal (a service, a job, a workload). Every one has
// an owner, a user who answers for it.
type MachineIdentity struct {
	ID          string
	Name        string
	Description string
	OwnerID     string
	// Status is StatusActive or StatusDisabled.
	Status    Status
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Page asks for one page of a list. After is the opaque cursor returned by the previous
// page (empty for the first); Limit is capped by the store.
type Page struct {
	After string
	Limit int
}

// MaxPageSize bounds every list call.
const MaxPageSize = 500

// UserFilter narrows ListUsers.
type UserFilter struct {
	Status Status // empty: any
}

// UserStore persists users. Usernames are passed normalised.
type UserStore interface {
	// CreateUser inserts u. Returns ErrConflict if the normalised username or the email
	// key is taken.
	CreateUser(ctx context.Context, u User, usernameKey string) error
	// UpdateUser replaces the mutable fields of the user with u.ID. Returns ErrNotFound
	// if it does not exist and ErrConflict if the new email or username is taken.
	UpdateUser(ctx context.Context, u User, usernameKey string) error
	// UserByID returns ErrNotFound if no such user exists.
	UserByID(ctx context.Context, id string) (User, error)
	// UserByUsername looks up by normalised username; ErrNotFound if absent.
	UserByUsername(ctx context.Context, usernameKey string) (User, error)
	// ListUsers returns users ordered by normalised username, and the cursor of the next
	// page ("" when this is the last).
	ListUsers(ctx context.Context, f UserFilter, p Page) ([]User, string, error)
	// CountUsers counts every user, whatever the status.
	CountUsers(ctx context.Context) (int64, error)
}

// PasswordStore persists password hashes (PHC strings), never plaintext.
type PasswordStore interface {
	// SetPasswordHash creates or replaces the user's password. ErrNotFound if the user
	// does not exist.
	SetPasswordHash(ctx context.Context, userID, hash string) error
	// PasswordHash returns ErrNotFound if the user has no password.
	PasswordHash(ctx context.Context, userID string) (string, error)
}

// GroupStore persists groups and memberships. Names are passed normalised.
type GroupStore interface {
	// CreateGroup returns ErrConflict if the normalised name is taken.
	CreateGroup(ctx context.Context, g Group, nameKey string) error
	// UpdateGroup returns ErrNotFound or ErrConflict.
	UpdateGroup(ctx context.Context, g Group, nameKey string) error
	// DeleteGroup removes the group and its memberships; ErrNotFound if absent.
	DeleteGroup(ctx context.Context, id string) error
	GroupByID(ctx context.Context, id string) (Group, error)
	GroupByName(ctx context.Context, nameKey string) (Group, error)
	ListGroups(ctx context.Context, p Page) ([]Group, string, error)
	// AddMember is idempotent. ErrNotFound if the group or the user does not exist.
	AddMember(ctx context.Context, groupID, userID string) error
	// RemoveMember is idempotent for an absent membership; ErrNotFound if the group
	// does not exist.
	RemoveMember(ctx context.Context, groupID, userID string) error
	// Members lists the users of a group ordered by normalised username.
	Members(ctx context.Context, groupID string) ([]User, error)
	// GroupsOf lists the groups a user belongs to, ordered by name.
	GroupsOf(ctx context.Context, userID string) ([]Group, error)
}

// MachineStore persists machine identities. Names are passed normalised.
type MachineStore interface {
	// CreateMachine returns ErrConflict if the name is taken and ErrNotFound if the
	// owner does not exist.
	CreateMachine(ctx context.Context, m MachineIdentity, nameKey string) error
	UpdateMachine(ctx context.Context, m MachineIdentity, nameKey string) error
	MachineByID(ctx context.Context, id string) (MachineIdentity, error)
	MachineByName(ctx context.Context, nameKey string) (MachineIdentity, error)
	ListMachines(ctx context.Context, p Page) ([]MachineIdentity, string, error)
}

// DirectoryStore is everything the Directory service needs from storage.
type DirectoryStore interface {
	UserStore
	PasswordStore
	GroupStore
	MachineStore
}

// Transactor runs fn in one transaction carried by the context it passes to fn; every
// store call made with that context joins it. An error from fn rolls everything back.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// Lock takes an exclusive lock named name, held until the transaction in ctx ends;
	// it must be called inside InTx. Used where a check-then-insert spans rows that no
	// unique index covers.
	Lock(ctx context.Context, name string) error
	// AfterCommit runs fn once the outermost transaction carried by ctx has committed,
	// before InTx (or Commit) returns, with a context that carries no transaction; if
	// the transaction rolls back, fn never runs. Without a transaction in ctx, fn runs
	// at once. This is how an effect that others can observe (a revocation published
	// to the other nodes) waits for the change it announces to be visible to them.
	AfterCommit(ctx context.Context, fn func(ctx context.Context))
}
