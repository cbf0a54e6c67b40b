package evidence

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/ledger"
)

// invoiceRecords is the state an invoice's bundle proves: one hosting line
// and one penalty of provider cloud1 to consumer cloud0 under agr-1.
func invoiceRecords(t testing.TB) map[string]any {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	res := bbus.Resources{CPU: 4, MemMiB: 4096}
	ag := &bbus.Agreement{ID: "agr-1", Provider: "cloud1", Consumer: "cloud0", PriceVCPUHour: 500_000, PriceGiBHour: 10_000,
		Availability: 99_000, PenaltyPct: 10_000, Status: bbus.AgreementActive, Signed: &bbus.Stamp{At: t0, Height: 3}}
	vm := &bbus.VM{ID: "vm-1", Owner: "cloud0", Host: "cloud1", Resources: res, State: bbus.VMRunning}
	start, end := t0.Add(time.Minute), t0.Add(2*time.Hour+7*time.Second)
	amount, seconds, _ := ledger.LineCharge(start, end, res, ag.PriceVCPUHour, ag.PriceGiBHour)
	line := &ledger.Line{InvoiceLine: bbus.InvoiceLine{Kind: "hosting", VM: "vm-1", Agreement: "agr-1", Start: start, End: end,
		Seconds: seconds, Resources: &res, PriceVCPUHour: ag.PriceVCPUHour, PriceGiBHour: ag.PriceGiBHour, Amount: amount}}
	vs, ve := t0.Add(time.Hour), t0.Add(time.Hour+10*time.Minute)
	charge, vsec, _ := ledger.LineCharge(vs, ve, res, ag.PriceVCPUHour, ag.PriceGiBHour)
	vio := &bbus.Violation{ID: "vio-1", VM: "vm-1", Cloud: "cloud1", Consumer: "cloud0", Agreement: "agr-1", Report: "rep-1",
		Start: vs, End: ve, Seconds: vsec, Availability: 90_000, Objective: 99_000, Charge: charge, Penalty: bbus.Share(charge, ag.PenaltyPct)}
	rep := &bbus.Report{ID: "rep-1", VM: "vm-1", Start: vs, End: ve, Availability: 90_000, Violations: []string{"vio-1"}}
	head := &ledger.InvoiceHead{Invoice: bbus.Invoice{ID: "inv-1", Provider: "cloud1", Consumer: "cloud0", From: t0, Until: t0.Add(3 * time.Hour),
		HostingLines: 1, PenaltyLines: 1, Hosting: amount, Penalties: vio.Penalty, Total: amount - vio.Penalty, Status: bbus.InvoiceIssued},
		FirstViolation: 1, LastViolation: 1}
	key := func(kind, id string) string {
		k, ok := ledger.RecordKey(kind, id)
		if !ok {
			t.Fatal(kind, id)
		}
		return string(k)
	}
	return map[string]any{
		key("invoice", "inv-1"):                                   head,
		key("agreement", "agr-1"):                                 ag,
		key("violation", "vio-1"):                                 vio,
		key("report", "rep-1"):                                    rep,
		string(ledger.VMKey("vm-1")):                              vm,
		string(ledger.HostingLineKey("cloud1", "cloud0", end, 7)): line,
		string(ledger.PenaltyKey("cloud1", "cloud0", 1)):          "",
	}
}

// checkInvoice runs the verifier's invoice checks over records, as if each
// were proved.
func checkInvoice(t *testing.T, recs map[string]any) (*bbus.Invoice, error) {
	b := &Bundle{Invoice: "inv-1"}
	p := &proved{height: 10, values: map[string][]byte{}, fields: map[string]string{}}
	keys := make([]string, 0, len(recs))
	for k := range recs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare([]byte(keys[i]), []byte(keys[j])) < 0 })
	for i, k := range keys {
		var raw []byte
		if s, ok := recs[k].(string); ok && s == "" {
			raw = []byte{}
		} else {
			var err error
			if raw, err = json.Marshal(recs[k]); err != nil {
				t.Fatal(err)
			}
		}
		b.State.Proofs = append(b.State.Proofs, StateProof{Key: []byte(k), Value: raw})
		p.values[k], p.fields[k] = raw, "state.proofs["+string(rune('0'+i))+"]"
	}
	v := &verifier{b: b}
	inv, _, _, err := v.invoice(p)
	if err == nil {
		err = p.allUsed()
	}
	return inv, err
}

// Verify recomputes every amount of an invoice from the records it proves,
// with the ledger's charging functions, and names the field and both values
// when a record says otherwise (what only a forged state could hold, since
// each record's proof checks its bytes).
func TestInvoiceAmountsAreRecomputed(t *testing.T) {
	inv, err := checkInvoice(t, invoiceRecords(t))
	if err != nil {
		t.Fatalf("the true invoice: %v", err)
	}
	if len(inv.Lines) != 2 || inv.Lines[0].Kind != "hosting" || inv.Lines[1].Kind != "penalty" || inv.Lines[1].Amount >= 0 {
		t.Fatalf("lines %+v", inv.Lines)
	}
	for _, c := range []struct {
		what   string
		change func(recs map[string]any)
		want   string
	}{
		{"a line's amount", func(r map[string]any) { line(r).Amount++ }, ".value.amount_micro: is "},
		{"a line's seconds", func(r map[string]any) { line(r).Seconds-- }, ".value.seconds: is "},
		{"a line's price", func(r map[string]any) { line(r).PriceVCPUHour++ }, ".value.price_vcpu_hour_micro: is 500001, but agreement agr-1 gives 500000"},
		{"the total", func(r map[string]any) { head(r).Total++ }, ".value.total_micro: is "},
		{"the hosting", func(r map[string]any) { head(r).Hosting-- }, ".value.hosting_micro: is "},
		{"a line missing", func(r map[string]any) { head(r).HostingLines = 2 }, ".value.hosting_lines: is 2, but the hosting lines the bundle proves in its period gives 1: lines are missing"},
		{"a penalty", func(r map[string]any) { vio(r).Penalty++ }, ".value.penalty_micro: is "},
		{"a violation's charge", func(r map[string]any) { vio(r).Charge-- }, ".value.charge_micro: is "},
		{"an unsigned agreement", func(r map[string]any) {
			for _, x := range r {
				if a, ok := x.(*bbus.Agreement); ok {
					a.Signed = nil
				}
			}
		}, "never signed by both parties"},
		{"a record the invoice does not need", func(r map[string]any) {
			r[string(ledger.CloudKey("cloud9"))] = &bbus.Cloud{ID: "cloud9"}
		}, `proves the record at key "c/cloud9", which the bundle's subject does not need`},
	} {
		recs := invoiceRecords(t)
		c.change(recs)
		_, err := checkInvoice(t, recs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.what, err, c.want)
			continue
		}
		t.Logf("%s: %v", c.what, err)
	}
}

func line(r map[string]any) *ledger.Line {
	for _, x := range r {
		if l, ok := x.(*ledger.Line); ok {
			return l
		}
	}
	panic("no line")
}

func head(r map[string]any) *ledger.InvoiceHead {
	for _, x := range r {
		if h, ok := x.(*ledger.InvoiceHead); ok {
			return h
		}
	}
	panic("no head")
}

func vio(r map[string]any) *bbus.Violation {
	for _, x := range r {
		if v, ok := x.(*bbus.Violation); ok {
			return v
		}
	}
	panic("no violation")
}
