package policy

import (
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
)

// Annotations Weft reads on a policy.
const (
	// AnnotationID names the policy (in decisions, logs and errors); policies without
	// it are "policy0", "policy1", ... in text order.
	AnnotationID = "id"
	// AnnotationStepUp, on a forbid, makes it a step-up: when it is the only kind of
	// forbid that matches (and a permit matches), the answer is step_up with the
	// annotation's value as the acr to reach, not deny.
	AnnotationStepUp = "step_up"
	// AnnotationReason is the machine-readable reason code a determining policy gives
	// (default: its id); AnnotationMessage the sentence for people.
	AnnotationReason  = "reason"
	AnnotationMessage = "message"
)

// Reason codes of the engine itself.
const (
	ReasonNoPermit          = "no_permit"
	ReasonPolicyError       = "policy_error"
	ReasonUnknownAction     = "unknown_action"
	ReasonUnknownEntityType = "unknown_entity_type"
)

// Engine is the policy decision point of one node: the compiled policy set in force,
// swapped atomically when a new version is installed, so that Decide and Evaluate
// take no lock. It implements Decider and Evaluator.
type Engine struct {
	cur atomic.Pointer[Compiled]
}

var (
	_ Decider   = (*Engine)(nil)
	_ Evaluator = (*Engine)(nil)
	_ Decider   = (*Compiled)(nil)
	_ Evaluator = (*Compiled)(nil)
)

// NewEngine returns an engine enforcing the built-in default policy set (version 0)
// until a stored version is installed.
func NewEngine() *Engine {
	c, err := Compile(Default())
	if err != nil { // the default set is tested; this is a build defect
		panic(fmt.Sprintf("policy: the default policy set does not compile: %v", err))
	}
	e := &Engine{}
	e.cur.Store(c)
	return e
}

// Current is the compiled set in force.
func (e *Engine) Current() *Compiled { return e.cur.Load() }

// Install puts c in force unless a newer version already is (versions only grow: a
// late reload never undoes a newer one). It reports whether c was installed.
func (e *Engine) Install(c *Compiled) bool {
	for {
		cur := e.cur.Load()
		if cur != nil && cur.version > c.version {
			return false
		}
		if e.cur.CompareAndSwap(cur, c) {
			return true
		}
	}
}

// Load compiles v and installs it; an invalid v changes nothing.
func (e *Engine) Load(v Version) (bool, error) {
	c, err := Compile(v)
	if err != nil {
		return false, err
	}
	return e.Install(c), nil
}

// Actions lists the actions the set in force can be asked about (its schema's), by
// the names Decide and Evaluate take: what AuthZEN's action search evaluates.
func (e *Engine) Actions(context.Context) []string { return e.cur.Load().Actions() }

// Decide implements Decider with the set in force.
func (e *Engine) Decide(ctx context.Context, r Request) (Decision, error) {
	return e.cur.Load().Decide(ctx, r)
}

// Evaluate implements Evaluator with the set in force.
func (e *Engine) Evaluate(ctx context.Context, q Query) (Decision, error) {
	return e.cur.Load().Evaluate(ctx, q)
}

// policyEntry is one compiled policy with what Weft reads from its annotations.
type policyEntry struct {
	id     cedar.PolicyID
	policy *cedar.Policy
	forbid bool
	stepUp string
	// reasons and ids are the one-element slices a decision determined by this
	// policy alone returns (capacity 1: an append copies).
	reasons []Reason
	ids     []string
}

// policyList is policies in text order, as cedar.Authorize iterates them.
type policyList []*policyEntry

func (l policyList) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for _, e := range l {
			if !yield(e.id, e.policy) {
				return
			}
		}
	}
}

// Compiled is one version ready to decide: parsed, validated against its schema, its
// step-up forbids apart. It is immutable and safe for concurrent use.
type Compiled struct {
	version int64
	schema  *compiledSchema
	// main holds the permits and the plain forbids, stepUps the step-up forbids: the
	// engine evaluates main first and stepUps only when main allows, so each policy
	// runs at most once per decision.
	main    policyList
	stepUps policyList
	all     policyList // text order
	byID    map[cedar.PolicyID]*policyEntry
	tests   []TestCase
	now     func() time.Time
	// decisions remembers this set's recent answers (see Decide).
	decisions *lru.Cache[string, Decision]
}

