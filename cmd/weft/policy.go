package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/policy"
)

// newPolicyCmd manages the central policy: every change is validated against the
// schema and must pass the test cases kept beside the policy before it is saved as the
// next version, which every node then enforces.
func newPolicyCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Validate, test and apply the central policy (Cedar)", Args: cobra.NoArgs}
	var file, schemaFile, testsFile, comment, author string
	var base int64
	var remove []string
	proposal := func() (policy.Proposal, error) {
		if file == "" {
			return policy.Proposal{}, errors.New("--file (-f) is required: the whole policy text, in Cedar")
		}
		text, err := os.ReadFile(file)
		if err != nil {
			return policy.Proposal{}, err
		}
		p := policy.Proposal{Policies: string(text), Comment: comment, Author: author, BaseVersion: base, RemoveTests: remove}
		if schemaFile != "" {
			s, err := os.ReadFile(schemaFile)
			if err != nil {
				return policy.Proposal{}, err
			}
			p.Schema = string(s)
		}
		if testsFile != "" {
			raw, err := os.ReadFile(testsFile)
			if err != nil {
				return policy.Proposal{}, err
			}
			if err := json.Unmarshal(raw, &p.Tests); err != nil {
				return policy.Proposal{}, fmt.Errorf("%s: not a JSON array of test cases: %w", testsFile, err)
			}
		}
		return p, nil
	}
	// onProposal runs fn with the proposal the flags describe, inside the app.
	onProposal := func(fn func(cmd *cobra.Command, a *app, p policy.Proposal) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			p, err := proposal()
			if err != nil {
				return err
			}
			return c.withApp(cmd.Context(), func(a *app) error { return fn(cmd, a, p) })
		}
	}
	inputs := func(cc *cobra.Command) {
		cc.Flags().StringVarP(&file, "file", "f", "", "the policy text (Cedar)")
		cc.Flags().StringVar(&schemaFile, "schema", "", "a schema extending Weft's (administrators' actions and attributes)")
		cc.Flags().StringVar(&testsFile, "tests", "", "test cases to add or replace (a JSON array)")
		cc.Flags().StringSliceVar(&remove, "remove-test", nil, "a current test case to drop, by name")
	}

	validate := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check a policy against the schema, without saving it",
		Args:  cobra.NoArgs,
		RunE: onProposal(func(cmd *cobra.Command, a *app, p policy.Proposal) error {
			if err := a.policies.Validate(cmd.Context(), p); err != nil {
				return err
			}
			_, err := fmt.Fprintln(c.stdout, "The policy is valid.")
			return err
		}),
	}
	inputs(validate)

	test := &cobra.Command{
		Use:   "test -f FILE",
		Short: "Run the test cases against a policy, without saving it",
		Args:  cobra.NoArgs,
		RunE: onProposal(func(cmd *cobra.Command, a *app, p policy.Proposal) error {
			rep, err := a.policies.Test(cmd.Context(), p)
			if err != nil {
				return err
			}
			if c.output == "json" {
				if err := writeJSON(c.stdout, rep); err != nil {
					return err
				}
			} else {
				rows := make([][]string, 0, len(rep.Passed)+len(rep.Failures))
				for _, n := range rep.Passed {
					rows = append(rows, []string{"pass", n, ""})
				}
				for _, f := range rep.Failures {
					rows = append(rows, []string{"FAIL", f.Name, f.Message})
				}
				if err := table(c.stdout, []string{"RESULT", "TEST CASE", "WHY"}, rows); err != nil {
					return err
				}
			}
			if len(rep.Failures) > 0 {
				return &policy.TestFailures{Failures: rep.Failures}
			}
			return nil
		}),
	}
	inputs(test)

	apply := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Validate, test and save a policy as the next version; every node enforces it",
		Args:  cobra.NoArgs,
		RunE: onProposal(func(cmd *cobra.Command, a *app, p policy.Proposal) error {
			v, err := a.policies.Apply(cmd.Context(), p)
			if err != nil {
				return err
			}
			// Nodes on the bus load it at once; the others within their poll.
			if _, err := a.fanout.Publish(cmd.Context(), revocation.Event{Reload: []string{reloadPolicy}}); err != nil {
				fmt.Fprintf(c.stderr, "policy version %d is saved, but announcing it failed (nodes load it within 30 s): %v\n", v.Number, err)
			}
			if c.output == "json" {
				return writeJSON(c.stdout, map[string]any{"version": v.Number})
			}
			_, err = fmt.Fprintf(c.stdout, "Policy version %d is in force.\n", v.Number)
			return err
		}),
	}
	inputs(apply)
	apply.Flags().StringVar(&comment, "comment", "", "why the policy changes")
	apply.Flags().StringVar(&author, "author", "cli", "who makes the change")
	apply.Flags().Int64Var(&base, "base", 0, "refuse unless this is still the current version")

	history := &cobra.Command{
		Use:   "history",
		Short: "List the policy versions, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				vs, err := a.policies.History(cmd.Context(), 0, 50)
				if err != nil {
					return err
				}
				if c.output == "json" {
					return writeJSON(c.stdout, map[string]any{"versions": vs})
				}
				rows := make([][]string, len(vs))
				for i, v := range vs {
					rows[i] = []string{strconv.FormatInt(v.Number, 10), v.CreatedAt.UTC().Format("2006-01-02 15:04:05"), v.Author, dash(v.Comment)}
				}
				return table(c.stdout, []string{"VERSION", "CREATED", "AUTHOR", "COMMENT"}, rows)
			})
		},
	}

	diff := &cobra.Command{
		Use:   "diff FROM TO",
		Short: "Show what changed between two versions (0 is the default policy)",
		Args:  exactArgs(2, "FROM and TO"),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, err1 := strconv.ParseInt(args[0], 10, 64)
			to, err2 := strconv.ParseInt(args[1], 10, 64)
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("versions are numbers: %w", err)
			}
			return c.withApp(cmd.Context(), func(a *app) error {
				d, err := a.policies.Diff(cmd.Context(), from, to)
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(c.stdout, d)
				return err
			})
		},
	}

	show := &cobra.Command{
		Use:   "show [VERSION]",
		Short: "Print a version's policy text (the current one by default)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				var v policy.Version
				var err error
				if len(args) == 1 {
					n, perr := strconv.ParseInt(args[0], 10, 64)
					if perr != nil {
						return fmt.Errorf("a version is a number: %w", perr)
					}
					v, err = a.policies.Get(cmd.Context(), n)
				} else {
					v, err = a.policies.Current(cmd.Context())
				}
				if err != nil {
					return err
				}
				if c.output == "json" {
					return writeJSON(c.stdout, v)
				}
				_, err = fmt.Fprint(c.stdout, v.Policies)
				return err
			})
		},
	}
	cmd.AddCommand(validate, test, apply, history, diff, show)
	return cmd
}
