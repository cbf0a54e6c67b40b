package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/bbusdev/bbus"
)

func init() { queryCmds = append(queryCmds, marketQueries...) }

// listQuery is a paginated query whose rows print as a table.
func listQuery[T any](name, args, about string, filters func(f *flags) func(q *query) func(bbus.Page) ([]T, string, error), table func(io.Writer, []T) error) queryCmd {
	return queryCmd{name: name, args: args, about: about,
		define: func(f *flags) func(*query, []string) error {
			fetch := filters(f)
			lf := listFlags(f)
			return func(q *query, _ []string) error {
				l, err := collect(lf, fetch(q))
				if err != nil {
					return err
				}
				return q.printList(l, l.Next, func() error { return table(q.e.stdout, l.Items) })
			}
		}}
}

var marketQueries = []queryCmd{
	listQuery("offers", "[--limit N] [--after CLOUD] [--all]", "the clouds' published offers",
		func(*flags) func(q *query) func(bbus.Page) ([]bbus.Offer, string, error) {
			return func(q *query) func(bbus.Page) ([]bbus.Offer, string, error) {
				return func(p bbus.Page) ([]bbus.Offer, string, error) { return q.c.Offers(q.e.ctx, p) }
			}
		}, printOffers),
	{name: "match", args: "--cpu N --mem-mib N [--disk-iops N] [--net-mbps N] [--max-price-vcpu-hour AMOUNT] [--tag K=V]... [--exclude CLOUD]",
		about: "the clouds able to host a VM now, cheapest and most reputable first",
		define: func(f *flags) func(*query, []string) error {
			res := resourceFlags(f, "VM to place")
			ceiling := f.String("max-price-vcpu-hour", "", "the most to pay per vCPU-hour")
			exclude := f.String("exclude", "", "a cloud to leave out (usually the asking cloud)")
			var tags tagList
			f.Var(&tags, "tag", "a K=V tag the offer must carry; repeat for more")
			return func(q *query, _ []string) error {
				req := bbus.MatchRequest{Resources: *res, MaxPriceVCPUHour: -1, Tags: tags, Exclude: *exclude}
				if *ceiling != "" {
					p, err := bbus.ParseAmount(*ceiling)
					if err != nil {
						return err
					}
					req.MaxPriceVCPUHour = p
				}
				m, err := q.c.Match(q.e.ctx, req)
				return q.print(m, err, func() error { return printMatches(q.e.stdout, m) })
			}
		}},
	listQuery("agreements", "[--cloud CLOUD] [--status proposed|active] [--limit N] [--after ID] [--all]", "agreements (SLAs) between clouds",
		func(f *flags) func(q *query) func(bbus.Page) ([]bbus.Agreement, string, error) {
			var af bbus.AgreementFilter
			f.StringVar(&af.Cloud, "cloud", "", "only agreements of this cloud, as provider or consumer")
			f.StringVar(&af.Status, "status", "", "only agreements in this status")
			return func(q *query) func(bbus.Page) ([]bbus.Agreement, string, error) {
				return func(p bbus.Page) ([]bbus.Agreement, string, error) { return q.c.Agreements(q.e.ctx, af, p) }
			}
		}, printAgreements),
	{name: "agreement", args: "ID", nargs: 1, about: "one agreement",
		define: func(*flags) func(*query, []string) error {
			return func(q *query, pos []string) error {
				a, err := q.c.Agreement(q.e.ctx, pos[0])
				return q.print(a, err, func() error { return printAgreements(q.e.stdout, []bbus.Agreement{*a}) })
			}
		}},
	listQuery("oracles", "[--limit N] [--after ORACLE] [--all]", "the oracles that report VM performance",
		func(*flags) func(q *query) func(bbus.Page) ([]bbus.Oracle, string, error) {
			return func(q *query) func(bbus.Page) ([]bbus.Oracle, string, error) {
				return func(p bbus.Page) ([]bbus.Oracle, string, error) { return q.c.Oracles(q.e.ctx, p) }
			}
		}, printOracles),
	listQuery("violations", "[--cloud CLOUD] [--vm VM] [--limit N] [--after ID] [--all]", "SLA violations, each attributed to the cloud that hosted the VM",
		func(f *flags) func(q *query) func(bbus.Page) ([]bbus.Violation, string, error) {
			var vf bbus.ViolationFilter
			f.StringVar(&vf.Cloud, "cloud", "", "only violations attributed to this cloud")
			f.StringVar(&vf.VM, "vm", "", "only violations of this VM")
			return func(q *query) func(bbus.Page) ([]bbus.Violation, string, error) {
				return func(p bbus.Page) ([]bbus.Violation, string, error) { return q.c.Violations(q.e.ctx, vf, p) }
			}
		}, printViolations),
	listQuery("invoices", "[--cloud CLOUD] [--limit N] [--after ID] [--all]", "invoices between clouds",
		func(f *flags) func(q *query) func(bbus.Page) ([]bbus.Invoice, string, error) {
			cloud := f.String("cloud", "", "only invoices of this cloud, as provider or consumer")
			return func(q *query) func(bbus.Page) ([]bbus.Invoice, string, error) {
				return func(p bbus.Page) ([]bbus.Invoice, string, error) { return q.c.Invoices(q.e.ctx, *cloud, p) }
			}
		}, printInvoices),
	{name: "invoice", args: "ID", nargs: 1, about: "one invoice with its lines and their evidence",
		define: func(*flags) func(*query, []string) error {
			return func(q *query, pos []string) error {
				inv, err := q.c.Invoice(q.e.ctx, pos[0])
				return q.print(inv, err, func() error { return printInvoice(q.e.stdout, inv) })
			}
		}},
	{name: "reputation", about: "every member's reputation from oracle reports, and every oracle's from how its reports agree with the quorum, best first",
		define: func(*flags) func(*query, []string) error {
			return func(q *query, _ []string) error {
				s, err := q.c.Standings(q.e.ctx)
				return q.print(s, err, func() error {
					t := newTable(q.e.stdout)
					fmt.Fprintln(t, "CLOUD\tREPUTATION\tREPORTS\tCOMPLIANT")
					for _, r := range s.Items {
						fmt.Fprintf(t, "%s\t%s%%\t%d\t%d\n", r.Cloud, bbus.FormatPct(r.ReputationBP*10), r.Reports, r.Compliant)
					}
					if err := t.Flush(); err != nil || len(s.Oracles) == 0 {
						return err
					}
					fmt.Fprintln(q.e.stdout)
					t = newTable(q.e.stdout)
					fmt.Fprintln(t, "ORACLE\tSTATUS\tREPUTATION\tREPORTS\tAGREEING\tDISAGREEING")
					for _, o := range s.Oracles {
						fmt.Fprintf(t, "%s\t%s\t%s%%\t%d\t%d\t%d\n", o.Oracle, o.Status, bbus.FormatPct(o.ReputationBP*10), o.Reports, o.Agreeing, o.Disagreeing)
					}
					return t.Flush()
				})
			}
		}},
	{name: "windows", args: "VM [--since RFC3339] [--limit N] [--after CURSOR] [--all]", nargs: 1,
		about: "a VM's reported windows: each oracle's report and, once a quorum decided, the combined value",
		define: func(f *flags) func(*query, []string) error {
			since := timeFlag(f, "since", "only windows starting at or after this `time`, RFC 3339")
			lf := listFlags(f)
			return func(q *query, pos []string) error {
				l, err := collect(lf, func(p bbus.Page) ([]bbus.Window, string, error) { return q.c.Windows(q.e.ctx, pos[0], *since, p) })
				if err != nil {
					return err
				}
				return q.printList(l, l.Next, func() error {
					t := newTable(q.e.stdout)
					fmt.Fprintln(t, "START\tEND\tSTATUS\tCOMBINED\tREPORTS\tVIOLATIONS")
					for _, w := range l.Items {
						combined := "-"
						if w.Status == bbus.WindowDecided {
							combined = bbus.FormatPct(w.Availability) + "%"
							if w.LatencyMS > 0 {
								combined += fmt.Sprintf(" %dms", w.LatencyMS)
							}
						}
						var reps []string
						for _, r := range w.Reports {
							x := r.Oracle + "=" + bbus.FormatPct(r.Availability) + "%"
							if r.Verdict != "" {
								x += "(" + r.Verdict + ")"
							}
							reps = append(reps, x)
						}
						fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", fmtTime(w.Start), fmtTime(w.End), w.Status, combined,
							strings.Join(reps, " "), orDash(strings.Join(w.Violations, ",")))
					}
					return t.Flush()
				})
			}
		}},
}

