package httpapi

import (
	"context"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// Backend is the node the API serves. package node implements it.
type Backend interface {
	// Status describes the node and the chain.
	Status(ctx context.Context) (*bbus.Status, error)
	// Submit hands a signed transaction to consensus. With wait it returns once
	// the transaction is committed (or rejected by the ledger in its block);
	// without, once the mempool admitted it. A transaction the node refuses
	// before consensus returns a *bbus.Error with its code.
	Submit(ctx context.Context, raw []byte, wait bool) (*bbus.TxResult, error)
	// View runs fn over a consistent snapshot of the committed state.
	View(fn func(r kv.Reader) error) error
}

// Liveness is implemented by a Backend that can tell whether its consensus
// makes progress; GET /readyz and GET /healthz consult it.
type Liveness interface {
	// Stalled returns nil while consensus makes progress, and otherwise an
	// error (code unavailable) that says why not: consensus failed, or
	// transactions wait and no block has committed for longer than a bound.
	Stalled() error
	// Err returns why consensus failed for good (the process serves but is
	// no longer a node until it is restarted), or nil.
	Err() error
}
