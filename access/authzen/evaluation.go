package authzen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/policy"
)

// entity is a Subject (section 5.1) or a Resource (section 5.2).
type entity struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties"`
}

// action is an Action (section 5.3).
type action struct {
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties"`
}

// evaluationRequest is the Access Evaluation request (section 6.1). Members are
// pointers, and context a map that is nil when omitted, so that an evaluation of a
// batch tells an omitted member (take the default) from a given one.
type evaluationRequest struct {
	Subject  *entity        `json:"subject"`
	Action   *action        `json:"action"`
	Resource *entity        `json:"resource"`
	Context  map[string]any `json:"context"`
}

// evaluationsRequest is the Access Evaluations request (section 7.1): the top-level
// members are the defaults. Evaluations stay raw so that one malformed evaluation is
// answered in its place (section 7.2.1) instead of failing the batch.
// (Not an embedded evaluationRequest: encoding/json would name a mistyped member
// "evaluationRequest.subject" in its error.)
type evaluationsRequest struct {
	Subject     *entity           `json:"subject"`
	Action      *action           `json:"action"`
	Resource    *entity           `json:"resource"`
	Context     map[string]any    `json:"context"`
	Evaluations []json.RawMessage `json:"evaluations"`
	Options     *struct {
		EvaluationsSemantic *string `json:"evaluations_semantic"`
	} `json:"options"`
}

// defaults are the top-level members: the defaults of every evaluation (section
// 7.1.1), or the one evaluation when there is no evaluations array.
func (r evaluationsRequest) defaults() evaluationRequest {
	return evaluationRequest{Subject: r.Subject, Action: r.Action, Resource: r.Resource, Context: r.Context}
}

// Evaluations semantics (section 7.1.2.1).
const (
	ExecuteAll          = "execute_all"
	DenyOnFirstDeny     = "deny_on_first_deny"
	PermitOnFirstPermit = "permit_on_first_permit"
)

// ReasonStepUp is the reason given when the policy asks for step-up without saying why.
const ReasonStepUp = "step_up_required"

// decision is a Decision (section 5.5).
type decision struct {
	Decision bool             `json:"decision"`
	Context  *decisionContext `json:"context,omitempty"`
}

// decisionContext is the decision's context (section 5.5.1); see the package comment.
type decisionContext struct {
	Reasons     []policy.Reason   `json:"reasons,omitempty"`
	ReasonAdmin map[string]string `json:"reason_admin,omitempty"`
	ReasonUser  map[string]string `json:"reason_user,omitempty"`
	ACRValues   string            `json:"acr_values,omitempty"`
	Error       *itemError        `json:"error,omitempty"`
}

// itemError is the error of one evaluation of a batch (section 7.2.1).
type itemError struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

type evaluationsResponse struct {
	Evaluations []decision `json:"evaluations"`
}

// invalidError is a request that lacks a required member or gives a wrong value: 400,
// or a per-evaluation error in a batch.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

func badRequest(err error) error {
	return &httpserver.Problem{Status: http.StatusBadRequest, Title: "Invalid request", Detail: err.Error()}
}

// withDefaults applies the top-level defaults d (section 7.1.1): a member the
// evaluation gives replaces the default whole, an omitted (or null) one takes it.
func (r evaluationRequest) withDefaults(d evaluationRequest) evaluationRequest {
	if r.Subject == nil {
		r.Subject = d.Subject
	}
	if r.Action == nil {
		r.Action = d.Action
	}
	if r.Resource == nil {
		r.Resource = d.Resource
	}
	if r.Context == nil {
		r.Context = d.Context
	}
	return r
}

