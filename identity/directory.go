package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/weft-fabric/weft/identity/password"
)

// Password rules, after NIST SP 800-63B: a length floor, a generous ceiling, no
// composition rules. The floor is above 800-63B's 8 because a password may be the only
// factor until MFA lands.
const (
	MinPasswordLen = 12 // characters
	MaxPasswordLen = password.MaxLen
)

// AdminGroup is the group whose members administer Weft. The bootstrap administrator
// is put in it.
const AdminGroup = "weft-admins"

// Directory is the directory service: the rules over users, groups, machine identities
// and passwords. Handlers, the CLI and `weft apply` all go through it.
type Directory struct {
	store  DirectoryStore
	tx     Transactor
	hasher *password.Hasher
	now    func() time.Time
	dummy  string // hash verified when the user is unknown, to equalise timing
	// observers hear of status and password changes in their transaction, in order.
	observers []AccountObserver
}

// AccountObserver learns of account changes inside the transaction that makes them, so
// that what it writes (security events for shared-signals receivers) commits or rolls
// back with the change. An error it returns undoes the change.
type AccountObserver interface {
	// StatusChanged is called after u's status moved from from to u.Status.
	StatusChanged(ctx context.Context, u User, from Status) error
	// PasswordChanged is called after u's password was set or replaced by an
	// administrator or a fabric file; not when a login upgrades the hash of the same
	// password.
	PasswordChanged(ctx context.Context, u User) error
}

// MachineObserver learns of a machine identity's status changes inside the change's
// transaction, as AccountObserver does of users'; the directory tells every observer
// that implements it. An error it returns undoes the change.
type MachineObserver interface {
	// MachineStatusChanged is called after m's status moved from from to m.Status.
	MachineStatusChanged(ctx context.Context, m MachineIdentity, from Status) error
}

// NewDirectory builds the service. observers learn of every account change, in this
// order, inside the change's transaction: the revocation service (a suspension ends the
// user's sessions and tokens) and the shared-signals transmitter, in production.
func NewDirectory(store DirectoryStore, tx Transactor, hasher *password.Hasher, observers ...AccountObserver) *Directory {
	return &Directory{store: store, tx: tx, hasher: hasher, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		dummy: hasher.Dummy(), observers: observers}
}

// InTx runs fn in one transaction (see Transactor).
func (d *Directory) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return d.tx.InTx(ctx, fn)
}

// NewUser is the input of CreateUser.
type NewUser struct {
	Username    string
	Email       string
	DisplayName string
	Status      Status // empty means active
	// Password, if set, is hashed with argon2id. PasswordHash, if set instead, must be an
	// argon2id PHC string (for migrations from other systems). At most one of them.
	Password     string
	PasswordHash string
}

