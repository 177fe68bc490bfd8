package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/identity"
)

func newUserCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users", Args: cobra.NoArgs}
	cmd.AddCommand(userCreateCmd(c), userListCmd(c), userShowCmd(c), userSetPasswordCmd(c), userRevokeConsentCmd(c),
		userStatusCmd(c, "suspend", identity.StatusSuspended, "Suspend a user (reversible with activate)"),
		userStatusCmd(c, "activate", identity.StatusActive, "Reactivate a suspended user"),
		userStatusCmd(c, "deprovision", identity.StatusDeprovisioned, "Retire a user for good (cannot be undone)"))
	return cmd
}

func (c *cli) printUser(u identity.User, groups []identity.Group) error {
	v := viewUser(u)
	for _, g := range groups {
		v.Groups = append(v.Groups, g.Name)
	}
	if c.output == "json" {
		return writeJSON(c.stdout, v)
	}
	return table(c.stdout, []string{"FIELD", "VALUE"}, [][]string{
		{"id", v.ID}, {"username", v.Username}, {"email", dash(v.Email)}, {"display name", dash(v.DisplayName)},
		{"status", v.Status}, {"groups", dash(strings.Join(v.Groups, ", "))}, {"created", v.CreatedAt}, {"updated", v.UpdatedAt},
	})
}

func userCreateCmd(c *cli) *cobra.Command {
	var (
		in       identity.NewUser
		pwStdin  bool
		statusIn string
	)
	cmd := &cobra.Command{
		Use:   "create USERNAME",
		Short: "Create a user",
		Example: `  weft user create dave --email dave@example.com --display-name "Dave"
  printf '%s\n' "$PASSWORD" | weft user create dave --password-stdin`,
		Args: exactArgs(1, "USERNAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Username = args[0]
			if statusIn != "" {
				s, err := identity.ParseStatus(statusIn)
				if err != nil {
					return err
				}
				in.Status = s
			}
			if pwStdin {
				pw, err := readSecret(c.stdin)
				if err != nil {
					return err
				}
				in.Password = pw
			}
			return c.withApp(cmd.Context(), func(a *app) error {
				u, err := a.directory.CreateUser(cmd.Context(), in)
				if err != nil {
					return err
				}
				return c.printUser(u, nil)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.Email, "email", "", "email address")
	f.StringVar(&in.DisplayName, "display-name", "", "name shown to people")
	f.StringVar(&statusIn, "status", "", "initial status: active (default) or suspended")
	f.BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of standard input")
	return cmd
}

func userListCmd(c *cli) *cobra.Command {
	var (
		status string
		limit  int
		after  string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users, ordered by username",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				us, next, err := a.directory.ListUsers(cmd.Context(), identity.UserFilter{Status: identity.Status(status)},
					identity.Page{After: after, Limit: limit})
				if err != nil {
					return err
				}
				if c.output == "json" {
					views := make([]userView, len(us))
					for i, u := range us {
						views[i] = viewUser(u)
					}
					return writeJSON(c.stdout, map[string]any{"users": views, "next": next})
				}
				rows := make([][]string, len(us))
				for i, u := range us {
					rows[i] = []string{u.Username, dash(u.Email), dash(u.DisplayName), string(u.Status), u.ID}
				}
				if err := table(c.stdout, []string{"USERNAME", "EMAIL", "DISPLAY NAME", "STATUS", "ID"}, rows); err != nil {
					return err
				}
				if next != "" {
					fmt.Fprintf(c.stderr, "more users: weft user list --after %q\n", next)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&status, "status", "", "only users with this status (active, suspended, deprovisioned)")
	f.IntVar(&limit, "limit", 100, fmt.Sprintf("users per page (at most %d)", identity.MaxPageSize))
	f.StringVar(&after, "after", "", "cursor from the previous page")
	return cmd
}

func userShowCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "show USER",
		Short: "Show a user (by username or id) and their groups",
		Args:  exactArgs(1, "USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				u, err := resolveUser(cmd.Context(), a, args[0])
				if err != nil {
					return err
				}
				gs, err := a.directory.GroupsOf(cmd.Context(), u.ID)
				if err != nil {
					return err
				}
				return c.printUser(u, gs)
			})
		},
	}
}

