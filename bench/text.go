package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report for a person.
func (r *Report) WriteText(w io.Writer) error {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPUs (%s), %d MiB, %s, %s, CometBFT %s\n", m.CPUs, m.CPUModel, m.MemoryMiB, m.OS, m.Go, m.CometBFT)
	fmt.Fprintf(w, "load average before %.2f %.2f %.2f, after %.2f %.2f %.2f\n", m.LoadBefore[0], m.LoadBefore[1], m.LoadBefore[2], m.LoadAfter[0], m.LoadAfter[1], m.LoadAfter[2])
	o := r.Options
	where := fmt.Sprintf("%d validator(s), child processes of this binary", o.Validators)
	if o.NodeProcs > 0 {
		where += fmt.Sprintf(" with GOMAXPROCS=%d each", o.NodeProcs)
	}
	if o.WANDelayMS > 0 {
		where += fmt.Sprintf(", every link between two delayed %g ms each way (%g ms round trip)", o.WANDelayMS, 2*o.WANDelayMS)
		if !o.WANTimers {
			where += " with one machine's consensus timers"
		}
	}
	if o.Node != "" {
		where = "node " + o.Node
	}
	fmt.Fprintf(w, "run: %s; saturation %d clients for %gs; moderate load %d client(s) for %gs; %d migration(s) per VM registered\n\n",
		where, o.Clients, o.DurationS, o.ModerateClients, o.ModerateS, o.MigrationsPerVM)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "app\tphase\tclients\ttx/s\tmigrations/s\tp50 ms\tp95 ms\tp99 ms\tblocks/s\trounds/height\tnode CPU\tloadgen CPU\tload\terrors\t")
	for _, run := range r.Runs {
		for _, p := range run.Phases {
			mig := "-"
			if run.App == AppBBUS {
				mig = fmt.Sprintf("%.0f", p.MigPerSec)
			}
			cpu := "-"
			if len(run.Nodes) > 0 {
				cpu = fmt.Sprintf("%.2f", p.NodeCPU)
			}
			rounds := "-"
			if p.Rounds > 0 {
				rounds = fmt.Sprintf("%.2f", p.Rounds)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t%s\t%.2f\t%.2f\t%s\t\n", appName(run.App), p.Name, p.Clients,
				p.TxPerSec, mig, p.Latency.P50, p.Latency.P95, p.Latency.P99, float64(p.Blocks)/p.Seconds, rounds, cpu, p.GenCPU, p.Load1[1], errString(p.Errors))
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, run := range r.Runs {
		var rss, cpu []string
		for _, n := range run.Nodes {
			s := fmt.Sprintf("%.0f", n.PeakRSSMiB)
			if n.Killed {
				s += " (killed)"
			}
			rss = append(rss, s)
			cpu = append(cpu, fmt.Sprintf("%.1f", n.CPUSeconds))
		}
		if len(rss) > 0 {
			fmt.Fprintf(w, "%s: mean tx %d bytes; peak RSS MiB per node: %s; CPU seconds per node: %s\n", appName(run.App), run.TxBytes, strings.Join(rss, ", "), strings.Join(cpu, ", "))
		}
		if d := run.Disk; d != nil {
			if run.App == AppBBUS && d.Migrations > 0 {
				fmt.Fprintf(w, "%s: disk per migration (%d migrations, %d txs): durable ledger state %.0f B; whole data folder (blocks, consensus WAL, state, index) %.0f B\n",
					appName(run.App), d.Migrations, d.Txs, d.DurablePerMig, d.DataPerMigration)
				if len(d.Logical) > 0 {
					keys := make([]string, 0, len(d.Logical))
					for k := range d.Logical {
						keys = append(keys, k)
					}
					slices.Sort(keys)
					var parts []string
					for _, k := range keys {
						parts = append(parts, fmt.Sprintf("%s %.0f", strings.TrimSuffix(k, "/"), float64(d.Logical[k])/float64(d.Migrations)))
					}
					fmt.Fprintf(w, "%s: uncompressed state bytes per migration by key prefix: %s\n", appName(run.App), strings.Join(parts, ", "))
				}
			} else if d.Txs > 0 {
				fmt.Fprintf(w, "%s: disk per tx (%d txs): state compacted %.0f B, whole data dir %.0f B\n", appName(run.App), d.Txs, d.StateCompactPerTx, d.DataPerTx)
			}
		}
	}
	if c := r.Compare; c != nil {
		fmt.Fprintln(w)
		if c.TxPerSec > 0 {
			fmt.Fprintf(w, "bbus / baseline: throughput %.2f, p50 at saturation %.2f, p50 at moderate load %.2f, node CPU per tx %.2f\n",
				c.TxPerSec, c.SaturationP50, c.ModerateP50, c.NodeCPUPerTx)
		}
		if c.PaperSpeedup > 0 {
			fmt.Fprintf(w, "bbus records a transaction %.0fx faster than the paper's %.2f s (moderate-load p50)\n", c.PaperSpeedup, PaperSeconds)
		}
		if c.OneDownFraction > 0 {
			fmt.Fprintf(w, "with one validator killed bbus keeps %.0f%% of its healthy throughput\n", 100*c.OneDownFraction)
		}
		if len(r.Rounds) > 1 {
			var parts []string
			for _, rc := range r.Rounds {
				parts = append(parts, fmt.Sprintf("%.3f (CPU per tx %.2f)", rc.TxPerSec, rc.NodeCPUPerTx))
			}
			fmt.Fprintf(w, "throughput ratio of each round, in order: %s; shown above: round %d, the median\n", strings.Join(parts, ", "), r.MedianRound)
		}
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets (docs/BENCHMARKS.md):")
		for _, t := range r.Targets {
			mark := "MET "
			if !t.Met {
				mark = "MISS"
			}
			fmt.Fprintf(w, "  %s %-70s want %-10s measured %.4g %s\n", mark, t.Name, t.Want, t.Measured, t.Unit)
		}
	}
	return nil
}

func errString(errs map[string]int) string {
	if len(errs) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, errs[k]))
	}
	return strings.Join(parts, " ")
}
