package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/ledger"
)

const querySynopsis = `bbus query --node URL [--token TOKEN] [--output json] <what>`

// queryCmd is one thing bbus query reads.
type queryCmd struct {
	name  string
	args  string // positional arguments and flags, for the synopsis
	nargs int
	about string
	// define adds the query's flags and returns how to run it.
	define func(f *flags) func(q *query, pos []string) error
}

// query is one run of bbus query.
type query struct {
	e   *env
	c   *client.Client
	out output
}

var queryCmds = []queryCmd{
	{name: "status", about: "the node and its chain: chain id, latest height and time, validators",
		define: func(*flags) func(*query, []string) error {
			return func(q *query, _ []string) error {
				st, err := q.c.Status(q.e.ctx)
				return q.print(st, err, func() error { return printStatus(q.e.stdout, st) })
			}
		}},
	listQuery("clouds", "[--limit N] [--after CLOUD] [--all]", "the federation's clouds",
		func(*flags) func(q *query) func(bbus.Page) ([]bbus.Cloud, string, error) {
			return func(q *query) func(bbus.Page) ([]bbus.Cloud, string, error) {
				return func(p bbus.Page) ([]bbus.Cloud, string, error) { return q.c.Clouds(q.e.ctx, p) }
			}
		}, printClouds),
	{name: "cloud", args: "CLOUD", nargs: 1, about: "one cloud",
		define: func(*flags) func(*query, []string) error {
			return func(q *query, pos []string) error {
				cl, err := q.c.Cloud(q.e.ctx, pos[0])
				return q.print(cl, err, func() error { return printCloud(q.e.stdout, cl) })
			}
		}},
	listQuery("vms", "[--limit N] [--after VM] [--all]", "the VMs the ledger knows",
		func(*flags) func(q *query) func(bbus.Page) ([]bbus.VM, string, error) {
			return func(q *query) func(bbus.Page) ([]bbus.VM, string, error) {
				return func(p bbus.Page) ([]bbus.VM, string, error) { return q.c.VMs(q.e.ctx, p) }
			}
		}, printVMs),
	{name: "vm", args: "VM", nargs: 1, about: "one VM",
		define: func(*flags) func(*query, []string) error {
			return func(q *query, pos []string) error {
				vm, err := q.c.VM(q.e.ctx, pos[0])
				return q.print(vm, err, func() error { return printVM(q.e.stdout, vm) })
			}
		}},
	{name: "vm-history", args: "VM", nargs: 1, about: "where a VM ran, and its migrations",
		define: func(*flags) func(*query, []string) error {
			return func(q *query, pos []string) error {
				h, err := q.c.VMHistory(q.e.ctx, pos[0])
				return q.print(h, err, func() error { return printHistory(q.e.stdout, h) })
			}
		}},
	{name: "host", args: "VM --at RFC3339", nargs: 1, about: "which cloud hosted a VM at a time, and under which agreement",
		define: func(f *flags) func(*query, []string) error {
			at := timeFlag(f, "at", "the `time` to look up, RFC 3339 like 2025-01-02T15:04:05Z (required)")
			return func(q *query, pos []string) error {
				if at.IsZero() {
					return f.fail("flag --at is required")
				}
				iv, err := q.c.HostAt(q.e.ctx, pos[0], *at)
				return q.print(iv, err, func() error { return printInterval(q.e.stdout, iv, *at) })
			}
		}},
	{name: "migration", args: "ID", nargs: 1, about: "one migration",
		define: func(*flags) func(*query, []string) error {
			return func(q *query, pos []string) error {
				m, err := q.c.Migration(q.e.ctx, pos[0])
				return q.print(m, err, func() error { return printMigration(q.e.stdout, m) })
			}
		}},
	{name: "migrations", args: "[--vm VM] [--cloud CLOUD] [--status S] [--since T] [--until T] [--limit N] [--after ID] [--all]",
		about: "migrations in the order they were proposed; --since and --until bound the proposal time",
		define: func(f *flags) func(*query, []string) error {
			var mf bbus.MigrationFilter
			f.StringVar(&mf.VM, "vm", "", "only migrations of this VM")
			f.StringVar(&mf.Cloud, "cloud", "", "only migrations from or to this cloud")
			f.StringVar(&mf.Status, "status", "", "only migrations in this status: proposed, accepted, completed, rejected, cancelled or lapsed")
			since := timeFlag(f, "since", "only migrations proposed at or after this RFC 3339 `time`")
			until := timeFlag(f, "until", "only migrations proposed before this RFC 3339 `time`")
			lf := listFlags(f)
			return func(q *query, _ []string) error {
				mf.Since, mf.Until = *since, *until
				l, err := collect(lf, func(p bbus.Page) ([]bbus.Migration, string, error) {
					return q.c.Migrations(q.e.ctx, mf, p)
				})
				if err != nil {
					return err
				}
				return q.printList(l, l.Next, func() error { return printMigrations(q.e.stdout, l.Items) })
			}
		}},
}

