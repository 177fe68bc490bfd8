// Command weft is the Weft identity fabric: one binary that serves the OIDC provider and
// APIs (serve), migrates its database (migrate), applies declarative fabric files
// (apply), and administers the directory (user, group, machine, client).
//
// Wiring happens here and only here: configuration → logger → database → stores →
// services → HTTP. Exit codes: 0 success, 1 internal error, 2 usage or invalid input
// (including configuration), 3 not found, 4 conflict.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/weft-fabric/weft/access/apply"
	"github.com/weft-fabric/weft/identity"
)

// Exit codes, documented in README.
const (
	exitOK       = 0
	exitInternal = 1
	exitUsage    = 2
	exitNotFound = 3
	exitConflict = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it with their own arguments, streams and
// environment.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	root := newRootCmd(&cli{stdin: stdin, stdout: stdout, stderr: stderr, environ: environ})
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "weft: "+errorText(err))
	return exitCode(err)
}

// usageError marks errors in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func exitCode(err error) int {
	var fe *apply.Errors
	var ue usageError
	switch {
	case errors.As(err, &ue), errors.As(err, &fe), errors.Is(err, identity.ErrInvalid), errors.Is(err, errConfig):
		return exitUsage
	case errors.Is(err, identity.ErrNotFound):
		return exitNotFound
	case errors.Is(err, identity.ErrConflict):
		return exitConflict
	}
	return exitInternal
}

// errorText strips the sentinel suffix (": not found") that errors.Is needs but a
// person reading a terminal does not.
func errorText(err error) string {
	var ve *identity.ValidationError
	if errors.As(err, &ve) {
		return "invalid " + ve.Error()
	}
	return err.Error()
}

// errConfig wraps configuration failures so they exit with the usage code.
var errConfig = errors.New("configuration")

type cli struct {
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	environ []string

	configPath string
	output     string
	root       *cobra.Command
}

func newRootCmd(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:           "weft",
		Short:         "Weft: the identity fabric for zero-trust access",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	c.root = root
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&c.configPath, "config", "", "YAML configuration file (settings: see README)")
	pf.StringVarP(&c.output, "output", "o", "text", "output format: text or json")
	registerConfigFlags(pf)
	root.AddCommand(
		newServeCmd(c),
		newMigrateCmd(c),
		newApplyCmd(c),
		newUserCmd(c),
		newGroupCmd(c),
		newPolicyCmd(c),
		newMachineCmd(c),
		newClientCmd(c),
		newKeysCmd(c),
		newAuditCmd(c),
		newVersionCmd(c),
	)
	requireSubcommands(root)
	return root
}

// requireSubcommands makes every command that only groups others ("weft", "weft user")
// print its help when called bare and fail with a usage error on an unknown
// subcommand; cobra's default for such commands is to print help and exit 0.
func requireSubcommands(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		requireSubcommands(sub)
	}
	if cmd.Runnable() || !cmd.HasSubCommands() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("unknown command %q for %q; see %s --help", args[0], cmd.CommandPath(), cmd.CommandPath())
		}
		return cmd.Help()
	}
}

// config loads the configuration for the running command.
func (c *cli) config() (Config, error) {
	if c.output != "text" && c.output != "json" {
		return Config{}, usagef("--output must be text or json, not %q", c.output)
	}
	cfg, err := loadConfig(c.configPath, c.environ, c.root.PersistentFlags())
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", errConfig, err)
	}
	return cfg, nil
}