// query checks the required members (sections 5.1 to 5.3 and 6.1) and maps the request
// to the policy's question. hint completes "is required" for a batch's evaluations.
func (r evaluationRequest) query(hint string) (policy.Query, error) {
	sub, err := r.Subject.toPolicy("subject", hint)
	if err != nil {
		return policy.Query{}, err
	}
	res, err := r.Resource.toPolicy("resource", hint)
	if err != nil {
		return policy.Query{}, err
	}
	if r.Action == nil {
		return policy.Query{}, invalid("action is required%s: an object with a name", hint)
	}
	if r.Action.Name == "" {
		return policy.Query{}, invalid("action.name is required: a non-empty string")
	}
	return policy.Query{Subject: sub, Action: r.Action.Name, ActionProperties: r.Action.Properties,
		Resource: res, Context: r.Context}, nil
}

// toPolicy checks an entity's required type and id. Both must be non-empty: an empty
// type or id names nothing a policy could be written about.
func (e *entity) toPolicy(member, hint string) (policy.Entity, error) {
	if e == nil {
		return policy.Entity{}, invalid("%s is required%s: an object with a type and an id", member, hint)
	}
	if e.Type == "" {
		return policy.Entity{}, invalid("%s.type is required: a non-empty string", member)
	}
	if e.ID == "" {
		return policy.Entity{}, invalid("%s.id is required: a non-empty string", member)
	}
	return policy.Entity{Type: e.Type, ID: e.ID, Properties: e.Properties}, nil
}

// render maps the policy's decision to AuthZEN's (section 5.5). A request for step-up
// is a deny: the PEP must not let the request go forward until the subject has the
// assurance. A deny always says why.
func render(d policy.Decision) decision {
	allow := d.Allow && d.StepUp == ""
	reasons := d.Reasons
	if !allow && len(reasons) == 0 {
		if d.StepUp != "" {
			reasons = []policy.Reason{{Code: ReasonStepUp, Message: "A stronger authentication is required first."}}
		} else {
			reasons = []policy.Reason{{Code: gate.ReasonPolicyDenied, Message: "The policy denies this request."}}
		}
	}
	out := decision{Decision: allow}
	if len(reasons) == 0 {
		return out
	}
	out.Context = &decisionContext{Reasons: reasons}
	if allow {
		return out
	}
	// Keyed by the HTTP status that fits, as the spec's example does: 403 for a
	// refusal, 401 for "authenticate again" (as RFC 9470's step-up challenge).
	status := "403"
	if d.StepUp != "" {
		status = "401"
		out.Context.ACRValues = d.StepUp
	}
	admin := make([]string, len(reasons))
	for i, r := range reasons {
		admin[i] = r.Code + ": " + r.Message
	}
	user := reasons[0].Message
	if user == "" {
		user = "This request is not allowed."
	}
	out.Context.ReasonAdmin = map[string]string{status: strings.Join(admin, "; ")}
	out.Context.ReasonUser = map[string]string{status: user}
	return out
}

// evaluation serves the Access Evaluation API (section 6).
func (h *Handler) evaluation(c echo.Context) error {
	if err := h.authenticate(c); err != nil {
		return err
	}
	var in evaluationRequest
	if err := httpserver.DecodeJSONAllowUnknown(c, &in, h.MaxBody); err != nil {
		return err
	}
	return h.single(c, in)
}

// single answers one evaluation: a missing member is 400 (section 10.1.1) and an
// evaluator failure 500, never a decision.
func (h *Handler) single(c echo.Context, in evaluationRequest) error {
	q, err := in.query("")
	if err != nil {
		return badRequest(err)
	}
	d, err := h.Evaluator.Evaluate(c.Request().Context(), q)
	if errors.Is(err, policy.ErrInvalid) {
		return badRequest(errors.New(misfit(err)))
	}
	if err != nil {
		return fmt.Errorf("authzen: evaluate: %w", err)
	}
	return reply(c, render(d))
}

