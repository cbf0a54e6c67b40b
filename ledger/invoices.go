package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"strconv"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// Billing accrues as hosting happens, so that closing an invoice costs what
// runs now, never the pair's history (docs/CHARGING.md, "Invoices"):
//
//   - an interval hosted under an agreement is listed, while it runs, among
//     the open intervals of the agreement's pair (po/<provider>/<consumer>/<vm>/<seq>);
//   - when it closes, the part of it since the pair's last invoice becomes a
//     line record of its own (pl/<provider>/<consumer>/<end><line seq>), and
//     its charge is added to the pair's open period (pa/<provider>/<consumer>);
//   - a violation's penalty is added to the open period as it is recorded;
//   - invoice_close splits at until the lines that end after it and the
//     intervals still open, and writes a head record (i/<seq>) that holds the
//     totals and counts, never the lines.
//
// Every line lies within one invoice's period, so an invoice's hosting lines
// are the pair's line records whose end is in (from, until]: they are read
// page by page by seeking there (InvoiceLines).

// maxInvoiceWork bounds what one invoice_close splits: the pair's intervals
// still open under its agreements plus the lines that end after until.
const maxInvoiceWork = 5000

// lastInvoice is what the ledger keeps per provider and consumer: where the next
// invoice starts.
type lastInvoice struct {
	Invoice   string    `json:"invoice"`
	Until     time.Time `json:"until"`
	Violation uint64    `json:"violation"` // the sequence number of the last violation invoiced
}

// wide is an unsigned 128-bit sum, so that an open period's accrued charges
// never wrap; an invoice refuses a total that does not fit in 64 bits.
type wide struct {
	Hi uint64 `json:"hi,omitempty"`
	Lo uint64 `json:"lo,omitempty"`
}

func (w wide) add(n int64) wide {
	lo, carry := bits.Add64(w.Lo, uint64(n), 0)
	return wide{w.Hi + carry, lo}
}

func (w wide) sub(n int64) wide {
	lo, borrow := bits.Sub64(w.Lo, uint64(n), 0)
	return wide{w.Hi - borrow, lo}
}

// int64 returns w, or false if it does not fit.
func (w wide) int64() (int64, bool) { return int64(w.Lo), w.Hi == 0 && w.Lo <= maxInt64 }

// accrual is a pair's open period: what it accrued since its last invoice.
type accrual struct {
	Hosting       wide   `json:"hosting"`             // the charges of its line records
	Lines         int64  `json:"lines"`               // its line records
	Overflows     int64  `json:"overflows,omitempty"` // of which, lines whose charge does not fit in 64 bits
	Penalties     wide   `json:"penalties"`           // the penalties of the violations recorded since
	Violations    int64  `json:"violations"`          // and their number
	LastViolation uint64 `json:"last_violation"`      // the sequence number of the last of them
}

// lineRecord is a hosting line as stored: Overflow marks a charge that does
// not fit in 64 bits (Amount is then 0), which no invoice may include.
type lineRecord struct {
	bbus.InvoiceLine
	Overflow bool `json:"overflow,omitempty"`
}

// invoiceRecord is an invoice's head as stored, with the range of its pair's
// violations it includes.
type invoiceRecord struct {
	bbus.Invoice
	FirstViolation uint64 `json:"first_violation"`
	LastViolation  uint64 `json:"last_violation"`
}

var keyLineSeq = []byte("meta/seq/line")

func pairID(provider, consumer string) string { return provider + "/" + consumer + "/" }

func accrualKey(provider, consumer string) []byte { return []byte("pa/" + pairID(provider, consumer)) }

// hostingLineKey orders a pair's line records by end (whole seconds, then nanoseconds), then number.
func hostingLineKey(provider, consumer string, end time.Time, seq uint64) []byte {
	k := append([]byte("pl/"+pairID(provider, consumer)), uint64be(uint64(end.Unix()))...)
	k = binary.BigEndian.AppendUint32(k, uint32(end.Nanosecond()))
	return append(k, uint64be(seq)...)
}

