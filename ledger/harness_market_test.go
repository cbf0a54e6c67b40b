package ledger

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// What the tests share about the market: paging through agreements,
// violations and invoices, and the rules every state of them must satisfy.

// pageAll reads every page of a list, seven items at a time, so that paging is
// exercised too.
func pageAll[T any](list func(bbus.Page) ([]T, string, error)) ([]T, error) {
	var out []T
	for after := ""; ; {
		page, next, err := list(bbus.Page{Limit: 7, After: after})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		after = next
	}
}

func allAgreements(r kv.Reader, f bbus.AgreementFilter) ([]bbus.Agreement, error) {
	return pageAll(func(p bbus.Page) ([]bbus.Agreement, string, error) { return Agreements(r, f, p) })
}

func allViolations(r kv.Reader, f bbus.ViolationFilter) ([]bbus.Violation, error) {
	return pageAll(func(p bbus.Page) ([]bbus.Violation, string, error) { return Violations(r, f, p) })
}

// allInvoices lists every invoice with all its lines, read page by page.
func allInvoices(r kv.Reader, cloud string) ([]bbus.Invoice, error) {
	list, err := pageAll(func(p bbus.Page) ([]bbus.Invoice, string, error) { return Invoices(r, cloud, p) })
	for i := range list {
		if err != nil {
			break
		}
		list[i].Lines, err = pageAll(func(p bbus.Page) ([]bbus.InvoiceLine, string, error) { return InvoiceLines(r, list[i].ID, p) })
	}
	return list, err
}

func countKinds(lines []bbus.InvoiceLine) (hosting, penalties int64) {
	for _, l := range lines {
		if l.Kind == "hosting" {
			hosting++
		} else {
			penalties++
		}
	}
	return hosting, penalties
}

// span is a stretch [start, end) of one VM's life that an invoice billed.
type span struct {
	start, end time.Time
	invoice    string
}

