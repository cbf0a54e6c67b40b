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

// invoiceStep is the most items one invoice_close transaction processes: the
// pair's intervals still open under its agreements plus the lines that end
// after until. An invoice with more is closed in several transactions (tests
// lower it).
var invoiceStep = 100

// lastInvoice is what the ledger keeps per provider and consumer: where the next
// invoice starts.
type lastInvoice struct {
	Invoice   string    `json:"invoice"`
	Until     time.Time `json:"until"`
	Violation uint64    `json:"violation"`         // the sequence number of the last violation invoiced
	Closing   bool      `json:"closing,omitempty"` // Invoice is still being closed
}

// closeState is where an invoice being closed in several transactions is.
type closeState struct {
	In       accrual     `json:"in"`        // the invoice's so far
	Tail     []byte      `json:"tail"`      // the next line ending after until to cut
	TailLast []byte      `json:"tail_last"` // the last line that was there when the close began
	TailDone bool        `json:"tail_done,omitempty"`
	Open     []byte      `json:"open,omitempty"` // the next open interval to bill
	OpenDone bool        `json:"open_done,omitempty"`
	Prev     lastInvoice `json:"prev"` // the pair's last invoice before this one
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
	// Open is how many intervals the pair lists as open (not of the period:
	// kept across invoices), so that a close skips the scan when none is.
	Open int64 `json:"open,omitempty"`
}

// lineRecord is a hosting line as stored: Overflow marks a charge that does
// not fit in 64 bits (Amount is then 0), which no invoice may include.
type lineRecord = Line

// invoiceRecord is an invoice's head as stored, with the range of its pair's
// violations it includes.
type invoiceRecord struct {
	InvoiceHead
	Closing *closeState `json:"closing,omitempty"`
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
	amount, seconds, ok := LineCharge(s, e, vm.Resources, ag.PriceVCPUHour, ag.PriceGiBHour)
	r := vm.Resources
	evidence := []bbus.Stamp{*ag.Signed, iv.Start}
	if ended {
		evidence = append(evidence, *iv.End)
	}
	l := lineRecord{InvoiceLine: bbus.InvoiceLine{Kind: "hosting", VM: vm.ID, Agreement: ag.ID, Start: s, End: e,
		Seconds: seconds, Resources: &r, PriceVCPUHour: ag.PriceVCPUHour, PriceGiBHour: ag.PriceGiBHour,
		Amount: amount, Evidence: evidence}}
	if !ok {
		l.Amount, l.Overflow = 0, true
	}
	return l
}

// recut is line l cut to [s, e) of the same interval, its charge recomputed;
// the interval's end stays evidence only if the line still ends there.
func recut(l lineRecord, s, e time.Time) lineRecord {
	out := l
	out.Start, out.End = s, e
	amount, seconds, ok := LineCharge(s, e, *l.Resources, l.PriceVCPUHour, l.PriceGiBHour)
	out.Seconds, out.Amount, out.Overflow = seconds, amount, !ok
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
		acc := c.loadAccrual(ag.Provider, ag.Consumer)
		acc.Open++
		putJSON(c.st, accrualKey(ag.Provider, ag.Consumer), acc)
	}
}