func openBilledKey(provider, consumer, vm string, seq int64) []byte {
	return append([]byte("po/"+pairID(provider, consumer)+vm+"/"), uint64be(uint64(seq))...)
}

func (c *ctx) loadAccrual(provider, consumer string) *accrual {
	acc := new(accrual)
	getJSON(c.st, accrualKey(provider, consumer), acc)
	return acc
}

// pairFrom returns where the pair's open period starts: its last invoice's
// until, or the chain's genesis time.
func pairFrom(r kv.Reader, provider, consumer string) (lastInvoice, bool) {
	var last lastInvoice
	if getJSON(r, []byte("ip/"+provider+"/"+consumer), &last) {
		return last, true
	}
	getJSON(r, keyGenesisTime, &last.Until) // a pair's first invoice starts at genesis
	return last, false
}

// agreementOf returns the agreement an interval was hosted under, or nil.
func (c *ctx) agreementOf(iv *bbus.Interval) *bbus.Agreement {
	seq, ok := parseSeqID("agr", iv.Agreement)
	if !ok {
		return nil
	}
	ag := new(bbus.Agreement)
	getJSON(c.st, seqKey("a/", seq), ag)
	return ag
}

// billedPart returns the part of interval iv, ending at end (its end, or an
// invoice's until), that is billable after from: inside the agreement's
// validity. ok is false if it is empty.
func (c *ctx) billedPart(iv *bbus.Interval, ag *bbus.Agreement, from, end time.Time) (s, e time.Time, ok bool) {
	s, e = maxTime(maxTime(iv.Start.At, from), ag.Signed.At), end
	if until := c.agreementEnd(ag); !until.IsZero() {
		e = minTime(e, until)
	}
	return s, e, s.Before(e)
}

// newLine makes the hosting line of VM vm's interval iv for [s, e).
func newLine(vm *bbus.VM, iv *bbus.Interval, ag *bbus.Agreement, s, e time.Time, ended bool) lineRecord {
	nanos, ok := spanNanos(s, e)
	amount, fits := bbus.Charge(nanos, vm.Resources, ag.PriceVCPUHour, ag.PriceGiBHour)
	r := vm.Resources
	evidence := []bbus.Stamp{*ag.Signed, iv.Start}
	if ended {
		evidence = append(evidence, *iv.End)
	}
	l := lineRecord{InvoiceLine: bbus.InvoiceLine{Kind: "hosting", VM: vm.ID, Agreement: ag.ID, Start: s, End: e,
		Seconds: nanos / 1_000_000_000, Resources: &r, PriceVCPUHour: ag.PriceVCPUHour, PriceGiBHour: ag.PriceGiBHour,
		Amount: amount, Evidence: evidence}}
	if !ok || !fits {
		l.Amount, l.Overflow = 0, true
	}
	return l
}

// recut is line l cut to [s, e) of the same interval, its charge recomputed;
// the interval's end stays evidence only if the line still ends there.
func recut(l lineRecord, s, e time.Time) lineRecord {
	out := l
	out.Start, out.End = s, e
	nanos, ok := spanNanos(s, e)
	amount, fits := bbus.Charge(nanos, *l.Resources, l.PriceVCPUHour, l.PriceGiBHour)
	out.Seconds, out.Amount, out.Overflow = nanos/1_000_000_000, amount, !ok || !fits
	if out.Overflow {
		out.Amount = 0
	}
	if !e.Equal(l.End) && len(l.Evidence) == 3 {
		out.Evidence = l.Evidence[:2:2]
	}
	return out
}

// count adds (sign 1) or removes (sign -1) line l from an accrual's hosting.
func (a *accrual) count(l lineRecord, sign int64) {
	a.Lines += sign
	switch {
	case l.Overflow:
		a.Overflows += sign
	case sign > 0:
		a.Hosting = a.Hosting.add(l.Amount)
	default:
		a.Hosting = a.Hosting.sub(l.Amount)
	}
}