func fmtTags(tags []bbus.Tag) string {
	var s []string
	for _, t := range tags {
		s = append(s, t.Key+"="+t.Value)
	}
	return orDash(strings.Join(s, ","))
}

func printOffers(w io.Writer, offers []bbus.Offer) error {
	t := newTable(w)
	fmt.Fprintln(t, "CLOUD\tOFFERS\tPRICE/VCPU-HOUR\tPRICE/GIB-HOUR\tTAGS\tPUBLISHED")
	for _, o := range offers {
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Cloud, o.Resources, bbus.FormatAmount(o.PriceVCPUHour),
			bbus.FormatAmount(o.PriceGiBHour), fmtTags(o.Tags), fmtTime(o.Published.At))
	}
	return t.Flush()
}

func printMatches(w io.Writer, ms []bbus.Match) error {
	t := newTable(w)
	fmt.Fprintln(t, "RANK\tCLOUD\tCOST/HOUR\tREPUTATION\tFREE\tTAGS")
	for i, m := range ms {
		fmt.Fprintf(t, "%d\t%s\t%s\t%s%%\t%s\t%s\n", i+1, m.Cloud, bbus.FormatAmount(m.CostPerHour),
			bbus.FormatPct(m.ReputationBP*10), m.Free, fmtTags(m.Offer.Tags))
	}
	return t.Flush()
}

