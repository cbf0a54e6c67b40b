package node

import (
	"context"
	"strings"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/evidence"
	"github.com/bbusdev/bbus/kv"
)

// Evidence builds the evidence bundle of a VM from this node's ledger state
// and block store (see package evidence). It implements httpapi.EvidenceExporter.
func (n *Node) Evidence(ctx context.Context, vm string) (*evidence.Bundle, error) {
	var b *evidence.Bundle
	err := n.store.View(func(r kv.Reader) error {
		var err error
		b, err = evidence.Build(ctx, blockStore{n}, r, vm)
		return err
	})
	return b, err
}

// blockStore is the node's CometBFT block and state stores as evidence.Chain.
type blockStore struct{ n *Node }

// unavailable reports a height the node does not hold (pruned, or not yet
// committed) as EUNAVAILABLE, with CometBFT's reason.
func unavailable(what string, h int64, err error) error {
	return bbus.Errorf(bbus.EUNAVAILABLE, "%s of block %d: %v", what, h, err)
}

func (s blockStore) Genesis(ctx context.Context) (*types.GenesisDoc, error) {
	return s.n.cmt.GenesisDoc(), nil
}

func (s blockStore) Height(ctx context.Context) (int64, error) {
	return s.n.cmt.BlockStore().Height(), nil
}

func (s blockStore) Header(ctx context.Context, h int64) (*types.Header, error) {
	r, err := s.n.rpc.Header(ctx, &h)
	if err != nil {
		return nil, unavailable("header", h, err)
	}
	return r.Header, nil
}

func (s blockStore) Block(ctx context.Context, h int64) (*types.Block, error) {
	r, err := s.n.rpc.Block(ctx, &h)
	if err != nil || r.Block == nil {
		return nil, unavailable("block", h, err)
	}
	return r.Block, nil
}

func (s blockStore) Commit(ctx context.Context, h int64) (*types.Commit, error) {
	r, err := s.n.rpc.Commit(ctx, &h)
	if err != nil {
		return nil, unavailable("commit", h, err)
	}
	return r.Commit, nil
}

func (s blockStore) Validators(ctx context.Context, h int64) (*types.ValidatorSet, error) {
	var vals []*types.Validator
	perPage := 100
	for page := 1; ; page++ {
		r, err := s.n.rpc.Validators(ctx, &h, &page, &perPage)
		if err != nil {
			return nil, unavailable("validators", h, err)
		}
		vals = append(vals, r.Validators...)
		if len(vals) >= r.Total || len(r.Validators) == 0 {
			break
		}
	}
	return types.NewValidatorSet(vals), nil
}

func (s blockStore) Results(ctx context.Context, h int64) ([]*abci.ExecTxResult, error) {
	r, err := s.n.rpc.BlockResults(ctx, &h)
	if err != nil {
		if strings.Contains(err.Error(), "discard") || strings.Contains(err.Error(), "not found") {
			return nil, bbus.Errorf(bbus.EUNAVAILABLE, "this node does not hold the results of block %d (it ran with discard_abci_responses); export the evidence from another node", h)
		}
		return nil, unavailable("results", h, err)
	}
	return r.TxResults, nil
}