// billOpened lists a new interval hosted under an agreement among its pair's open intervals.
func (c *ctx) billOpened(iv *bbus.Interval) {
	if ag := c.agreementOf(iv); ag != nil {
		c.st.Set(openBilledKey(ag.Provider, ag.Consumer, iv.VM, iv.Seq), []byte{})
	}
}

// billClosed accrues what an interval that just ended owes since its pair's
// last invoice, as a line record of the pair's open period.
func (c *ctx) billClosed(vm *bbus.VM, iv *bbus.Interval) {
	ag := c.agreementOf(iv)
	if ag == nil {
		return
	}
	c.st.Delete(openBilledKey(ag.Provider, ag.Consumer, iv.VM, iv.Seq))
	last, _ := pairFrom(c.st, ag.Provider, ag.Consumer)
	s, e, ok := c.billedPart(iv, ag, last.Until, iv.End.At)
	if !ok {
		return
	}
	l := newLine(vm, iv, ag, s, e, e.Equal(iv.End.At))
	acc := c.loadAccrual(ag.Provider, ag.Consumer)
	acc.count(l, 1)
	putJSON(c.st, hostingLineKey(ag.Provider, ag.Consumer, e, nextSeq(c.st, keyLineSeq)), &l)
	putJSON(c.st, accrualKey(ag.Provider, ag.Consumer), acc)
}

// accruePenalty adds a violation just recorded to its pair's open period.
func (c *ctx) accruePenalty(v *bbus.Violation, seq uint64) {
	acc := c.loadAccrual(v.Cloud, v.Consumer)
	acc.Penalties = acc.Penalties.add(v.Penalty)
	acc.Violations++
	acc.LastViolation = seq
	putJSON(c.st, accrualKey(v.Cloud, v.Consumer), acc)
}

