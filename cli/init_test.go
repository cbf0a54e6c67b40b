package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbusdev/bbus"
)

// TestInitGenesisParameters sets a new chain's parameters with bbus init's
// flags and reads them back from the genesis it wrote; a bad value is refused
// and leaves no home.
func TestInitGenesisParameters(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	ok(t, "init", "--home", home, "--cloud", "alpha", "--approval", "1/2", "--migration-lapse", "90s", "--tx-ttl", "10m",
		"--require-agreement", "--invitation-ttl", "48h", "--application-ttl", "72h", "--agreement-proposal-ttl", "1h", "--join-power", "5", "--oracle-quorum", "3")
	b, err := os.ReadFile(filepath.Join(home, "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AppState bbus.Genesis `json:"app_state"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	want := bbus.Params{ApprovalNum: 1, ApprovalDen: 2, MigrationLapseSeconds: 90, TxMaxTTLSeconds: 600, RequireAgreement: true,
		InvitationTTLSeconds: 48 * 3600, ApplicationTTLSeconds: 72 * 3600, AgreementProposalTTLSeconds: 3600, JoinPower: 5, OracleQuorum: 3}
	if doc.AppState.Params != want {
		t.Fatalf("genesis params %+v, want %+v", doc.AppState.Params, want)
	}
	if c := doc.AppState.Clouds[0]; len(c.NodeID) != 40 {
		t.Fatalf("the founding cloud publishes no node id: %+v", c)
	}
	for _, bad := range [][]string{{"--approval", "3/2"}, {"--approval", "two thirds"}, {"--migration-lapse", "1.5s"}, {"--tx-ttl", "0s"},
		{"--oracle-quorum", "0"}, {"--oracle-quorum", "33"}} {
		h := filepath.Join(t.TempDir(), "bad")
		r := run(t, append([]string{"init", "--home", h, "--cloud", "alpha"}, bad...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "error: ") {
			t.Errorf("init %v: exit %d %s", bad, r.code, r.stderr)
		}
		if _, err := os.Stat(h); !os.IsNotExist(err) {
			t.Errorf("init %v left a home behind", bad)
		}
	}
	r := run(t, "init", "--home", filepath.Join(t.TempDir(), "j"), "--cloud", "beta", "--genesis", filepath.Join(home, "config", "genesis.json"), "--tx-ttl", "1h")
	if r.code != 2 || !strings.Contains(r.stderr, "--tx-ttl sets a new chain's parameters") {
		t.Errorf("a genesis parameter with --genesis: exit %d %s", r.code, r.stderr)
	}
}

// TestTestnetJSON lays out a testnet with --output json: one item per home.
func TestTestnetJSON(t *testing.T) {
	out := ok(t, "testnet", "--validators", "2", "--out", t.TempDir(), "--output", "json")
	var r struct {
		ChainID string `json:"chain_id"`
		Homes   []struct {
			Home, Cloud string
			NodeID      string `json:"node_id"`
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.ChainID != "bbus-testnet" || len(r.Homes) != 2 || r.Homes[1].Cloud != "cloud1" || len(r.Homes[1].NodeID) != 40 {
		t.Fatalf("testnet --output json: %v\n%s", err, out)
	}
}

// TestInitRoundTrip: bbus init --round-trip writes the consensus timers
// node.Config.ForRoundTrip computes for it into the home, for a new chain and
// for a node that joins one; without it the home keeps one machine's timers,
// and a round trip out of range is refused and leaves no home.
func TestInitRoundTrip(t *testing.T) {
	config := func(home string) map[string]any {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(home, "config", "bbus.json"))
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	dir := t.TempDir()
	wan := filepath.Join(dir, "wan")
	ok(t, "init", "--home", wan, "--cloud", "alpha", "--round-trip", "80ms")
	joined := filepath.Join(dir, "joined")
	ok(t, "init", "--home", joined, "--cloud", "beta", "--genesis", filepath.Join(wan, "config", "genesis.json"), "--round-trip", "200ms")
	lan := filepath.Join(dir, "lan")
	ok(t, "init", "--home", lan, "--cloud", "gamma")
	for _, c := range []struct {
		home            string
		commit, propose string
	}{{wan, "80ms", "1.5s"}, {joined, "200ms", "2s"}, {lan, "10ms", "500ms"}} {
		got := config(c.home)
		if got["timeout_commit"] != c.commit || got["timeout_propose"] != c.propose {
			t.Errorf("%s: timeout_commit %v, timeout_propose %v; want %s, %s", filepath.Base(c.home), got["timeout_commit"], got["timeout_propose"], c.commit, c.propose)
		}
	}
	for _, bad := range []string{"-1ms", "6s", "fast"} {
		h := filepath.Join(t.TempDir(), "bad")
		r := run(t, "init", "--home", h, "--cloud", "alpha", "--round-trip", bad)
		if r.code != 2 || !strings.Contains(r.stderr, "round-trip") {
			t.Errorf("--round-trip %s: exit %d %s", bad, r.code, r.stderr)
		}
		if _, err := os.Stat(h); !os.IsNotExist(err) {
			t.Errorf("--round-trip %s left a home behind", bad)
		}
	}
}