// billClosed accrues what an interval that just ended owes since its pair's
// last invoice, as a line record of the pair's open period.
func (c *ctx) billClosed(vm *bbus.VM, iv *bbus.Interval) {
	ag := c.agreementOf(iv)
	if ag == nil {
		return
	}
	okey := openBilledKey(ag.Provider, ag.Consumer, iv.VM, iv.Seq)
	if c.st.Get(okey) != nil { // a close may have dropped it: nothing was billable after it
		c.st.Delete(okey)
		acc := c.loadAccrual(ag.Provider, ag.Consumer)
		acc.Open--
		putJSON(c.st, accrualKey(ag.Provider, ag.Consumer), acc)
	}
	last, _ := pairFrom(c.st, ag.Provider, ag.Consumer)
	if last.Closing {
		// An invoice of the pair is being closed: if it has not billed this
		// interval yet, the part up to its until is its line.
		seq, _ := parseSeqID("inv", last.Invoice)
		head := new(invoiceRecord)
		getJSON(c.st, seqKey("i/", seq), head)
		if cs := head.Closing; !cs.OpenDone && (cs.Open == nil || bytes.Compare(okey, cs.Open) >= 0) {
			if s, e, ok := c.billedPart(iv, ag, cs.Prev.Until, minTime(iv.End.At, last.Until)); ok {
				l := newLine(vm, iv, ag, s, e, e.Equal(iv.End.At))
				cs.In.count(l, 1)
				putJSON(c.st, hostingLineKey(ag.Provider, ag.Consumer, e, nextSeq(c.st, keyLineSeq)), &l)
				putJSON(c.st, seqKey("i/", seq), head)
			}
		}
	}
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
	if last.Closing {
		if a.Until != last.Until.Unix() {
			return bbus.Errorf(bbus.ESTATE, "invoice %s of %s to %s is still being closed up to %s: send invoice_close with that until (%d) to continue it before closing another",
				last.Invoice, a.Provider, a.Consumer, last.Until.Format(time.RFC3339), last.Until.Unix())
		}
		seq, _ := parseSeqID("inv", last.Invoice)
		head := new(invoiceRecord)
		getJSON(c.st, seqKey("i/", seq), head)
		return c.closeStep(head, seq, false)
	}
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
	var lineSeq uint64
	if v := c.st.Get(keyLineSeq); v != nil {
		lineSeq = binary.BigEndian.Uint64(v)
	}
	// The open period so far is this invoice's; the pair's next period starts
	// at until and is empty but for the violations' count.
	seq := nextSeq(c.st, keyInvoiceSeq)
	head := &invoiceRecord{InvoiceHead: InvoiceHead{Invoice: bbus.Invoice{ID: seqID("inv", seq), Provider: P, Consumer: C, From: last.Until, Until: until,
		Status: bbus.InvoiceClosing, Closed: c.stamp}, FirstViolation: last.Violation + 1, LastViolation: last.Violation},
		Closing: &closeState{In: *acc, Tail: hostingLineKey(P, C, until.Add(time.Nanosecond), 0),
			TailLast: hostingLineKey(P, C, c.h.Time, lineSeq), Prev: last}}
	if acc.Violations > 0 {
		head.LastViolation = acc.LastViolation
	}
	putJSON(c.st, accrualKey(P, C), &accrual{LastViolation: acc.LastViolation, Open: acc.Open})
	putJSON(c.st, []byte("ip/"+P+"/"+C), &lastInvoice{Invoice: head.ID, Until: until, Violation: head.LastViolation, Closing: true})
	c.st.Set(seqKey("ic/"+P+"/", seq), []byte{})
	c.st.Set(seqKey("ic/"+C+"/", seq), []byte{})
	return c.closeStep(head, seq, true)
}

