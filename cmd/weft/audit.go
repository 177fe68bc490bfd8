package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/weft-fabric/weft/identity"
)

// errAuditBroken makes `weft audit verify` exit non-zero when the chain does not hold.
type errAuditBroken struct{ rep identity.AuditReport }

func (e errAuditBroken) Error() string {
	if e.rep.BrokenAt == 0 {
		return "audit log broken: " + e.rep.Problem
	}
	return fmt.Sprintf("audit log broken at entry %d: %s", e.rep.BrokenAt, e.rep.Problem)
}

func newAuditCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Inspect and verify the keyed, hash-chained audit log", Args: cobra.NoArgs}
	var checkpoints []string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check every entry's link and every checkpoint; exit 1 at the first problem",
		Long: `Check the audit log: every entry's link (an HMAC under a key derived from the
key-encryption key; entries written before the upgrade that keyed the chain, a plain
SHA-256), its stored detail (valid JSON, no member named twice), every checkpoint's
MAC, and that the log still reaches the newest checkpoint: the one in the database,
the one this node keeps in data_dir/audit-head, and any given with --checkpoint (a
file holding the JSON of an "audit checkpoint" log line's checkpoint attribute).
Needs the key-encryption key the chain was written with; never generates one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var extra []identity.AuditCheckpoint
			for _, path := range checkpoints {
				b, err := os.ReadFile(path)
				if err != nil {
					return fmt.Errorf("%w: --checkpoint: %w", errConfig, err)
				}
				cp, err := identity.ParseAuditCheckpoint(b)
				if err != nil {
					return fmt.Errorf("%w: --checkpoint %s: %w", errConfig, path, err)
				}
				cp.Source = path
				extra = append(extra, cp)
			}
			return c.withAppAs(cmd.Context(), roleAuditor, func(a *app) error {
				rep, err := a.audit.Verify(cmd.Context(), extra...)
				if err != nil {
					return err
				}
				if c.output == "json" {
					out := map[string]any{"intact": rep.Intact(), "entries": rep.Entries, "head": rep.Head,
						"sealed": rep.Sealed, "legacy_entries": rep.LegacyEntries, "checkpoints": rep.Checkpoints,
						"broken_at": rep.BrokenAt, "problem": rep.Problem}
					if rep.Newest.MAC != "" {
						out["newest_checkpoint"] = map[string]any{"seq": rep.Newest.Seq, "at": rep.Newest.At, "source": rep.Newest.Source}
					}
					if err := writeJSON(c.stdout, out); err != nil {
						return err
					}
				} else if rep.Intact() {
					fmt.Fprintf(c.stdout, "audit log intact: %d entries, head %s\n", rep.Entries, rep.Head)
					switch {
					case !rep.Sealed && rep.Entries > 0:
						fmt.Fprintf(c.stdout, "all %d entries are legacy (keyless SHA-256, written before the chain was keyed) and not sealed yet: the next entry or `weft serve` seals them\n", rep.Entries)
					case rep.LegacyEntries > 0:
						fmt.Fprintf(c.stdout, "%d legacy entries (keyless), then keyed from entry %d\n", rep.LegacyEntries, rep.LegacyEntries+1)
					case rep.Sealed:
						fmt.Fprintln(c.stdout, "every entry is keyed")
					}
					if rep.Newest.MAC != "" {
						fmt.Fprintf(c.stdout, "newest checkpoint: entry %d at %s (%s); %d checkpoints in the database\n",
							rep.Newest.Seq, stamp(rep.Newest.At), rep.Newest.Source, rep.Checkpoints)
					}
				}
				if !rep.Intact() {
					return errAuditBroken{rep}
				}
				return nil
			})
		},
	}
	verify.Flags().StringArrayVar(&checkpoints, "checkpoint", nil, "also hold the log to the checkpoint in this file (repeatable)")
	var after int64
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit entries in order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withAppAs(cmd.Context(), roleAuditor, func(a *app) error {
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
