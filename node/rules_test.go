package node

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
)

// A node refuses to open a state written under other ledger rules (here one
// that records no rules version, as version 3 wrote it), saying why and what
// to do, rather than computing other app hashes for the chain's blocks.
func TestStateOfOtherRulesRefused(t *testing.T) {
	var homes []string
	onFreePorts(t, 2, func(base int) error {
		var err error
		if homes, err = Testnet(TestnetOptions{Validators: 1, Out: t.TempDir(), P2PPort: base, APIPort: base + 1}); err != nil {
			t.Fatal(err)
		}
		nodes, err := startAll(t, homes)
		if err != nil {
			return err
		}
		deadline := time.Now().Add(30 * time.Second)
		for h, _, _ := nodes[0].store.Last(); h < 1; h, _, _ = nodes[0].store.Last() {
			if time.Now().After(deadline) {
				t.Fatal("no block in 30 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		nodes[0].Stop()
		return nil
	})
	db, err := leveldb.OpenFile(statePath(homes[0]), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := db.Get([]byte("meta/rules"), nil); err != nil || string(v) != "4" {
		t.Fatalf("the state records rules %q (%v), want 4", v, err)
	}
	if err := db.Delete([]byte("meta/rules"), nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	n, err := Open(homes[0], io.Discard)
	if err == nil {
		n.Stop()
		t.Fatal("a state of rules version 3 was opened")
	}
	if !strings.Contains(err.Error(), "ledger rules version 3 or older") || !strings.Contains(err.Error(), "start a new chain in a new home") {
		t.Fatalf("refused with %v", err)
	}
	t.Log(err)
}
