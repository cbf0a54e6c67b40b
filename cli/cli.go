// Package cli is the bbus command: Main parses a command line, runs the
// command and returns the process's exit code. cmd/bbus calls it with os.Args[1:];
// tests call it with their own arguments and buffers.
//
// Every command prints a readable form on stdout, or JSON with --output json,
// and reports an error on stderr as "error: <code>: <message>". Exit codes: 0
// done, 1 the node, the ledger or the system refused or failed, 2 the command
// line is wrong (and its usage goes to stderr). -h or --help prints a command's
// usage on stdout and exits 0. The command tree, flag parsing and shell
// completion (bbus completion bash|zsh|fish|powershell) are cobra's.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bbusdev/bbus"
)

// env is what a command runs with: its streams and a context.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one verb of the bbus command line.
type command struct {
	name    string
	summary string
	make    func(e *env) *cobra.Command
}

var commands = []command{
	{"init", "create a node's home: keys, genesis, configuration", initCmd},
	{"start", "run a node (an empty home is initialised as a single-cloud federation first)", startCmd},
	{"testnet", "create the homes of a local network of N validators", testnetCmd},
	{"keys", "manage the signing keys of a home", keysCmd},
	{"token", "make, list and revoke bearer tokens for a node's REST API", tokenCmd},
	{"tx", "sign a transaction, submit it and wait for its commit", txCmd},
	{"query", "read the ledger through a node", queryCommand},
	{"events", "stream the ledger's events from a node as they commit", eventsCmd},
	{"oracle", "run an oracle that measures VMs and reports each window, or print what it did", oracleCmd},
	{"evidence", "export a VM's evidence bundle from a node, or verify one offline", evidenceCmd},
	{"agent", "record the cloud's side of its migrations from its virtualisation layer", agentCmd},
	{"bench", "measure latency, throughput, CPU, memory and disk against the bare engine", benchCmd},
	{"version", "print the version of bbus", versionCmd},
	{"completion", "print a script that completes bbus's commands and flags: bash, zsh, fish or powershell", nil},
	{"help", "print the usage of bbus or of one command", nil},
}

// Main runs the bbus command line args (without the program name) and returns
// the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: context.Background(), stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(longFlags(root, args))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	_, err := root.ExecuteContextC(e.ctx)
	return exit(e, err)
}

// newRoot returns the command tree of bbus.
func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "bbus",
		Short:         "bbus records the VM migrations of a cloud federation on a BFT ledger",
		Args:          cobra.ArbitraryArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &usageError{usage: usage}
			}
			return &usageError{msg: fmt.Sprintf("unknown command %q", args[0]), usage: usage}
		},
	}
	library := root.HelpFunc() // cobra's, for the completion command
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		if c == root {
			usage(c.OutOrStdout())
			return
		}
		library(c, args)
	})
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{msg: flagError(err), usage: usage}
	})
	for _, c := range commands {
		if c.make != nil {
			cmd := c.make(e)
			cmd.Short = c.summary
			root.AddCommand(cmd)
		}
	}
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "print the usage of bbus or of one command",
		Args:  cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &helpRequest{usage: usage}
			}
			c, rest, err := root.Find(args)
			if err != nil || c == root || len(rest) > 0 {
				return &usageError{msg: fmt.Sprintf("unknown command %q", strings.Join(args, " ")), usage: usage}
			}
			return &helpRequest{usage: func(w io.Writer) {
				c.SetOut(w)
				c.HelpFunc()(c, nil)
			}}
		},
	})
	return root
}

func usage(w io.Writer) {
	fmt.Fprint(w, "bbus records the VM migrations of a cloud federation on a BFT ledger.\n\nUsage: bbus <command> [arguments]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun bbus <command> -h for a command's arguments.\n")
}

// longFlags returns args with every flag of the tree written -name (as the
// command line always took it) rewritten --name, the form the flag library
// parses; -h stays the short form of --help. Nothing after "--" changes.
func longFlags(root *cobra.Command, args []string) []string {
	names := map[string]bool{"help": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(fl *pflag.Flag) { names[fl.Name] = true }
		c.Flags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		switch {
		case a == "--h":
			a = "-h"
		case len(name) > 1 && a[0] == '-' && a[1] != '-' && names[name]:
			a = "-" + a
		}
		out = append(out, a)
	}
	return out
}

// flagError words a flag library's error as the command line always has.
func flagError(err error) string {
	var notExist *pflag.NotExistError
	var invalid *pflag.InvalidValueError
	var missing *pflag.ValueRequiredError
	switch {
	case errors.As(err, &notExist):
		return fmt.Sprintf("flag provided but not defined: -%s", notExist.GetSpecifiedName())
	case errors.As(err, &missing):
		return fmt.Sprintf("flag needs an argument: -%s", missing.GetFlag().Name)
	case errors.As(err, &invalid):
		cause := errors.Unwrap(invalid)
		var num *strconv.NumError
		if errors.As(cause, &num) {
			cause = num.Err
			if errors.Is(num.Err, strconv.ErrSyntax) {
				cause = errors.New("parse error")
			} else if errors.Is(num.Err, strconv.ErrRange) {
				cause = errors.New("value out of range")
			}
		}
		fl := invalid.GetFlag()
		if fl.Value.Type() == "bool" {
			return fmt.Sprintf("invalid boolean value %q for -%s: %v", invalid.GetValue(), fl.Name, cause)
		}
		return fmt.Sprintf("invalid value %q for flag -%s: %v", invalid.GetValue(), fl.Name, cause)
	}
	return err.Error()
}

