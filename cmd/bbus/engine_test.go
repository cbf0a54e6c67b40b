package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbusdev/bbus/cli"
)

// TestGenesisTurnsOnPBTS: bbus init and bbus testnet write genesis documents
// with proposer-based timestamps from the first height and bbus's synchrony
// bounds, and bbus start refuses a home whose genesis was written for CometBFT
// v0.38 (no feature or synchrony parameters), saying how to move.
func TestGenesisTurnsOnPBTS(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "a")
	run(t, 0, "init", "--home", home, "--cloud", "alpha")
	run(t, 0, "testnet", "--validators", "2", "--out", filepath.Join(dir, "net"))
	for _, g := range []string{filepath.Join(home, "config", "genesis.json"), filepath.Join(dir, "net", "node1", "config", "genesis.json")} {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			ConsensusParams struct {
				Feature   map[string]string `json:"feature"`
				Synchrony map[string]string `json:"synchrony"`
			} `json:"consensus_params"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if f, s := doc.ConsensusParams.Feature, doc.ConsensusParams.Synchrony; f["pbts_enable_height"] != "1" ||
			s["precision"] != "500000000" || s["message_delay"] != "2000000000" {
			t.Errorf("%s: feature %v synchrony %v", g, f, s)
		}
	}

	// The genesis as bbus on CometBFT v0.38 wrote it.
	path := filepath.Join(home, "config", "genesis.json")
	b, _ := os.ReadFile(path)
	var raw map[string]any
	json.Unmarshal(b, &raw)
	params := raw["consensus_params"].(map[string]any)
	delete(params, "feature")
	delete(params, "synchrony")
	b, _ = json.MarshalIndent(raw, "", "  ")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := cli.Main([]string{"start", "--home", home, "--api", freeAddr(t)}, strings.NewReader(""), &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "CometBFT v0.38") || !strings.Contains(errb.String(), "bbus init") {
		t.Fatalf("start on a v0.38 home: exit %d\nstderr: %s", code, errb.String())
	}
	t.Logf("stderr: %s", errb.String())
}
