package policy

import (
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/cedar-policy/cedar-go/x/exp/schema/resolved"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"
)

// WeftSchema is the Cedar schema every policy is validated against (unless its version
// carries an extension of it): the entities and context Weft fills for each decision.
//
//go:embed weft.cedarschema
var WeftSchema string

// The Weft schema's names, as Cedar spells them.
const (
	namespace = "Weft"

	typeUser        = types.EntityType("Weft::User")
	typeMachine     = types.EntityType("Weft::MachineIdentity")
	typeClient      = types.EntityType("Weft::Client")
	typeGroup       = types.EntityType("Weft::Group")
	typeApplication = types.EntityType("Weft::Application")
	typeRoute       = types.EntityType("Weft::Route")
	typeAction      = types.EntityType("Weft::Action")
)

// compiledSchema is a schema ready to validate policies and to type queries.
type compiledSchema struct {
	resolved  *resolved.Schema
	validator *validate.Validator
	// actions maps the names callers use to the schema's actions: "login" for
	// Weft::Action::"login", "Acme::deploy" for Acme::Action::"deploy".
	actions map[string]types.EntityUID
	// actionNames are the keys of actions, sorted.
	actionNames []string
	// entityTypes maps the names queries use to the schema's entity types: the
	// qualified name, and for the Weft namespace the bare one, each also in lower case.
	entityTypes map[string]types.EntityType
}

func (s *compiledSchema) action(name string) (types.EntityUID, bool) {
	uid, ok := s.actions[name]
	return uid, ok
}

// weftSchema is the built-in schema, compiled once.
var weftSchema = sync.OnceValues(func() (*compiledSchema, error) {
	return parseSchema(WeftSchema)
})

// compileSchema compiles a version's schema: the built-in one when text is empty,
// otherwise text, which must extend it.
func compileSchema(text string) (*compiledSchema, ValidationErrors) {
	base, err := weftSchema()
	if err != nil { // the embedded schema is tested; this is a build defect
		panic(fmt.Sprintf("policy: the built-in Weft schema does not compile: %v", err))
	}
	if strings.TrimSpace(text) == "" {
		return base, nil
	}
	s, err := parseSchema(text)
	if err != nil {
		return nil, ValidationErrors{positioned(SourceSchema, "", err)}
	}
	if problems := extends(base.resolved, s.resolved); len(problems) > 0 {
		errs := make(ValidationErrors, len(problems))
		for i, p := range problems {
			errs[i] = &ValidationError{Source: SourceSchema, Message: p}
		}
		return nil, errs
	}
	return s, nil
}

func parseSchema(text string) (*compiledSchema, error) {
	var s schema.Schema
	if err := s.UnmarshalCedar([]byte(text)); err != nil {
		return nil, err
	}
	r, err := s.Resolve()
	if err != nil {
		return nil, err
	}
	c := &compiledSchema{resolved: r, validator: validate.New(r, validate.WithStrict()), actions: map[string]types.EntityUID{}}
	for uid := range r.Actions {
		name := string(uid.ID)
		if uid.Type != typeAction {
			name = strings.TrimSuffix(string(uid.Type), "Action") + name
		}
		c.actions[name] = uid
		c.actionNames = append(c.actionNames, name)
	}
	slices.Sort(c.actionNames)
	c.entityTypes = make(map[string]types.EntityType, 4*len(r.Entities))
	for et := range r.Entities {
		names := []string{string(et)}
		if short, ok := strings.CutPrefix(string(et), namespace+"::"); ok && !strings.Contains(short, "::") {
			names = append(names, short)
		}
		for _, n := range names {
			c.entityTypes[n] = et
			if _, taken := c.entityTypes[strings.ToLower(n)]; !taken {
				c.entityTypes[strings.ToLower(n)] = et
			}
		}
	}
	return c, nil
}

// positionRE finds the line and column cedar-go puts in its syntax errors
// ("<input>:3:14: ..." or "parse error at <input>:3:14 ...").
var positionRE = regexp.MustCompile(`:(\d+):(\d+)\b[: ]?\s*`)

// positioned turns a cedar-go syntax error into a ValidationError with its position.
func positioned(source, policyID string, err error) *ValidationError {
	msg := err.Error()
	e := &ValidationError{Source: source, PolicyID: policyID, Message: msg}
	if m := positionRE.FindStringSubmatchIndex(msg); m != nil {
		e.Position.Line, _ = strconv.Atoi(msg[m[2]:m[3]])
		e.Position.Column, _ = strconv.Atoi(msg[m[4]:m[5]])
		e.Message = strings.TrimPrefix(msg[m[1]:], "parse error: ")
		if e.Message == "" {
			e.Message = msg
		}
	}
	return e
}

