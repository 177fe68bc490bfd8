package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

// Kind names an object kind in a Report.
type Kind string

// Object kinds.
const (
	KindUser    Kind = "user"
	KindGroup   Kind = "group"
	KindMachine Kind = "machine_identity"
	KindClient  Kind = "client"
	KindApp     Kind = "application"
)

// Action is what apply did to one object.
type Action string

// Actions.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
)

// Change is one object's outcome.
type Change struct {
	Kind   Kind   `json:"kind"`
	Name   string `json:"name"`
	Action Action `json:"action"`
}

// Report lists every declared object and what happened to it.
type Report struct {
	DryRun  bool     `json:"dry_run"`
	Changes []Change `json:"changes"`
}

// Count returns how many objects got action a.
func (r Report) Count(a Action) int {
	n := 0
	for _, c := range r.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// Applier applies documents through the domain services, never around them, so every
// rule that guards the admin API and CLI guards apply too.
type Applier struct {
	Directory *identity.Directory
	Clients   *access.Clients
	// Applications and Routes apply the applications section; they share the
	// Directory's database, so one transaction covers the whole file.
	Applications *identity.Applications
	Routes       *access.Routes
}

var errDryRun = errors.New("dry run")

// Apply checks doc and applies it in one transaction. On any problem it returns *Errors
// (each with the line it concerns) and nothing is written. With dryRun the work is done
// and rolled back, so the report shows exactly what a real run would change.
func (a *Applier) Apply(ctx context.Context, doc *Document, dryRun bool) (Report, error) {
	errs := &Errors{File: doc.File}
	keys := check(doc, errs)
	if err := errs.errOrNil(); err != nil {
		return Report{}, err
	}
	rep := Report{DryRun: dryRun}
	err := a.Directory.InTx(ctx, func(ctx context.Context) error {
		rep.Changes = rep.Changes[:0]
		if err := a.apply(ctx, doc, keys, &rep, errs); err != nil {
			return err
		}
		if err := errs.errOrNil(); err != nil {
			return err
		}
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	if err != nil {
		return Report{}, err
	}
	return rep, nil
}

// apply writes in dependency order. A problem tied to a line is added to errs and stops
// the run (the transaction is then rolled back by the caller).
func (a *Applier) apply(ctx context.Context, doc *Document, keys normalized, rep *Report, errs *Errors) error {
	d := a.Directory
	userIDs := map[string]string{} // normalised username → id, for references
	for i, s := range doc.Users {
		act, id, err := a.applyUser(ctx, s)
		if err != nil {
			return located2(errs, s.at, err)
		}
		userIDs[keys.users[i]] = id
		rep.Changes = append(rep.Changes, Change{KindUser, s.Username, act})
	}
	resolve := func(at located, field string, pos Pos, username string) (string, bool) {
		key, err := identity.NormalizeUsername(username)
		if err != nil {
			errs.add(pos, at.path+"."+field, "%q is not a valid username", username)
			return "", false
		}
		if id, ok := userIDs[key]; ok {
			return id, true
		}
		u, err := d.UserByUsername(ctx, username)
		if err != nil {
			errs.add(pos, at.path+"."+field, "unknown user %q (declare it under users or create it first)", username)
			return "", false
		}
		userIDs[key] = u.ID
		return u.ID, true
	}
	for _, s := range doc.Groups {
		ids := make([]string, 0, len(s.Members))
		for j, m := range s.Members {
			pos := s.at.at("members")
			if j < len(s.memberPos) {
				pos = s.memberPos[j]
			}
			if id, ok := resolve(s.at, fmt.Sprintf("members[%d]", j), pos, m); ok {
				ids = append(ids, id)
			}
		}
		if len(errs.Problems) > 0 {
			return nil
		}
		act, err := a.applyGroup(ctx, s, ids)
		if err != nil {
			return located2(errs, s.at, err)
		}
		rep.Changes = append(rep.Changes, Change{KindGroup, s.Name, act})
	}
	for _, s := range doc.Machines {
		owner, ok := resolve(s.at, "owner", s.at.at("owner"), s.Owner)
		if !ok {
			return nil
		}
		act, err := a.applyMachine(ctx, s, owner)
		if err != nil {
			return located2(errs, s.at, err)
		}
		rep.Changes = append(rep.Changes, Change{KindMachine, s.Name, act})
	}
	for _, s := range doc.Clients {
		owner := ""
		if s.Owner != "" {
			var ok bool
			if owner, ok = resolve(s.at, "owner", s.at.at("owner"), s.Owner); !ok {
				return nil
			}
		}
		spec := s.spec(owner)
		if s.MachineIdentity != "" {
			m, err := d.MachineByName(ctx, s.MachineIdentity)
			if err != nil {
				errs.add(s.at.at("machine_identity"), s.at.path+".machine_identity",
					"unknown machine identity %q (declare it under machine_identities or create it first)", s.MachineIdentity)
				return nil
			}
			spec.MachineIdentityID = m.ID
		}
		created, changed, err := a.Clients.Apply(ctx, spec)
		if err != nil {
			return located2(errs, s.at, err)
		}
		rep.Changes = append(rep.Changes, Change{KindClient, s.ID, action(created, changed)})
	}
	if len(doc.Apps) > 0 && (a.Applications == nil || a.Routes == nil) {
		return errors.New("apply: applications are declared but this applier has no application service")
	}
	for _, s := range doc.Apps {
		act, err := a.applyApp(ctx, s)
		if err != nil {
			return located2(errs, s.at, err)
		}
		rep.Changes = append(rep.Changes, Change{KindApp, s.ID, act})
	}
	return nil
}

// applyApp creates or updates an application and makes its routes exactly those
// declared. A route another application holds is a conflict reported at the item.
func (a *Applier) applyApp(ctx context.Context, s AppSpec) (Action, error) {
	specs := make([]access.RouteSpec, len(s.Routes))
	for i, r := range s.Routes {
		specs[i] = access.RouteSpec{Host: r.Host, PathPrefix: r.PathPrefix}
	}
	created, changed := false, false
	_, err := a.Applications.ByID(ctx, s.ID)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		_, err = a.Applications.Create(ctx, identity.NewApplication{ID: s.ID, Name: s.Name, Description: s.Description, Sensitive: s.Sensitive})
		created = true
	case err == nil:
		_, changed, err = a.Applications.Update(ctx, s.ID, identity.ApplicationPatch{Name: &s.Name, Description: &s.Description, Sensitive: &s.Sensitive})
	}
	if err != nil {
		return "", err
	}
	_, routesChanged, err := a.Routes.Set(ctx, s.ID, specs)
	if err != nil {
		return "", err
	}
	return action(created, changed || routesChanged), nil
}

func action(created, changed bool) Action {
	switch {
	case created:
		return Created
	case changed:
		return Updated
	}
	return Unchanged
}

// located2 turns a domain error into a positioned problem when it is the input's
// fault (validation, conflict, missing reference) and passes other errors through.
func located2(errs *Errors, at located, err error) error {
	var ve *identity.ValidationError
	switch {
	case errors.As(err, &ve):
		errs.add(at.at(ve.Field), at.path+"."+ve.Field, "%s", ve.Reason)
	case errors.Is(err, identity.ErrConflict):
		errs.add(at.item, at.path, "%v", err)
	case errors.Is(err, identity.ErrNotFound):
		errs.add(at.item, at.path, "refers to something that does not exist: %v", err)
	default:
		return fmt.Errorf("%s: %w", at.path, err)
	}
	return nil
}

func (a *Applier) applyUser(ctx context.Context, s UserSpec) (Action, string, error) {
	d := a.Directory
	status := identity.Status(s.Status)
	u, err := d.UserByUsername(ctx, s.Username)
	if errors.Is(err, identity.ErrNotFound) {
		u, err = d.CreateUser(ctx, identity.NewUser{Username: s.Username, Email: s.Email, DisplayName: s.DisplayName,
			Status: status, Password: s.Password, PasswordHash: s.PasswordHash})
		return Created, u.ID, err
	}
	if err != nil {
		return "", "", err
	}
	changed := false
	// The username is the key; its display form follows the file.
	_, c, err := d.UpdateUser(ctx, u.ID, identity.UserPatch{Username: &s.Username, Email: &s.Email, DisplayName: &s.DisplayName})
	if err != nil {
		return "", "", err
	}
	changed = changed || c
	if status != "" {
		if _, c, err = d.SetStatus(ctx, u.ID, status); err != nil {
			return "", "", err
		}
		changed = changed || c
	}
	switch {
	case s.Password != "":
		ok, err := d.PasswordMatches(ctx, u.ID, s.Password)
		if err != nil {
			return "", "", err
		}
		if !ok {
			if err := d.SetPassword(ctx, u.ID, s.Password); err != nil {
				return "", "", err
			}
			changed = true
		}
	case s.PasswordHash != "":
		if c, err = d.SetPasswordHash(ctx, u.ID, s.PasswordHash); err != nil {
			return "", "", err
		}
		changed = changed || c
	}
	return action(false, changed), u.ID, nil
}

func (a *Applier) applyGroup(ctx context.Context, s GroupSpec, memberIDs []string) (Action, error) {
	d := a.Directory
	g, err := d.GroupByName(ctx, s.Name)
	created := false
	if errors.Is(err, identity.ErrNotFound) {
		g, err = d.CreateGroup(ctx, identity.NewGroup{Name: s.Name, Description: s.Description})
		created = true
	}
	if err != nil {
		return "", err
	}
	_, c1, err := d.UpdateGroupDescription(ctx, g.ID, s.Description)
	if err != nil {
		return "", err
	}
	c2, err := d.SetMembers(ctx, g.ID, memberIDs)
	if err != nil {
		return "", err
	}
	return action(created, c1 || c2), nil
}

func (a *Applier) applyMachine(ctx context.Context, s MachineSpec, ownerID string) (Action, error) {
	d := a.Directory
	m, err := d.MachineByName(ctx, s.Name)
	if errors.Is(err, identity.ErrNotFound) {
		_, err = d.CreateMachine(ctx, identity.NewMachine{Name: s.Name, Description: s.Description, OwnerID: ownerID,
			Status: identity.Status(s.Status)})
		return Created, err
	}
	if err != nil {
		return "", err
	}
	_, changed, err := d.UpdateMachine(ctx, m.ID, s.Description, ownerID)
	if err != nil || s.Status == "" {
		return action(false, changed), err
	}
	// Disabling revokes the machine identity's tokens: the revocation service observes
	// the directory, in this transaction.
	_, c, err := d.SetMachineStatus(ctx, m.ID, identity.Status(s.Status))
	return action(false, changed || c), err
}

func (s ClientSpec) spec(ownerID string) access.ClientSpec {
	jwks := ""
	if s.JWKS != nil {
		b, err := json.Marshal(s.JWKS)
		if err != nil {
			jwks = "invalid" // reported by Validate as "not a JWK Set"
		} else {
			jwks = string(b)
		}
	}
	return access.ClientSpec{TokenEndpointAuthMethod: s.TokenEndpointAuthMethod, JWKS: jwks,
		IDTokenSigningAlg: s.IDTokenSignedResponseAlg, PKCERequired: s.PKCERequired, BackchannelLogoutURI: s.BackchannelLogoutURI, ID: s.ID, Name: s.Name, Type: access.ClientType(s.Type), Secret: s.Secret,
		SecretHash: s.SecretHash, RedirectURIs: s.RedirectURIs, GrantTypes: s.GrantTypes, Scopes: s.Scopes, OwnerID: ownerID,
		Introspection: s.Introspection, FirstParty: s.FirstParty, PostLogoutRedirectURIs: s.PostLogoutRedirectURIs,
		AccessTokenFormat: s.AccessTokenFormat, Status: access.ClientStatus(s.Status)}
}
