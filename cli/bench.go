package cli

import (
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbusdev/bbus/bench"
)

const benchSynopsis = `bbus bench [--validators N] [--duration D] [--clients C] [--moderate D] [--kill-one] [--wan-delay D] [--rounds N] [--output json] [--out DIR]
bbus bench --node URL --home DIR --from ID [--to ID] [--duration D] [--clients C]
bbus bench --scale-plot FIGURES.json --out DIR

Starts its own chains in a temporary folder, each node a child process of this
binary: first the baseline (CometBFT with the same settings hosting a trivial
key-value app), then bbus. Each is loaded through POST /v1/txs, every client
waiting for its transaction's commit before it sends the next: a moderate-load
phase (one transaction at a time), then saturation (C clients running migration
lifecycles: register a VM, propose, accept, complete), then, with --kill-one and
4 or more validators, the same with one validator killed. It reports latency
percentiles, committed transactions and migrations per second, the nodes' CPU and
peak memory, disk bytes per migration, bbus as a ratio of the baseline, and the
product's targets. --out DIR writes report.json and charts (PNG) there.
--wan-delay D puts a proxy between every two validators that delays each
direction by D (40ms: 80 ms round trips), as between regions; the nodes run
with the consensus timers for that round trip unless --loopback-timers.
--rounds N runs the baseline and bbus N times, alternating (timings on a shared
machine move from one run to the next), lists each round's ratios, and reports
the round whose throughput ratio is the median.
With --node it loads an existing node instead (no baseline, no node resources),
signing with the keys of --home: --from's, and --to's or a cloud --from admits.
--scale-plot draws the charts of cost against size of the ledger's scale
benchmark (BBUS_SCALE_OUT=FILE go test ./ledger -run '^$' -bench Scale).
Progress goes to stderr. docs/BENCHMARKS.md has the method and the results.`

