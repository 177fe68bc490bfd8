package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// TestCase is a question and the answer a policy set must give, stored beside the
// policies: a version that fails one of its cases is never applied. A case asks either
// a Request (what the gate asks) or a Query (what an AuthZEN enforcement point asks).
// A case whose policies read the time should set it (Request.Time, or the query's
// context.time): otherwise it is now.
type TestCase struct {
	Name    string      `json:"name"`
	Request *Request    `json:"request,omitempty"`
	Query   *Query      `json:"query,omitempty"`
	Expect  Expectation `json:"expect"`
}

// Expectation is the answer a test case expects. Outcome is required; StepUp (the acr
// of a step_up) and Reasons (codes the decision must carry, in any order, among
// others) are checked when set. In JSON a bare outcome ("deny") is accepted too.
type Expectation struct {
	Outcome Outcome  `json:"outcome"`
	StepUp  string   `json:"step_up,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
}

// UnmarshalJSON accepts "deny" as well as {"outcome": "deny", ...}.
func (e *Expectation) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*e = Expectation{Outcome: Outcome(s)}
		return nil
	}
	type plain Expectation
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*e = Expectation(p)
	return nil
}

// checkTests reports malformed test cases (it does not run them).
func checkTests(cases []TestCase) ValidationErrors {
	var errs ValidationErrors
	bad := func(format string, args ...any) {
		errs = append(errs, &ValidationError{Source: SourceTests, Message: fmt.Sprintf(format, args...)})
	}
	seen := make(map[string]bool, len(cases))
	for i, tc := range cases {
		name := tc.Name
		switch {
		case strings.TrimSpace(name) == "":
			bad("test case %d has no name", i+1)
			name = fmt.Sprintf("#%d", i+1)
		case seen[name]:
			bad("two test cases are named %q", name)
		}
		seen[name] = true
		if (tc.Request == nil) == (tc.Query == nil) {
			bad("test case %q must have a request or a query (one of them)", name)
		}
		switch tc.Expect.Outcome {
		case OutcomeAllow, OutcomeDeny:
			if tc.Expect.StepUp != "" {
				bad("test case %q expects %s with a step_up acr", name, tc.Expect.Outcome)
			}
		case OutcomeStepUp:
		default:
			bad("test case %q expects %q: the outcome must be allow, deny or step_up", name, tc.Expect.Outcome)
		}
	}
	return errs
}

// Tests are the version's own test cases.
func (c *Compiled) Tests() []TestCase { return c.tests }

// RunTests asks each case of cases and returns the ones whose answer differs from the
// expectation, in order (none: all passed).
func (c *Compiled) RunTests(ctx context.Context, cases []TestCase) []TestFailure {
	var failures []TestFailure
	for _, tc := range cases {
		if f, failed := c.runTest(ctx, tc); failed {
			failures = append(failures, f)
		}
	}
	return failures
}

func (c *Compiled) runTest(ctx context.Context, tc TestCase) (TestFailure, bool) {
	f := TestFailure{Name: tc.Name, Want: tc.Expect.Outcome}
	var (
		d   Decision
		err error
	)
	switch {
	case tc.Request != nil:
		d, err = c.Decide(ctx, *tc.Request)
	case tc.Query != nil:
		d, err = c.Evaluate(ctx, *tc.Query)
	default:
		f.Message = "the case has neither a request nor a query"
		return f, true
	}
	if err != nil {
		f.Message = "could not be evaluated: " + err.Error()
		return f, true
	}
	f.Got, f.Reasons = d.Outcome(), Codes(d.Reasons)
	var problems []string
	if f.Got != f.Want {
		problems = append(problems, fmt.Sprintf("expected %s, got %s", f.Want, f.Got))
	}
	if tc.Expect.StepUp != "" && d.StepUp != tc.Expect.StepUp {
		problems = append(problems, fmt.Sprintf("expected step-up to %q, got %q", tc.Expect.StepUp, d.StepUp))
	}
	for _, code := range tc.Expect.Reasons {
		if !slices.Contains(f.Reasons, code) {
			problems = append(problems, fmt.Sprintf("expected reason %q", code))
		}
	}
	if len(problems) == 0 {
		return TestFailure{}, false
	}
	f.Message = strings.Join(problems, "; ")
	if len(d.PolicyIDs) > 0 {
		f.Message += " (decided by " + strings.Join(d.PolicyIDs, ", ") + ")"
	} else if len(f.Reasons) > 0 {
		f.Message += " (" + strings.Join(f.Reasons, ", ") + ")"
	}
	return f, true
}
