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
	if err != nil {
		return nil, proofError(err)
	}
	return &bbus.Proof{Key: key, Value: v, Height: h, Proof: p}, nil
}

// proofError says why the store cannot prove, as an API error.
func proofError(err error) error {
	switch {
	case errors.Is(err, store.ErrNoState):
		return bbus.Errorf(bbus.EUNAVAILABLE, "the node has committed no state yet")
	case errors.Is(err, store.ErrNotSaved):
		return bbus.Errorf(bbus.EUNAVAILABLE, "the node's state tree has not saved the last blocks yet (it saves every few blocks under load, and at the next block after a restart): try again in a few seconds")
	}
	return err
}