// exit reports err the way Main promises and returns the exit code.
func exit(e *env, err error) int {
	var help *helpRequest
	var bad *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &help):
		help.usage(e.stdout)
		return 0
	case errors.As(err, &bad):
		if bad.msg != "" {
			fmt.Fprintf(e.stderr, "error: %s\n\n", bad.msg)
		}
		bad.usage(e.stderr)
		return 2
	}
	fmt.Fprintf(e.stderr, "error: %s: %s\n", bbus.ErrorCode(err), bbus.ErrorMessage(err))
	return 1
}

// helpRequest is returned by a command asked for its usage: Main prints it on stdout.
type helpRequest struct{ usage func(io.Writer) }

func (h *helpRequest) Error() string { return "help requested" }

// usageError is a wrong command line: Main prints msg (if any) and usage on
// stderr and exits 2.
type usageError struct {
	msg   string
	usage func(io.Writer)
}

func (u *usageError) Error() string { return u.msg }

// flags is the flag set of one command with the synopsis its usage starts with.
// Flags may come before, between or after the positional arguments.
type flags struct {
	*pflag.FlagSet
	cmd      *cobra.Command
	synopsis string
}

// newFlags returns the command named by the last word of name, with no flags
// yet and a usage that begins with synopsis: lines like "bbus keys add ID
// --home DIR", then optionally a blank line and text printed as it is.
// Define the flags on it, then make the command with [flags.command].
func newFlags(name, synopsis string) *flags {
	words := strings.Fields(name)
	c := &cobra.Command{Use: words[len(words)-1], Args: cobra.ArbitraryArgs}
	f := &flags{FlagSet: c.Flags(), cmd: c, synopsis: synopsis}
	c.SetHelpFunc(func(c *cobra.Command, _ []string) { f.usage(c.OutOrStdout()) })
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return f.fail("%s", flagError(err)) })
	return f
}

// command returns the command whose flags f defined: run gets its positional
// arguments, exactly n of them unless n is negative.
func (f *flags) command(n int, run func(pos []string) error) *cobra.Command {
	own := map[string]bool{}
	f.VisitAll(func(fl *pflag.Flag) { own[fl.Name] = true })
	f.cmd.RunE = func(_ *cobra.Command, pos []string) error {
		var stray string
		f.Visit(func(fl *pflag.Flag) {
			if !own[fl.Name] && stray == "" {
				stray = fl.Name
			}
		})
		switch {
		case stray != "":
			return f.fail("flag provided but not defined: -%s", stray)
		case n >= 0 && len(pos) < n:
			return f.fail("missing arguments: want %d, got %d", n, len(pos))
		case n >= 0 && len(pos) > n:
			return f.fail("unexpected argument %q", pos[n])
		}
		return run(pos)
	}
	return f.cmd
}

// group returns a command whose subcommands are subs: their flags may come
// before their names too. Run with no subcommand, or an unknown one, it fails
// with the message fail makes of its positional arguments.
func group(name string, usage func(io.Writer), fail func(words []string) string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: name, Args: cobra.ArbitraryArgs}
	c.SetHelpFunc(func(c *cobra.Command, _ []string) { usage(c.OutOrStdout()) })
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{msg: flagError(err), usage: usage}
	})
	c.RunE = func(_ *cobra.Command, words []string) error {
		return &usageError{msg: fail(words), usage: usage}
	}
	for _, sub := range subs {
		c.AddCommand(sub)
		shadow(c, sub)
	}
	return c
}

// shadow gives c a hidden copy of each flag of sub, so that c knows which
// flags before a subcommand's name take a value and which do not. A
// subcommand refuses a flag that is not its own.
func shadow(c, sub *cobra.Command) {
	add := func(fl *pflag.Flag) {
		if c.PersistentFlags().Lookup(fl.Name) == nil && fl.Name != "help" {
			cp := *fl
			cp.Hidden = true
			c.PersistentFlags().AddFlag(&cp)
		}
	}
	sub.Flags().VisitAll(add)
	sub.PersistentFlags().VisitAll(add)
}

// usage prints the synopsis and the flags.
func (f *flags) usage(w io.Writer) {
	lines, text, _ := strings.Cut(strings.TrimRight(f.synopsis, "\n"), "\n\n")
	fmt.Fprintf(w, "Usage:\n  %s\n", strings.ReplaceAll(lines, "\n", "\n  "))
	if text != "" {
		fmt.Fprintf(w, "\n%s\n", text)
	}
	if u := f.FlagUsages(); u != "" {
		fmt.Fprintf(w, "\nFlags:\n%s", u)
	}
}

// fail returns a usage error for this command.
func (f *flags) fail(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), usage: f.usage}
}

// required fails unless every named flag was set on the command line.
func (f *flags) required(names ...string) error {
	for _, n := range names {
		if !f.Changed(n) {
			return f.fail("flag --%s is required", n)
		}
	}
	return nil
}

// output is the --output flag: text (the default) or json.
type output string

func (o *output) String() string { return string(*o) }

func (o *output) Type() string { return "format" }

func (o *output) Set(s string) error {
	if s != "text" && s != "json" {
		return fmt.Errorf("--output must be text or json, not %q", s)
	}
	*o = output(s)
	return nil
}

func (f *flags) outputFlag() *output {
	o := output("text")
	f.Var(&o, "output", "output `format`: text or json")
	return &o
}

func (f *flags) homeFlag() *string {
	return f.String("home", defaultHome(), "the node's home `directory`")
}

// defaultHome is the home of a command run without --home: ~/.bbus.
func defaultHome() string {
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".bbus")
	}
	return ".bbus"
}

// DefaultNode is the node a command talks to without --node.
const DefaultNode = "http://127.0.0.1:8080"

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
