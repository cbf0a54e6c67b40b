package ledger

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/bbusdev/bbus"
)

// lastInvoice is what the ledger keeps per provider and consumer: where the next
// invoice starts.
type lastInvoice struct {
	Invoice   string    `json:"invoice"`
	Until     time.Time `json:"until"`
	Violation uint64    `json:"violation"` // the sequence number of the last violation invoiced
}

func (c *ctx) invoiceClose(a *bbus.InvoiceClose) error {
	if a.Provider != c.tx.Signer {
		return bbus.Errorf(bbus.EUNAUTHORIZED, "only the provider %s may close its invoice, not %s", clipID(a.Provider), c.tx.Signer)
	}
	if !getJSON(c.st, cloudKey(a.Consumer), new(bbus.Cloud)) {
		return bbus.Errorf(bbus.ENOTFOUND, "no cloud %s", a.Consumer)
	}
	var last lastInvoice
	pairKey := []byte("ip/" + a.Provider + "/" + a.Consumer)
	if !getJSON(c.st, pairKey, &last) {
		getJSON(c.st, keyGenesisTime, &last.Until) // a pair's first invoice starts at genesis
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
	inv := &bbus.Invoice{Provider: a.Provider, Consumer: a.Consumer, From: last.Until, Until: until,
		Lines: []bbus.InvoiceLine{}, Status: bbus.InvoiceIssued, Closed: c.stamp}
	if err := c.hostingLines(inv); err != nil {
		return err
	}
	lastViolation, err := c.penaltyLines(inv, last.Violation)
	if err != nil {
		return err
	}
	seq := nextSeq(c.st, keyInvoiceSeq)
	inv.ID = seqID("inv", seq)
	putJSON(c.st, seqKey("i/", seq), inv)
	c.st.Set(seqKey("ic/"+a.Provider+"/", seq), []byte{})
	c.st.Set(seqKey("ic/"+a.Consumer+"/", seq), []byte{})
	putJSON(c.st, pairKey, &lastInvoice{Invoice: inv.ID, Until: until, Violation: lastViolation})
	c.id = inv.ID
	c.emit("invoice.closed", "invoice", inv.ID, "provider", inv.Provider, "consumer", inv.Consumer)
	return nil
}

// addLine appends l to inv and its totals, refusing amounts that overflow.
func addLine(inv *bbus.Invoice, l bbus.InvoiceLine) error {
	total, totalOK := addAmount(inv.Total, l.Amount)
	hosting, penalties := inv.Hosting, inv.Penalties
	var ok bool
	if l.Kind == "hosting" {
		hosting, ok = addAmount(hosting, l.Amount)
	} else if l.Amount != minInt64 {
		penalties, ok = addAmount(penalties, -l.Amount)
	} else {
		ok = false
	}
	if !ok || !totalOK {
		return bbus.Errorf(bbus.EINVALID, "the invoice's total, hosting or penalties do not fit in 64 bits")
	}
	inv.Total, inv.Hosting, inv.Penalties = total, hosting, penalties
	inv.Lines = append(inv.Lines, l)
	return nil
}

// hostingLines adds a line for each part of [From, Until) during which one of
// the consumer's VMs ran at the provider under one of their agreements.
func (c *ctx) hostingLines(inv *bbus.Invoice) error {
	var agreements []uint64
	c.st.Iterate([]byte("ap/"+inv.Provider+"/"+inv.Consumer+"/"), nil, func(k, _ []byte) bool {
		agreements = append(agreements, binary.BigEndian.Uint64(k[len(k)-8:]))
		return true
	})
	for _, agr := range agreements {
		prefix := append(append([]byte("ib/"), uint64be(agr)...), '/')
		var billed [][]byte
		c.st.Iterate(prefix, nil, func(k, _ []byte) bool {
			billed = append(billed, bytes.Clone(k[len(prefix):]))
			return true
		})
		for _, rest := range billed {
			vmID := string(rest[:len(rest)-9])
			ivSeq := int64(binary.BigEndian.Uint64(rest[len(rest)-8:]))
			var iv bbus.Interval
			getJSON(c.st, intervalKey(vmID, ivSeq), &iv)
			if iv.End != nil && !iv.End.At.After(inv.From) || iv.Start.At.After(inv.Until) {
				continue
			}
			var vm bbus.VM
			getJSON(c.st, vmKey(vmID), &vm)
			for _, p := range c.hostedPartsOf(iv, inv.From, inv.Until) {
				nanos, ok := spanNanos(p.start, p.end)
				amount, fits := bbus.Charge(nanos, vm.Resources, p.agreement.PriceVCPUHour, p.agreement.PriceGiBHour)
				if !ok || !fits {
					return bbus.Errorf(bbus.EINVALID, "the charge for VM %s does not fit in 64 bits", vmID)
				}
				r := vm.Resources
				evidence := []bbus.Stamp{*p.agreement.Signed, iv.Start}
				if iv.End != nil && !iv.End.At.After(inv.Until) {
					evidence = append(evidence, *iv.End)
				}
				if err := addLine(inv, bbus.InvoiceLine{Kind: "hosting", VM: vmID, Agreement: p.agreement.ID,
					Start: p.start, End: p.end, Seconds: nanos / 1_000_000_000, Resources: &r,
					PriceVCPUHour: p.agreement.PriceVCPUHour, PriceGiBHour: p.agreement.PriceGiBHour,
					Amount: amount, Evidence: evidence}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// hostedPartsOf is hostedParts for one interval, keeping only the part under its agreement.
func (c *ctx) hostedPartsOf(iv bbus.Interval, from, until time.Time) []part {
	var out []part
	for _, p := range c.hostedParts(iv.VM, from, until) {
		if p.iv.Seq == iv.Seq && p.agreement != nil {
			out = append(out, p)
		}
	}
	return out
}

// penaltyLines adds a line for each violation by the provider under an
// agreement with the consumer recorded since the last invoice of the pair (whose
// last violation was number after), whatever window it concerns: each penalty
// is in the first invoice closed after it was recorded. It returns the number
// of the last violation it included.
func (c *ctx) penaltyLines(inv *bbus.Invoice, after uint64) (uint64, error) {
	prefix := "vib/" + inv.Provider + "/" + inv.Consumer + "/"
	var seqs []uint64
	c.st.Iterate([]byte(prefix), seqKey(prefix, after+1), func(k, _ []byte) bool {
		seqs = append(seqs, binary.BigEndian.Uint64(k[len(k)-8:]))
		return true
	})
	for _, seq := range seqs {
		var v bbus.Violation
		getJSON(c.st, seqKey("vi/", seq), &v)
		if err := addLine(inv, bbus.InvoiceLine{Kind: "penalty", VM: v.VM, Agreement: v.Agreement, Start: v.Start, End: v.End,
			Seconds: v.Seconds, Violation: v.ID, Amount: -v.Penalty, Evidence: []bbus.Stamp{v.Recorded}}); err != nil {
			return 0, err
		}
		after = seq
	}
	return after, nil
}

func (c *ctx) invoiceAnswer(id, status, reason string) error {
	seq, ok := parseSeqID("inv", id)
	inv := new(bbus.Invoice)
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
