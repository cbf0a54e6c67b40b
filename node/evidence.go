package node

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/chain"
	"github.com/bbusdev/bbus/evidence"
	"github.com/bbusdev/bbus/kv"
)

// Evidence builds the evidence bundle of a VM from this node's ledger state
// and block store (see package evidence), for an auditor who trusts the
// header at height checkpoint (0: genesis only). It implements
// httpapi.EvidenceExporter.
func (n *Node) Evidence(ctx context.Context, vm string, checkpoint int64) (*evidence.Bundle, error) {
	return n.buildEvidence(ctx, vm, checkpoint, evidence.Build)
}

// AgreementEvidence builds the evidence bundle of an agreement (see
// evidence.BuildAgreement). It implements httpapi.EvidenceExporter.
func (n *Node) AgreementEvidence(ctx context.Context, id string, checkpoint int64) (*evidence.Bundle, error) {
	return n.buildEvidence(ctx, id, checkpoint, evidence.BuildAgreement)
}

// InvoiceEvidence builds the evidence bundle of an invoice (see
// evidence.BuildInvoice). It implements httpapi.EvidenceExporter.
func (n *Node) InvoiceEvidence(ctx context.Context, id string, checkpoint int64) (*evidence.Bundle, error) {
	return n.buildEvidence(ctx, id, checkpoint, evidence.BuildInvoice)
}

// ViolationEvidence builds the evidence bundle of a violation (see
// evidence.BuildViolation). It implements httpapi.EvidenceExporter.
func (n *Node) ViolationEvidence(ctx context.Context, id string, checkpoint int64) (*evidence.Bundle, error) {
	return n.buildEvidence(ctx, id, checkpoint, evidence.BuildViolation)
}

type builder func(ctx context.Context, c evidence.Chain, p evidence.Prover, r kv.Reader, id string, checkpoint int64) (*evidence.Bundle, error)

// buildEvidence builds a bundle over a snapshot of the state, again if a
// block committed between the snapshot and the state proofs, and, for a
// checkpoint, once the state tree has saved a state at or after it (every few
// blocks under load; up to evidence.NextBlockWait), without building while
// the snapshot is plainly older.
func (n *Node) buildEvidence(ctx context.Context, id string, checkpoint int64, build builder) (*evidence.Bundle, error) {
	if err := evidence.CheckCheckpoint(ctx, blockStore{n}, checkpoint); err != nil {
		return nil, err // no wait makes a bundle for it
	}
	deadline := time.Now().Add(evidence.NextBlockWait)
	moved := 0
	for {
		var b *evidence.Bundle
		// The state as of the height the tree proves at, which under load is a
		// few blocks behind the last (store/tree.go). The header after it
		// carries its app hash, or the one at it if its block changed nothing.
		err := n.store.ProofView(func(r kv.Reader, height int64) error {
			if checkpoint != 0 && height+1 < checkpoint {
				return evidence.ErrBelowCheckpoint
			}
			var err error
			b, err = build(ctx, blockStore{n}, prover{n}, r, id, checkpoint)
			return err
		})
		err = proofError(err)
		switch {
		case err == evidence.ErrBelowCheckpoint && time.Now().Before(deadline) && ctx.Err() == nil:
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		case err == evidence.ErrStateMoved && moved < 9 && ctx.Err() == nil:
			moved++
		default:
			return b, err
		}
	}
}

// prover is the node's state commitment as evidence.Prover.
type prover struct{ n *Node }

// ProveKeys proves every key at one height: again if a block committed
// between two of the proofs.
func (p prover) ProveKeys(ctx context.Context, keys [][]byte) ([]*bbus.Proof, error) {
	for attempt := 0; attempt < 10; attempt++ {
		out := make([]*bbus.Proof, 0, len(keys))
		for _, k := range keys {
			pr, err := p.n.Prove(ctx, k)
			if err != nil {
				return nil, err
			}
			if len(out) > 0 && pr.Height != out[0].Height {
				break
			}
			out = append(out, pr)
		}
		if len(out) == len(keys) {
			return out, nil
		}
	}
	return nil, evidence.ErrStateMoved
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
	if err := s.pruned("header", h); err != nil {
		return nil, err
	}
	r, err := s.n.rpc.Header(ctx, &h)
	if err != nil {
		return nil, unavailable("header", h, err)
	}
	return r.Header, nil
}

