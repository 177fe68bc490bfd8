package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels, compared with errors.Is.
var (
	// ErrInvalid: a policy set, schema, test case or query that cannot be used as is.
	// *ValidationError, ValidationErrors and *TestFailures match it.
	ErrInvalid = errors.New("policy: invalid")
	// ErrTestsFailed: a policy set that fails its test cases (*TestFailures).
	ErrTestsFailed = errors.New("policy: test cases failed")
	// ErrNotFound: no such policy version.
	ErrNotFound = errors.New("policy: not found")
	// ErrConflict: the version was taken meanwhile (another apply won the race), or the
	// current version is not the one the caller based its change on.
	ErrConflict = errors.New("policy: conflict")
)

// Position is a place in a policy or schema text: line and column start at 1 (the
// column counts characters); zero when unknown.
type Position struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Column) }

// Parts of a version a ValidationError can be in.
const (
	SourcePolicies = "policies"
	SourceSchema   = "schema"
	SourceTests    = "tests"
)

// ValidationError is one problem found while compiling a version: a syntax error, a
// policy the schema rejects (positioned at the policy's start: cedar-go's validator
// does not place errors inside a policy), an annotation Weft cannot use, or a schema
// that does not extend Weft's.
type ValidationError struct {
	Source   string   `json:"source"` // SourcePolicies, SourceSchema or SourceTests
	Position Position `json:"position"`
	PolicyID string   `json:"policy_id,omitempty"`
	Message  string   `json:"message"`
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Position.Line > 0 {
		b.WriteString(":" + e.Position.String())
	}
	b.WriteString(": ")
	if e.PolicyID != "" {
		b.WriteString("policy " + e.PolicyID + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Is makes every validation error an ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// ValidationErrors are all the problems of one version, in text order.
type ValidationErrors []*ValidationError

func (es ValidationErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return "invalid policy version: " + strings.Join(parts, "; ")
}

// Unwrap gives errors.As each *ValidationError and errors.Is ErrInvalid.
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// TestFailure is one test case whose decision was not the one expected.
type TestFailure struct {
	Name string `json:"name"`
	// Want and Got are the expected and the actual outcome; Got is empty when the
	// case could not be evaluated (Message says why).
	Want    Outcome  `json:"want"`
	Got     Outcome  `json:"got,omitempty"`
	Reasons []string `json:"reasons,omitempty"` // the reason codes of the actual decision
	Message string   `json:"message"`
}

// TestFailures is why a version was refused: the test cases it breaks.
type TestFailures struct {
	Failures []TestFailure
}

func (e *TestFailures) Error() string {
	parts := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		parts[i] = fmt.Sprintf("%q: %s", f.Name, f.Message)
	}
	return fmt.Sprintf("%d policy test case(s) failed: %s", len(e.Failures), strings.Join(parts, "; "))
}

// Is matches ErrTestsFailed and ErrInvalid.
func (e *TestFailures) Is(target error) bool { return target == ErrTestsFailed || target == ErrInvalid }