// Version is the version number the set was compiled from.
func (c *Compiled) Version() int64 { return c.version }

// Actions lists the schema's actions by the names Decide and Evaluate take ("login",
// or "Acme::deploy" for an action of another namespace), sorted. The slice is shared:
// do not change it.
func (c *Compiled) Actions() []string { return c.schema.actionNames }

// PolicyIDs lists the set's policies in text order.
func (c *Compiled) PolicyIDs() []string {
	out := make([]string, len(c.all))
	for i, e := range c.all {
		out[i] = string(e.id)
	}
	return out
}

var reasonCodeRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// Compile parses v's schema and policies, validates the policies against the schema
// (cedar-go's strict validator) and checks Weft's annotations and v's test cases. It
// returns ValidationErrors (each with its position where there is one) or the set.
// It does not run the test cases (RunTests does).
func Compile(v Version) (*Compiled, error) {
	sch, errs := compileSchema(v.Schema)
	if len(errs) > 0 {
		return nil, errs
	}
	list, err := cedar.NewPolicyListFromBytes("", []byte(v.Policies))
	if err != nil {
		return nil, ValidationErrors{positioned(SourcePolicies, "", err)}
	}
	decisions, err := lru.New[string, Decision](decisionCacheSize)
	if err != nil {
		return nil, err
	}
	c := &Compiled{version: v.Number, schema: sch, byID: make(map[cedar.PolicyID]*policyEntry, len(list)), now: time.Now,
		decisions: decisions}
	all := make(policyList, 0, len(list))
	for i, p := range list {
		pos := p.Position()
		at := Position{Line: pos.Line, Column: pos.Column}
		problem := func(id, msg string) {
			errs = append(errs, &ValidationError{Source: SourcePolicies, Position: at, PolicyID: id, Message: msg})
		}
		ann := p.Annotations()
		id := "policy" + strconv.Itoa(i)
		if a, ok := ann[AnnotationID]; ok {
			id = string(a)
			if strings.TrimSpace(id) == "" {
				problem("", "@id is empty")
				continue
			}
		}
		if _, dup := c.byID[cedar.PolicyID(id)]; dup {
			problem(id, "another policy has the same @id")
			continue
		}
		if err := sch.validator.Policy(id, (*xast.Policy)(p.AST())); err != nil {
			prefix := "for policy `" + id + "`, "
			for _, e := range flatten(err) {
				problem(id, strings.TrimPrefix(e.Error(), prefix))
			}
		}
		e := &policyEntry{id: cedar.PolicyID(id), policy: p, forbid: p.Effect() == cedar.Forbid, ids: []string{id}}
		if s, ok := ann[AnnotationStepUp]; ok {
			switch {
			case !e.forbid:
				problem(id, "@step_up belongs on a forbid policy (it says what a matching forbid asks for)")
			case strings.TrimSpace(string(s)) == "":
				problem(id, "@step_up needs the acr to reach, e.g. @step_up(\""+StepUpReauthenticate+"\")")
			}
			e.stepUp = string(s)
		}
		r := Reason{Code: id, Message: defaultMessage(e)}
		if code, ok := ann[AnnotationReason]; ok {
			if !reasonCodeRE.MatchString(string(code)) {
				problem(id, "@reason must be a code of letters, digits and _ . : -")
			}
			r.Code = string(code)
		}
		if m, ok := ann[AnnotationMessage]; ok {
			r.Message = string(m)
		}
		e.reasons = []Reason{r}
		c.byID[e.id] = e
		all = append(all, e)
	}
	errs = append(errs, checkTests(v.Tests)...)
	if len(errs) > 0 {
		return nil, errs
	}
	for _, e := range all {
		if e.stepUp != "" {
			c.stepUps = append(c.stepUps, e)
		} else {
			c.main = append(c.main, e)
		}
	}
	c.all, c.tests = all, v.Tests
	return c, nil
}

