package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
)

// errAuditBroken makes `weft audit verify` exit non-zero when the chain does not hold.
type errAuditBroken struct{ rep identity.AuditReport }

func (e errAuditBroken) Error() string {
	return fmt.Sprintf("audit log broken at entry %d: %s", e.rep.BrokenAt, e.rep.Problem)
}

func newAuditCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Inspect and verify the hash-chained audit log", Args: cobra.NoArgs}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check every entry's hash and link; exit 1 at the first that fails",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				rep, err := a.audit.Verify(cmd.Context())
				if err != nil {
					return err
				}
				if c.output == "json" {
					if err := writeJSON(c.stdout, map[string]any{"intact": rep.Intact(), "entries": rep.Entries, "head": rep.Head,
						"broken_at": rep.BrokenAt, "problem": rep.Problem}); err != nil {
						return err
					}
				} else if rep.Intact() {
					fmt.Fprintf(c.stdout, "audit log intact: %d entries, head %s\n", rep.Entries, rep.Head)
				}
				if !rep.Intact() {
					return errAuditBroken{rep}
				}
				return nil
			})
		},
	}
	var after int64
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit entries in order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				es, err := a.audit.List(cmd.Context(), after, limit)
				if err != nil {
					return err
				}
				if c.output == "json" {
					return writeJSON(c.stdout, map[string]any{"entries": es})
				}
				rows := make([][]string, len(es))
				for i, e := range es {
					rows[i] = []string{strconv.FormatInt(e.Seq, 10), stamp(e.At), e.Kind, dash(e.Actor), dash(e.Subject)}
				}
				return table(c.stdout, []string{"SEQ", "AT", "KIND", "ACTOR", "SUBJECT"}, rows)
			})
		},
	}
	list.Flags().Int64Var(&after, "after", 0, "list entries after this sequence number")
	list.Flags().IntVar(&limit, "limit", 100, "entries to list")
	cmd.AddCommand(verify, list)
	return cmd
}

func newAuditLog(db *sqlstore.DB) *identity.AuditLog {
	return identity.NewAuditLog(sqlstore.NewAudit(db), db)
}
