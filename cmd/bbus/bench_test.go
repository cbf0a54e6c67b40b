package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestBenchSmoke runs bbus bench for a moment, baseline and bbus, each node a
// child process (this test binary standing in for bbus), and checks that the
// report holds every phase with committed transactions, and that the charts
// are written. It checks no speed: the benchmark measures, tests do not time.
func TestBenchSmoke(t *testing.T) {
	t.Setenv("BBUS_TEST_MAIN", "1") // the children the bench starts run bbus
	out := t.TempDir()
	stdout := run(t, 0, "bench", "--duration", "2s", "--moderate", "1s", "--clients", "4", // long enough for a loaded machine to commit in each phase
		"--output", "json", "--out", out, "--dir", t.TempDir())
	var r struct {
		Runs []struct {
			App    string `json:"app"`
			Phases []struct {
				Name    string         `json:"name"`
				Txs     int64          `json:"committed_txs"`
				Errors  map[string]int `json:"errors"`
				Latency struct {
					P50 float64 `json:"p50_ms"`
				} `json:"latency"`
			} `json:"phases"`
			Nodes []struct {
				PeakRSSMiB float64 `json:"peak_rss_mib"`
			} `json:"nodes"`
			Disk *struct {
				Txs int64 `json:"txs"`
			} `json:"disk"`
		} `json:"runs"`
		Compare *struct {
			TxPerSec float64 `json:"tx_per_sec_ratio"`
		} `json:"compare"`
		Targets []struct{ Name string } `json:"targets"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("bench printed no JSON report: %v\n%s", err, stdout)
	}
	if len(r.Runs) != 2 || r.Runs[0].App != "kv" || r.Runs[1].App != "bbus" {
		t.Fatalf("want the baseline's run and then bbus's, got %s", stdout)
	}
	for _, run := range r.Runs {
		if len(run.Phases) != 2 || run.Phases[0].Name != "moderate" || run.Phases[1].Name != "saturation" {
			t.Fatalf("%s: want a moderate and a saturation phase, got %+v", run.App, run.Phases)
		}
		for _, p := range run.Phases {
			if p.Txs == 0 || p.Latency.P50 <= 0 {
				t.Errorf("%s %s: nothing committed: %+v", run.App, p.Name, p)
			}
			if len(p.Errors) > 0 {
				t.Errorf("%s %s: errors %v", run.App, p.Name, p.Errors)
			}
		}
		if len(run.Nodes) != 1 || run.Nodes[0].PeakRSSMiB <= 0 || run.Disk == nil || run.Disk.Txs == 0 {
			t.Errorf("%s: no node resources or disk figures: %+v", run.App, run)
		}
	}
	if r.Compare == nil || r.Compare.TxPerSec <= 0 || len(r.Targets) == 0 {
		t.Errorf("no comparison or targets: %s", stdout)
	}
	for _, f := range []string{"report.json", "latency.png", "throughput.png", "memory.png"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("--out wrote no %s: %v", f, err)
		}
	}
}