func (c *ctx) invoiceClose(a *bbus.InvoiceClose) error {
	if a.Provider != c.tx.Signer {
		return bbus.Errorf(bbus.EUNAUTHORIZED, "only the provider %s may close its invoice, not %s", clipID(a.Provider), c.tx.Signer)
	}
	if !getJSON(c.st, cloudKey(a.Consumer), new(bbus.Cloud)) {
		return bbus.Errorf(bbus.ENOTFOUND, "no cloud %s", a.Consumer)
	}
	last, _ := pairFrom(c.st, a.Provider, a.Consumer)
	// Compared as integers first: a second far outside the calendar would
	// wrap around in time.Unix.
	switch {
	case afterTime(a.Until, c.h.Time):
		return bbus.Errorf(bbus.EINVALID, "the invoice would end at %s, after the block time %s: only the past can be invoiced", unixString(a.Until), c.h.Time.Format(time.RFC3339))
	case !afterTime(a.Until, last.Until):
		return bbus.Errorf(bbus.EINVALID, "the invoice must end after %s, where the pair's last invoice (or the chain) began", last.Until.Format(time.RFC3339))
	}
	until := time.Unix(a.Until, 0).UTC()
	P, C := a.Provider, a.Consumer
	acc := c.loadAccrual(P, C)
	in, next := *acc, accrual{LastViolation: acc.LastViolation} // this invoice's, the next period's

	// Lines that end after until (intervals that closed since): cut at until.
	type keyed struct {
		key []byte
		l   lineRecord
	}
	var tail []keyed
	tooMuch := false
	c.st.Iterate([]byte("pl/"+pairID(P, C)), hostingLineKey(P, C, until.Add(time.Nanosecond), 0), func(k, v []byte) bool {
		if tooMuch = len(tail) == maxInvoiceWork; tooMuch {
			return false
		}
		var l lineRecord
		mustUnmarshal(v, &l)
		tail = append(tail, keyed{bytes.Clone(k), l})
		return true
	})
	// Intervals still open under the pair's agreements: bill them up to until.
	var open [][]byte
	c.st.Iterate([]byte("po/"+pairID(P, C)), nil, func(k, _ []byte) bool {
		if tooMuch {
			return false
		}
		if tooMuch = len(tail)+len(open) == maxInvoiceWork; tooMuch {
			return false
		}
		open = append(open, bytes.Clone(k))
		return true
	})
	if tooMuch {
		return bbus.Errorf(bbus.ETOOLARGE, "invoice %s->%s until %s would split more than %d lines and running intervals in one transaction: close it with an until nearer the block time (fewer lines to split), or close it in several invoices",
			P, C, until.Format(time.RFC3339), maxInvoiceWork)
	}
	type write struct {
		key []byte
		l   *lineRecord // nil: delete
	}
	var writes []write
	for _, t := range tail {
		in.count(t.l, -1)
		if !t.l.Start.Before(until) {
			next.count(t.l, 1) // wholly after until: the next period's
			continue
		}
		first, rest := recut(t.l, t.l.Start, until), recut(t.l, until, t.l.End)
		in.count(first, 1)
		next.count(rest, 1)
		writes = append(writes, write{hostingLineKey(P, C, until, nextSeq(c.st, keyLineSeq)), &first}, write{t.key, &rest})
	}
	agreements := map[string]*bbus.Agreement{} // read once each; looked up, never ranged over
	for _, k := range open {
		rest := k[len("po/"+pairID(P, C)):]
		vmID, ivSeq := string(rest[:len(rest)-9]), int64(binary.BigEndian.Uint64(rest[len(rest)-8:]))
		iv := new(bbus.Interval)
		getJSON(c.st, intervalKey(vmID, ivSeq), iv)
		ag := agreements[iv.Agreement]
		if ag == nil {
			ag = c.agreementOf(iv)
			agreements[iv.Agreement] = ag
		}
		if end := c.agreementEnd(ag); !end.IsZero() && !end.After(until) {
			writes = append(writes, write{key: k}) // nothing of it is billable after this invoice
		}
		s, e, ok := c.billedPart(iv, ag, last.Until, until)
		if !ok {
			continue
		}
		vm := new(bbus.VM)
		getJSON(c.st, vmKey(vmID), vm)
		l := newLine(vm, iv, ag, s, e, false)
		in.count(l, 1)
		writes = append(writes, write{hostingLineKey(P, C, e, nextSeq(c.st, keyLineSeq)), &l})
	}
	hosting, ok := in.Hosting.int64()
	penalties, pok := in.Penalties.int64()
	if !ok || !pok || in.Overflows > 0 {
		return bbus.Errorf(bbus.EINVALID, "the invoice's total, hosting or penalties do not fit in 64 bits")
	}
	for _, w := range writes {
		if w.l == nil {
			c.st.Delete(w.key)
		} else {
			putJSON(c.st, w.key, w.l)
		}
	}
	seq := nextSeq(c.st, keyInvoiceSeq)
	inv := &invoiceRecord{Invoice: bbus.Invoice{ID: seqID("inv", seq), Provider: P, Consumer: C, From: last.Until, Until: until,
		Hosting: hosting, Penalties: penalties, Total: hosting - penalties, HostingLines: in.Lines, PenaltyLines: in.Violations,
		Status: bbus.InvoiceIssued, Closed: c.stamp}, FirstViolation: last.Violation + 1, LastViolation: acc.LastViolation}
	if in.Violations == 0 {
		inv.LastViolation = last.Violation
	}
	putJSON(c.st, seqKey("i/", seq), inv)
	putJSON(c.st, accrualKey(P, C), &next)
	c.st.Set(seqKey("ic/"+P+"/", seq), []byte{})
	c.st.Set(seqKey("ic/"+C+"/", seq), []byte{})
	putJSON(c.st, []byte("ip/"+P+"/"+C), &lastInvoice{Invoice: inv.ID, Until: until, Violation: inv.LastViolation})
	c.id = inv.ID
	c.emit("invoice.closed", "invoice", inv.ID, "provider", inv.Provider, "consumer", inv.Consumer)
	return nil
}