func userStatusCmd(c *cli, use string, status identity.Status, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use + " USER",
		Short: short,
		Args:  exactArgs(1, "USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				u, err := resolveUser(cmd.Context(), a, args[0])
				if err != nil {
					return err
				}
				before := u.Status
				// Suspending or deprovisioning revokes everything the user holds, in the
				// transaction of the status change: the revocation service observes the
				// directory, wired here exactly as in the server.
				u, rec, err := a.revocations.ChangeStatus(cmd.Context(), a.directory,
					identity.Change{Actor: cliActor, Reason: "user " + string(status) + " with weft user " + use}, u.ID, status, nil)
				if err != nil {
					return err
				}
				changed := u.Status != before
				if rec != nil && c.output != "json" {
					fmt.Fprintf(c.stderr, "revocation %s: %d sessions ended, %d codes and tokens revoked\n", rec.ID, rec.Sessions, rec.Tokens)
				}
				if c.output == "json" {
					out := map[string]any{"user": viewUser(u), "changed": changed}
					if rec != nil {
						out["revocation"] = map[string]any{"id": rec.ID, "sessions": rec.Sessions, "tokens": rec.Tokens}
					}
					return writeJSON(c.stdout, out)
				}
				if !changed {
					_, err = fmt.Fprintf(c.stdout, "user %s is already %s\n", sanitize(u.Username), u.Status)
					return err
				}
				_, err = fmt.Fprintf(c.stdout, "user %s is now %s\n", sanitize(u.Username), u.Status)
				return err
			})
		},
	}
}

func userSetPasswordCmd(c *cli) *cobra.Command {
	var pwStdin bool
	cmd := &cobra.Command{
		Use:     "set-password USER --password-stdin",
		Short:   "Set a user's password, read from standard input",
		Example: `  printf '%s\n' "$NEW_PASSWORD" | weft user set-password alice --password-stdin`,
		Args:    exactArgs(1, "USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !pwStdin {
				return usagef("set-password reads the password from standard input: pass --password-stdin")
			}
			pw, err := readSecret(c.stdin)
			if err != nil {
				return err
			}
			return c.withApp(cmd.Context(), func(a *app) error {
				u, err := resolveUser(cmd.Context(), a, args[0])
				if err != nil {
					return err
				}
				// Ends the user's sessions and revokes their tokens (see README).
				ctx := identity.WithChange(cmd.Context(), &identity.Change{Actor: cliActor,
					Reason: "password set with weft user set-password"})
				if err := a.directory.SetPassword(ctx, u.ID, pw); err != nil {
					return err
				}
				if c.output == "json" {
					return writeJSON(c.stdout, map[string]any{"user": viewUser(u), "password_set": true})
				}
				_, err = fmt.Fprintf(c.stdout, "password set for %s\n", sanitize(u.Username))
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of standard input")
	return cmd
}

// exactArgs is cobra.ExactArgs with a message that names the argument.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s needs %s (got %d arguments); see --help", cmd.CommandPath(), names, len(args))
		}
		return nil
	}
}

func userRevokeConsentCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke-consent USER CLIENT",
		Short: "Withdraw what a user allowed a client: the consent page shows again next time",
		Args:  exactArgs(2, "USER and CLIENT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				u, err := resolveUser(cmd.Context(), a, args[0])
				if err != nil {
					return err
				}
				if _, err := a.clients.Client(cmd.Context(), args[1]); err != nil {
					return fmt.Errorf("no client %q: %w", args[1], err)
				}
				if err := accsql.NewConsents(a.db).DeleteConsent(cmd.Context(), u.ID, args[1]); err != nil {
					return err
				}
				if c.output == "json" {
					return writeJSON(c.stdout, map[string]any{"user": u.Username, "client": args[1], "consent": false})
				}
				_, err = fmt.Fprintf(c.stdout, "consent of %s for %s withdrawn\n", sanitize(u.Username), sanitize(args[1]))
				return err
			})
		},
	}
}
