package node

import (
	"context"
	"errors"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/store"
)

// Prove returns key's value at the last committed height, or its absence,
// with the proof against the app hash of the next header (package proof). It
// implements httpapi.Prover.
func (n *Node) Prove(_ context.Context, key []byte) (*bbus.Proof, error) {
	v, h, p, err := n.store.Prove(key)
	if errors.Is(err, store.ErrNoState) {
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "the node has committed no state yet")
	}
	if err != nil {
		return nil, err
	}
	return &bbus.Proof{Key: key, Value: v, Height: h, Proof: p}, nil
}