// InvoiceLines returns one page of an invoice's lines: its hosting lines in
// the order they end, then its penalties in the order they were recorded;
// and the cursor of the next page ("" at the end). A page costs what it holds.
func InvoiceLines(r kv.Reader, id string, p Page) ([]bbus.InvoiceLine, string, error) {
	seq, ok := parseSeqID("inv", id)
	rec := new(invoiceRecord)
	if !ok || !getJSON(r, seqKey("i/", seq), rec) {
		return nil, "", bbus.Errorf(bbus.ENOTFOUND, "no invoice %q", clipID(id))
	}
	badCursor := bbus.Errorf(bbus.EINVALID, "after %q is not a cursor of invoice %s's lines", clipID(p.After), rec.ID)
	out := []bbus.InvoiceLine{}
	limit := p.limit()
	next := ""
	P, C := rec.Provider, rec.Consumer
	hostingPrefix := []byte("pl/" + pairID(P, C))
	penaltyPrefix := "vib/" + pairID(P, C)
	firstVio := rec.FirstViolation
	hostingStart := hostingLineKey(P, C, rec.From.Add(time.Nanosecond), 0)
	switch {
	case p.After == "":
	case p.After[0] == 'h':
		b, err := hex.DecodeString(p.After[1:])
		if err != nil || len(b) != 20 {
			return nil, "", badCursor
		}
		hostingStart = append(append(bytes.Clone(hostingPrefix), b...), 0)
	case p.After[0] == 'p':
		n, err := strconv.ParseUint(p.After[1:], 10, 64)
		if err != nil || n == 1<<64-1 {
			return nil, "", badCursor
		}
		hostingStart, firstVio = nil, n+1
	default:
		return nil, "", badCursor
	}
	untilKey := hostingLineKey(P, C, rec.Until, 1<<64-1)
	if hostingStart != nil {
		r.Iterate(hostingPrefix, hostingStart, func(k, v []byte) bool {
			if bytes.Compare(k, untilKey) > 0 {
				return false
			}
			if len(out) == limit {
				next = "h" + hex.EncodeToString(k[len(hostingPrefix):])
				return false
			}
			var l lineRecord
			mustUnmarshal(v, &l)
			out = append(out, l.InvoiceLine)
			return true
		})
		if next != "" {
			return out, next, nil
		}
	}
	last := "p" + strconv.FormatUint(firstVio-1, 10)
	r.Iterate([]byte(penaltyPrefix), seqKey(penaltyPrefix, firstVio), func(k, _ []byte) bool {
		vseq := binary.BigEndian.Uint64(k[len(k)-8:])
		if vseq > rec.LastViolation {
			return false
		}
		if len(out) == limit {
			next = last
			return false
		}
		var v bbus.Violation
		getJSON(r, seqKey("vi/", vseq), &v)
		out = append(out, bbus.InvoiceLine{Kind: "penalty", VM: v.VM, Agreement: v.Agreement, Start: v.Start, End: v.End,
			Seconds: v.Seconds, Violation: v.ID, Amount: -v.Penalty, Evidence: []bbus.Stamp{v.Recorded}})
		last = "p" + strconv.FormatUint(vseq, 10)
		return true
	})
	return out, next, nil
}

func (c *ctx) invoiceAnswer(id, status, reason string) error {
	seq, ok := parseSeqID("inv", id)
	inv := new(invoiceRecord)
	if !ok || !getJSON(c.st, seqKey("i/", seq), inv) {
		return bbus.Errorf(bbus.ENOTFOUND, "no invoice %q", clipID(id))
	}
	switch {
	case c.tx.Signer != inv.Consumer:
		return bbus.Errorf(bbus.EUNAUTHORIZED, "only the consumer %s may accept or dispute invoice %s, not %s", inv.Consumer, inv.ID, c.tx.Signer)
	case inv.Status != bbus.InvoiceIssued:
		return bbus.Errorf(bbus.ESTATE, "invoice %s is already %s", inv.ID, inv.Status)
	}
	inv.Status, inv.Reason = status, reason
	stamp := c.stamp
	inv.Answered = &stamp
	putJSON(c.st, seqKey("i/", seq), inv)
	c.id = inv.ID
	c.emit("invoice."+status, "invoice", inv.ID, "provider", inv.Provider, "consumer", inv.Consumer)
	return nil
}
