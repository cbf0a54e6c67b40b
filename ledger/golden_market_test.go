package ledger

import (
	"fmt"
	"strings"
	"time"

	"github.com/bbusdev/bbus"
)

// The golden scripts' one-line views of offers, agreements, oracles, reports,
// violations, invoices and reputation: short enough to check by hand against
// the amounts worked out in the scripts' comments.

// rel renders a time as +DURATION from genesis ("zero" for the zero time).
func rel(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	d := t.Sub(testGenesisTime)
	if d < 0 {
		return d.String()
	}
	return "+" + d.String()
}

// stamp renders a stamp as tx#N@HEIGHT (after shortening).
func stamp(s bbus.Stamp) string { return fmt.Sprintf("%s@%d", s.Tx, s.Height) }

func (r *scriptRunner) marketQuery(a *args) []string {
	var out []string
	fail := func(err error) []string {
		return []string{r.shorten(fmt.Sprintf("%s: %s", bbus.ErrorCode(err), bbus.ErrorMessage(err)))}
	}
	switch a.words[0] {
	case "agreements":
		f := bbus.AgreementFilter{Cloud: a.str("cloud", ""), Status: a.str("status", "")}
		a.done(1)
		list, err := allAgreements(r.st, f)
		if err != nil {
			return fail(err)
		}
		for _, ag := range list {
			l := fmt.Sprintf("%s provider=%s consumer=%s proposer=%s %s vcpu=%d gib=%d avail=%s penalty=%s",
				ag.ID, ag.Provider, ag.Consumer, ag.Proposer, ag.Status, ag.PriceVCPUHour, ag.PriceGiBHour,
				bbus.FormatPct(ag.Availability), bbus.FormatPct(ag.PenaltyPct))
			if ag.MaxLatencyMS > 0 {
				l += fmt.Sprintf(" latency<=%dms", ag.MaxLatencyMS)
			}
			if !ag.Until.IsZero() {
				l += " until=" + rel(ag.Until)
			}
			l += " proposed=" + rel(ag.Proposed.At)
			if ag.Signed != nil {
				l += " signed=" + rel(ag.Signed.At)
			}
			if ag.Declined != nil {
				l += " declined=" + rel(ag.Declined.At)
			}
			if !ag.ExpiresAt.IsZero() {
				l += " expires=" + rel(ag.ExpiresAt)
			}
			out = append(out, l)
		}
	case "oracles":
		a.done(1)
		list, _ := Oracles(r.st, bbus.Page{Limit: MaxLimit})
		for _, o := range list {
			l := fmt.Sprintf("%s %s name=%q", o.ID, o.Status, o.Name)
			if len(o.Approvals) > 0 {
				l += " approvals=" + strings.Join(o.Approvals, ",")
			}
			if len(o.Removals) > 0 {
				l += " removals=" + strings.Join(o.Removals, ",")
			}
			out = append(out, l)
		}
	case "violations":
		f := bbus.ViolationFilter{Cloud: a.str("cloud", ""), VM: a.str("vm", "")}
		a.done(1)
		list, err := allViolations(r.st, f)
		if err != nil {
			return fail(err)
		}
		for _, v := range list {
			l := fmt.Sprintf("%s vm=%s cloud=%s consumer=%s %s %s %s..%s %ds avail=%s/%s",
				v.ID, v.VM, v.Cloud, v.Consumer, v.Agreement, v.Report, rel(v.Start), rel(v.End), v.Seconds,
				bbus.FormatPct(v.Availability), bbus.FormatPct(v.Objective))
			if v.MaxLatencyMS > 0 {
				l += fmt.Sprintf(" latency=%d/%dms", v.LatencyMS, v.MaxLatencyMS)
			}
			l += fmt.Sprintf(" charge=%d penalty=%d recorded=%s", v.Charge, v.Penalty, rel(v.Recorded.At))
			out = append(out, l)
		}
	case "invoice":
		if len(a.words) < 2 {
			r.fatalf("query invoice needs an id")
		}
		a.done(2)
		inv, err := Invoice(r.st, a.words[1])
		if err != nil {
			return fail(err)
		}
		// Every line, read in pages of 2 through the cursor.
		if inv.Lines, err = pageAll(func(p bbus.Page) ([]bbus.InvoiceLine, string, error) {
			return InvoiceLines(r.st, inv.ID, bbus.Page{Limit: 2, After: p.After})
		}); err != nil {
			return fail(err)
		}
		out = r.invoiceLines(inv)
	case "invoices":
		cloud := a.str("cloud", "")
		a.done(1)
		list, err := allInvoices(r.st, cloud)
		if err != nil {
			return fail(err)
		}
		for i := range list {
			out = append(out, r.invoiceHead(&list[i])+fmt.Sprintf(" lines=%d total=%d", list[i].HostingLines+list[i].PenaltyLines, list[i].Total))
		}
	case "reputation":
		a.done(1)
		for _, s := range Reputations(r.st) {
			out = append(out, fmt.Sprintf("%s %dbp reports=%d compliant=%d", s.Cloud, s.ReputationBP, s.Reports, s.Compliant))
		}
		for _, s := range OracleReputations(r.st) {
			out = append(out, fmt.Sprintf("oracle %s %s %dbp reports=%d agreeing=%d disagreeing=%d", s.Oracle, s.Status, s.ReputationBP, s.Reports, s.Agreeing, s.Disagreeing))
		}
	case "windows":
		if len(a.words) < 2 {
			r.fatalf("query windows needs a VM")
		}
		a.done(2)
		list, _, err := Windows(r.st, a.words[1], 0, bbus.Page{Limit: MaxLimit})
		if err != nil {
			return fail(err)
		}
		for _, w := range list {
			l := fmt.Sprintf("%s..%s %s", rel(w.Start), rel(w.End), w.Status)
			if w.Decided != nil {
				l += fmt.Sprintf(" combined=%s", bbus.FormatPct(w.Availability))
				if w.LatencyMS > 0 {
					l += fmt.Sprintf("/%dms", w.LatencyMS)
				}
				l += " decided=" + rel(w.Decided.At)
			}
			if len(w.Violations) > 0 {
				l += " violations=" + strings.Join(w.Violations, ",")
			}
			if w.Overlaps != "" {
				l += " overlaps=" + w.Overlaps
			}
			for _, wr := range w.Reports {
				l += fmt.Sprintf(" %s:%s=%s", wr.Oracle, wr.Report, bbus.FormatPct(wr.Availability))
				if wr.LatencyMS > 0 {
					l += fmt.Sprintf("/%dms", wr.LatencyMS)
				}
				if wr.Verdict != "" {
					l += "(" + wr.Verdict + ")"
				}
			}
			out = append(out, l)
		}
		if len(out) == 0 {
			out = []string{"(none)"}
		}
	case "offers":
		a.done(1)
		list, _ := Offers(r.st, bbus.Page{Limit: MaxLimit})
		for _, o := range list {
			out = append(out, fmt.Sprintf("%s cpu=%d mem=%d disk=%d net=%d vcpu=%d gib=%d%s published=%s",
				o.Cloud, o.Resources.CPU, o.Resources.MemMiB, o.Resources.DiskIOPS, o.Resources.NetMbps,
				o.PriceVCPUHour, o.PriceGiBHour, tagString(o.Tags), rel(o.Published.At)))
		}
	case "match":
		req := bbus.MatchRequest{Resources: a.res("", bbus.Resources{}), MaxPriceVCPUHour: a.fixed("max", 6, -1),
			Tags: a.tags("tags"), Exclude: a.str("exclude", "")}
		a.done(1)
		list, err := MatchClouds(r.st, req)
		if err != nil {
			return fail(err)
		}
		for i, m := range list {
			out = append(out, fmt.Sprintf("%d. %s score=%d cost=%d rep=%d vcpu=%d gib=%d free=cpu:%d,mem:%d%s",
				i+1, m.Cloud, m.Score, m.CostPerHour, m.ReputationBP, m.Offer.PriceVCPUHour, m.Offer.PriceGiBHour,
				m.Free.CPU, m.Free.MemMiB, tagString(m.Offer.Tags)))
		}
	}
	if len(out) == 0 {
		out = []string{"(none)"}
	}
	for i := range out {
		out[i] = r.shorten(out[i])
	}
	return out
}

