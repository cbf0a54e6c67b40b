package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbusdev/bbus/oracle"
)

func TestOracleCommandLine(t *testing.T) {
	home := t.TempDir()
	fails(t, 2, "error: missing action", "oracle")
	fails(t, 2, "error: unknown action \"walk\"", "oracle", "walk")
	fails(t, 2, "error: flag --from is required", "oracle", "run", "--home", home)
	fails(t, 1, "error: not_found: oracle: no configuration file", "oracle", "run", "--home", home, "--from", "o1")
	cfg := filepath.Join(home, "bad.json")
	os.WriteFile(cfg, []byte(`{"period": "1500ms", "vms": [{"vm": "vm-1", "probe": "tcp://127.0.0.1:1"}]}`), 0o600)
	fails(t, 1, "error: invalid: oracle: period 1.5s", "oracle", "run", "--home", home, "--from", "o1", "--config", cfg)
	os.WriteFile(cfg, []byte(`{"vms": [{"vm": "vm-1", "probe": "tcp://127.0.0.1:1"}]}`), 0o600)
	fails(t, 1, "error: not_found: home", "oracle", "run", "--home", home, "--from", "o1", "--config", cfg) // no key o1
	if out := ok(t, "oracle", "run", "-h"); !strings.Contains(out, "--metrics") {
		t.Fatalf("usage: %s", out)
	}

	fails(t, 1, "error: not_found: home", "oracle", "status", "--home", home)
	st := &oracle.State{Oracle: "o1", ChainID: "bbus-x", VMs: map[string]*oracle.VMState{
		"vm-1": {LastEnd: 1700000060, LastReport: "rep-9", Reported: 3, Probes: 36, ProbeFailures: 2, Conflicts: 1, LastError: "oracle o2 reported it first",
			Queue: []oracle.Window{{Start: 1700000060, End: 1700000120, Raw: []byte("{}")}}},
	}}
	if err := st.Save(oracle.StatePath(home, "o1")); err != nil {
		t.Fatal(err)
	}
	out := ok(t, "oracle", "status", "--home", home)
	for _, want := range []string{"oracle o1 (chain bbus-x)", "vm-1", "2023-11-14T22:14:20Z", "rep-9", "oracle o2 reported it first"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	var js []struct {
		Oracle string
		VMs    []struct {
			VM        string
			Pending   int
			Reported  int64
			Conflicts int64
			Queue     []any
		}
	}
	decode(t, ok(t, "oracle", "status", "--home", home, "--output", "json"), &js)
	if len(js) != 1 || js[0].Oracle != "o1" || len(js[0].VMs) != 1 || js[0].VMs[0].Pending != 1 || js[0].VMs[0].Reported != 3 ||
		js[0].VMs[0].Conflicts != 1 || js[0].VMs[0].Queue != nil {
		t.Fatalf("status json: %+v", js)
	}
	fails(t, 1, "error: not_found: oracle o2 has no state file", "oracle", "status", "--home", home, "--from", "o2")
}
