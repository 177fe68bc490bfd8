package policy

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	"github.com/cedar-policy/cedar-go/x/exp/schema/resolved"
)

// entityAliases are the lower-case type names enforcement points use (AuthZEN's
// "user", "route"...) for the Weft schema's entity types.
var entityAliases = map[string]types.EntityType{
	"user":             typeUser,
	"machine":          typeMachine,
	"machine_identity": typeMachine,
	"machineidentity":  typeMachine,
	"client":           typeClient,
	"group":            typeGroup,
	"application":      typeApplication,
	"app":              typeApplication,
	"route":            typeRoute,
}

// entityType resolves a query's type name: an alias, a type the schema declares
// ("Weft::User", "Acme::Document"), or a type of the Weft namespace ("Document" for
// "Weft::Document"); exact spelling first, then in any case.
func (c *Compiled) entityType(name string) (types.EntityType, bool) {
	if t, ok := c.schema.entityTypes[name]; ok {
		return t, true
	}
	lower := strings.ToLower(name)
	if t, ok := entityAliases[lower]; ok {
		return t, true
	}
	t, ok := c.schema.entityTypes[lower]
	return t, ok
}

// Evaluate implements Evaluator: the query's subject and resource become entities of
// the schema's types, their properties its attributes, and its context the action's
// context. Properties the schema declares are converted to the declared type (a JSON
// string for an ipaddr, decimal, datetime or duration; an id or {"type","id"} for an
// entity); undeclared properties are passed as their JSON shape suggests (a policy
// reads them only if the schema declares them, which strict validation requires). A
// declared, required attribute the query leaves out reads as its zero value ("", 0,
// false, an empty set); the context's time defaults to now. A user's "groups" are
// also its parents, a route's "application" its parent. An unknown action or entity
// type is denied with a reason; a property of the wrong type is an ErrInvalid error.
// ActionProperties do not reach the policy: Cedar actions carry no attributes.
func (c *Compiled) Evaluate(_ context.Context, q Query) (Decision, error) {
	action, ok := c.schema.action(q.Action)
	if !ok {
		return c.denied(ReasonUnknownAction, "The policy schema declares no action "+strconv.Quote(q.Action)+"."), nil
	}
	st, ok := c.entityType(q.Subject.Type)
	if !ok {
		return c.denied(ReasonUnknownEntityType, "The policy schema declares no subject type "+strconv.Quote(q.Subject.Type)+"."), nil
	}
	rt, ok := c.entityType(q.Resource.Type)
	if !ok {
		return c.denied(ReasonUnknownEntityType, "The policy schema declares no resource type "+strconv.Quote(q.Resource.Type)+"."), nil
	}
	ents := &entities{}
	subject, err := c.queryEntity(st, q.Subject, "subject", ents)
	if err != nil {
		return Decision{}, err
	}
	resource, err := c.queryEntity(rt, q.Resource, "resource", ents)
	if err != nil {
		return Decision{}, err
	}
	var shape resolved.RecordType
	if a := c.schema.resolved.Actions[action]; a.AppliesTo != nil {
		shape = a.AppliesTo.Context
	}
	cm, err := c.recordMap(shape, q.Context, "context")
	if err != nil {
		return Decision{}, err
	}
	if _, declared := shape["time"]; declared && q.Context["time"] == nil {
		cm["time"] = timeRecord(c.now())
	}
	ctxRec := types.NewRecord(cm)
	return c.decide(ents, cedar.Request{Principal: subject, Action: action, Resource: resource, Context: ctxRec}), nil
}

// queryEntity adds the entity of type t the query names (and a route's application)
// to ents and returns its uid.
func (c *Compiled) queryEntity(t types.EntityType, e Entity, where string, ents *entities) (types.EntityUID, error) {
	if e.ID == "" {
		return types.EntityUID{}, errQuery("%s: id is required", where)
	}
	uid := types.NewEntityUID(t, types.String(e.ID))
	decl := c.schema.resolved.Entities[t]
	attrs, err := c.record(decl.Shape, e.Properties, where+".properties")
	if err != nil {
		return types.EntityUID{}, err
	}
	ent := types.Entity{UID: uid, Attributes: attrs}
	switch t {
	case typeUser:
		if gs, ok := attrs.Get("groups"); ok {
			if set, ok := gs.(types.Set); ok {
				var parents []types.EntityUID
				for v := range set.All() {
					if s, ok := v.(types.String); ok {
						parents = append(parents, types.NewEntityUID(typeGroup, s))
					}
				}
				ent.Parents = types.NewEntityUIDSet(parents...)
			}
		}
	case typeRoute:
		if a, ok := attrs.Get("application"); ok {
			if app, ok := a.(types.EntityUID); ok && app.ID != "" {
				ent.Parents = types.NewEntityUIDSet(app)
				sensitive, _ := attrs.Get("sensitive")
				ents.add(types.Entity{UID: app, Attributes: types.NewRecord(types.RecordMap{"sensitive": sensitive})})
			}
		}
	}
	ents.add(ent)
	return uid, nil
}

// record converts props to a record of shape (nil shape: undeclared, as they come),
// filling the declared, required attributes props leaves out with zero values.
func (c *Compiled) record(shape resolved.RecordType, props map[string]any, where string) (types.Record, error) {
	m, err := c.recordMap(shape, props, where)
	if err != nil {
		return types.Record{}, err
	}
	return types.NewRecord(m), nil
}