// closeStep processes at most invoiceStep items of an invoice being closed:
// first the lines of the pair that end after until and were there when the
// close began, cut at until; then the intervals still open, billed up to
// until. When none is left the invoice is issued. first is whether this is
// the transaction that began the close: if it also ends it, a total that does
// not fit refuses it, as one transaction; a later one voids the invoice.
func (c *ctx) closeStep(head *invoiceRecord, seq uint64, first bool) error {
	P, C, until, cs := head.Provider, head.Consumer, head.Until, head.Closing
	acc := c.loadAccrual(P, C)
	budget := invoiceStep
	if !cs.TailDone {
		type keyed struct {
			key []byte
			l   lineRecord
		}
		var tail []keyed
		full := false
		c.st.Iterate([]byte("pl/"+pairID(P, C)), cs.Tail, func(k, v []byte) bool {
			if bytes.Compare(k, cs.TailLast) > 0 {
				return false
			}
			if full = len(tail) == budget; full {
				return false
			}
			var l lineRecord
			mustUnmarshal(v, &l)
			tail = append(tail, keyed{bytes.Clone(k), l})
			return true
		})
		for _, t := range tail {
			cs.In.count(t.l, -1)
			if !t.l.Start.Before(until) {
				acc.count(t.l, 1) // wholly after until: the next period's
				continue
			}
			first, rest := recut(t.l, t.l.Start, until), recut(t.l, until, t.l.End)
			cs.In.count(first, 1)
			acc.count(rest, 1)
			putJSON(c.st, hostingLineKey(P, C, until, nextSeq(c.st, keyLineSeq)), &first)
			putJSON(c.st, t.key, &rest)
		}
		budget -= len(tail)
		if len(tail) > 0 {
			cs.Tail = append(bytes.Clone(tail[len(tail)-1].key), 0)
		}
		cs.TailDone = !full
	}
	if cs.TailDone && budget > 0 && acc.Open == 0 {
		cs.OpenDone = true // none is open: no need to scan (past the deletions of those that were)
	}
	if cs.TailDone && budget > 0 && !cs.OpenDone {
		var open [][]byte
		full := false
		c.st.Iterate([]byte("po/"+pairID(P, C)), cs.Open, func(k, _ []byte) bool {
			if full = len(open) == budget; full {
				return false
			}
			open = append(open, bytes.Clone(k))
			return true
		})
		agreements := map[string]*bbus.Agreement{} // read once each; looked up, never ranged over
		ends := map[string]time.Time{}
		for _, k := range open {
			rest := k[len("po/"+pairID(P, C)):]
			vmID, ivSeq := string(rest[:len(rest)-9]), int64(binary.BigEndian.Uint64(rest[len(rest)-8:]))
			iv := new(bbus.Interval)
			getJSON(c.st, intervalKey(vmID, ivSeq), iv)
			ag, seen := agreements[iv.Agreement]
			if !seen {
				ag = c.agreementOf(iv)
				agreements[iv.Agreement], ends[iv.Agreement] = ag, c.agreementEnd(ag)
			}
			if end := ends[iv.Agreement]; !end.IsZero() && !end.After(until) {
				c.st.Delete(k) // nothing of it is billable after this invoice
				acc.Open--
			}
			s, e, ok := c.billedPart(iv, ag, cs.Prev.Until, until)
			if !ok {
				continue
			}
			vm := new(bbus.VM)
			getJSON(c.st, vmKey(vmID), vm)
			l := newLine(vm, iv, ag, s, e, false)
			cs.In.count(l, 1)
			putJSON(c.st, hostingLineKey(P, C, e, nextSeq(c.st, keyLineSeq)), &l)
		}
		if len(open) > 0 {
			cs.Open = append(bytes.Clone(open[len(open)-1]), 0)
		}
		cs.OpenDone = !full
	}
	putJSON(c.st, accrualKey(P, C), acc)
	c.id = head.ID
	if !cs.OpenDone {
		putJSON(c.st, seqKey("i/", seq), head)
		c.emit("invoice.closing", "invoice", head.ID, "provider", P, "consumer", C)
		return nil
	}
	hosting, ok := cs.In.Hosting.int64()
	penalties, pok := cs.In.Penalties.int64()
	if !ok || !pok || cs.In.Overflows > 0 {
		if first {
			return bbus.Errorf(bbus.EINVALID, "the invoice's total, hosting or penalties do not fit in 64 bits")
		}
		// Too late to refuse: the invoice bills nothing, and its period
		// (its lines, cut or not, and its penalties) is the next invoice's.
		acc.Hosting, acc.Penalties = addWide(acc.Hosting, cs.In.Hosting), addWide(acc.Penalties, cs.In.Penalties)
		acc.Lines, acc.Overflows, acc.Violations = acc.Lines+cs.In.Lines, acc.Overflows+cs.In.Overflows, acc.Violations+cs.In.Violations
		putJSON(c.st, accrualKey(P, C), acc)
		putJSON(c.st, []byte("ip/"+P+"/"+C), &cs.Prev)
		head.Status, head.Reason, head.Closing = bbus.InvoiceVoid, "its total, hosting or penalties do not fit in 64 bits", nil
		putJSON(c.st, seqKey("i/", seq), head)
		c.emit("invoice.void", "invoice", head.ID, "provider", P, "consumer", C)
		return nil
	}
	head.Hosting, head.Penalties, head.Total = hosting, penalties, hosting-penalties
	head.HostingLines, head.PenaltyLines = cs.In.Lines, cs.In.Violations
	head.Status, head.Closing = bbus.InvoiceIssued, nil
	putJSON(c.st, seqKey("i/", seq), head)
	putJSON(c.st, []byte("ip/"+P+"/"+C), &lastInvoice{Invoice: head.ID, Until: until, Violation: head.LastViolation})
	c.emit("invoice.closed", "invoice", head.ID, "provider", P, "consumer", C)
	return nil
}

func addWide(a, b wide) wide {
	lo, carry := bits.Add64(a.Lo, b.Lo, 0)
	return wide{a.Hi + b.Hi + carry, lo}
}

