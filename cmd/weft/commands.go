package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/weft-fabric/weft/access/apply"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/migrations"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev+" + s.Value[:12]
			}
		}
	}
	return version
}

func newVersionCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.output == "json" {
				return writeJSON(c.stdout, map[string]string{"version": buildVersion()})
			}
			_, err := fmt.Fprintln(c.stdout, "weft", buildVersion())
			return err
		},
	}
}

func newMigrateCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Manage the database schema", Args: cobra.NoArgs}
	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config()
			if err != nil {
				return err
			}
			log := newLogger(cfg, c.stderr)
			db, err := openDB(cmd.Context(), cfg, log, schemaMigrate)
			if err != nil {
				return err
			}
			defer db.Close()
			st, err := migrations.Status(cmd.Context(), db.SQL(), db.Dialect())
			if err != nil {
				return err
			}
			if c.output == "json" {
				return writeJSON(c.stdout, map[string]any{"dialect": db.Dialect(), "version": latest(st)})
			}
			_, err = fmt.Fprintf(c.stdout, "%s schema at version %d\n", db.Dialect(), latest(st))
			return err
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "List migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config()
			if err != nil {
				return err
			}
			db, err := openDB(cmd.Context(), cfg, newLogger(cfg, c.stderr), schemaAsIs)
			if err != nil {
				return err
			}
			defer db.Close()
			st, err := migrations.Status(cmd.Context(), db.SQL(), db.Dialect())
			if err != nil {
				return err
			}
			if c.output == "json" {
				return writeJSON(c.stdout, map[string]any{"dialect": db.Dialect(), "migrations": st})
			}
			rows := make([][]string, 0, len(st))
			for _, v := range st {
				state := "pending"
				if v.Applied {
					state = "applied"
				}
				rows = append(rows, []string{strconv.FormatInt(v.Version, 10), v.Source, state})
			}
			return table(c.stdout, []string{"VERSION", "FILE", "STATE"}, rows)
		},
	})
	return cmd
}

func latest(st []migrations.Version) int64 {
	var v int64
	for _, m := range st {
		if m.Applied && m.Version > v {
			v = m.Version
		}
	}
	return v
}

func newApplyCmd(c *cli) *cobra.Command {
	var (
		file   string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or update users, groups, machine identities and OAuth clients from a fabric file",
		Long: `Apply a declarative fabric file (see examples/fabric.yaml) in one transaction.
Objects are matched by username, group name, machine identity name and client id;
objects not in the file are left alone; a group's members list is exact. Applying the
same file twice changes nothing. Any error is reported with its line and changes nothing.
Use "-f -" to read the file from standard input.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("apply needs -f FILE (or -f - for standard input)")
			}
			var (
				r    io.Reader = c.stdin
				name           = "<stdin>"
			)
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return usagef("open fabric file: %v", err)
				}
				defer f.Close()
				r, name = f, file
			}
			doc, err := apply.Parse(r, name)
			if err != nil {
				return err
			}
			return c.withApp(cmd.Context(), func(a *app) error {
				// Status changes in the file revoke like any other (the revocation service
				// observes the directory); the change names this command and file.
				ctx := identity.WithChange(cmd.Context(), &identity.Change{Actor: cliActor, Reason: "weft apply -f " + name})
				rep, err := a.applier.Apply(ctx, doc, dryRun)
				if err != nil {
					return err
				}
				if !dryRun && rep.Count(apply.Unchanged) < len(rep.Changes) {
					if err := a.audit.Record(cmd.Context(), "fabric.apply", "cli", name, map[string]any{
						"created": rep.Count(apply.Created), "updated": rep.Count(apply.Updated)}); err != nil {
						return fmt.Errorf("applied, but writing the audit log failed: %w", err)
					}
				}
				if c.output == "json" {
					return writeJSON(c.stdout, rep)
				}
				for _, ch := range rep.Changes {
					if ch.Action != apply.Unchanged {
						fmt.Fprintf(c.stdout, "%s %s %s\n", ch.Action, ch.Kind, sanitize(ch.Name))
					}
				}
				prefix := ""
				if dryRun {
					prefix = "dry run, nothing written: "
				}
				_, err = fmt.Fprintf(c.stdout, "%s%d created, %d updated, %d unchanged\n", prefix,
					rep.Count(apply.Created), rep.Count(apply.Updated), rep.Count(apply.Unchanged))
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "fabric file to apply (- for standard input)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check and report what would change, then roll back")
	return cmd
}

// resolveUser accepts a username or a user id.
func resolveUser(ctx context.Context, a *app, ref string) (identity.User, error) {
	if _, err := uuid.Parse(ref); err == nil {
		if u, err := a.directory.UserByID(ctx, ref); err == nil || !errors.Is(err, identity.ErrNotFound) {
			return u, err
		}
	}
	u, err := a.directory.UserByUsername(ctx, ref)
	if errors.Is(err, identity.ErrNotFound) || errors.Is(err, identity.ErrInvalid) {
		return identity.User{}, fmt.Errorf("no user %q: %w", ref, identity.ErrNotFound)
	}
	return u, err
}

// readSecret reads one line from r: passwords never travel as flags, which would show
// in the process list and shell history.
func readSecret(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usagef("no password on standard input")
	}
	return line, nil
}