func printAgreements(w io.Writer, as []bbus.Agreement) error {
	t := newTable(w)
	fmt.Fprintln(t, "ID\tPROVIDER\tCONSUMER\tSTATUS\tPRICE/VCPU-HOUR\tPRICE/GIB-HOUR\tAVAILABILITY\tMAX LATENCY\tPENALTY\tSIGNED\tUNTIL")
	for _, a := range as {
		signed := "-"
		if a.Signed != nil {
			signed = fmtTime(a.Signed.At)
		}
		latency := "-"
		if a.MaxLatencyMS > 0 {
			latency = fmt.Sprintf("%dms", a.MaxLatencyMS)
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s%%\t%s\t%s%%\t%s\t%s\n", a.ID, a.Provider, a.Consumer, a.Status,
			bbus.FormatAmount(a.PriceVCPUHour), bbus.FormatAmount(a.PriceGiBHour), bbus.FormatPct(a.Availability),
			latency, bbus.FormatPct(a.PenaltyPct), signed, fmtTime(a.Until))
	}
	return t.Flush()
}

func printOracles(w io.Writer, os []bbus.Oracle) error {
	t := newTable(w)
	fmt.Fprintln(t, "ID\tNAME\tSTATUS\tAPPROVALS")
	for _, o := range os {
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", o.ID, o.Name, o.Status, orDash(strings.Join(o.Approvals, ",")))
	}
	return t.Flush()
}

func printViolations(w io.Writer, vs []bbus.Violation) error {
	t := newTable(w)
	fmt.Fprintln(t, "ID\tVM\tCLOUD\tAGREEMENT\tFROM\tTO\tAVAILABILITY\tOBJECTIVE\tPENALTY\tREPORT")
	for _, v := range vs {
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s%%\t%s%%\t%s\t%s\n", v.ID, v.VM, v.Cloud, v.Agreement, fmtTime(v.Start),
			fmtTime(v.End), bbus.FormatPct(v.Availability), bbus.FormatPct(v.Objective), bbus.FormatAmount(v.Penalty), v.Report)
	}
	return t.Flush()
}

func printInvoices(w io.Writer, is []bbus.Invoice) error {
	t := newTable(w)
	fmt.Fprintln(t, "ID\tPROVIDER\tCONSUMER\tFROM\tUNTIL\tLINES\tTOTAL\tSTATUS")
	for _, i := range is {
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", i.ID, i.Provider, i.Consumer, fmtTime(i.From), fmtTime(i.Until),
			i.HostingLines+i.PenaltyLines, bbus.FormatAmount(i.Total), i.Status)
	}
	return t.Flush()
}

func printInvoice(w io.Writer, inv *bbus.Invoice) error {
	fmt.Fprintf(w, "invoice %s: %s owes %s %s for %s to %s (%s)\n", inv.ID, inv.Consumer, inv.Provider,
		bbus.FormatAmount(inv.Total), fmtTime(inv.From), fmtTime(inv.Until), inv.Status)
	if inv.Reason != "" {
		fmt.Fprintf(w, "disputed: %s\n", inv.Reason)
	}
	t := newTable(w)
	fmt.Fprintln(t, "\nKIND\tVM\tAGREEMENT\tFROM\tTO\tSECONDS\tAMOUNT\tEVIDENCE (HEIGHT:TX)")
	for _, l := range inv.Lines {
		var ev []string
		for _, s := range l.Evidence {
			tx := s.Tx
			if len(tx) > 12 {
				tx = tx[:12]
			}
			ev = append(ev, fmt.Sprintf("%d:%s", s.Height, tx))
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", l.Kind, l.VM, l.Agreement, fmtTime(l.Start), fmtTime(l.End),
			l.Seconds, bbus.FormatAmount(l.Amount), strings.Join(ev, " "))
	}
	fmt.Fprintf(t, "\t\t\t\t\thosting\t%s\t\n\t\t\t\t\tpenalties\t-%s\t\n\t\t\t\t\ttotal\t%s\t\n",
		bbus.FormatAmount(inv.Hosting), bbus.FormatAmount(inv.Penalties), bbus.FormatAmount(inv.Total))
	return t.Flush()
}