func tagString(tags []bbus.Tag) string {
	if len(tags) == 0 {
		return ""
	}
	var parts []string
	for _, t := range tags {
		parts = append(parts, t.Key+"="+t.Value)
	}
	return " tags=" + strings.Join(parts, ",")
}

func (r *scriptRunner) invoiceHead(inv *bbus.Invoice) string {
	l := fmt.Sprintf("%s provider=%s consumer=%s %s..%s %s closed=%s", inv.ID, inv.Provider, inv.Consumer,
		rel(inv.From), rel(inv.Until), inv.Status, stamp(inv.Closed))
	if inv.Answered != nil {
		l += " answered=" + stamp(*inv.Answered)
	}
	if inv.Reason != "" {
		l += fmt.Sprintf(" reason=%q", inv.Reason)
	}
	return l
}

// invoiceLines prints an invoice: its head, each line, and the totals.
func (r *scriptRunner) invoiceLines(inv *bbus.Invoice) []string {
	out := []string{r.invoiceHead(inv)}
	for _, l := range inv.Lines {
		var ev []string
		for _, e := range l.Evidence {
			ev = append(ev, stamp(e))
		}
		s := fmt.Sprintf("  %s %s %s", l.Kind, l.VM, l.Agreement)
		if l.Violation != "" {
			s += " " + l.Violation
		}
		s += fmt.Sprintf(" %s..%s %ds", rel(l.Start), rel(l.End), l.Seconds)
		if l.Resources != nil {
			s += fmt.Sprintf(" cpu=%d mem=%d vcpu=%d gib=%d", l.Resources.CPU, l.Resources.MemMiB, l.PriceVCPUHour, l.PriceGiBHour)
		}
		s += fmt.Sprintf(" amount=%d evidence=%s", l.Amount, strings.Join(ev, ","))
		out = append(out, s)
	}
	return append(out, fmt.Sprintf("  hosting=%d penalties=%d total=%d", inv.Hosting, inv.Penalties, inv.Total))
}