func defaultMessage(e *policyEntry) string {
	switch {
	case e.stepUp != "":
		return fmt.Sprintf("Policy %s requires %s first.", e.id, e.stepUp)
	case e.forbid:
		return fmt.Sprintf("Policy %s denies this request.", e.id)
	}
	return fmt.Sprintf("Policy %s allows this request.", e.id)
}

// flatten unwraps joined errors into a flat list.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// Decide implements Decider: r is mapped onto the Weft schema (principal, action,
// resource, context; see weft.cedarschema) and the set decides. An action the schema
// does not declare is denied (ReasonUnknownAction); an unknown principal kind is an
// error.
//
// Decisions are remembered per set, by every input and the second they are made in
// (context.time has whole seconds): a gateway asks the same question about one token
// thousands of times a second, and an evaluation costs tens of microseconds and dozens
// of allocations. The answer is the same as evaluating, by construction.
func (c *Compiled) Decide(_ context.Context, r Request) (Decision, error) {
	if r.Time.IsZero() {
		r.Time = c.now()
	}
	key := decisionKey(&r)
	if d, ok := c.decisions.Get(key); ok {
		return d.clone(), nil
	}
	action, ok := c.schema.action(r.Action)
	if !ok {
		return c.denied(ReasonUnknownAction, "The policy schema declares no action "+strconv.Quote(r.Action)+"."), nil
	}
	req, ents, err := c.request(&r, action)
	if err != nil {
		return Decision{}, err
	}
	d := c.decide(ents, req)
	c.decisions.Add(key, d)
	return d.clone(), nil
}

// decisionCacheSize bounds the decisions a set remembers (a few MiB at most).
const decisionCacheSize = 8192