// checkMarketInvariants returns every rule of agreements, reports, violations,
// invoices and reputation that the state breaks. now is the current block's time.
func checkMarketInvariants(r kv.Reader, now time.Time) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	must := func(err error) bool {
		if err != nil {
			fail("query: %v", err)
		}
		return err == nil
	}

	for _, c := range allClouds(r) {
		if c.Compliant < 0 || c.Compliant > c.Reports || c.ReputationBP != bbus.Reputation(c.Reports, c.Compliant) {
			fail("cloud %s: reputation %d bp from %d compliant of %d reports; the formula gives %d",
				c.ID, c.ReputationBP, c.Compliant, c.Reports, bbus.Reputation(c.Reports, c.Compliant))
		}
	}

	ags, err := allAgreements(r, bbus.AgreementFilter{})
	if !must(err) {
		return bad
	}
	agByID := map[string]*bbus.Agreement{}
	for i := range ags {
		ag := &ags[i]
		agByID[ag.ID] = ag
		switch {
		case ag.Provider == ag.Consumer || (ag.Proposer != ag.Provider && ag.Proposer != ag.Consumer):
			fail("agreement %s: provider %s, consumer %s, proposer %s", ag.ID, ag.Provider, ag.Consumer, ag.Proposer)
		case (ag.Status == bbus.AgreementActive) != (ag.Signed != nil) || (ag.Status == bbus.AgreementDeclined) != (ag.Declined != nil) ||
			(ag.Status != bbus.AgreementActive && ag.Status != bbus.AgreementProposed && ag.Status != bbus.AgreementDeclined):
			fail("agreement %s is %s with signature %v and refusal %v", ag.ID, ag.Status, ag.Signed, ag.Declined)
		}
	}

	vios, err := allViolations(r, bbus.ViolationFilter{})
	if !must(err) {
		return bad
	}
	vioByID := map[string]*bbus.Violation{}
	for i := range vios {
		v := &vios[i]
		vioByID[v.ID] = v
		ag := agByID[v.Agreement]
		vm, err := VM(r, v.VM)
		if ag == nil || err != nil {
			fail("violation %s names agreement %s and VM %s: %v", v.ID, v.Agreement, v.VM, err)
			continue
		}
		charge, _ := bbus.Charge(v.End.Sub(v.Start).Nanoseconds(), vm.Resources, ag.PriceVCPUHour, ag.PriceGiBHour)
		missed := v.Availability < ag.Availability || ag.MaxLatencyMS > 0 && v.LatencyMS > ag.MaxLatencyMS
		switch {
		case v.Cloud != ag.Provider || v.Consumer != ag.Consumer || v.Consumer != vm.Owner:
			fail("violation %s: cloud %s consumer %s, agreement %s is %s -> %s, VM owner %s", v.ID, v.Cloud, v.Consumer, ag.ID, ag.Provider, ag.Consumer, vm.Owner)
		case !missed || v.Objective != ag.Availability || v.MaxLatencyMS != ag.MaxLatencyMS:
			fail("violation %s: measured %d/%dms against %d/%dms of %s is no violation", v.ID, v.Availability, v.LatencyMS, ag.Availability, ag.MaxLatencyMS, ag.ID)
		case v.Seconds != int64(v.End.Sub(v.Start)/time.Second) || v.Charge != charge || v.Penalty != bbus.Share(charge, ag.PenaltyPct):
			fail("violation %s: %ds charge %d penalty %d; want %ds charge %d penalty %d", v.ID, v.Seconds, v.Charge, v.Penalty,
				int64(v.End.Sub(v.Start)/time.Second), charge, bbus.Share(charge, ag.PenaltyPct))
		case !ag.InForce(v.Start) || !ag.Until.IsZero() && v.End.After(ag.Until):
			fail("violation %s: %s..%s is not within agreement %s's validity", v.ID, v.Start, v.End, ag.ID)
		}
		if rep, err := Report(r, v.Report); err != nil || rep.VM != v.VM || v.Start.Before(rep.Start) || v.End.After(rep.End) {
			fail("violation %s: report %s (%v) does not cover it", v.ID, v.Report, err)
		}
	}

	invs, err := allInvoices(r, "")
	if !must(err) {
		return bad
	}
	lastUntil := map[string]time.Time{}   // provider/consumer -> end of the last invoice
	lastClosed := map[string]bbus.Stamp{} // provider/consumer -> when the last invoice was closed
	penalized := map[string][]string{}    // provider/consumer -> violations in its invoices, in order
	invoiced := map[string]string{}       // violation -> invoice
	billed := map[string][]span{}         // vm -> what invoices billed of it
	byID := map[string]*bbus.Invoice{}
	for i := range invs {
		byID[invs[i].ID] = &invs[i]
	}
	for i := range invs {
		inv := &invs[i]
		pair := inv.Provider + "/" + inv.Consumer
		if inv.Corrects != "" {
			// A credit note: the period of the disputed invoice it answers,
			// asking no more hosting and no fewer penalties, with no lines.
			orig := byID[inv.Corrects]
			switch {
			case orig == nil:
				fail("invoice %s corrects %s, which does not exist", inv.ID, inv.Corrects)
			case orig.CorrectedBy != inv.ID || orig.Status != bbus.InvoiceDisputed:
				fail("invoice %s corrects %s, which is %s and corrected by %q", inv.ID, orig.ID, orig.Status, orig.CorrectedBy)
			case orig.Provider != inv.Provider || orig.Consumer != inv.Consumer || !orig.From.Equal(inv.From) || !orig.Until.Equal(inv.Until):
				fail("invoice %s corrects %s of another pair or period", inv.ID, orig.ID)
			case inv.Hosting > orig.Hosting || inv.Penalties < orig.Penalties || inv.Total != inv.Hosting-inv.Penalties ||
				inv.Credit != (orig.Hosting-inv.Hosting)+(inv.Penalties-orig.Penalties) || inv.Credit <= 0:
				fail("invoice %s corrects %s to hosting %d, penalties %d, total %d, credit %d (from hosting %d, penalties %d)",
					inv.ID, orig.ID, inv.Hosting, inv.Penalties, inv.Total, inv.Credit, orig.Hosting, orig.Penalties)
			case len(inv.Lines) != 0 || inv.HostingLines != 0 || inv.PenaltyLines != 0:
				fail("invoice %s, a correction, has lines of its own", inv.ID)
			}
			continue
		}
		if inv.CorrectedBy != "" && byID[inv.CorrectedBy] == nil {
			fail("invoice %s is corrected by %s, which does not exist", inv.ID, inv.CorrectedBy)
		}
		if _, ok := lastUntil[pair]; !ok {
			var genesis time.Time
			getJSON(r, keyGenesisTime, &genesis) // a pair's first invoice starts at genesis
			lastUntil[pair] = genesis
		}
		if !inv.From.Equal(lastUntil[pair]) || !inv.Until.After(inv.From) || inv.Until.After(now) {
			fail("invoice %s covers %s..%s; the last one of %s ended at %s", inv.ID, inv.From, inv.Until, pair, lastUntil[pair])
		}
		lastUntil[pair], lastClosed[pair] = inv.Until, inv.Closed
		var sum, hosting, penalties int64
		for j, l := range inv.Lines {
			sum += l.Amount
			if l.Seconds != int64(l.End.Sub(l.Start)/time.Second) {
				fail("invoice %s line %d: %ds for %s..%s", inv.ID, j+1, l.Seconds, l.Start, l.End)
			}
			switch l.Kind {
			case "hosting":
				hosting += l.Amount
				ag := agByID[l.Agreement]
				amount, _ := bbus.Charge(l.End.Sub(l.Start).Nanoseconds(), *l.Resources, l.PriceVCPUHour, l.PriceGiBHour)
				switch {
				case ag == nil || ag.Provider != inv.Provider || ag.Consumer != inv.Consumer || ag.PriceVCPUHour != l.PriceVCPUHour || ag.PriceGiBHour != l.PriceGiBHour:
					fail("invoice %s line %d: agreement %s does not bind %s at these prices", inv.ID, j+1, l.Agreement, pair)
				case l.Amount != amount || amount < 0:
					fail("invoice %s line %d: amount %d, the charge is %d", inv.ID, j+1, l.Amount, amount)
				case !l.Start.Before(l.End) || l.Start.Before(inv.From) || l.End.After(inv.Until):
					fail("invoice %s line %d: %s..%s is not within %s..%s", inv.ID, j+1, l.Start, l.End, inv.From, inv.Until)
				case !ag.InForce(l.Start) || !ag.Until.IsZero() && l.End.After(ag.Until):
					fail("invoice %s line %d: %s..%s is not within agreement %s's validity", inv.ID, j+1, l.Start, l.End, ag.ID)
				}
				if !hostedUnder(r, l.VM, inv.Provider, l.Agreement, l.Start, l.End) {
					fail("invoice %s line %d: VM %s did not run at %s under %s for all of %s..%s", inv.ID, j+1, l.VM, inv.Provider, l.Agreement, l.Start, l.End)
				}
				billed[l.VM] = append(billed[l.VM], span{l.Start, l.End, inv.ID})
			case "penalty":
				penalties -= l.Amount
				v := vioByID[l.Violation]
				switch {
				case v == nil:
					fail("invoice %s line %d: no violation %s", inv.ID, j+1, l.Violation)
				case l.Amount != -v.Penalty || v.Cloud != inv.Provider || v.Consumer != inv.Consumer || v.VM != l.VM:
					fail("invoice %s line %d: %d for violation %s (penalty %d, %s -> %s)", inv.ID, j+1, l.Amount, v.ID, v.Penalty, v.Cloud, v.Consumer)
				case v.Recorded.Height > inv.Closed.Height:
					fail("invoice %s line %d: violation %s was recorded at height %d, after the invoice was closed at %d", inv.ID, j+1, v.ID, v.Recorded.Height, inv.Closed.Height)
				case invoiced[v.ID] != "":
					fail("violation %s is in invoices %s and %s", v.ID, invoiced[v.ID], inv.ID)
				}
				invoiced[l.Violation] = inv.ID
				penalized[pair] = append(penalized[pair], l.Violation)
			default:
				fail("invoice %s line %d has kind %q", inv.ID, j+1, l.Kind)
			}
		}
		if nh, np := countKinds(inv.Lines); nh != inv.HostingLines || np != inv.PenaltyLines {
			fail("invoice %s has %d hosting and %d penalty lines; its head says %d and %d", inv.ID, nh, np, inv.HostingLines, inv.PenaltyLines)
		}
		if sum != inv.Total || hosting != inv.Hosting || penalties != inv.Penalties || inv.Hosting-inv.Penalties != inv.Total {
			fail("invoice %s: lines sum to %d (hosting %d, penalties %d); it says hosting %d - penalties %d = total %d",
				inv.ID, sum, hosting, penalties, inv.Hosting, inv.Penalties, inv.Total)
		}
	}
	// No second of a VM is billed twice.
	for vm, spans := range billed {
		sort.Slice(spans, func(i, j int) bool { return spans[i].start.Before(spans[j].start) })
		for i := 1; i < len(spans); i++ {
			if spans[i].start.Before(spans[i-1].end) {
				fail("VM %s: %s..%s (%s) and %s..%s (%s) are both billed", vm, spans[i-1].start, spans[i-1].end, spans[i-1].invoice,
					spans[i].start, spans[i].end, spans[i].invoice)
			}
		}
	}
	// Each penalty is in the first invoice of its pair closed after it was
	// recorded (docs/CHARGING.md): the pair's invoices, in order, list a prefix
	// of the pair's violations in the order they were recorded, and what they do
	// not list was recorded no earlier than the block of the last one.
	byPair := map[string][]string{}
	for _, v := range vios {
		pair := v.Cloud + "/" + v.Consumer
		byPair[pair] = append(byPair[pair], v.ID)
		if last, ok := lastClosed[pair]; ok && invoiced[v.ID] == "" && v.Recorded.Height < last.Height {
			fail("violation %s of %s, recorded at height %d, is in no invoice although %s closed one at height %d",
				v.ID, pair, v.Recorded.Height, v.Cloud, last.Height)
		}
	}
	for pair, ids := range penalized {
		if all := byPair[pair]; len(ids) > len(all) || fmt.Sprint(ids) != fmt.Sprint(all[:len(ids)]) {
			fail("the invoices of %s list penalties %v; its violations are %v", pair, ids, all)
		}
	}
	return append(bad, checkAccruals(r)...)
}