func benchLeaf(e *env) *cobra.Command {
	f := newFlags("bench", benchSynopsis)
	validators := f.Int("validators", 1, "validators of each chain, all on this machine")
	duration := f.Duration("duration", 30*time.Second, "length of the saturation phase (and of the one-down phase)")
	clients := f.Int("clients", 2000, "concurrent clients at saturation")
	moderate := f.Duration("moderate", 10*time.Second, "length of the moderate-load phase (0 skips it)")
	moderateClients := f.Int("moderate-clients", 1, "clients at moderate load")
	rounds := f.Int("rounds", 1, "run the baseline and bbus this many times, alternating, and report the round whose throughput ratio is the median")
	killOne := f.Bool("kill-one", false, "with 4 or more validators: then kill one (SIGKILL) and load the rest")
	apps := f.String("app", "both", "what to run: both, bbus or kv (the baseline)")
	kvBytes := f.Int("kv-bytes", 0, "size of the baseline's transactions (0: the mean size of bbus's)")
	procs := f.Int("node-gomaxprocs", 0, "GOMAXPROCS of each node (default: all CPUs for one node; CPUs divided among several)")
	wanDelay := f.Duration("wan-delay", 0, "with 2 or more validators: delay every link between two of them by this much each way (a round trip takes twice it)")
	loopbackTimers := f.Bool("loopback-timers", false, "with --wan-delay: keep one machine's consensus timers (default: those for the round trip, node.Config.ForRoundTrip)")
	perVM := f.Int("migrations-per-vm", 1, "migrations of each VM a lifecycle registers (back and forth between two clouds)")
	out := f.String("out", "", "write report.json and the charts (latency.png, throughput.png, memory.png) into this `directory`")
	dir := f.String("dir", "", "lay the chains' homes out in this `directory` (default: a new temporary one)")
	keep := f.Bool("keep", false, "keep the chains' homes afterwards")
	profile := f.String("profile", "", "write the first node's CPU profile (over the saturation phase) and heap profile into this `directory`")
	nodeURL := f.String("node", "", "load this existing bbus node instead of starting chains")
	home := f.homeFlag()
	from := f.String("from", "", "with --node: the cloud whose key (in --home) signs")
	to := f.String("to", "", "with --node: the destination cloud whose key (in --home) signs (default: a new cloud --from admits)")
	replot := f.String("replot", "", "run nothing: draw the charts of this saved report (report.json) into --out")
	scalePlot := f.String("scale-plot", "", "run nothing: draw the cost-against-size charts (scale-GROUP.png and .svg) of the ledger's scale benchmark's figures (BBUS_SCALE_OUT) into --out")
	output := f.outputFlag()
	return f.command(0, func([]string) error {
		if *scalePlot != "" {
			if *out == "" {
				return f.fail("--scale-plot needs --out")
			}
			r, err := bench.ReadScale(*scalePlot)
			if err != nil {
				return err
			}
			_, err = r.WriteCharts(*out)
			return err
		}
		if *replot != "" {
			if *out == "" {
				return f.fail("--replot needs --out")
			}
			r, err := bench.ReadReport(*replot)
			if err != nil {
				return err
			}
			return r.WriteFiles(*out)
		}
		o := bench.Options{Validators: *validators, Clients: *clients, Duration: *duration, Moderate: *moderate,
			ModerateClients: *moderateClients, Rounds: *rounds, KillOne: *killOne, KVBytes: *kvBytes, MigrationsPerVM: *perVM, NodeProcs: *procs, WANDelay: *wanDelay, LoopbackTimers: *loopbackTimers, Dir: *dir, Keep: *keep, ProfileDir: *profile,
			Node: *nodeURL, Home: *home, From: *from, To: *to, Progress: e.stderr, ProgressTTY: isTerminal(e.stderr)}
		switch *apps {
		case "both":
		case bench.AppBBUS, bench.AppKV:
			o.Apps = []string{*apps}
		default:
			return f.fail("--app must be both, bbus or kv, not %q", *apps)
		}
		switch {
		case *validators < 1 || *validators > 16:
			return f.fail("--validators must be between 1 and 16")
		case *clients < 1 || *clients > 10000:
			return f.fail("--clients must be between 1 and 10000")
		case *duration <= 0:
			return f.fail("--duration must be positive")
		case *wanDelay < 0 || *wanDelay > 10*time.Second:
			return f.fail("--wan-delay must be between 0 and 10s")
		case *wanDelay > 0 && (*validators < 2 || *nodeURL != ""):
			return f.fail("--wan-delay needs --validators 2 or more (and no --node)")
		case *perVM < 1:
			return f.fail("--migrations-per-vm must be at least 1")
		case *moderate < 0 || *moderateClients < 1:
			return f.fail("--moderate must not be negative and --moderate-clients must be positive")
		case *nodeURL != "" && *from == "":
			return f.fail("--node needs --from (and --home holding its key)")
		}
		if *nodeURL != "" && !strings.Contains(*nodeURL, "://") {
			o.Node = "http://" + *nodeURL
		}
		ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		r, err := bench.Run(ctx, o)
		if err != nil {
			return err
		}
		if *out != "" {
			if err := r.WriteFiles(*out); err != nil {
				return err
			}
		}
		if *output == "json" {
			return printJSON(e.stdout, r)
		}
		return r.WriteText(e.stdout)
	})
}

// runBenchNode is how bbus bench runs each node: a child process that serves
// until SIGTERM.
func benchNodeCmd(e *env) *cobra.Command {
	f := newFlags("bench node", "bbus bench node --app bbus|kv --home DIR --api HOST:PORT [--pprof HOST:PORT]\n\nRuns one node of a benchmark chain until SIGTERM: the bench command starts these itself.")
	app := f.String("app", bench.AppBBUS, "bbus, or kv for the baseline")
	home := f.homeFlag()
	api := f.String("api", "", "the REST API's listen address")
	pprof := f.String("pprof", "", "serve net/http/pprof on this address")
	return f.command(0, func([]string) error {
		if err := f.required("home", "api"); err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		return bench.ServeNode(ctx, *app, *home, *api, *pprof, e.stderr)
	})
}

func benchCmd(e *env) *cobra.Command {
	c := benchLeaf(e)
	sub := benchNodeCmd(e)
	c.AddCommand(sub)
	shadow(c, sub)
	return c
}