func (c *Compiled) recordMap(shape resolved.RecordType, props map[string]any, where string) (types.RecordMap, error) {
	m := make(types.RecordMap, max(len(props), len(shape)))
	for k, v := range props {
		if v == nil {
			continue
		}
		path := where + "." + k
		var (
			val types.Value
			err error
		)
		if a, ok := shape[types.String(k)]; ok {
			val, err = c.convert(a.Type, v, path)
		} else {
			val, err = infer(v, path)
		}
		if err != nil {
			return nil, err
		}
		m[types.String(k)] = val
	}
	for k, a := range shape {
		if _, ok := m[k]; ok || a.Optional {
			continue
		}
		z, ok := zero(a.Type)
		if !ok {
			return nil, errQuery("%s.%s is required", where, k)
		}
		m[k] = z
	}
	return m, nil
}

// convert turns a JSON-shaped value into the declared Cedar type.
func (c *Compiled) convert(t resolved.IsType, v any, path string) (types.Value, error) {
	bad := func(want string) error { return errQuery("%s must be %s", path, want) }
	switch tt := t.(type) {
	case resolved.StringType:
		if s, ok := v.(string); ok {
			return types.String(s), nil
		}
		return nil, bad("a string")
	case resolved.BoolType:
		if b, ok := v.(bool); ok {
			return types.Boolean(b), nil
		}
		return nil, bad("a boolean")
	case resolved.LongType:
		if n, ok := integer(v); ok {
			return types.Long(n), nil
		}
		return nil, bad("an integer")
	case resolved.SetType:
		items, ok := list(v)
		if !ok {
			return nil, bad("an array")
		}
		vs := make([]types.Value, len(items))
		for i, it := range items {
			ev, err := c.convert(tt.Element, it, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			vs[i] = ev
		}
		return types.NewSet(vs...), nil
	case resolved.RecordType:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, bad("an object")
		}
		return c.record(tt, m, path)
	case resolved.EntityType:
		switch e := v.(type) {
		case string:
			return types.NewEntityUID(types.EntityType(tt), types.String(e)), nil
		case map[string]any:
			id, _ := e["id"].(string)
			typ, _ := e["type"].(string)
			et, ok := c.entityType(typ)
			if id == "" || !ok || et != types.EntityType(tt) {
				return nil, bad("an entity of type " + string(tt))
			}
			return types.NewEntityUID(et, types.String(id)), nil
		}
		return nil, bad("an entity id")
	case resolved.ExtensionType:
		return extension(string(tt), v, path)
	}
	return nil, errQuery("%s has a type Weft cannot fill", path)
}

func extension(name string, v any, path string) (types.Value, error) {
	s, isString := v.(string)
	var (
		val types.Value
		err error
	)
	switch name {
	case "ipaddr":
		if isString {
			val, err = types.ParseIPAddr(s)
		}
	case "decimal":
		switch {
		case isString:
			val, err = types.ParseDecimal(s)
		default:
			if f, ok := number(v); ok {
				val, err = types.NewDecimalFromFloat(f)
			}
		}
	case "datetime":
		if isString {
			val, err = types.ParseDatetime(s)
		}
	case "duration":
		if isString {
			val, err = types.ParseDuration(s)
		}
	default:
		return nil, errQuery("%s has extension type %s, which Weft cannot fill", path, name)
	}
	if val == nil || err != nil {
		return nil, errQuery("%s must be a %s", path, name)
	}
	return val, nil
}

// infer converts an undeclared property by its JSON shape.
func infer(v any, path string) (types.Value, error) {
	switch x := v.(type) {
	case string:
		return types.String(x), nil
	case bool:
		return types.Boolean(x), nil
	case map[string]any:
		m := make(types.RecordMap, len(x))
		for k, e := range x {
			if e == nil {
				continue
			}
			ev, err := infer(e, path+"."+k)
			if err != nil {
				return nil, err
			}
			m[types.String(k)] = ev
		}
		return types.NewRecord(m), nil
	}
	if n, ok := integer(v); ok {
		return types.Long(n), nil
	}
	if f, ok := number(v); ok {
		d, err := types.NewDecimalFromFloat(f)
		if err != nil {
			return nil, errQuery("%s: %v", path, err)
		}
		return d, nil
	}
	if items, ok := list(v); ok {
		vs := make([]types.Value, 0, len(items))
		for i, it := range items {
			if it == nil {
				continue
			}
			ev, err := infer(it, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			vs = append(vs, ev)
		}
		return types.NewSet(vs...), nil
	}
	return nil, errQuery("%s has an unsupported value (%T)", path, v)
}

func list(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
			return int64(x), true
		}
	}
	return 0, false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// zero is a declared type's zero value; false for types without one (extensions).
func zero(t resolved.IsType) (types.Value, bool) {
	switch tt := t.(type) {
	case resolved.StringType:
		return types.String(""), true
	case resolved.LongType:
		return types.Long(0), true
	case resolved.BoolType:
		return types.False, true
	case resolved.SetType:
		return types.NewSet(), true
	case resolved.EntityType:
		return types.NewEntityUID(types.EntityType(tt), ""), true
	case resolved.RecordType:
		m := types.RecordMap{}
		for k, a := range tt {
			if a.Optional {
				continue
			}
			z, ok := zero(a.Type)
			if !ok {
				return nil, false
			}
			m[k] = z
		}
		return types.NewRecord(m), true
	}
	return nil, false
}
