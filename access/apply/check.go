package apply

import (
	"errors"
	"fmt"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
)

// normalized holds the keys computed by check, by index in the document.
type normalized struct {
	users []string
}

// check applies every rule that needs no database, so that a file with several mistakes
// reports all of them at once, each at its line.
func check(doc *Document, errs *Errors) normalized {
	var keys normalized
	fieldErr := func(at located, err error) {
		var ve *identity.ValidationError
		if errors.As(err, &ve) {
			errs.add(at.at(ve.Field), at.path+"."+ve.Field, "%s", ve.Reason)
			return
		}
		errs.add(at.item, at.path, "%v", err)
	}
	required := func(at located, field, value string) bool {
		if value == "" {
			errs.add(at.item, at.path+"."+field, "is required")
			return false
		}
		return true
	}

	seenUsers := map[string]located{}
	for _, s := range doc.Users {
		key := ""
		if required(s.at, "username", s.Username) {
			k, err := identity.NormalizeUsername(s.Username)
			if err != nil {
				fieldErr(s.at, err)
			} else if prev, dup := seenUsers[k]; dup {
				errs.add(s.at.at("username"), s.at.path+".username",
					"%q is the same username as %s at line %d once normalised (%q)", s.Username, prev.path, prev.at("username").Line, k)
			} else {
				seenUsers[k], key = s.at, k
			}
		}
		keys.users = append(keys.users, key)
		if _, err := identity.NormalizeEmail(s.Email); err != nil {
			fieldErr(s.at, err)
		}
		if s.Status != "" {
			if _, err := identity.ParseStatus(s.Status); err != nil {
				fieldErr(s.at, err)
			}
		}
		switch {
		case s.Password != "" && s.PasswordHash != "":
			errs.add(s.at.at("password_hash"), s.at.path, "give password or password_hash, not both")
		case s.Password != "":
			if err := identity.CheckPassword(s.Username, s.Password); err != nil {
				fieldErr(s.at, err)
			}
		case s.PasswordHash != "":
			if _, _, _, err := decodeHash(s.PasswordHash); err != nil {
				errs.add(s.at.at("password_hash"), s.at.path+".password_hash", "must be an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash) with sane parameters")
			}
		}
	}

	seenGroups := map[string]located{}
	for _, s := range doc.Groups {
		if required(s.at, "name", s.Name) {
			if k, err := identity.NormalizeName("name", s.Name); err != nil {
				fieldErr(s.at, err)
			} else if prev, dup := seenGroups[k]; dup {
				errs.add(s.at.at("name"), s.at.path+".name", "group %q is declared twice (first at line %d)", s.Name, prev.at("name").Line)
			} else {
				seenGroups[k] = s.at
			}
		}
		seenMembers := map[string]bool{}
		for j, m := range s.Members {
			k, err := identity.NormalizeUsername(m)
			pos := s.at.at("members")
			if j < len(s.memberPos) {
				pos = s.memberPos[j]
			}
			if err != nil {
				errs.add(pos, fmt.Sprintf("%s.members[%d]", s.at.path, j), "%q is not a valid username", m)
			} else if seenMembers[k] {
				errs.add(pos, fmt.Sprintf("%s.members[%d]", s.at.path, j), "%q is listed twice", m)
			}
			seenMembers[k] = true
		}
	}

	seenMachines := map[string]located{}
	for _, s := range doc.Machines {
		if required(s.at, "name", s.Name) {
			if k, err := identity.NormalizeName("name", s.Name); err != nil {
				fieldErr(s.at, err)
			} else if prev, dup := seenMachines[k]; dup {
				errs.add(s.at.at("name"), s.at.path+".name", "machine identity %q is declared twice (first at line %d)", s.Name, prev.at("name").Line)
			} else {
				seenMachines[k] = s.at
			}
		}
		required(s.at, "owner", s.Owner)
		if s.Status != "" {
			if _, err := identity.ParseMachineStatus(s.Status); err != nil {
				fieldErr(s.at, err)
			}
		}
	}

	seenClients := map[string]located{}
	for _, s := range doc.Clients {
		if err := s.spec("").Validate(); err != nil {
			fieldErr(s.at, err)
		}
		if prev, dup := seenClients[s.ID]; dup && s.ID != "" {
			errs.add(s.at.at("id"), s.at.path+".id", "client %q is declared twice (first at line %d)", s.ID, prev.at("id").Line)
		} else {
			seenClients[s.ID] = s.at
		}
	}

	seenApps, seenRoutes := map[string]located{}, map[[2]string]located{}
	for _, s := range doc.Apps {
		if required(s.at, "id", s.ID) {
			if err := identity.CheckApplicationID(s.ID); err != nil {
				fieldErr(s.at, err)
			} else if prev, dup := seenApps[s.ID]; dup {
				errs.add(s.at.at("id"), s.at.path+".id", "application %q is declared twice (first at line %d)", s.ID, prev.at("id").Line)
			} else {
				seenApps[s.ID] = s.at
			}
		}
		if required(s.at, "name", s.Name) {
			if err := identity.CheckApplicationText(s.Name, s.Description); err != nil {
				fieldErr(s.at, err)
			}
		}
		checkRoutes(s.Routes, seenRoutes, errs)
	}
	return keys
}

// checkRoutes validates an application's routes, each at its line; a route declared
// twice in the file (once normalised, for any application) is refused at the second.
func checkRoutes(routes []RouteSpec, seen map[[2]string]located, errs *Errors) {
	for _, r := range routes {
		h, herr := access.NormalizeHost(r.Host)
		p, perr := access.NormalizePathPrefix(r.PathPrefix)
		for _, err := range []error{herr, perr} {
			var ve *identity.ValidationError
			if errors.As(err, &ve) {
				errs.add(r.at.at(ve.Field), r.at.path+"."+ve.Field, "%s", ve.Reason)
			}
		}
		if herr != nil || perr != nil {
			continue
		}
		key := [2]string{h, p}
		if prev, dup := seen[key]; dup {
			errs.add(r.at.item, r.at.path, "route %s%s is declared twice (first at line %d, %s)", h, p, prev.item.Line, prev.path)
			continue
		}
		seen[key] = r.at
	}
}

var decodeHash = password.Decode