// line is the query's synopsis line.
func (c *queryCmd) line() string {
	if c.args == "" {
		return "bbus query " + c.name
	}
	return "bbus query " + c.name + " " + c.args
}

func (c *queryCmd) synopsis() string { return c.line() + "\n      " + c.about }

func queryUsage() *flags {
	var b strings.Builder
	b.WriteString(querySynopsis + "\n\nReads the ledger's committed state through the node's API.\n\nWhat:\n")
	for i := range queryCmds {
		b.WriteString("  " + queryCmds[i].synopsis() + "\n")
	}
	b.WriteString("\nRun bbus query <what> -h for its flags.")
	return newFlags("query", b.String())
}

func queryCommand(e *env) *cobra.Command {
	u := queryUsage()
	var subs []*cobra.Command
	for i := range queryCmds {
		qc := &queryCmds[i]
		f := newFlags("query "+qc.name, qc.line()+"\n\n"+strings.ToUpper(qc.about[:1])+qc.about[1:]+".\n\nEvery query also takes:\n  "+querySynopsis)
		node := f.String("node", DefaultNode, "the URL of the node's API")
		token := f.tokenFlag()
		out := f.outputFlag()
		run := qc.define(f)
		subs = append(subs, f.command(qc.nargs, func(pos []string) error {
			q := &query{e: e, c: newClient(*node, *token, time.Minute), out: *out}
			return run(q, pos)
		}))
	}
	return group("query", u.usage, func(words []string) string {
		if len(words) == 0 {
			return "missing what to query"
		}
		return fmt.Sprintf("unknown query %q", words[0])
	}, subs...)
}

// print prints v as JSON or, in the readable form, with text.
func (q *query) print(v any, err error, text func() error) error {
	if err != nil {
		return err
	}
	if q.out == "json" {
		return printJSON(q.e.stdout, v)
	}
	return text()
}

// printList prints a list; in the readable form, a next cursor is a hint on stderr.
func (q *query) printList(l any, next string, text func() error) error {
	if q.out == "json" {
		return printJSON(q.e.stdout, l)
	}
	if err := text(); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintf(q.e.stderr, "more follow: run again with --after %s, or with --all\n", next)
	}
	return nil
}

// pageFlags are the flags of a list query.
type pageFlags struct {
	limit int
	after string
	all   bool
}

func listFlags(f *flags) *pageFlags {
	p := new(pageFlags)
	f.IntVar(&p.limit, "limit", 0, fmt.Sprintf("items per page, up to %d (default %d)", ledger.MaxLimit, ledger.DefaultLimit))
	f.StringVar(&p.after, "after", "", "start after this id: the cursor a previous page ended with")
	f.BoolVar(&p.all, "all", false, "follow the pages to the end of the list")
	return p
}

// collect fetches one page of a list, or with --all every page from the first
// (or from --after) to the end.
func collect[T any](pf *pageFlags, fetch func(bbus.Page) ([]T, string, error)) (*bbus.List[T], error) {
	p := bbus.Page{Limit: pf.limit, After: pf.after}
	l := &bbus.List[T]{Items: []T{}}
	for {
		items, next, err := fetch(p)
		if err != nil {
			return nil, err
		}
		l.Items, l.Next = append(l.Items, items...), next
		if !pf.all || next == "" {
			return l, nil
		}
		p.After = next
	}
}

// timeValue is a flag holding an RFC 3339 time.
type timeValue struct{ t *time.Time }

func (v timeValue) String() string {
	if v.t == nil || v.t.IsZero() {
		return ""
	}
	return v.t.Format(time.RFC3339Nano)
}

func (v timeValue) Type() string { return "time" }

func (v timeValue) Set(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("%q is not an RFC 3339 time, like 2025-01-02T15:04:05Z", s)
	}
	*v.t = t
	return nil
}

func timeFlag(f *flags, name, usage string) *time.Time {
	t := new(time.Time)
	f.Var(timeValue{t}, name, usage)
	return t
}
