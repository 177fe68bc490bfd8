package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

func newMachineCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "machine", Short: "Manage machine identities", Args: cobra.NoArgs}
	var description, owner string
	create := &cobra.Command{
		Use:   "create NAME --owner USER",
		Short: "Create a machine identity owned by a user",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if owner == "" {
				return usagef("a machine identity needs --owner USER, who answers for it")
			}
			return c.withApp(cmd.Context(), func(a *app) error {
				u, err := resolveUser(cmd.Context(), a, owner)
				if err != nil {
					return err
				}
				m, err := a.directory.CreateMachine(cmd.Context(), identity.NewMachine{Name: args[0], Description: description, OwnerID: u.ID})
				if err != nil {
					return err
				}
				if c.output == "json" {
					return writeJSON(c.stdout, viewMachine(m))
				}
				return table(c.stdout, []string{"NAME", "OWNER", "ID"}, [][]string{{m.Name, u.Username, m.ID}})
			})
		},
	}
	create.Flags().StringVar(&description, "description", "", "what it does")
	create.Flags().StringVar(&owner, "owner", "", "username or id of the owner (required)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List machine identities",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				ms, next, err := a.directory.ListMachines(cmd.Context(), identity.Page{})
				if err != nil {
					return err
				}
				views := make([]machineView, len(ms))
				rows := make([][]string, len(ms))
				for i, m := range ms {
					views[i] = viewMachine(m)
					owner := m.OwnerID
					if u, err := a.directory.UserByID(cmd.Context(), m.OwnerID); err == nil {
						owner = u.Username
					}
					rows[i] = []string{m.Name, owner, string(views[i].Status), dash(m.Description), m.ID}
				}
				if c.output == "json" {
					return writeJSON(c.stdout, map[string]any{"machine_identities": views, "next": next})
				}
				return table(c.stdout, []string{"NAME", "OWNER", "STATUS", "DESCRIPTION", "ID"}, rows)
			})
		},
	}
	cmd.AddCommand(create, list,
		machineStatusCmd(c, "disable", identity.StatusDisabled, "Disable a machine identity: no new tokens, and every token it holds is revoked"),
		machineStatusCmd(c, "enable", identity.StatusActive, "Enable a disabled machine identity"))
	return cmd
}

func newClientCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "client", Short: "Inspect, disable and rotate OAuth clients (define them with weft apply)", Args: cobra.NoArgs}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List OAuth clients (secrets are stored hashed and never shown)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				cs, next, err := a.clients.List(cmd.Context(), identity.Page{})
				if err != nil {
					return err
				}
				views := make([]clientView, len(cs))
				rows := make([][]string, len(cs))
				for i, cl := range cs {
					views[i] = viewClient(cl)
					rows[i] = []string{cl.ID, string(cl.Type), views[i].Status, strings.Join(cl.GrantTypes, ","), dash(strings.Join(cl.Scopes, " ")), cl.Name}
				}
				if c.output == "json" {
					return writeJSON(c.stdout, map[string]any{"clients": views, "next": next})
				}
				return table(c.stdout, []string{"ID", "TYPE", "STATUS", "GRANTS", "SCOPES", "NAME"}, rows)
			})
		},
	})
	cmd.AddCommand(
		clientStatusCmd(c, "disable", access.ClientDisabled, "Disable a client: refused at every endpoint, and every code and token it holds is revoked"),
		clientStatusCmd(c, "enable", access.ClientActive, "Enable a disabled client"),
		rotateSecretCmd(c))
	return cmd
}