// decisionKey is every input of r that a decision can depend on, each length-prefixed
// so that no two requests share a key, and the request's second.
func decisionKey(r *Request) string {
	b := make([]byte, 0, 256)
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	list := func(ss []string) {
		b = binary.AppendUvarint(b, uint64(len(ss)))
		for _, s := range ss {
			str(s)
		}
	}
	p := &r.Principal
	str(p.ID)
	str(p.Kind)
	str(p.Status)
	str(p.Email)
	list(p.Groups)
	str(r.ClientID)
	str(r.SessionID)
	list(r.Scopes)
	str(r.Action)
	str(r.Resource)
	str(r.Application)
	if r.Sensitive {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	str(r.RouteHost)
	str(r.RoutePath)
	str(r.IP)
	str(r.UserAgent)
	str(r.DeviceID)
	str(r.Country)
	str(r.Network)
	str(r.ACR)
	list(r.AMR)
	b = binary.AppendVarint(b, r.Time.Unix())
	b = binary.AppendVarint(b, int64(r.RiskScore))
	str(r.RiskLevel)
	list(r.RiskReasons)
	return string(b)
}

// clone is d with its own slices: a remembered decision is shared by every caller.
func (d Decision) clone() Decision {
	d.Reasons = slices.Clone(d.Reasons)
	d.PolicyIDs = slices.Clone(d.PolicyIDs)
	return d
}

// decide runs the set: plain forbids and permits first; step-up forbids only when
// they allow. A forbid that cannot be evaluated denies (fail closed, where Cedar alone
// would skip it); a permit that cannot be evaluated grants nothing.
func (c *Compiled) decide(ents types.EntityGetter, req cedar.Request) Decision {
	dec, diag := cedar.Authorize(c.main, ents, req)
	if d, failed := c.failClosed(diag.Errors); failed {
		return d
	}
	if dec == cedar.Deny {
		if len(diag.Reasons) == 0 {
			return c.denied(ReasonNoPermit, "No policy permits this request.")
		}
		return c.determined(Decision{Version: c.version}, diag.Reasons)
	}
	permits := diag.Reasons
	if len(c.stepUps) > 0 {
		sdec, sdiag := cedar.Authorize(c.stepUps, ents, req)
		if d, failed := c.failClosed(sdiag.Errors); failed {
			return d
		}
		if sdec == cedar.Deny && len(sdiag.Reasons) > 0 {
			// Several step-ups may match: the first in text order names the acr.
			return c.determined(Decision{Version: c.version, StepUp: c.byID[sdiag.Reasons[0].PolicyID].stepUp}, sdiag.Reasons)
		}
	}
	return c.determined(Decision{Allow: true, Version: c.version}, permits)
}

// determined fills d's reasons and policy ids from the determining policies.
func (c *Compiled) determined(d Decision, by []types.DiagnosticReason) Decision {
	if len(by) == 1 {
		e := c.byID[by[0].PolicyID]
		d.Reasons, d.PolicyIDs = e.reasons, e.ids
		return d
	}
	d.Reasons, d.PolicyIDs = make([]Reason, len(by)), make([]string, len(by))
	for i, r := range by {
		e := c.byID[r.PolicyID]
		d.Reasons[i], d.PolicyIDs[i] = e.reasons[0], e.ids[0]
	}
	return d
}

// failClosed turns evaluation errors of forbid policies into a deny.
func (c *Compiled) failClosed(errs []types.DiagnosticError) (Decision, bool) {
	var d Decision
	for _, de := range errs {
		e := c.byID[de.PolicyID]
		if !e.forbid {
			continue
		}
		d.Reasons = append(d.Reasons, Reason{Code: ReasonPolicyError,
			Message: fmt.Sprintf("Policy %s could not be evaluated (%s); the request is denied.", e.id, de.Message)})
		d.PolicyIDs = append(d.PolicyIDs, string(e.id))
	}
	if len(d.Reasons) == 0 {
		return Decision{}, false
	}
	d.Version = c.version
	return d, true
}

func (c *Compiled) denied(code, msg string) Decision {
	return Decision{Version: c.version, Reasons: []Reason{{Code: code, Message: msg}}}
}

// entities is the few entities one decision needs, looked up without a map.
type entities struct {
	n int
	e [3]types.Entity
}

func (es *entities) add(e types.Entity) {
	es.e[es.n] = e
	es.n++
}

// Get implements types.EntityGetter.
func (es *entities) Get(uid types.EntityUID) (types.Entity, bool) {
	for i := range es.n {
		if es.e[i].UID == uid {
			return es.e[i], true
		}
	}
	return types.Entity{}, false
}

// requestEntities are the principal and resource entities of one Request, built on
// the first lookup: most policies never read an attribute or a parent (a decision
// under the default set usually reads none), and building records is most of a
// decision's work. One decision uses it from one goroutine.
type requestEntities struct {
	r              *Request
	principal, app types.EntityUID
	route          types.EntityUID // zero when the resource is the application
	host, path     string
	built          bool
	ents           entities
}

// Get implements types.EntityGetter.
func (re *requestEntities) Get(uid types.EntityUID) (types.Entity, bool) {
	if !re.built {
		re.build()
		re.built = true
	}
	return re.ents.Get(uid)
}

func (re *requestEntities) build() {
	p := &re.r.Principal
	principal := types.Entity{UID: re.principal}
	if re.principal.Type == typeUser {
		principal.Attributes = types.NewRecord(types.RecordMap{
			"email": types.String(p.Email), "status": types.String(p.Status), "groups": stringSet(p.Groups)})
		if len(p.Groups) > 0 {
			uids := make([]types.EntityUID, len(p.Groups))
			for i, g := range p.Groups {
				uids[i] = types.NewEntityUID(typeGroup, types.String(g))
			}
			principal.Parents = types.NewEntityUIDSet(uids...)
		}
	} else {
		principal.Attributes = types.NewRecord(types.RecordMap{"status": types.String(p.Status)})
	}
	re.ents.add(principal)
	sensitive := types.Boolean(re.r.Sensitive)
	re.ents.add(types.Entity{UID: re.app, Attributes: types.NewRecord(types.RecordMap{"sensitive": sensitive})})
	if re.route != (types.EntityUID{}) {
		re.ents.add(types.Entity{UID: re.route, Parents: types.NewEntityUIDSet(re.app), Attributes: types.NewRecord(types.RecordMap{
			"host": types.String(re.host), "path": types.String(re.path), "application": re.app, "sensitive": sensitive})})
	}
}

// request maps r onto the Weft schema: the cedar request, and the entities its
// principal and resource name.
func (c *Compiled) request(r *Request, action types.EntityUID) (cedar.Request, *requestEntities, error) {
	re := &requestEntities{r: r}
	switch r.Principal.Kind {
	case KindUser:
		re.principal = types.NewEntityUID(typeUser, types.String(r.Principal.ID))
	case KindMachine:
		re.principal = types.NewEntityUID(typeMachine, types.String(r.Principal.ID))
	case KindClient:
		re.principal = types.NewEntityUID(typeClient, types.String(r.Principal.ID))
	default:
		return cedar.Request{}, nil, fmt.Errorf("%w: unknown principal kind %q", ErrInvalid, r.Principal.Kind)
	}

	app, host, path := r.Application, r.RouteHost, r.RoutePath
	if r.Action == ActionAPI && host == "" && path == "" && r.Resource != "" {
		// Weft's own API: the resource is the called route of the "weft" application.
		path = r.Resource
		if app == "" {
			app = AppWeft
		}
	}
	if app == "" {
		app = r.Resource
	}
	if app == "" {
		app = r.ClientID
	}
	re.app = types.NewEntityUID(typeApplication, types.String(app))
	resource := re.app
	if host != "" || path != "" {
		re.route, re.host, re.path = types.NewEntityUID(typeRoute, types.String(host+path)), host, path
		resource = re.route
	}

	t := r.Time
	if t.IsZero() {
		t = c.now()
	}
	cm := types.RecordMap{
		"risk":    riskRecord(r.RiskScore, r.RiskLevel, r.RiskReasons),
		"country": types.String(r.Country),
		"network": types.String(r.Network),
		"device":  types.String(r.DeviceID),
		"acr":     types.String(r.ACR),
		"amr":     stringSet(r.AMR),
		"time":    timeRecord(t),
		"client":  types.String(r.ClientID),
		"session": types.String(r.SessionID),
		"scopes":  stringSet(r.Scopes),
	}
	if r.IP != "" {
		if ip, err := types.ParseIPAddr(r.IP); err == nil {
			cm["ip"] = ip
		}
	}
	return cedar.Request{Principal: re.principal, Action: action, Resource: resource, Context: types.NewRecord(cm)}, re, nil
}

func stringSet(ss []string) types.Set {
	if len(ss) == 0 {
		return types.NewSet()
	}
	vs := make([]types.Value, len(ss))
	for i, s := range ss {
		vs[i] = types.String(s)
	}
	return types.NewSet(vs...)
}

// timeRecord is context.time for t. Requests of one second share one record: the
// last one built is kept (records are immutable), so a busy node builds one a second.
func timeRecord(t time.Time) types.Record {
	epoch := t.Unix()
	if last := lastTime.Load(); last != nil && last.epoch == epoch {
		return last.rec
	}
	t = t.UTC()
	rec := types.NewRecord(types.RecordMap{"epoch": types.Long(epoch), "hour": types.Long(t.Hour()), "weekday": types.Long(t.Weekday())})
	lastTime.Store(&timeEntry{epoch: epoch, rec: rec})
	return rec
}

type timeEntry struct {
	epoch int64
	rec   types.Record
}

var lastTime atomic.Pointer[timeEntry]

// riskLevels are the levels the risk engine gives, and "" (not scored).
var riskLevels = [...]string{"", "none", "low", "medium", "high", "critical"}

// riskRecords caches context.risk for the common case, a score 0..100 at a known
// level without reasons: built once, shared (records are immutable).
var riskRecords [len(riskLevels)][101]atomic.Pointer[types.Record]

func riskRecord(score int, level string, reasons []string) types.Record {
	build := func() types.Record {
		return types.NewRecord(types.RecordMap{"score": types.Long(score), "level": types.String(level), "reasons": stringSet(reasons)})
	}
	if len(reasons) > 0 || score < 0 || score > 100 {
		return build()
	}
	for i, l := range riskLevels {
		if l != level {
			continue
		}
		slot := &riskRecords[i][score]
		if rec := slot.Load(); rec != nil {
			return *rec
		}
		rec := build()
		slot.Store(&rec)
		return rec
	}
	return build()
}

// errQuery marks a query that cannot be mapped onto the schema.
func errQuery(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
