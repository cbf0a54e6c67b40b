package node

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/evidence"
	"github.com/bbusdev/bbus/kv"
)

// An export for a checkpoint the node's state tree has not saved a state at
// or after yet is built again until it has, within its bound; one for a
// height the node does not hold is refused at once.
func TestEvidenceWaitsForTheCheckpointsState(t *testing.T) {
	n := startOne(t)
	defer n.Stop()
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
	for _, h := range []int64{-1, math.MaxInt64} {
		start := time.Now()
		calls = 0
		if _, err := n.buildEvidence(context.Background(), "vm-1", h, later); bbus.ErrorCode(err) != bbus.EINVALID || calls != 0 || time.Since(start) > time.Second {
			t.Fatalf("checkpoint %d: %v after %s, %d builds", h, err, time.Since(start), calls)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := n.buildEvidence(ctx, "vm-1", 1, never); bbus.ErrorCode(err) != bbus.EUNAVAILABLE || time.Since(start) > 5*time.Second {
		t.Fatalf("never proved: %v after %s", err, time.Since(start))
	}
}