// splitPair splits "provider/consumer/".
func splitPair(p string) (provider, consumer string) {
	i := strings.Index(p, "/")
	return p[:i], p[i+1 : len(p)-1]
}

// checkAccruals checks what billing accrues (invoices.go) against the records
// it sums: each pair's open period holds the charges and count of the pair's
// lines that end after its last invoice, and the penalties of the violations
// recorded since; the open intervals listed are exactly the running intervals
// under an agreement that may still bill.
func checkAccruals(r kv.Reader) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	type sums struct {
		hosting, penalties wide
		lines, vios        int64
	}
	got := map[string]*sums{}
	pairs := []string{}
	pair := func(p string) *sums {
		if got[p] == nil {
			got[p] = &sums{}
			pairs = append(pairs, p)
		}
		return got[p]
	}
	r.Iterate([]byte("pl/"), nil, func(k, v []byte) bool {
		rest := string(k[3 : len(k)-20])
		var l lineRecord
		mustUnmarshal(v, &l)
		pp, pc := splitPair(rest)
		last, _ := pairFrom(r, pp, pc)
		if l.End.After(last.Until) {
			s := pair(rest)
			s.hosting, s.lines = s.hosting.add(l.Amount), s.lines+1
		}
		return true
	})
	vios, _ := allViolations(r, bbus.ViolationFilter{})
	for _, v := range vios {
		last, _ := pairFrom(r, v.Cloud, v.Consumer)
		if seq, _ := parseSeqID("vio", v.ID); seq > last.Violation {
			s := pair(v.Cloud + "/" + v.Consumer + "/")
			s.penalties, s.vios = s.penalties.add(v.Penalty), s.vios+1
		}
	}
	r.Iterate([]byte("pa/"), nil, func(k, _ []byte) bool { pair(string(k[3:])); return true })
	for _, p := range pairs {
		acc := new(accrual)
		getJSON(r, []byte("pa/"+p), acc)
		pp, pc := splitPair(p)
		last, _ := pairFrom(r, pp, pc)
		if last.Closing {
			continue // an invoice being closed holds part of it
		}
		if s := got[p]; acc.Hosting != s.hosting || acc.Lines != s.lines || acc.Penalties != s.penalties || acc.Violations != s.vios {
			fail("pair %s accrued hosting %v in %d lines, penalties %v of %d violations; its records sum to %v in %d, %v of %d",
				p, acc.Hosting, acc.Lines, acc.Penalties, acc.Violations, s.hosting, s.lines, s.penalties, s.vios)
		}
	}
	listed := map[string]bool{}
	openOf := map[string]int64{}
	r.Iterate([]byte("po/"), nil, func(k, _ []byte) bool {
		listed[string(k)] = true
		rest := k[3:]
		i := bytes.IndexByte(rest, '/')
		j := i + 1 + bytes.IndexByte(rest[i+1:], '/')
		vm := string(rest[j+1 : len(rest)-9])
		openOf[string(rest[:j+1])]++
		iv := new(bbus.Interval)
		if !getJSON(r, intervalKey(vm, int64(binary.BigEndian.Uint64(rest[len(rest)-8:]))), iv) || iv.End != nil || iv.Agreement == "" {
			fail("open interval %q is listed but is not a running interval under an agreement", k)
		}
		return true
	})
	for _, p := range pairs {
		acc := new(accrual)
		getJSON(r, []byte("pa/"+p), acc)
		if acc.Open != openOf[p] {
			fail("pair %s counts %d open intervals; %d are listed", p, acc.Open, openOf[p])
		}
	}
	for _, vm := range allVMs(r) {
		iv := new(bbus.Interval)
		if !getJSON(r, intervalKey(vm.ID, vm.Intervals), iv) || iv.End != nil || iv.Agreement == "" {
			continue
		}
		seq, _ := parseSeqID("agr", iv.Agreement)
		ag := new(bbus.Agreement)
		getJSON(r, seqKey("a/", seq), ag)
		if k := openBilledKey(ag.Provider, ag.Consumer, vm.ID, iv.Seq); !listed[string(k)] {
			last, _ := pairFrom(r, ag.Provider, ag.Consumer)
			c := &ctx{st: kv.NewOverlay(r)}
			if end := c.agreementEnd(ag); end.IsZero() || end.After(last.Until) {
				fail("VM %s runs under %s, which may still bill, but is not among its pair's open intervals", vm.ID, ag.ID)
			}
		}
	}
	return bad
}

// hostedUnder reports whether one hosting interval of vm at cloud under
// agreement covers [start, end).
func hostedUnder(r kv.Reader, vm, cloud, agreement string, start, end time.Time) bool {
	for _, iv := range intervals(r, vm) {
		if iv.Cloud == cloud && iv.Agreement == agreement && !start.Before(iv.Start.At) && (iv.End == nil || !end.After(iv.End.At)) {
			return true
		}
	}
	return false
}