// extends lists how custom fails to extend base. Custom must declare every entity
// type and action of base with the same attributes (same types, same optionality) and
// at least the same parents, principals and resources; what it adds to a record Weft
// fills (an entity's attributes, the context) must be optional, because Weft does not
// fill it: a policy reads it only after `has`.
func extends(base, custom *resolved.Schema) []string {
	var problems []string
	for _, name := range sortedKeys(base.Entities) {
		be := base.Entities[name]
		ce, ok := custom.Entities[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("entity type %s is missing", name))
			continue
		}
		for _, p := range be.ParentTypes {
			if !slices.Contains(ce.ParentTypes, p) {
				problems = append(problems, fmt.Sprintf("entity type %s must stay in %s", name, p))
			}
		}
		problems = append(problems, extendsRecord(string(name), be.Shape, ce.Shape)...)
	}
	for _, uid := range sortedKeys(base.Actions) {
		ba := base.Actions[uid]
		ca, ok := custom.Actions[uid]
		if !ok {
			problems = append(problems, fmt.Sprintf("action %s is missing", uid))
			continue
		}
		if ba.AppliesTo == nil {
			continue
		}
		if ca.AppliesTo == nil {
			problems = append(problems, fmt.Sprintf("action %s must apply to what it applies to in the Weft schema", uid))
			continue
		}
		for _, p := range ba.AppliesTo.Principals {
			if !slices.Contains(ca.AppliesTo.Principals, p) {
				problems = append(problems, fmt.Sprintf("action %s must apply to principal type %s", uid, p))
			}
		}
		for _, r := range ba.AppliesTo.Resources {
			if !slices.Contains(ca.AppliesTo.Resources, r) {
				problems = append(problems, fmt.Sprintf("action %s must apply to resource type %s", uid, r))
			}
		}
		problems = append(problems, extendsRecord(fmt.Sprintf("the context of %s", uid), ba.AppliesTo.Context, ca.AppliesTo.Context)...)
	}
	return problems
}

func extendsRecord(where string, base, custom resolved.RecordType) []string {
	var problems []string
	for _, k := range sortedKeys(base) {
		ba := base[k]
		ca, ok := custom[k]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: attribute %s is missing", where, k))
		case ba.Optional != ca.Optional:
			problems = append(problems, fmt.Sprintf("%s: attribute %s must stay %s", where, k, optionality(ba.Optional)))
		default:
			if br, ok := ba.Type.(resolved.RecordType); ok {
				if cr, ok := ca.Type.(resolved.RecordType); ok {
					problems = append(problems, extendsRecord(where+"."+string(k), br, cr)...)
					continue
				}
			}
			if !sameType(ba.Type, ca.Type) {
				problems = append(problems, fmt.Sprintf("%s: attribute %s must keep its type", where, k))
			}
		}
	}
	for _, k := range sortedKeys(custom) {
		if _, ok := base[k]; !ok && !custom[k].Optional {
			problems = append(problems, fmt.Sprintf("%s: added attribute %s must be optional (Weft does not fill it)", where, k))
		}
	}
	return problems
}

func optionality(optional bool) string {
	if optional {
		return "optional"
	}
	return "required"
}

func sameType(a, b resolved.IsType) bool {
	switch at := a.(type) {
	case resolved.StringType, resolved.LongType, resolved.BoolType:
		return fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b)
	case resolved.ExtensionType:
		bt, ok := b.(resolved.ExtensionType)
		return ok && at == bt
	case resolved.EntityType:
		bt, ok := b.(resolved.EntityType)
		return ok && at == bt
	case resolved.SetType:
		bt, ok := b.(resolved.SetType)
		return ok && sameType(at.Element, bt.Element)
	case resolved.RecordType:
		bt, ok := b.(resolved.RecordType)
		if !ok || len(at) != len(bt) {
			return false
		}
		for k, aa := range at {
			ba, ok := bt[k]
			if !ok || aa.Optional != ba.Optional || !sameType(aa.Type, ba.Type) {
				return false
			}
		}
		return true
	}
	return false
}

func sortedKeys[K comparable, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b K) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return keys
}
