package ledger_test

import (
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/ledger"
)

// TestInvoiceCorrection: a disputed invoice is answered by its provider with a
// corrected invoice for the same period, which the consumer disputes in turn
// and which is corrected again and accepted; every record stays, each
// correction points back and each corrected invoice forward; the rules
// (provider only, disputed only, one open correction, lower amounts only)
// refuse the rest; and the pair's next invoice starts where the first ended.
func TestInvoiceCorrection(t *testing.T) {
	f := newScaleFed(t)
	ids := f.hosted(3)
	f.next(time.Hour)
	f.terminate(ids)
	f.advance(time.Minute)
	_, r := f.invoice("")
	first := r.ID
	orig, _ := ledger.Invoice(f.st.Working(), first)
	if orig.Hosting <= 0 || orig.Status != bbus.InvoiceIssued {
		t.Fatalf("invoice %+v: want an issued invoice with hosting", orig)
	}
	correct := func(signer, id string, hosting, penalties int64, want string) ledger.Result {
		t.Helper()
		_, r := f.measure(signer, bbus.Action{InvoiceCorrect: &bbus.InvoiceCorrect{Invoice: id, Hosting: hosting, Penalties: penalties, Reason: "vm-2 did not run"}}, want)
		return r
	}
	half := orig.Hosting / 2
	correct(provider, first, half, 0, bbus.ESTATE) // issued, not disputed
	f.measure(consumer, bbus.Action{InvoiceDispute: &bbus.InvoiceDispute{Invoice: first, Reason: "vm-2 never ran"}}, "")
	correct(consumer, first, half, 0, bbus.EUNAUTHORIZED)
	correct(provider, first, orig.Hosting+1, 0, bbus.EINVALID) // asks more
	correct(provider, first, orig.Hosting, 0, bbus.EINVALID)   // asks the same
	correct(provider, "inv-99", half, 0, bbus.ENOTFOUND)       // no such invoice
	correct(provider, first, 0, 1<<63-1, bbus.EINVALID)        // its credit does not fit
	second := correct(provider, first, half, 10, "")
	if ev := second.Events[len(second.Events)-1]; ev.Type != "invoice.corrected" {
		t.Errorf("a correction emits %s, want invoice.corrected", ev.Type)
	}
	correct(provider, first, half-1, 0, bbus.ESTATE) // one open correction at a time
	correct(provider, second.ID, 1, 0, bbus.ESTATE)  // issued, not disputed

	got, _ := ledger.Invoice(f.st.Working(), second.ID)
	want := orig.Hosting - half + 10
	if got.Corrects != first || got.Status != bbus.InvoiceIssued || got.Hosting != half || got.Penalties != 10 ||
		got.Total != half-10 || got.Credit != want || got.From != orig.From || got.Until != orig.Until || got.CorrectionReason != "vm-2 did not run" {
		t.Errorf("the correction is %+v; want issued, correcting %s for its period, total %d, credit %d", got, first, half-10, want)
	}
	if len(got.Lines) != 0 {
		t.Errorf("the correction has %d lines of its own, want none (its evidence is %s)", len(got.Lines), first)
	}
	old, _ := ledger.Invoice(f.st.Working(), first)
	if old.CorrectedBy != second.ID || old.Status != bbus.InvoiceDisputed || old.Total != orig.Total || old.HostingLines != 3 || len(old.Lines) != 3 {
		t.Errorf("the disputed invoice is %+v; want it kept, disputed, corrected by %s", old, second.ID)
	}

	// The consumer disputes the correction; the provider corrects it; the
	// consumer accepts that, and an accepted invoice is never corrected.
	f.measure(consumer, bbus.Action{InvoiceDispute: &bbus.InvoiceDispute{Invoice: second.ID, Reason: "still too high"}}, "")
	correct(provider, second.ID, half, 0, bbus.EINVALID) // fewer penalties than the correction it corrects
	third := correct(provider, second.ID, half/2, 10, "")
	f.measure(consumer, bbus.Action{InvoiceAccept: &bbus.InvoiceRef{Invoice: third.ID}}, "")
	correct(provider, third.ID, 0, 10, bbus.ESTATE)
	chain := []string{}
	for id := third.ID; id != ""; {
		inv, err := ledger.Invoice(f.st.Working(), id)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, inv.ID+":"+inv.Status)
		id = inv.Corrects
	}
	if w := []string{third.ID + ":accepted", second.ID + ":disputed", first + ":disputed"}; len(chain) != 3 || chain[0] != w[0] || chain[1] != w[1] || chain[2] != w[2] {
		t.Errorf("the chain of corrections is %v, want %v", chain, w)
	}
	for _, cloud := range []string{provider, consumer} {
		list, _, err := ledger.Invoices(f.st.Working(), cloud, bbus.Page{})
		if err != nil || len(list) != 3 {
			t.Errorf("invoices of %s: %d, %v; want the invoice and its two corrections", cloud, len(list), err)
		}
	}

	// The pair's next invoice is unaffected by the corrections.
	f.hosted(1)
	f.advance(time.Hour)
	_, r = f.invoice("")
	next, _ := ledger.Invoice(f.st.Working(), r.ID)
	if !next.From.Equal(orig.Until) || next.Corrects != "" {
		t.Errorf("the next invoice is %+v; want it to start at %s", next, orig.Until)
	}
}

// TestInvoiceCorrectionCostIndependentOfLines: correcting an invoice reads
// what it reads for an invoice of 3 lines when the invoice has 1,000.
func TestInvoiceCorrectionCostIndependentOfLines(t *testing.T) {
	var reads []int
	for _, n := range []int{3, 1_000} {
		f := newScaleFed(t)
		ids := f.hosted(n)
		f.next(time.Hour)
		f.terminate(ids)
		f.advance(time.Minute)
		_, r := f.invoice("")
		f.measure(consumer, bbus.Action{InvoiceDispute: &bbus.InvoiceDispute{Invoice: r.ID, Reason: "too high"}}, "")
		k, res := f.readsOf(provider, bbus.Action{InvoiceCorrect: &bbus.InvoiceCorrect{Invoice: r.ID, Hosting: 1, Reason: "one VM only"}})
		if !res.OK() {
			t.Fatalf("%d lines: %s %s", n, res.Code, res.Message)
		}
		reads = append(reads, k)
	}
	if reads[1] != reads[0] || reads[1] > 30 {
		t.Errorf("invoice_correct reads %v records for invoices of 3 and 1,000 lines; want the same, at most 30", reads)
	}
}
