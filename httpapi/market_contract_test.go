package httpapi_test

import (
	"crypto/ed25519"
	"net/http"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/internal/ledgertest"
)

// TestMarketReads runs a federation through an offer, an agreement, a
// migration under it, an oracle's report that finds a violation, and an
// invoice, then reads each through the API (so the contract test checks every
// read of the market against the OpenAPI document).
func TestMarketReads(t *testing.T) {
	chain := ledgertest.New(ledgertest.Founders("a", "b")...)
	base := serve(t, chain, httpapi.Options{})
	must := func(signer string, a bbus.Action) bbus.TxResult {
		t.Helper()
		r := chain.Do(signer, a)
		if !r.OK() {
			t.Fatalf("%s %s: %v", signer, a.Type(), r.Err())
		}
		return bbus.TxResult{ID: r.ID}
	}
	must("b", bbus.Action{OfferPublish: &bbus.OfferPublish{Resources: bbus.Resources{CPU: 100, MemMiB: 1 << 16},
		PriceVCPUHour: 360000, Tags: []bbus.Tag{{Key: "region", Value: "eu"}}}})
	agr := must("a", bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "b", Consumer: "a",
		PriceVCPUHour: 360000, Availability: 99500, PenaltyPct: 10000}}).ID
	must("b", bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: agr}})
	key := chain.AddKey("o1")
	opub := key.Public().(ed25519.PublicKey)
	must("a", bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: "o1", PubKey: opub}})
	must("o1", bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "probe", PubKey: opub}})
	must("b", bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: "o1", PubKey: opub}})
	must("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 2, MemMiB: 4096}}})
	mig := must("a", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-1", To: "b", Agreement: agr}}).ID
	must("b", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: mig}})
	must("b", bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: mig}})
	moved := chain.Last().Time
	chain.Advance(10 * time.Minute)
	rep := must("o1", bbus.Action{Report: &bbus.ReportAction{VM: "vm-1", Start: moved.Unix() + 1, End: moved.Add(5 * time.Minute).Unix(), Availability: 50000}}).ID
	inv := must("b", bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: "b", Consumer: "a", Until: chain.Last().Time.Unix()}}).ID

	var violations bbus.List[bbus.Violation]
	getJSON(t, base+"/v1/violations?cloud=b&vm=vm-1", &violations)
	if len(violations.Items) != 1 || violations.Items[0].Agreement != agr {
		t.Fatalf("violations: %+v", violations)
	}
	var invoice bbus.Invoice
	getJSON(t, base+"/v1/invoices/"+inv, &invoice)
	if len(invoice.Lines) < 2 || invoice.Penalties == 0 {
		t.Errorf("invoice: %+v", invoice)
	}
	// The lines page by page, from their own records: the hosting line, then the penalty.
	var page1, page2 bbus.List[bbus.InvoiceLine]
	getJSON(t, base+"/v1/invoices/"+inv+"/lines?limit=1", &page1)
	getJSON(t, base+"/v1/invoices/"+inv+"/lines?limit=1&after="+page1.Next, &page2)
	if len(page1.Items) != 1 || page1.Items[0].Kind != "hosting" || page1.Next == "" ||
		len(page2.Items) != 1 || page2.Items[0].Kind != "penalty" || page2.Next != "" ||
		invoice.HostingLines != 1 || invoice.PenaltyLines != 1 {
		t.Errorf("invoice lines: %+v then %+v (head %+v)", page1, page2, invoice)
	}
	// The window the report decided (oracle_quorum 1), and the oracle's
	// standing beside the clouds'.
	var windows bbus.List[bbus.Window]
	getJSON(t, base+"/v1/vms/vm-1/windows", &windows)
	if len(windows.Items) != 1 || windows.Items[0].Status != bbus.WindowDecided || windows.Items[0].Availability != 50000 ||
		len(windows.Items[0].Reports) != 1 || windows.Items[0].Reports[0].Oracle != "o1" || windows.Items[0].Reports[0].Verdict != "agree" {
		t.Errorf("windows: %+v", windows)
	}
	var reputation bbus.ReputationList
	getJSON(t, base+"/v1/reputation", &reputation)
	if len(reputation.Oracles) != 1 || reputation.Oracles[0].Oracle != "o1" || reputation.Oracles[0].Agreeing != 1 || reputation.Oracles[0].ReputationBP != 10000 {
		t.Errorf("reputation: %+v", reputation)
	}
	wantError(t, "windows after x", do(t, "GET", base+"/v1/vms/vm-1/windows?after=x", nil), 400, bbus.EINVALID)
	wantError(t, "windows of no VM", do(t, "GET", base+"/v1/vms/vm-9/windows", nil), 404, bbus.ENOTFOUND)
	wantError(t, "lines after x", do(t, "GET", base+"/v1/invoices/"+inv+"/lines?after=x", nil), 400, bbus.EINVALID)
	for _, path := range []string{
		"/v1/offers", "/v1/offers?limit=1",
		"/v1/match?cpu=2&mem_mib=4096&tag=region=eu&max_price_vcpu_hour=1", "/v1/match?cpu=1000000&mem_mib=1",
		"/v1/agreements", "/v1/agreements?cloud=a&status=active", "/v1/agreements/" + agr,
		"/v1/oracles", "/v1/reports/" + rep, "/v1/violations", "/v1/violations/" + violations.Items[0].ID,
		"/v1/invoices?cloud=a", "/v1/reputation",
		"/v1/vms/vm-1/windows?limit=1", "/v1/vms/vm-1/windows?since=2000-01-01T00:00:00Z",
	} {
		if r := do(t, "GET", base+path, nil); r.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	for _, path := range []string{"/v1/agreements/agr-9", "/v1/reports/rep-9", "/v1/violations/vio-9", "/v1/invoices/inv-9", "/v1/invoices/inv-9/lines"} {
		wantError(t, path, do(t, "GET", base+path, nil), 404, bbus.ENOTFOUND)
	}
}