// evaluations serves the Access Evaluations API (section 7). Without evaluations it is
// the Access Evaluation API (section 7.1); with them, each is evaluated in order under
// the semantic the PEP chose (section 7.1.2.1) and answered in the same order (section
// 7.2), an evaluation's own error in its place (section 7.2.1).
func (h *Handler) evaluations(c echo.Context) error {
	if err := h.authenticate(c); err != nil {
		return err
	}
	var in evaluationsRequest
	if err := httpserver.DecodeJSONAllowUnknown(c, &in, h.MaxBatchBody); err != nil {
		return err
	}
	semantic := ExecuteAll
	if in.Options != nil && in.Options.EvaluationsSemantic != nil {
		semantic = *in.Options.EvaluationsSemantic
	}
	switch semantic {
	case ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit:
	default:
		return badRequest(invalid("options.evaluations_semantic must be one of %s, %s or %s", ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit))
	}
	if len(in.Evaluations) == 0 {
		return h.single(c, in.defaults())
	}
	if len(in.Evaluations) > h.MaxEvaluations {
		return badRequest(invalid("at most %d evaluations may be sent in one request", h.MaxEvaluations))
	}
	ctx := c.Request().Context()
	out := make([]decision, 0, len(in.Evaluations))
	for i, raw := range in.Evaluations {
		d, err := h.evaluateOne(ctx, in.defaults(), raw, i)
		if err != nil {
			return err // the caller went away: nobody reads the answer
		}
		out = append(out, d)
		// An error counts as a deny (section 7.1.2.1: "any denial (error, or decision
		// false)"), never as a permit.
		if semantic == DenyOnFirstDeny && !d.Decision || semantic == PermitOnFirstPermit && d.Decision {
			break
		}
	}
	return reply(c, evaluationsResponse{Evaluations: out})
}

// evaluateOne decides the i-th evaluation of a batch. Its own problems become its
// answer (decision false with context.error); the error return is only for a caller
// that went away.
func (h *Handler) evaluateOne(ctx context.Context, defaults evaluationRequest, raw json.RawMessage, i int) (decision, error) {
	if err := ctx.Err(); err != nil {
		return decision{}, err
	}
	var item evaluationRequest
	if err := json.Unmarshal(raw, &item); err != nil {
		return failed(http.StatusBadRequest, itemDecodeError(err)), nil
	}
	q, err := item.withDefaults(defaults).query(" (in the evaluation or as a top-level default)")
	if err != nil {
		return failed(http.StatusBadRequest, err.Error()), nil
	}
	d, err := h.Evaluator.Evaluate(ctx, q)
	if errors.Is(err, policy.ErrInvalid) {
		return failed(http.StatusBadRequest, misfit(err)), nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return decision{}, ctx.Err()
		}
		h.Logger.ErrorContext(ctx, "authzen: evaluation failed", slog.Int("evaluation", i),
			slog.String("request_id", httpserver.RequestID(ctx)), slog.Any("error", err))
		return failed(http.StatusInternalServerError, "The policy could not be evaluated."), nil
	}
	return render(d), nil
}

// misfit says why a request does not fit the policy's schema (a property of the wrong
// type, an entity without an id): the caller's mistake, a 400, not the server's.
func misfit(err error) string {
	msg := strings.TrimPrefix(err.Error(), policy.ErrInvalid.Error()+": ")
	return "The request does not fit the policy's schema: " + msg + "."
}

// failed is an evaluation's error in its place (section 7.2.1): decisions default to
// closed.
func failed(status int, message string) decision {
	return decision{Context: &decisionContext{Error: &itemError{Status: status, Message: message}}}
}

// itemDecodeError says which member of an evaluation has the wrong JSON type, without
// quoting a value (it may be a secret). The body was already checked to be well-formed
// JSON, so a type mismatch is the only failure left.
func itemDecodeError(err error) string {
	var typ *json.UnmarshalTypeError
	if !errors.As(err, &typ) || typ.Field == "" {
		return "the evaluation must be a JSON object"
	}
	kind := "of another type"
	if typ.Type != nil {
		switch typ.Type.Kind() {
		case reflect.String:
			kind = "a string"
		case reflect.Map, reflect.Struct, reflect.Pointer:
			kind = "an object"
		}
	}
	return typ.Field + " must be " + kind
}
