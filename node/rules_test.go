package node

import (
	"io"
	"strings"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
)

// A node refuses to open a state written under other ledger rules (here one
// that records no rules version, as version 3 wrote it), saying why and what
// to do, rather than computing other app hashes for the chain's blocks.
func TestStateOfOtherRulesRefused(t *testing.T) {
	n := startOne(t)
	home := n.Home
	n.Stop()
	db, err := leveldb.OpenFile(statePath(home), nil)
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
	n, err = Open(home, io.Discard)
	if err == nil {
		n.Stop()
		t.Fatal("a state of rules version 3 was opened")
	}
	if !strings.Contains(err.Error(), "ledger rules version 3 or older") || !strings.Contains(err.Error(), "start a new chain in a new home") {
		t.Fatalf("refused with %v", err)
	}
	t.Log(err)
}
