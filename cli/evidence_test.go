package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus/evidence"
)

// bbus evidence verify checks a bundle exported from a real chain (the
// evidence package's testdata) offline, and names what broke in an altered one.
func TestEvidenceVerify(t *testing.T) {
	bundle, genesis := "../evidence/testdata/vm-1.json", "../evidence/testdata/genesis.json"
	out := ok(t, "evidence", "verify", bundle, "--genesis", genesis)
	for _, want := range []string{"verified: the history of VM vm-1", "cloud1 completes mig-1", "cloud1  key from cloud_join"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var rep struct {
		VM        string `json:"vm"`
		Intervals []struct {
			Cloud string `json:"cloud"`
		} `json:"intervals"`
	}
	decode(t, ok(t, "evidence", "verify", bundle, "--genesis", genesis, "--output", "json"), &rep)
	if rep.VM != "vm-1" || len(rep.Intervals) != 2 || rep.Intervals[1].Cloud != "cloud1" {
		t.Fatalf("report %+v", rep)
	}

	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	// The second transaction a second later than its block: the VM's record
	// chains each transaction's time.
	bad := filepath.Join(t.TempDir(), "bad.json")
	tampered, err := evidence.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	tampered.Txs[1].Time = tampered.Txs[1].Time.Add(time.Second)
	out2, _ := json.Marshal(tampered)
	os.WriteFile(bad, out2, 0o644)
	r := fails(t, 1, "error: invalid: the bundle does not verify: evidence: txs: the bundle's transactions chain to digest", "evidence", "verify", bad, "--genesis", genesis)
	t.Log(strings.TrimSpace(r.stderr))
	fails(t, 2, "error: flag --genesis is required", "evidence", "verify", bundle)
	fails(t, 2, "error: unknown subcommand", "evidence", "prove")
	fails(t, 2, "error: flags --vm and --invoice exclude each other", "evidence", "export", "--vm", "vm-1", "--invoice", "inv-1")
}