// CreateUser validates, normalises and stores a new user with a fresh opaque id.
// Returns ErrInvalid (a *ValidationError) or ErrConflict if the username or email is taken.
func (d *Directory) CreateUser(ctx context.Context, in NewUser) (User, error) {
	key, err := NormalizeUsername(in.Username)
	if err != nil {
		return User{}, err
	}
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return User{}, err
	}
	if err := checkText("display_name", in.DisplayName, maxDisplayNameLen); err != nil {
		return User{}, err
	}
	status := in.Status
	if status == "" {
		status = StatusActive
	}
	if _, err := ParseStatus(string(status)); err != nil {
		return User{}, err
	}
	hash, err := d.credential(in.Username, in.Password, in.PasswordHash)
	if err != nil {
		return User{}, err
	}
	now := d.now()
	u := User{ID: uuid.NewString(), Username: strings.TrimSpace(in.Username), Email: email,
		DisplayName: in.DisplayName, Status: status, CreatedAt: now, UpdatedAt: now}
	err = d.tx.InTx(ctx, func(ctx context.Context) error {
		if err := d.store.CreateUser(ctx, u, key); err != nil {
			return userConflict(err)
		}
		if hash != "" {
			return d.store.SetPasswordHash(ctx, u.ID, hash)
		}
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// credential checks and hashes a password, or checks a supplied hash.
func (d *Directory) credential(username, pw, hash string) (string, error) {
	switch {
	case pw != "" && hash != "":
		return "", invalid("password", "give a password or a password hash, not both")
	case pw != "":
		if err := CheckPassword(username, pw); err != nil {
			return "", err
		}
		return d.hasher.Hash(pw)
	case hash != "":
		if _, _, _, err := password.Decode(hash); err != nil {
			return "", invalid("password_hash", "must be an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash) with sane parameters")
		}
		return hash, nil
	}
	return "", nil
}

// CheckPassword applies the password rules. The message never echoes the password.
func CheckPassword(username, pw string) error {
	if !utf8.ValidString(pw) {
		return invalid("password", "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(pw); n < MinPasswordLen {
		return invalid("password", fmt.Sprintf("must be at least %d characters", MinPasswordLen))
	}
	if len(pw) > MaxPasswordLen {
		return invalid("password", fmt.Sprintf("must be at most %d bytes", MaxPasswordLen))
	}
	// Compare normalised forms, so a full-width or differently cased spelling of the
	// username is refused too.
	k, kerr := NormalizeUsername(username)
	if p, perr := NormalizeUsername(strings.TrimSpace(pw)); kerr == nil && perr == nil && p == k {
		return invalid("password", "must not be the username")
	}
	return nil
}

func userConflict(err error) error {
	if errors.Is(err, ErrConflict) {
		// Which of the two unique keys collided is visible only to administrators, who
		// may see the directory anyway; the message names both to stay simple.
		return fmt.Errorf("a user with this username or email already exists: %w", ErrConflict)
	}
	return err
}

// UserByID returns ErrNotFound if absent.
func (d *Directory) UserByID(ctx context.Context, id string) (User, error) {
	return d.store.UserByID(ctx, id)
}

// UserByUsername normalises username and looks it up; ErrNotFound if absent, ErrInvalid if
// the username could never exist.
func (d *Directory) UserByUsername(ctx context.Context, username string) (User, error) {
	key, err := NormalizeUsername(username)
	if err != nil {
		return User{}, err
	}
	return d.store.UserByUsername(ctx, key)
}

// ListUsers returns one page of users and the cursor of the next.
func (d *Directory) ListUsers(ctx context.Context, f UserFilter, p Page) ([]User, string, error) {
	if f.Status != "" {
		if _, err := ParseStatus(string(f.Status)); err != nil {
			return nil, "", err
		}
	}
	return d.store.ListUsers(ctx, f, p)
}

// UserPatch changes some profile fields; nil fields are left alone.
type UserPatch struct {
	Username    *string
	Email       *string
	DisplayName *string
}

// UpdateUser applies p and reports whether anything changed (no write happens when
// nothing does, so declarative apply stays idempotent).
func (d *Directory) UpdateUser(ctx context.Context, id string, p UserPatch) (User, bool, error) {
	var (
		out     User
		changed bool
	)
	err := d.tx.InTx(ctx, func(ctx context.Context) error {
		u, err := d.store.UserByID(ctx, id)
		if err != nil {
			return err
		}
		next := u
		if p.Username != nil {
			next.Username = strings.TrimSpace(*p.Username)
		}
		key, err := NormalizeUsername(next.Username)
		if err != nil {
			return err
		}
		if p.Email != nil {
			if next.Email, err = NormalizeEmail(*p.Email); err != nil {
				return err
			}
		}
		if p.DisplayName != nil {
			if err := checkText("display_name", *p.DisplayName, maxDisplayNameLen); err != nil {
				return err
			}
			next.DisplayName = *p.DisplayName
		}
		out = u
		if next.Username == u.Username && next.Email == u.Email && next.DisplayName == u.DisplayName {
			return nil
		}
		next.UpdatedAt = d.now()
		if err := d.store.UpdateUser(ctx, next, key); err != nil {
			return userConflict(err)
		}
		out, changed = next, true
		return nil
	})
	return out, changed, err
}

// SetStatus moves a user between statuses. Deprovisioning is final: a deprovisioned
// account cannot be reactivated or suspended, so a retired identity is never revived.
func (d *Directory) SetStatus(ctx context.Context, id string, s Status) (User, bool, error) {
	if _, err := ParseStatus(string(s)); err != nil {
		return User{}, false, err
	}
	var (
		out     User
		changed bool
	)
	err := d.tx.InTx(ctx, func(ctx context.Context) error {
		u, err := d.store.UserByID(ctx, id)
		if err != nil {
			return err
		}
		out = u
		if u.Status == s {
			return nil
		}
		if u.Status == StatusDeprovisioned {
			return invalid("status", "a deprovisioned account cannot change status")
		}
		if u.Status == StatusActive {
			if err := d.keepAnAdmin(ctx, u.ID); err != nil {
				return err
			}
		}
		key, err := NormalizeUsername(u.Username)
		if err != nil {
			return err
		}
		from := u.Status
		u.Status, u.UpdatedAt = s, d.now()
		if err := d.store.UpdateUser(ctx, u, key); err != nil {
			return err
		}
		out, changed = u, true
		ctx = freshChange(ctx)
		for _, o := range d.observers {
			if err := o.StatusChanged(ctx, u, from); err != nil {
				return err
			}
		}
		return nil
	})
	return out, changed, err
}

// SetPassword checks the rules and stores a fresh argon2id hash. An empty password is
// refused: it must never erase the credential.
func (d *Directory) SetPassword(ctx context.Context, userID, pw string) error {
	if pw == "" {
		return invalid("password", "must not be empty")
	}
	u, err := d.store.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	hash, err := d.credential(u.Username, pw, "")
	if err != nil {
		return err
	}
	return d.tx.InTx(ctx, func(ctx context.Context) error {
		if err := d.store.SetPasswordHash(ctx, userID, hash); err != nil {
			return err
		}
		return d.passwordChanged(ctx, u)
	})
}

// passwordChanged tells every observer, in order; the first error undoes the change.
func (d *Directory) passwordChanged(ctx context.Context, u User) error {
	ctx = freshChange(ctx)
	for _, o := range d.observers {
		if err := o.PasswordChanged(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// SetPasswordHash stores a pre-computed argon2id PHC hash after checking its form and
// parameters. It reports whether the stored hash changed.
func (d *Directory) SetPasswordHash(ctx context.Context, userID, hash string) (bool, error) {
	if hash == "" {
		return false, invalid("password_hash", "must not be empty")
	}
	if _, err := d.credential("", "", hash); err != nil {
		return false, err
	}
	cur, err := d.store.PasswordHash(ctx, userID)
	if err == nil && cur == hash {
		return false, nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	err = d.tx.InTx(ctx, func(ctx context.Context) error {
		if err := d.store.SetPasswordHash(ctx, userID, hash); err != nil {
			return err
		}
		if len(d.observers) == 0 {
			return nil
		}
		u, err := d.store.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		return d.passwordChanged(ctx, u)
	})
	return err == nil, err
}

// PasswordMatches reports whether pw is the user's current password; false when the user
// has none. It lets `weft apply` leave a correct password alone instead of re-salting it.
func (d *Directory) PasswordMatches(ctx context.Context, userID, pw string) (bool, error) {
	hash, err := d.store.PasswordHash(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	err = d.hasher.Verify(ctx, pw, hash)
	if errors.Is(err, password.ErrBusy) {
		return false, err
	}
	return err == nil, nil
}

// Authenticate checks a username and password. Every failure (unknown user, wrong
// password, no password, account not active) returns ErrInvalidCredentials after the
// same argon2id work, so neither the answer nor its timing tells whether the account
// exists. A hash made with older parameters is upgraded on success.
func (d *Directory) Authenticate(ctx context.Context, username, pw string) (User, error) {
	hash := d.dummy
	u, err := d.UserByUsername(ctx, username)
	if err == nil {
		if h, herr := d.store.PasswordHash(ctx, u.ID); herr == nil {
			hash = h
		} else if !errors.Is(herr, ErrNotFound) {
			return User{}, herr
		}
	} else if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInvalid) {
		return User{}, err
	}
	verr := d.hasher.Verify(ctx, pw, hash)
	if errors.Is(verr, password.ErrBusy) || ctx.Err() != nil {
		// Nothing was checked, for anyone: not a failed login (ui answers 503).
		return User{}, errors.Join(verr, ctx.Err())
	}
	if err != nil || verr != nil || hash == d.dummy || u.Status != StatusActive {
		return User{}, ErrInvalidCredentials
	}
	if d.hasher.NeedsRehash(hash) {
		if nh, herr := d.hasher.Hash(pw); herr == nil {
			_ = d.store.SetPasswordHash(ctx, u.ID, nh) // best effort: the login itself succeeded
		}
	}
	return u, nil
}

// NewGroup is the input of CreateGroup.
type NewGroup struct {
	Name        string
	Description string
}

// CreateGroup returns ErrInvalid or ErrConflict.
func (d *Directory) CreateGroup(ctx context.Context, in NewGroup) (Group, error) {
	key, err := NormalizeName("name", in.Name)
	if err != nil {
		return Group{}, err
	}
	if err := checkText("description", in.Description, maxDescriptionLen); err != nil {
		return Group{}, err
	}
	now := d.now()
	g := Group{ID: uuid.NewString(), Name: strings.TrimSpace(in.Name), Description: in.Description, CreatedAt: now, UpdatedAt: now}
	if err := d.store.CreateGroup(ctx, g, key); err != nil {
		if errors.Is(err, ErrConflict) {
			return Group{}, fmt.Errorf("a group with this name already exists: %w", ErrConflict)
		}
		return Group{}, err
	}
	return g, nil
}

// UpdateGroupDescription reports whether it changed anything.
func (d *Directory) UpdateGroupDescription(ctx context.Context, id, description string) (Group, bool, error) {
	if err := checkText("description", description, maxDescriptionLen); err != nil {
		return Group{}, false, err
	}
	g, err := d.store.GroupByID(ctx, id)
	if err != nil || g.Description == description {
		return g, false, err
	}
	key, err := NormalizeName("name", g.Name)
	if err != nil {
		return Group{}, false, err
	}
	g.Description, g.UpdatedAt = description, d.now()
	return g, true, d.store.UpdateGroup(ctx, g, key)
}

// GroupByID returns ErrNotFound if absent.
func (d *Directory) GroupByID(ctx context.Context, id string) (Group, error) {
	return d.store.GroupByID(ctx, id)
}

// GroupByName normalises and looks up.
func (d *Directory) GroupByName(ctx context.Context, name string) (Group, error) {
	key, err := NormalizeName("name", name)
	if err != nil {
		return Group{}, err
	}
	return d.store.GroupByName(ctx, key)
}

// ListGroups returns one page of groups.
func (d *Directory) ListGroups(ctx context.Context, p Page) ([]Group, string, error) {
	return d.store.ListGroups(ctx, p)
}

// DeleteGroup removes a group and its memberships. AdminGroup cannot be deleted while
// it has an active member (ErrLastAdmin).
func (d *Directory) DeleteGroup(ctx context.Context, id string) error {
	return d.tx.InTx(ctx, func(ctx context.Context) error {
		g, err := d.store.GroupByID(ctx, id)
		if err != nil {
			return err
		}
		if IsAdminGroup(g.Name) {
			if err := d.tx.Lock(ctx, "weft.admins"); err != nil {
				return err
			}
			members, err := d.store.Members(ctx, id)
			if err != nil {
				return err
			}
			for _, m := range members {
				if m.Status == StatusActive {
					return ErrLastAdmin
				}
			}
		}
		return d.store.DeleteGroup(ctx, id)
	})
}

// AddMember is idempotent; ErrNotFound if the group or user is missing.
func (d *Directory) AddMember(ctx context.Context, groupID, userID string) error {
	return d.store.AddMember(ctx, groupID, userID)
}

// RemoveMember is idempotent. Removing the last active member of AdminGroup is
// refused with ErrLastAdmin.
func (d *Directory) RemoveMember(ctx context.Context, groupID, userID string) error {
	return d.tx.InTx(ctx, func(ctx context.Context) error {
		if err := d.guardAdminRemoval(ctx, groupID, userID); err != nil {
			return err
		}
		return d.store.RemoveMember(ctx, groupID, userID)
	})
}

// guardAdminRemoval applies keepAnAdmin when groupID is AdminGroup.
func (d *Directory) guardAdminRemoval(ctx context.Context, groupID, userID string) error {
	g, err := d.store.GroupByID(ctx, groupID)
	if err != nil {
		return err
	}
	if !IsAdminGroup(g.Name) {
		return nil
	}
	return d.keepAnAdmin(ctx, userID)
}

// Members lists a group's users.
func (d *Directory) Members(ctx context.Context, groupID string) ([]User, error) {
	if _, err := d.store.GroupByID(ctx, groupID); err != nil {
		return nil, err
	}
	return d.store.Members(ctx, groupID)
}

// GroupsOf lists a user's groups.
func (d *Directory) GroupsOf(ctx context.Context, userID string) ([]Group, error) {
	return d.store.GroupsOf(ctx, userID)
}

// adminKey is AdminGroup normalised, as group names are compared.
var adminKey, _ = NormalizeName("name", AdminGroup)

// IsAdmin reports whether userID is a member of AdminGroup: the rule for a person's
// token on Weft's own machine APIs (admin, revocation, shared signals).
func (d *Directory) IsAdmin(ctx context.Context, userID string) (bool, error) {
	groups, err := d.store.GroupsOf(ctx, userID)
	if err != nil {
		return false, err
	}
	for _, g := range groups {
		if k, err := NormalizeName("name", g.Name); err == nil && k == adminKey {
			return true, nil
		}
	}
	return false, nil
}

// SetMembers makes the group's members exactly userIDs, in one transaction, and reports
// whether anything changed.
func (d *Directory) SetMembers(ctx context.Context, groupID string, userIDs []string) (bool, error) {
	changed := false
	err := d.tx.InTx(ctx, func(ctx context.Context) error {
		cur, err := d.Members(ctx, groupID)
		if err != nil {
			return err
		}
		want := make(map[string]bool, len(userIDs))
		for _, id := range userIDs {
			want[id] = true
		}
		have := make(map[string]bool, len(cur))
		for _, u := range cur {
			have[u.ID] = true
		}
		// Additions first, so that replacing the last administrator by another is
		// not mistaken for removing the last one.
		for _, id := range userIDs {
			if !have[id] {
				if err := d.store.AddMember(ctx, groupID, id); err != nil {
					return err
				}
				have[id], changed = true, true
			}
		}
		for _, u := range cur {
			if !want[u.ID] {
				if err := d.guardAdminRemoval(ctx, groupID, u.ID); err != nil {
					return err
				}
				if err := d.store.RemoveMember(ctx, groupID, u.ID); err != nil {
					return err
				}
				changed = true
			}
		}
		return nil
	})
	return changed, err
}

// NewMachine is the input of CreateMachine.
type NewMachine struct {
	Name        string
	Description string
	OwnerID     string
	Status      Status // empty means active
}

func (d *Directory) checkMachine(ctx context.Context, name, description, ownerID string) (string, error) {
	key, err := NormalizeName("name", name)
	if err != nil {
		return "", err
	}
	if err := checkText("description", description, maxDescriptionLen); err != nil {
		return "", err
	}
	if ownerID == "" {
		return "", invalid("owner", "is required: every machine identity has a user who answers for it")
	}
	owner, err := d.store.UserByID(ctx, ownerID)
	if errors.Is(err, ErrNotFound) {
		return "", invalid("owner", "no such user")
	}
	if err != nil {
		return "", err
	}
	if owner.Status == StatusDeprovisioned {
		return "", invalid("owner", "a deprovisioned user cannot own a machine identity")
	}
	return key, nil
}

// CreateMachine validates the owner and stores a new machine identity.
func (d *Directory) CreateMachine(ctx context.Context, in NewMachine) (MachineIdentity, error) {
	var m MachineIdentity
	status := in.Status
	if status == "" {
		status = StatusActive
	}
	if _, err := ParseMachineStatus(string(status)); err != nil {
		return m, err
	}
	err := d.tx.InTx(ctx, func(ctx context.Context) error {
		key, err := d.checkMachine(ctx, in.Name, in.Description, in.OwnerID)
		if err != nil {
			return err
		}
		now := d.now()
		m = MachineIdentity{ID: uuid.NewString(), Name: strings.TrimSpace(in.Name), Description: in.Description,
			OwnerID: in.OwnerID, Status: status, CreatedAt: now, UpdatedAt: now}
		if err := d.store.CreateMachine(ctx, m, key); err != nil {
			if errors.Is(err, ErrConflict) {
				return fmt.Errorf("a machine identity with this name already exists: %w", ErrConflict)
			}
			return err
		}
		return nil
	})
	return m, err
}

// UpdateMachine changes description and owner, reporting whether anything changed.
func (d *Directory) UpdateMachine(ctx context.Context, id, description, ownerID string) (MachineIdentity, bool, error) {
	var (
		out     MachineIdentity
		changed bool
	)
	err := d.tx.InTx(ctx, func(ctx context.Context) error {
		m, err := d.store.MachineByID(ctx, id)
		if err != nil {
			return err
		}
		out = m
		if m.Description == description && m.OwnerID == ownerID {
			return nil
		}
		key, err := d.checkMachine(ctx, m.Name, description, ownerID)
		if err != nil {
			return err
		}
		m.Description, m.OwnerID, m.UpdatedAt = description, ownerID, d.now()
		if err := d.store.UpdateMachine(ctx, m, key); err != nil {
			return err
		}
		out, changed = m, true
		return nil
	})
	return out, changed, err
}

// SetMachineStatus disables or enables a machine identity, reporting whether the status
// changed. The directory's machine observers hear of the change in its transaction:
// the revocation service revokes every token of a machine identity it disables.
// ErrNotFound if absent; ErrInvalid for another status.
func (d *Directory) SetMachineStatus(ctx context.Context, id string, s Status) (MachineIdentity, bool, error) {
	if _, err := ParseMachineStatus(string(s)); err != nil {
		return MachineIdentity{}, false, err
	}
	var (
		out     MachineIdentity
		changed bool
	)
	err := d.tx.InTx(ctx, func(ctx context.Context) error {
		m, err := d.store.MachineByID(ctx, id)
		if err != nil {
			return err
		}
		out = m
		if m.Status == s {
			return nil
		}
		key, err := NormalizeName("name", m.Name)
		if err != nil {
			return err
		}
		from := m.Status
		m.Status, m.UpdatedAt = s, d.now()
		if err := d.store.UpdateMachine(ctx, m, key); err != nil {
			return err
		}
		out, changed = m, true
		ctx = freshChange(ctx)
		for _, o := range d.observers {
			if mo, ok := o.(MachineObserver); ok {
				if err := mo.MachineStatusChanged(ctx, m, from); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return out, changed, err
}

// MachineByID returns ErrNotFound if absent.
func (d *Directory) MachineByID(ctx context.Context, id string) (MachineIdentity, error) {
	return d.store.MachineByID(ctx, id)
}

// MachineByName normalises and looks up.
func (d *Directory) MachineByName(ctx context.Context, name string) (MachineIdentity, error) {
	key, err := NormalizeName("name", name)
	if err != nil {
		return MachineIdentity{}, err
	}
	return d.store.MachineByName(ctx, key)
}

// ListMachines returns one page of machine identities.
func (d *Directory) ListMachines(ctx context.Context, p Page) ([]MachineIdentity, string, error) {
	return d.store.ListMachines(ctx, p)
}

// Bootstrap is what EnsureBootstrapAdmin did.
type Bootstrap struct {
	Created bool
	User    User
	// GeneratedPassword is set when no password was supplied and one was generated; the
	// caller shows it once and never stores it.
	GeneratedPassword string
}

// EnsureBootstrapAdmin creates the first administrator (and the AdminGroup) when the
// directory has no users at all, and does nothing otherwise. It runs in one transaction
// under a lock; when several nodes start at once, the later ones see a non-empty
// directory and do nothing.
func (d *Directory) EnsureBootstrapAdmin(ctx context.Context, username, pw string) (Bootstrap, error) {
	var out Bootstrap
	generated := ""
	if pw == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return out, err
		}
		generated = base64.RawURLEncoding.EncodeToString(b) // 24 characters, 144 bits
		pw = generated
	}
	err := d.tx.InTx(ctx, func(ctx context.Context) error {
		// Serialise bootstrap across nodes: without the lock, two nodes configured with
		// different admin names could both see an empty directory on PostgreSQL.
		if err := d.tx.Lock(ctx, "weft.bootstrap"); err != nil {
			return err
		}
		n, err := d.store.CountUsers(ctx)
		if err != nil || n > 0 {
			return err
		}
		u, err := d.CreateUser(ctx, NewUser{Username: username, DisplayName: "Weft administrator", Password: pw})
		if err != nil {
			return fmt.Errorf("bootstrap administrator: %w", err)
		}
		g, err := d.GroupByName(ctx, AdminGroup)
		if errors.Is(err, ErrNotFound) {
			g, err = d.CreateGroup(ctx, NewGroup{Name: AdminGroup, Description: "Administrators of Weft"})
		}
		if err != nil {
			return err
		}
		if err := d.store.AddMember(ctx, g.ID, u.ID); err != nil {
			return err
		}
		out = Bootstrap{Created: true, User: u, GeneratedPassword: generated}
		return nil
	})
	if errors.Is(err, ErrConflict) {
		return Bootstrap{}, nil // another node won the race
	}
	if err != nil {
		return Bootstrap{}, err
	}
	return out, nil
}