func (s blockStore) Block(ctx context.Context, h int64) (*types.Block, error) {
	if err := s.pruned("block", h); err != nil {
		return nil, err
	}
	r, err := s.n.rpc.Block(ctx, &h)
	if err != nil || r.Block == nil {
		return nil, unavailable("block", h, err)
	}
	return r.Block, nil
}

func (s blockStore) Commit(ctx context.Context, h int64) (*types.Commit, error) {
	if err := s.pruned("commit", h); err != nil {
		return nil, err
	}
	r, err := s.n.rpc.Commit(ctx, &h)
	if err != nil {
		return nil, unavailable("commit", h, err)
	}
	return r.Commit, nil
}

func (s blockStore) Validators(ctx context.Context, h int64) (*types.ValidatorSet, error) {
	if err := s.pruned("validators", h); err != nil {
		return nil, err
	}
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

// ValidatorChanges reads the app's index of validator-set changes
// (chain.ValidatorChanges) and confirms each against the headers. Below the
// heights the index covers (blocks committed before the node kept it), it
// scans the headers once, the first time an export asks, and keeps what it
// found.
func (s blockStore) ValidatorChanges(ctx context.Context, from, to int64) ([]int64, error) {
	var cands []int64
	var indexed int64
	s.n.store.View(func(r kv.Reader) error {
		cands, indexed = chain.ValidatorChanges(r, from, to)
		return nil
	})
	initial := s.n.cmt.GenesisDoc().InitialHeight
	return validatorChanges(from, to, initial, indexed, cands,
		func(upTo int64) ([]int64, error) { return s.n.vals.upTo(s, initial, upTo) }, s.changedAt)
}

// validatorChanges returns the changes in (from, to]: below the heights the
// index covers (see chain.ValidatorChanges), those scan finds in
// (initial, upTo]; above, the index's candidates that changed confirms.
func validatorChanges(from, to, initial, indexed int64, cands []int64, scan func(upTo int64) ([]int64, error), changed func(int64) (bool, error)) ([]int64, error) {
	cover := initial // the index holds every change from here on
	switch {
	case indexed == 0:
		cover = to + 1
	case indexed > initial:
		cover = indexed + 2
	}
	var out []int64
	if from+1 < cover {
		early, err := scan(min(to, cover-1))
		if err != nil {
			return nil, err
		}
		for _, h := range early {
			if h > from && h <= to {
				out = append(out, h)
			}
		}
	}
	for _, h := range cands {
		if h < cover || h <= from || h > to {
			continue
		}
		ok, err := changed(h)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, h)
		}
	}
	return out, nil
}

// changedAt reports whether the validators of the block at h differ from
// those of the block before it.
func (s blockStore) changedAt(h int64) (bool, error) {
	bs := s.n.cmt.BlockStore()
	a, b := bs.LoadBlockMeta(h-1), bs.LoadBlockMeta(h)
	if a == nil || b == nil {
		return false, bbus.Errorf(bbus.EUNAVAILABLE, "this node does not hold the headers of blocks %d and %d, which evidence of a change of validators needs", h-1, h)
	}
	return !bytes.Equal(a.Header.ValidatorsHash, b.Header.ValidatorsHash), nil
}

// valScan is what a node found by reading headers for the validator-set
// changes its index does not cover.
type valScan struct {
	mu      sync.Mutex
	scanned int64   // heights up to here were read
	changes []int64 // the changes found among them
}

// upTo returns the changes at heights in (initial, to], reading the headers
// not read before.
func (v *valScan) upTo(s blockStore, initial, to int64) ([]int64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.scanned < initial {
		v.scanned = initial
	}
	for h := v.scanned + 1; h <= to; h++ {
		changed, err := s.changedAt(h)
		if err != nil {
			return nil, err
		}
		if changed {
			v.changes = append(v.changes, h)
		}
		v.scanned = h
	}
	return append([]int64(nil), v.changes...), nil
}