// InvoiceLines returns one page of an invoice's lines: its hosting lines in
// the order they end, then its penalties in the order they were recorded;
// and the cursor of the next page ("" at the end). A page costs what it holds.
func InvoiceLines(r kv.Reader, id string, p bbus.Page) ([]bbus.InvoiceLine, string, error) {
	seq, ok := parseSeqID("inv", id)
	rec := new(invoiceRecord)
	if !ok || !getJSON(r, seqKey("i/", seq), rec) {
		return nil, "", bbus.Errorf(bbus.ENOTFOUND, "no invoice %q", clipID(id))
	}
	if rec.Status == bbus.InvoiceVoid {
		return []bbus.InvoiceLine{}, "", nil // its lines are the next invoice's
	}
	if rec.Corrects != "" {
		return []bbus.InvoiceLine{}, "", nil // a correction's evidence is the invoice it corrects
	}
	badCursor := bbus.Errorf(bbus.EINVALID, "after %q is not a cursor of invoice %s's lines", clipID(p.After), rec.ID)
	out := []bbus.InvoiceLine{}
	limit := pageLimit(p)
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
		var lastKey []byte
		r.Iterate(hostingPrefix, hostingStart, func(k, v []byte) bool {
			if bytes.Compare(k, untilKey) > 0 {
				return false
			}
			if len(out) == limit {
				next = "h" + hex.EncodeToString(lastKey[len(hostingPrefix):])
				return false
			}
			var l lineRecord
			mustUnmarshal(v, &l)
			out = append(out, l.InvoiceLine)
			lastKey = append(lastKey[:0], k...)
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
	case inv.Status == bbus.InvoiceClosing:
		return bbus.Errorf(bbus.ESTATE, "invoice %s is still being closed: its provider's invoice_close transactions continue it", inv.ID)
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

// invoiceCorrect answers a disputed invoice with a corrected invoice (a credit
// note) for the same period: a head record of its own, issued, that the
// consumer accepts or disputes in turn. The disputed invoice keeps its record
// and points to its correction, which points back; a disputed correction is
// corrected in turn, so a chain of corrections has at most one open (issued)
// invoice. It reads and writes two heads, whatever the invoices hold.
func (c *ctx) invoiceCorrect(a *bbus.InvoiceCorrect) error {
	seq, ok := parseSeqID("inv", a.Invoice)
	inv := new(invoiceRecord)
	if !ok || !getJSON(c.st, seqKey("i/", seq), inv) {
		return bbus.Errorf(bbus.ENOTFOUND, "no invoice %q", clipID(a.Invoice))
	}
	switch {
	case c.tx.Signer != inv.Provider:
		return bbus.Errorf(bbus.EUNAUTHORIZED, "only the provider %s may correct invoice %s, not %s", inv.Provider, inv.ID, c.tx.Signer)
	case inv.CorrectedBy != "":
		return bbus.Errorf(bbus.ESTATE, "invoice %s is already corrected by %s: its consumer accepts or disputes that one, and a disputed correction is corrected in turn", inv.ID, inv.CorrectedBy)
	case inv.Status != bbus.InvoiceDisputed:
		return bbus.Errorf(bbus.ESTATE, "invoice %s is %s: only a disputed invoice can be corrected", inv.ID, inv.Status)
	case a.Hosting > inv.Hosting:
		return bbus.Errorf(bbus.EINVALID, "the correction's hosting %s is more than invoice %s's %s: a correction may only lower what is asked",
			bbus.FormatAmount(a.Hosting), inv.ID, bbus.FormatAmount(inv.Hosting))
	case a.Penalties < inv.Penalties:
		return bbus.Errorf(bbus.EINVALID, "the correction's penalties %s are less than invoice %s's %s: a correction may only lower what is asked",
			bbus.FormatAmount(a.Penalties), inv.ID, bbus.FormatAmount(inv.Penalties))
	case a.Penalties-inv.Penalties > maxInt64-(inv.Hosting-a.Hosting):
		return bbus.Errorf(bbus.EINVALID, "the correction's credit (what it lowers the invoice by) does not fit in 64 bits")
	case a.Hosting == inv.Hosting && a.Penalties == inv.Penalties:
		return bbus.Errorf(bbus.EINVALID, "the correction asks what invoice %s asks: change the hosting or the penalties", inv.ID)
	}
	nseq := nextSeq(c.st, keyInvoiceSeq)
	corr := &invoiceRecord{InvoiceHead: InvoiceHead{Invoice: bbus.Invoice{ID: seqID("inv", nseq), Provider: inv.Provider, Consumer: inv.Consumer,
		From: inv.From, Until: inv.Until, Hosting: a.Hosting, Penalties: a.Penalties, Total: a.Hosting - a.Penalties,
		Status: bbus.InvoiceIssued, Closed: c.stamp, Corrects: inv.ID, Credit: (inv.Hosting - a.Hosting) + (a.Penalties - inv.Penalties),
		CorrectionReason: a.Reason}}}
	inv.CorrectedBy = corr.ID
	putJSON(c.st, seqKey("i/", seq), inv)
	putJSON(c.st, seqKey("i/", nseq), corr)
	c.st.Set(seqKey("ic/"+inv.Provider+"/", nseq), []byte{})
	c.st.Set(seqKey("ic/"+inv.Consumer+"/", nseq), []byte{})
	c.id = corr.ID
	c.emit("invoice.corrected", "invoice", corr.ID, "corrects", inv.ID, "provider", inv.Provider, "consumer", inv.Consumer)
	return nil
}
