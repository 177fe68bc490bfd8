package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/identity"
)

// Containment commands: weft client disable|enable|rotate-secret and weft machine
// disable|enable. Disabling revokes through the revocation service (it observes the
// client registry and the directory), wired here exactly as in the server.

func clientStatusCmd(c *cli, use string, st access.ClientStatus, short string) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   use + " CLIENT_ID",
		Short: short,
		Args:  exactArgs(1, "CLIENT_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				before, err := a.clients.Client(cmd.Context(), args[0])
				if errors.Is(err, identity.ErrNotFound) {
					return fmt.Errorf("no client %q: %w", args[0], identity.ErrNotFound)
				} else if err != nil {
					return err
				}
				r := reason
				if r == "" {
					r = "client " + string(st) + " with weft client " + use
				}
				cl, rec, err := a.revocations.ChangeClientStatus(cmd.Context(), a.clients,
					identity.Change{Actor: cliActor, Reason: r}, before.ID, st)
				if err != nil {
					return err
				}
				return c.printStatusChange("client", cl.ID, string(st), before.Disabled() != cl.Disabled(), rec,
					map[string]any{"client": viewClient(cl)})
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit log")
	return cmd
}

func machineStatusCmd(c *cli, use string, st identity.Status, short string) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   use + " MACHINE",
		Short: short,
		Args:  exactArgs(1, "MACHINE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				before, err := resolveMachine(cmd.Context(), a, args[0])
				if err != nil {
					return err
				}
				r := reason
				if r == "" {
					r = "machine identity " + string(st) + " with weft machine " + use
				}
				m, rec, err := a.revocations.ChangeMachineStatus(cmd.Context(), a.directory,
					identity.Change{Actor: cliActor, Reason: r}, before.ID, st)
				if err != nil {
					return err
				}
				return c.printStatusChange("machine identity", m.Name, string(st), before.Status != m.Status, rec,
					map[string]any{"machine_identity": viewMachine(m)})
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit log")
	return cmd
}

// printStatusChange reports a disable or enable, and the revocation it made.
func (c *cli) printStatusChange(what, name, status string, changed bool, rec *revocation.Record, out map[string]any) error {
	if status == string(access.ClientActive) {
		status = "enabled"
	}
	if c.output == "json" {
		out["changed"] = changed
		if rec != nil {
			out["revocation"] = map[string]any{"id": rec.ID, "sessions": rec.Sessions, "tokens": rec.Tokens}
		}
		return writeJSON(c.stdout, out)
	}
	if rec != nil {
		fmt.Fprintf(c.stderr, "revocation %s: %d codes and tokens revoked\n", rec.ID, rec.Tokens)
	}
	if !changed {
		_, err := fmt.Fprintf(c.stdout, "%s %s is already %s\n", what, sanitize(name), status)
		return err
	}
	_, err := fmt.Fprintf(c.stdout, "%s %s is now %s\n", what, sanitize(name), status)
	return err
}

func rotateSecretCmd(c *cli) *cobra.Command {
	var overlap time.Duration
	cmd := &cobra.Command{
		Use:   "rotate-secret CLIENT_ID [--overlap 1h]",
		Short: "Give a client a new generated secret (printed once); the old one works for --overlap, else stops at once",
		Args:  exactArgs(1, "CLIENT_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				ctx := identity.WithChange(cmd.Context(), &identity.Change{Actor: cliActor, Reason: "client secret rotated with weft client rotate-secret"})
				rot, err := a.clients.RotateSecret(ctx, args[0], overlap)
				if errors.Is(err, identity.ErrNotFound) {
					return fmt.Errorf("no client %q: %w", args[0], identity.ErrNotFound)
				} else if err != nil {
					return err
				}
				until := ""
				if rot.Client.PreviousSecretHash != "" {
					until = stamp(rot.Client.PreviousSecretExpiresAt)
				}
				if c.output == "json" {
					return writeJSON(c.stdout, map[string]any{"client": viewClient(rot.Client), "client_secret": rot.Secret,
						"rotation_overlap_until": until})
				}
				if until != "" {
					fmt.Fprintf(c.stderr, "the old secret of %s works until %s\n", sanitize(rot.Client.ID), until)
				} else {
					fmt.Fprintf(c.stderr, "the old secret of %s no longer works\n", sanitize(rot.Client.ID))
				}
				// The secret alone on stdout, so a script can capture it.
				_, err = fmt.Fprintln(c.stdout, rot.Secret)
				return err
			})
		},
	}
	cmd.Flags().DurationVar(&overlap, "overlap", 0, "how long the old secret keeps working (at most 168h)")
	return cmd
}

// resolveMachine finds a machine identity by id or name.
func resolveMachine(ctx context.Context, a *app, ref string) (identity.MachineIdentity, error) {
	if _, err := uuid.Parse(ref); err == nil {
		if m, err := a.directory.MachineByID(ctx, ref); err == nil || !errors.Is(err, identity.ErrNotFound) {
			return m, err
		}
	}
	m, err := a.directory.MachineByName(ctx, ref)
	if errors.Is(err, identity.ErrNotFound) || errors.Is(err, identity.ErrInvalid) {
		return identity.MachineIdentity{}, fmt.Errorf("no machine identity %q: %w", ref, identity.ErrNotFound)
	}
	return m, err
}
