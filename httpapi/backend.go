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
