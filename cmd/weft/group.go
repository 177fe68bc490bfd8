package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/weft-fabric/weft/identity"
)

func newGroupCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Manage groups and their members", Args: cobra.NoArgs}
	var description string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a group",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				g, err := a.directory.CreateGroup(cmd.Context(), identity.NewGroup{Name: args[0], Description: description})
				if err != nil {
					return err
				}
				return c.printGroup(g, nil)
			})
		},
	}
	create.Flags().StringVar(&description, "description", "", "what the group is for")

	list := &cobra.Command{
		Use:   "list",
		Short: "List groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				gs, next, err := a.directory.ListGroups(cmd.Context(), identity.Page{})
				if err != nil {
					return err
				}
				if c.output == "json" {
					views := make([]groupView, len(gs))
					for i, g := range gs {
						views[i] = viewGroup(g)
					}
					return writeJSON(c.stdout, map[string]any{"groups": views, "next": next})
				}
				rows := make([][]string, len(gs))
				for i, g := range gs {
					rows[i] = []string{g.Name, dash(g.Description), g.ID}
				}
				return table(c.stdout, []string{"NAME", "DESCRIPTION", "ID"}, rows)
			})
		},
	}

	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a group and its members",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				g, err := findGroup(cmd, a, args[0])
				if err != nil {
					return err
				}
				ms, err := a.directory.Members(cmd.Context(), g.ID)
				if err != nil {
					return err
				}
				return c.printGroup(g, ms)
			})
		},
	}

	member := func(use, short string, add bool) *cobra.Command {
		return &cobra.Command{
			Use:   use + " GROUP USER",
			Short: short,
			Args:  exactArgs(2, "GROUP and USER"),
			RunE: func(cmd *cobra.Command, args []string) error {
				return c.withApp(cmd.Context(), func(a *app) error {
					g, err := findGroup(cmd, a, args[0])
					if err != nil {
						return err
					}
					u, err := resolveUser(cmd.Context(), a, args[1])
					if err != nil {
						return err
					}
					verb := "added to"
					if add {
						err = a.directory.AddMember(cmd.Context(), g.ID, u.ID)
					} else {
						verb = "removed from"
						err = a.directory.RemoveMember(cmd.Context(), g.ID, u.ID)
					}
					if err != nil {
						return err
					}
					if c.output == "json" {
						return writeJSON(c.stdout, map[string]any{"group": g.Name, "user": u.Username, "member": add})
					}
					_, err = fmt.Fprintf(c.stdout, "%s %s %s\n", sanitize(u.Username), verb, sanitize(g.Name))
					return err
				})
			},
		}
	}

	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a group and its memberships (the users stay)",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withApp(cmd.Context(), func(a *app) error {
				g, err := findGroup(cmd, a, args[0])
				if err != nil {
					return err
				}
				if err := a.directory.DeleteGroup(cmd.Context(), g.ID); err != nil {
					return err
				}
				if c.output == "json" {
					return writeJSON(c.stdout, map[string]any{"deleted": g.Name})
				}
				_, err = fmt.Fprintf(c.stdout, "deleted group %s\n", sanitize(g.Name))
				return err
			})
		},
	}
	cmd.AddCommand(create, list, show, member("add-member", "Add a user to a group", true),
		member("remove-member", "Remove a user from a group", false), del)
	return cmd
}

func findGroup(cmd *cobra.Command, a *app, name string) (identity.Group, error) {
	g, err := a.directory.GroupByName(cmd.Context(), name)
	if err != nil {
		return g, fmt.Errorf("no group %q: %w", name, identity.ErrNotFound)
	}
	return g, nil
}

func (c *cli) printGroup(g identity.Group, members []identity.User) error {
	v := viewGroup(g)
	for _, m := range members {
		v.Members = append(v.Members, m.Username)
	}
	if c.output == "json" {
		return writeJSON(c.stdout, v)
	}
	rows := [][]string{{"id", v.ID}, {"name", v.Name}, {"description", dash(v.Description)}, {"created", v.CreatedAt}}
	for i, m := range v.Members {
		label := ""
		if i == 0 {
			label = "members"
		}
		rows = append(rows, []string{label, m})
	}
	return table(c.stdout, []string{"FIELD", "VALUE"}, rows)
}
