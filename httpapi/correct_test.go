package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/tokens"
)

// TestInvoiceCorrectREST: the node's cloud, as provider, answers an invoice
// its consumer disputed with a corrected invoice through
// POST /v1/invoices/{id}/correct; the consumer accepts the correction, and the
// disputed invoice keeps its record and points to it.
func TestInvoiceCorrectREST(t *testing.T) {
	ctx := context.Background()
	l := startNode(t, nil)
	write := l.token(t, tokens.ScopeWrite)
	w := l.client(write)
	c2 := l.join(t, w, "c2")
	post := func(path, body string) response { return call(t, "POST", l.base+path, []byte(body), bearer(write)) }

	// An invoice from local to c2, closed once a block's time is past its until.
	st, err := l.client("").Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	until := st.BlockTime.UTC().Truncate(time.Second).Add(time.Second)
	for deadline := time.Now().Add(time.Minute); !st.BlockTime.After(until); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no block after %s within a minute", until)
		}
		if st, err = l.client("").Status(ctx); err != nil {
			t.Fatal(err)
		}
	}
	inv := wantResult(t, "close", post("/v1/invoices", `{"provider":"local","consumer":"c2","until":"`+until.Format(time.RFC3339)+`"}`), 200)
	wantError(t, "correct an issued invoice", post("/v1/invoices/"+inv.ID+"/correct", `{"hosting":"0","reason":"none ran"}`), 409, bbus.ESTATE)
	if _, err := l.client("").Send(ctx, c2, bbus.Action{InvoiceDispute: &bbus.InvoiceDispute{Invoice: inv.ID, Reason: "none ran"}}); err != nil {
		t.Fatal(err)
	}
	wantError(t, "a correction without a reason", post("/v1/invoices/"+inv.ID+"/correct", `{"hosting":"0"}`), 400, bbus.EINVALID)
	wantError(t, "an over-precise hosting", post("/v1/invoices/"+inv.ID+"/correct", `{"hosting":"0.0000001","reason":"x"}`), 400, bbus.EINVALID)
	wantError(t, "a correction of nothing", post("/v1/invoices/inv-99/correct", `{"hosting":"0","penalties":"1","reason":"x"}`), 404, bbus.ENOTFOUND)
	res, err := w.CorrectInvoice(ctx, inv.ID, bbus.CorrectRequest{Hosting: "0", Penalties: "0.5", Reason: "none ran"}, true)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, "a second open correction", post("/v1/invoices/"+inv.ID+"/correct", `{"hosting":"0","penalties":"1","reason":"x"}`), 409, bbus.ESTATE)
	if _, err := l.client("").Send(ctx, c2, bbus.Action{InvoiceAccept: &bbus.InvoiceRef{Invoice: res.ID}}); err != nil {
		t.Fatal(err)
	}
	corr, err := l.client("").Invoice(ctx, res.ID)
	if err != nil || corr.Corrects != inv.ID || corr.Status != bbus.InvoiceAccepted || corr.Penalties != 500_000 || corr.Total != -500_000 || corr.CorrectionReason != "none ran" {
		t.Fatalf("the correction: %+v %v", corr, err)
	}
	old, err := l.client("").Invoice(ctx, inv.ID)
	if err != nil || old.CorrectedBy != res.ID || old.Status != bbus.InvoiceDisputed || old.Reason != "none ran" {
		t.Fatalf("the disputed invoice: %+v %v", old, err)
	}
}
