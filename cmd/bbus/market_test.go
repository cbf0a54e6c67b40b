package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	bbusnode "github.com/bbusdev/bbus/node"
)

// TestAgreeMigrateReportInvoice runs the charging story end to end through the
// CLI on a real node: two clouds agree terms, a VM migrates under them, an
// oracle reports a missed objective, the provider invoices and the consumer
// accepts.
func TestAgreeMigrateReportInvoice(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for block time to pass")
	}
	home := t.TempDir() + "/home"
	p := startNode(t, home, "")
	node := "--node=" + p.api
	tx := func(want int, from string, args ...string) string {
		return run(t, want, append([]string{"tx", "--home", home, node, "--from", from, "--output", "json"}, args...)...)
	}
	run(t, 0, "keys", "add", "cloud1", "--home", home)
	run(t, 0, "keys", "add", "oracle1", "--home", home)
	pubKey := func(id string) string {
		return strings.TrimSpace(run(t, 0, "keys", "show", id, "--home", home, "--pub-key"))
	}
	tx(0, "local", "cloud", "invite", "cloud1", "--pub-key", pubKey("cloud1")) // local's vote: alone, it admits cloud1
	tx(0, "cloud1", "cloud", "join", "--name", "Cloud One", "--cpu", "64", "--mem-mib", "65536", "--disk-iops", "1000", "--net-mbps", "1000")
	tx(0, "local", "oracle", "invite", "oracle1", "--pub-key", pubKey("oracle1"))
	tx(0, "oracle1", "oracle", "join", "--name", "Probe")
	tx(1, "oracle1", "cloud", "approve", "cloud1")  // a pending oracle signs nothing
	tx(0, "cloud1", "oracle", "approve", "oracle1") // more than two thirds of two members is both
	tx(0, "cloud1", "offer", "publish", "--cpu", "32", "--mem-mib", "32768", "--price-vcpu-hour", "0.5", "--tag", "region=eu")

	tx(0, "local", "vm", "register", "vm-1", "--cpu", "4", "--mem-mib", "4096")
	// 0.5 credits per vCPU-hour, 99.9 % availability, 10 % of a missed part's charge back.
	tx(0, "cloud1", "agreement", "propose", "--provider", "cloud1", "--consumer", "local",
		"--price-vcpu-hour", "0.5", "--availability", "99.9", "--penalty-pct", "10")
	tx(1, "cloud1", "agreement", "sign", "agr-1") // the proposer cannot countersign
	tx(0, "local", "agreement", "sign", "agr-1")
	tx(0, "local", "migration", "propose", "vm-1", "--to", "cloud1", "--agreement", "agr-1")
	tx(0, "cloud1", "migration", "accept", "mig-1")
	tx(0, "cloud1", "migration", "complete", "mig-1")

	var h bbus.History
	json.Unmarshal([]byte(run(t, 0, "query", node, "--output", "json", "vm-history", "vm-1")), &h)
	if len(h.Intervals) != 2 || h.Intervals[1].Agreement != "agr-1" {
		t.Fatalf("history: %+v", h)
	}
	arrived := h.Intervals[1].Start.At
	start := arrived.Truncate(time.Second).Add(time.Second) // the first whole second on cloud1
	time.Sleep(time.Until(start.Add(3500 * time.Millisecond)))

	window := []string{"--start", start.Format(time.RFC3339), "--end", start.Add(2 * time.Second).Format(time.RFC3339)}
	tx(1, "cloud1", append([]string{"report", "vm-1", "--availability", "95"}, window...)...) // a cloud is no oracle
	tx(0, "oracle1", append([]string{"report", "vm-1", "--availability", "95"}, window...)...)
	tx(1, "oracle1", append([]string{"report", "vm-1", "--availability", "95"}, window...)...) // the same window twice

	var vios struct{ Items []bbus.Violation }
	json.Unmarshal([]byte(run(t, 0, "query", node, "--output", "json", "violations", "--cloud", "cloud1")), &vios)
	// 2 s x 4 vCPU x 0.5 credits/3600 s = 1111 micro-credits (floor); 10 % of it is 111.
	if len(vios.Items) != 1 || vios.Items[0].Charge != 1111 || vios.Items[0].Penalty != 111 || vios.Items[0].VM != "vm-1" {
		t.Fatalf("violations: %+v", vios.Items)
	}

	until := start.Add(3 * time.Second)
	tx(1, "local", "invoice", "close", "--provider", "cloud1", "--consumer", "local", "--until", until.Format(time.RFC3339))
	out := tx(0, "cloud1", "invoice", "close", "--provider", "cloud1", "--consumer", "local", "--until", until.Format(time.RFC3339))
	var res bbus.TxResult
	json.Unmarshal([]byte(out), &res)
	var inv bbus.Invoice
	json.Unmarshal([]byte(run(t, 0, "query", node, "--output", "json", "invoice", res.ID)), &inv)
	if len(inv.Lines) != 2 || inv.Lines[0].Kind != "hosting" || inv.Lines[1].Kind != "penalty" {
		t.Fatalf("invoice lines: %+v", inv.Lines)
	}
	host := inv.Lines[0]
	secs := int64(until.Sub(arrived) / time.Second)
	// seconds x 4 vCPU x 500000 micro-credits per vCPU-hour / 3600, rounded down.
	if host.Seconds != secs || host.Amount != secs*4*500000/3600 || !host.Start.Equal(arrived) || !host.End.Equal(until) {
		t.Fatalf("hosting line %+v, want %d seconds from %s", host, secs, arrived)
	}
	if inv.Lines[1].Amount != -111 || inv.Total != host.Amount-111 || inv.Hosting != host.Amount || inv.Penalties != 111 {
		t.Fatalf("invoice totals: %+v", inv)
	}
	if len(host.Evidence) < 2 || host.Evidence[1].Height != h.Intervals[1].Start.Height {
		t.Fatalf("hosting evidence %+v, want the completion at height %d", host.Evidence, h.Intervals[1].Start.Height)
	}
	tx(1, "cloud1", "invoice", "accept", res.ID) // only the consumer answers
	tx(0, "local", "invoice", "accept", res.ID)
	if out := run(t, 0, "query", node, "reputation"); !strings.Contains(out, "cloud1") {
		t.Fatalf("reputation: %s", out)
	}
	if out := run(t, 0, "query", node, "match", "--cpu", "2", "--mem-mib", "1024", "--tag", "region=eu"); !strings.Contains(out, "cloud1") {
		t.Fatalf("match: %s", out)
	}
	if out := run(t, 0, "query", node, "invoice", res.ID); !strings.Contains(out, "accepted") {
		t.Fatalf("invoice: %s", out)
	}

	// The invoice and the violation, proved to an outsider: every amount
	// recomputed from the proved records.
	dir := t.TempDir()
	genesis := bbusnode.GenesisPath(home)
	for _, c := range []struct {
		flag, id string
		want     []string
	}{
		{"--invoice", res.ID, []string{"verified: invoice " + res.ID + " on chain", "hosting  vm-1", "penalty  vm-1", "penalties 0.000111, total " + bbus.FormatAmount(inv.Total)}},
		{"--violation", vios.Items[0].ID, []string{"verified: violation " + vios.Items[0].ID, "charge 0.001111, penalty 0.000111"}},
	} {
		bundle := filepath.Join(dir, c.id+".json")
		if err := os.WriteFile(bundle, []byte(run(t, 0, "evidence", "export", node, c.flag, c.id)), 0o644); err != nil {
			t.Fatal(err)
		}
		out := run(t, 0, "evidence", "verify", bundle, "--genesis", genesis)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Fatalf("evidence verify %s %s lacks %q:\n%s", c.flag, c.id, w, out)
			}
		}
	}
}
