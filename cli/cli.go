// Package cli is the bbus command: Main parses a command line, runs the
// command and returns the process's exit code. cmd/bbus calls it with os.Args[1:];
// tests call it with their own arguments and buffers.
//
// Every command prints a readable form on stdout, or JSON with --output json,
// and reports an error on stderr as "error: <code>: <message>". Exit codes: 0
// done, 1 the node, the ledger or the system refused or failed, 2 the command
// line is wrong (and its usage goes to stderr). -h or --help prints a command's
// usage on stdout and exits 0.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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
	run     func(args []string, e *env) error
}

var commands = []command{
	{"init", "create a node's home: keys, genesis, configuration", runInit},
	{"start", "run a node (an empty home is initialised as a single-cloud federation first)", runStart},
	{"testnet", "create the homes of a local network of N validators", runTestnet},
	{"keys", "manage the signing keys of a home", runKeys},
	{"token", "make, list and revoke bearer tokens for a node's REST API", runToken},
	{"tx", "sign a transaction, submit it and wait for its commit", runTx},
	{"query", "read the ledger through a node", runQuery},
	{"events", "stream the ledger's events from a node as they commit", runEvents},
	{"oracle", "run an oracle that measures VMs and reports each window, or print what it did", runOracle},
	{"evidence", "export a VM's evidence bundle from a node, or verify one offline", runEvidence},
	{"agent", "record the cloud's side of its migrations from its virtualisation layer", runAgent},
	{"bench", "measure latency, throughput, CPU, memory and disk against the bare engine", runBench},
	{"version", "print the version of bbus", runVersion},
	{"help", "print the usage of bbus or of one command", nil},
}

// Main runs the bbus command line args (without the program name) and returns
// the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: context.Background(), stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "-help" || name == "--help" {
		if len(args) > 1 && name == "help" {
			if c := find(args[1]); c != nil && c.run != nil {
				return exit(e, c.run([]string{"-h"}, e))
			}
			fmt.Fprintf(stderr, "error: unknown command %q\n\n", args[1])
			usage(stderr)
			return 2
		}
		usage(stdout)
		return 0
	}
	c := find(name)
	if c == nil || c.run == nil {
		fmt.Fprintf(stderr, "error: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	return exit(e, c.run(args[1:], e))
}

func find(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprint(w, "bbus records the VM migrations of a cloud federation on a BFT ledger.\n\nUsage: bbus <command> [arguments]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun bbus <command> -h for a command's arguments.\n")
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
		fmt.Fprintf(e.stderr, "error: %s\n\n", bad.msg)
		bad.usage(e.stderr)
		return 2
	}
	fmt.Fprintf(e.stderr, "error: %s: %s\n", bbus.ErrorCode(err), bbus.ErrorMessage(err))
	return 1
}

// helpRequest is returned by a command asked for -h: Main prints usage on stdout.
type helpRequest struct{ usage func(io.Writer) }

func (h *helpRequest) Error() string { return "help requested" }

// usageError is a wrong command line: Main prints msg and usage on stderr and exits 2.
type usageError struct {
	msg   string
	usage func(io.Writer)
}

func (u *usageError) Error() string { return u.msg }

// flags is the flag set of one command with the synopsis its usage starts with.
// Flags may come before, between or after the positional arguments.
type flags struct {
	*flag.FlagSet
	synopsis string
}

// newFlags returns an empty flag set whose usage begins with synopsis: lines
// like "bbus keys add ID --home DIR", then optionally a blank line and text
// printed as it is.
func newFlags(name, synopsis string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flags{FlagSet: fs, synopsis: synopsis}
}

// usage prints the synopsis and the flags.
func (f *flags) usage(w io.Writer) {
	lines, text, _ := strings.Cut(strings.TrimRight(f.synopsis, "\n"), "\n\n")
	fmt.Fprintf(w, "Usage:\n  %s\n", strings.ReplaceAll(lines, "\n", "\n  "))
	if text != "" {
		fmt.Fprintf(w, "\n%s\n", text)
	}
	n := 0
	f.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		f.SetOutput(w)
		f.PrintDefaults()
		f.SetOutput(io.Discard)
	}
}

// fail returns a usage error for this command.
func (f *flags) fail(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), usage: f.usage}
}

// parse parses args, flags anywhere among positional arguments (all of which
// follow a "--"), and returns the positional ones. It wants exactly n of them
// unless n is negative.
func (f *flags) parse(args []string, n int) ([]string, error) {
	var pos []string
	for {
		err := f.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			return nil, &helpRequest{usage: f.usage}
		}
		if err != nil {
			return nil, f.fail("%v", err)
		}
		rest := f.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if n >= 0 && len(pos) != n {
		switch {
		case len(pos) < n:
			return nil, f.fail("missing arguments: want %d, got %d", n, len(pos))
		default:
			return nil, f.fail("unexpected argument %q", pos[n])
		}
	}
	return pos, nil
}

// required fails unless every named flag was set on the command line.
func (f *flags) required(names ...string) error {
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, n := range names {
		if !set[n] {
			return f.fail("flag --%s is required", n)
		}
	}
	return nil
}

// firstWords returns up to n positional arguments from the start of args,
// skipping flags (and the values of flags not in bools) without parsing them:
// how a command finds which action's flags to define before it parses.
func firstWords(args []string, n int, bools ...string) []string {
	var words []string
	for i := 0; i < len(args) && len(words) < n; i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(words, args[i+1:min(len(args), i+1+n-len(words))]...)
		case len(a) > 1 && a[0] == '-':
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			isBool := name == "h" || name == "help"
			for _, b := range bools {
				isBool = isBool || name == b
			}
			if !isBool {
				i++ // its value
			}
		default:
			words = append(words, a)
		}
	}
	return words
}

// output is the --output flag: text (the default) or json.
type output string

func (o *output) String() string { return string(*o) }

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
