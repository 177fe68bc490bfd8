package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Service manages the versions: it validates a proposed change, runs its test cases,
// saves it as the next version and puts it in force on this node. Other nodes learn of
// a new version through the fan-out bus (wired by cmd) and call Sync.
type Service struct {
	store  Store
	engine *Engine
	now    func() time.Time
}

// NewService manages the versions in store, enforced by engine.
func NewService(store Store, engine *Engine) *Service {
	return &Service{store: store, engine: engine, now: time.Now}
}

// Proposal is a change to the policy: the whole new text, and how the test cases kept
// beside the policy change. The current version's cases carry over unless RemoveTests
// names them, so a change cannot silently drop the case it breaks.
type Proposal struct {
	Policies string
	Schema   string // "" for WeftSchema
	// Tests are added, replacing a current case of the same name.
	Tests []TestCase
	// RemoveTests names current cases to drop; a name that is not a current case is
	// an error.
	RemoveTests []string
	Author      string
	Comment     string
	// BaseVersion, when not 0, is the version the change was written against: if
	// another is current by now, Apply refuses with ErrConflict.
	BaseVersion int64
}

// TestReport is the outcome of a proposal's test cases.
type TestReport struct {
	Version  int64 // the version it would become
	Passed   []string
	Failures []TestFailure
}

// Current returns the version in force in the store: the newest saved, or Default
// when none was.
func (s *Service) Current(ctx context.Context) (Version, error) {
	v, err := s.store.CurrentVersion(ctx)
	if errors.Is(err, ErrNotFound) {
		return Default(), nil
	}
	return v, err
}

// Get returns version n (0: Default). Returns ErrNotFound if there is none.
func (s *Service) Get(ctx context.Context, n int64) (Version, error) {
	if n == 0 {
		return Default(), nil
	}
	return s.store.Version(ctx, n)
}

// History returns up to limit versions numbered below before (0: from the newest),
// newest first.
func (s *Service) History(ctx context.Context, before int64, limit int) ([]Version, error) {
	return s.store.History(ctx, before, limit)
}

// Diff shows what changed between versions from and to (see Diff).
func (s *Service) Diff(ctx context.Context, from, to int64) (string, error) {
	a, err := s.Get(ctx, from)
	if err != nil {
		return "", fmt.Errorf("version %d: %w", from, err)
	}
	b, err := s.Get(ctx, to)
	if err != nil {
		return "", fmt.Errorf("version %d: %w", to, err)
	}
	return Diff(a, b), nil
}

// Validate compiles p against its schema without running its test cases. Returns
// ValidationErrors.
func (s *Service) Validate(ctx context.Context, p Proposal) error {
	_, _, err := s.prepare(ctx, p)
	return err
}

// Test compiles p and runs its test cases (the current ones as p changes them). A
// proposal that does not compile returns ValidationErrors and no report.
func (s *Service) Test(ctx context.Context, p Proposal) (TestReport, error) {
	v, c, err := s.prepare(ctx, p)
	if err != nil {
		return TestReport{}, err
	}
	return report(ctx, v, c), nil
}

func report(ctx context.Context, v Version, c *Compiled) TestReport {
	r := TestReport{Version: v.Number, Failures: c.RunTests(ctx, v.Tests)}
	for _, tc := range v.Tests {
		if !slices.ContainsFunc(r.Failures, func(f TestFailure) bool { return f.Name == tc.Name }) {
			r.Passed = append(r.Passed, tc.Name)
		}
	}
	return r
}

// Apply saves p as the next version and puts it in force on this node, only if it
// compiles and passes every test case; otherwise nothing changes and the error says
// why: ValidationErrors (with positions), *TestFailures (which cases, and what they
// got), ErrConflict (another version was applied meanwhile: review and retry), or
// ErrInvalid (no author).
func (s *Service) Apply(ctx context.Context, p Proposal) (Version, error) {
	if strings.TrimSpace(p.Author) == "" {
		return Version{}, fmt.Errorf("%w: a policy version needs an author", ErrInvalid)
	}
	v, c, err := s.prepare(ctx, p)
	if err != nil {
		return Version{}, err
	}
	if r := report(ctx, v, c); len(r.Failures) > 0 {
		return Version{}, &TestFailures{Failures: r.Failures}
	}
	v.CreatedAt = s.now().UTC().Truncate(time.Microsecond)
	if err := s.store.SaveVersion(ctx, v); err != nil {
		return Version{}, fmt.Errorf("save policy version %d: %w", v.Number, err)
	}
	s.engine.Install(c)
	return v, nil
}

// Sync puts the store's current version in force on this node if it is newer than
// the one in force (a node calls it at start and when the bus announces a version).
// It returns the version in force. A stored version that no longer compiles (a newer
// Weft whose schema it does not fit) is an error and changes nothing.
func (s *Service) Sync(ctx context.Context) (int64, error) {
	v, err := s.store.CurrentVersion(ctx)
	if errors.Is(err, ErrNotFound) {
		return s.engine.Current().Version(), nil
	}
	if err != nil {
		return s.engine.Current().Version(), fmt.Errorf("read the current policy version: %w", err)
	}
	if v.Number <= s.engine.Current().Version() {
		return s.engine.Current().Version(), nil
	}
	if _, err := s.engine.Load(v); err != nil {
		return s.engine.Current().Version(), fmt.Errorf("policy version %d: %w", v.Number, err)
	}
	return s.engine.Current().Version(), nil
}

// prepare builds the version p would become and compiles it.
func (s *Service) prepare(ctx context.Context, p Proposal) (Version, *Compiled, error) {
	cur, err := s.Current(ctx)
	if err != nil {
		return Version{}, nil, fmt.Errorf("read the current policy version: %w", err)
	}
	if p.BaseVersion != 0 && p.BaseVersion != cur.Number {
		return Version{}, nil, fmt.Errorf("%w: the change was written against version %d, but version %d is current", ErrConflict, p.BaseVersion, cur.Number)
	}
	tests, err := mergeTests(cur.Tests, p.Tests, p.RemoveTests)
	if err != nil {
		return Version{}, nil, err
	}
	v := Version{Number: cur.Number + 1, Policies: p.Policies, Schema: p.Schema, Tests: tests, Author: p.Author, Comment: p.Comment}
	c, err := Compile(v)
	if err != nil {
		return Version{}, nil, err
	}
	return v, c, nil
}

// mergeTests is current without remove, with added replacing same-named cases and the
// new ones after them.
func mergeTests(current, added []TestCase, remove []string) ([]TestCase, error) {
	var errs ValidationErrors
	for i, a := range added {
		if slices.ContainsFunc(added[:i], func(b TestCase) bool { return b.Name == a.Name }) {
			errs = append(errs, &ValidationError{Source: SourceTests, Message: fmt.Sprintf("two test cases are named %q", a.Name)})
		}
	}
	for _, name := range remove {
		if !slices.ContainsFunc(current, func(tc TestCase) bool { return tc.Name == name }) {
			errs = append(errs, &ValidationError{Source: SourceTests, Message: fmt.Sprintf("cannot remove test case %q: the current version has none of that name", name)})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	out := make([]TestCase, 0, len(current)+len(added))
	for _, tc := range current {
		if slices.Contains(remove, tc.Name) {
			continue
		}
		if i := slices.IndexFunc(added, func(a TestCase) bool { return a.Name == tc.Name }); i >= 0 {
			tc = added[i]
		}
		out = append(out, tc)
	}
	for _, a := range added {
		if !slices.ContainsFunc(out, func(tc TestCase) bool { return tc.Name == a.Name }) {
			out = append(out, a)
		}
	}
	return out, nil
}
