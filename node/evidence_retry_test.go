package node

import (
	"context"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/evidence"
	"github.com/bbusdev/bbus/kv"
)

// An export for a checkpoint the node's state tree has not saved a state at
// or after yet is built again until it has, within its bound.
func TestEvidenceWaitsForTheCheckpointsState(t *testing.T) {
	var n *Node
	onFreePorts(t, 2, func(base int) error {
		homes, err := Testnet(TestnetOptions{Validators: 1, Out: t.TempDir(), P2PPort: base, APIPort: base + 1})
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := startAll(t, homes)
		if err != nil {
			return err
		}
		n = nodes[0]
		return nil
	})
	defer n.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for h, _, _ := n.store.Last(); h < 1; h, _, _ = n.store.Last() {
		if time.Now().After(deadline) {
			t.Fatal("no block in 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	calls := 0
	later := func(ctx context.Context, c evidence.Chain, p evidence.Prover, r kv.Reader, id string, checkpoint int64) (*evidence.Bundle, error) {
		if calls++; calls <= 3 {
			return nil, evidence.ErrBelowCheckpoint
		}
		return &evidence.Bundle{VM: id, Checkpoint: checkpoint}, nil
	}
	b, err := n.buildEvidence(context.Background(), "vm-1", 1, later)
	if err != nil || b == nil || b.VM != "vm-1" || calls != 4 {
		t.Fatalf("after three refusals: %+v %v (%d calls)", b, err, calls)
	}
	never := func(context.Context, evidence.Chain, evidence.Prover, kv.Reader, string, int64) (*evidence.Bundle, error) {
		return nil, evidence.ErrBelowCheckpoint
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := n.buildEvidence(ctx, "vm-1", 1, never); bbus.ErrorCode(err) != bbus.EUNAVAILABLE || time.Since(start) > 5*time.Second {
		t.Fatalf("never proved: %v after %s", err, time.Since(start))
	}
}
